use std::collections::HashSet;

use serde_json::Value;

use super::query::{MAX_PAGE_SIZE, NameMatch, Page, Params};
use super::*;
use crate::sim::workload::changes::{AddUsers, ChangeUsers};
use crate::sim::workload::{UserState, WorkloadSpec};

fn org(users: usize, queues: usize) -> Org {
    Org::new(&WorkloadSpec {
        users,
        queues,
        seed: Some(11),
        ..Default::default()
    })
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn pages_cover_the_total_without_overflow() {
    let p = Page {
        size: 25,
        number: 3,
    };
    assert_eq!(p.range(60), 50..60);
    assert_eq!(p.range(50), 50..50);
    assert_eq!(p.count(60), 3);
    assert_eq!(p.count(0), 0);
    let far = Page {
        size: 500,
        number: i32::MAX as usize,
    };
    assert_eq!(far.range(10), 10..10);
}

#[test]
fn only_leading_and_trailing_asterisks_are_wildcards() {
    assert!(NameMatch::parse("support").matches("Support"));
    assert!(!NameMatch::parse("support").matches("Technical Support"));
    assert!(NameMatch::parse("Tech*").matches("Technical Support"));
    assert!(NameMatch::parse("*support").matches("Technical Support"));
    assert!(NameMatch::parse("*CAL SUP*").matches("Technical Support"));
    assert!(NameMatch::parse("*").matches("anything"));
    assert!(!NameMatch::parse("Tech*Support").matches("Technical Support"));
    assert!(NameMatch::parse("Tech*Support").matches("tech*support"));
}

#[test]
fn params_keep_filters_in_page_uris_and_split_multi_values() {
    let p = Params::parse("id=a,b&id=c&pageSize=10&state=any&name=A%20B");
    assert_eq!(p.all("id"), vec!["a", "b", "c"]);
    assert_eq!(
        p.page_uri("/api/v2/users", 10, 2),
        "/api/v2/users?pageSize=10&pageNumber=2&id=a%2Cb&id=c&state=any&name=A+B"
    );
    assert_eq!(
        Params::parse("").page_uri("/x", 25, 1),
        "/x?pageSize=25&pageNumber=1"
    );
}

#[test]
fn bad_query_values_are_the_platforms_400s() {
    let code = |r: Result<UserQuery, ApiError>| r.unwrap_err().code;
    assert_eq!(
        code(UserQuery::parse("pageSize=501")),
        "invalid.query.param.value"
    );
    assert_eq!(
        code(UserQuery::parse("pageSize=0")),
        "invalid.query.param.value"
    );
    assert_eq!(
        code(UserQuery::parse("pageSize=ten")),
        "invalid.query.param.value"
    );
    assert_eq!(
        code(UserQuery::parse("pageSize=99999999999999999999999")),
        "invalid.query.param.value"
    );
    assert_eq!(
        code(UserQuery::parse("pageNumber=0")),
        "invalid.query.param.value"
    );
    assert_eq!(
        code(UserQuery::parse("state=gone")),
        "invalid.query.param.value"
    );
    assert_eq!(
        code(UserQuery::parse("sortOrder=sideways")),
        "invalid.query.param.value"
    );
    let ids: Vec<String> = (0..101).map(|i| format!("id={i}")).collect();
    assert_eq!(code(UserQuery::parse(&ids.join("&"))), "max.user.ids");
    assert!(
        UserQuery::parse(&format!(
            "pageSize={MAX_PAGE_SIZE}&sortOrder=DESC&state=Any"
        ))
        .is_ok()
    );

    assert_eq!(
        QueueQuery::parse("pageNumber=-1").unwrap_err().code,
        "invalid.page.number"
    );
    assert_eq!(
        QueueQuery::parse("divisionId=nope").unwrap_err().code,
        "invalid.id"
    );
    assert_eq!(
        MemberQuery::parse("pageSize=101").unwrap_err().code,
        "invalid.query.param.value"
    );
    assert_eq!(
        MemberQuery::parse("joined=maybe").unwrap_err().code,
        "invalid.query.param.value"
    );
    assert!(MemberQuery::parse("pageSize=100&joined=true&memberBy=user").is_ok());
}

#[test]
fn user_pages_partition_the_active_users_in_name_order() {
    let org = org(60, 4);
    let q = |qs: &str| UserQuery::parse(qs).unwrap();
    let mut seen = Vec::new();
    let mut qs = "pageSize=25".to_string();
    loop {
        let page = json(&users(&org, &q(&qs)));
        assert_eq!(page["total"], 60);
        assert_eq!(page["pageCount"], 3);
        for u in page["entities"].as_array().unwrap() {
            seen.push(u["name"].as_str().unwrap().to_lowercase());
        }
        match page["nextUri"].as_str() {
            Some(next) => qs = next.split_once('?').unwrap().1.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 60);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "sorted by name");
    let desc = json(&users(&org, &q("sortOrder=descending&pageSize=500")));
    let first = desc["entities"][0]["name"].as_str().unwrap().to_lowercase();
    assert_eq!(&first, seen.last().unwrap());
}

#[test]
fn state_and_id_filters_pick_the_right_users() {
    let mut org = org(10, 2);
    let ids: Vec<String> = org.users().map(|u| u.id.clone()).collect();
    org.change_users(ChangeUsers {
        ids: ids[..2].to_vec(),
        state: Some(UserState::Deleted),
        division_id: None,
    })
    .unwrap();
    org.change_users(ChangeUsers {
        ids: ids[2..3].to_vec(),
        state: Some(UserState::Inactive),
        division_id: None,
    })
    .unwrap();
    let total = |qs: &str| json(&users(&org, &UserQuery::parse(qs).unwrap()))["total"].clone();
    assert_eq!(total(""), 7);
    assert_eq!(total("state=deleted"), 2);
    assert_eq!(total("state=inactive"), 1);
    assert_eq!(total("state=any"), 10);
    let upper = ids[3].to_uppercase();
    assert_eq!(total(&format!("id={upper}&id={}", ids[0])), 1);
    assert_eq!(total(&format!("id={}&state=any", ids[0])), 1);
    let page = json(&users(&org, &UserQuery::parse("state=deleted").unwrap()));
    assert!(
        page["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["state"] == "deleted" && u["version"] == 2)
    );
}

#[test]
fn queue_filters_and_members() {
    let mut org = org(30, 5);
    let all = json(&queues(&org, &QueueQuery::parse("").unwrap()));
    assert_eq!(all["total"], 5);
    let names: Vec<&str> = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Billing",
            "Retention",
            "Sales",
            "Support",
            "Technical Support"
        ]
    );
    let member_total: u64 = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["memberCount"].as_u64().unwrap())
        .sum();
    assert_eq!(member_total, 30, "each seeded user is in one queue");
    let total = |org: &Org, qs: &str| {
        json(&queues(org, &QueueQuery::parse(qs).unwrap()))["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(total(&org, "name=*support"), 2);
    assert_eq!(total(&org, "name=s*"), 2);
    assert_eq!(total(&org, "name=*E*"), 3);
    assert_eq!(total(&org, "hasPeer=true"), 0);
    let divisions: Vec<String> = org.divisions().map(|d| d.id.to_string()).collect();
    assert_eq!(divisions.len(), 3);
    let per_division: u64 = divisions
        .iter()
        .map(|d| total(&org, &format!("divisionId={d}")))
        .sum();
    assert_eq!(per_division, 5);
    assert_eq!(
        total(
            &org,
            &format!("divisionId={},{}", divisions[1], divisions[2])
        ),
        3
    );

    let support = org.queues().next().unwrap().id.clone();
    let q = |qs: &str| MemberQuery::parse(qs).unwrap();
    let listed = json(&members(&org, &support, &q("pageSize=100")).unwrap());
    let member_ids: HashSet<&str> = listed["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(member_ids.len(), 6);
    assert!(listed.get("nextUri").is_none());
    let paged = json(&members(&org, &support, &q("pageSize=4")).unwrap());
    assert_eq!(paged["entities"].as_array().unwrap().len(), 4);
    assert!(paged["nextUri"].as_str().unwrap().contains("pageNumber=2"));
    assert!(paged.get("total").is_none());
    assert_eq!(
        members(&org, "00000000-0000-4000-8000-000000000000", &q(""))
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(
        members(&org, "nope", &q("")).unwrap_err().code,
        "invalid.id"
    );

    // A deleted user leaves every queue.
    let leaving = member_ids.iter().next().unwrap().to_string();
    org.delete_user(&leaving).unwrap();
    let after = json(&members(&org, &support, &q("pageSize=100")).unwrap());
    assert_eq!(after["entities"].as_array().unwrap().len(), 5);
    assert_eq!(total(&org, &format!("id={support}")), 1);
    let listed = json(&queues(
        &org,
        &QueueQuery::parse(&format!("id={support}")).unwrap(),
    ));
    assert_eq!(listed["entities"][0]["memberCount"], 5);
}

#[test]
fn expand_adds_presence_and_routing_status() {
    let mut org = org(3, 1);
    org.add_users(AddUsers {
        count: Some(1),
        state: Some(UserState::Inactive),
        ..Default::default()
    })
    .unwrap();
    let page = json(&users(
        &org,
        &UserQuery::parse("state=any&expand=presence,routingStatus").unwrap(),
    ));
    for u in page["entities"].as_array().unwrap() {
        let (presence, status) = match u["state"].as_str().unwrap() {
            "active" => ("On Queue", "IDLE"),
            _ => ("Offline", "OFF_QUEUE"),
        };
        assert_eq!(
            u["presence"]["presenceDefinition"]["systemPresence"],
            presence
        );
        assert_eq!(u["routingStatus"]["status"], status);
        assert_eq!(u["routingStatus"]["userId"], u["id"]);
    }
    let plain = json(&users(&org, &UserQuery::parse("").unwrap()));
    assert!(plain["entities"][0].get("presence").is_none());
    assert!(
        plain["entities"][0]["email"]
            .as_str()
            .unwrap()
            .ends_with("@example.com")
    );
}
