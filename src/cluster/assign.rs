//! Who should own which tenant: a balanced rendezvous assignment. Every instance computes it from the same
//! inputs (the tenants and the live instances, both read from the database), so they agree without talking.
//! Each tenant ranks the instances by a hash of (tenant, instance) and goes to the best-ranked one that still
//! has room under the fair share `ceil(tenants / instances)`: tenants spread evenly, and when an instance joins
//! or leaves only about a fair share of them moves.

use std::collections::BTreeMap;

/// A 64-bit hash of the pair (FNV-1a over both, separated), stable across processes and versions.
fn score(tenant: &str, instance: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tenant.bytes().chain([0xff]).chain(instance.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix, so that ids differing in their last byte do not rank alike.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Tenant → instance, for every tenant, over `instances` (empty: no assignment).
pub fn assign(tenants: &[String], instances: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if instances.is_empty() {
        return out;
    }
    let mut tenants: Vec<&String> = tenants.iter().collect();
    tenants.sort();
    tenants.dedup();
    let share = tenants.len().div_ceil(instances.len());
    let mut load: BTreeMap<&str, usize> = instances.iter().map(|i| (i.as_str(), 0)).collect();
    // Tenants whose favourite is clearest go first, so that the cap bends as few preferences as possible.
    let mut ranked: Vec<(&String, Vec<&String>)> = tenants
        .into_iter()
        .map(|t| {
            let mut order: Vec<&String> = instances.iter().collect();
            order.sort_by_key(|i| (std::cmp::Reverse(score(t, i)), i.as_str()));
            (t, order)
        })
        .collect();
    ranked.sort_by_key(|(t, order)| (std::cmp::Reverse(score(t, order[0])), t.as_str()));
    for (t, order) in ranked {
        if let Some(i) = order.iter().find(|i| load[i.as_str()] < share) {
            *load.get_mut(i.as_str()).unwrap_or(&mut 0) += 1;
            out.insert(t.clone(), (*i).clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn counts(a: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut c = BTreeMap::new();
        for i in a.values() {
            *c.entry(i.clone()).or_default() += 1;
        }
        c
    }

    #[test]
    fn nine_tenants_spread_three_three_three_and_everyone_agrees() {
        let tenants = ids("tenant-", 9);
        let instances = ids("sb-", 3);
        let a = assign(&tenants, &instances);
        assert_eq!(a.len(), 9);
        assert!(counts(&a).values().all(|&n| n == 3), "{:?}", counts(&a));
        let mut reversed = instances.clone();
        reversed.reverse();
        assert_eq!(
            assign(&tenants, &reversed),
            a,
            "the order instances are listed in does not matter"
        );
    }

    #[test]
    fn when_an_instance_leaves_only_its_tenants_move() {
        let tenants = ids("t", 30);
        let three = ids("i", 3);
        let before = assign(&tenants, &three);
        let two = &three[..2];
        let after = assign(&tenants, two);
        assert!(counts(&after).values().all(|&n| n == 15));
        let moved = tenants.iter().filter(|t| before[*t] != after[*t]).count();
        let gone = tenants.iter().filter(|t| before[*t] == "i2").count();
        assert!(moved <= gone + 3, "moved {moved}, the leaver had {gone}");
    }

    #[test]
    fn nothing_to_assign_without_instances() {
        assert!(assign(&ids("t", 3), &[]).is_empty());
    }
}
