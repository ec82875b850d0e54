//! The lease table's statements, over PostgreSQL, in database time only (`now()`), autocommit, no advisory
//! locks (they break behind PgBouncer and under SIGSTOP).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A lease this instance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub epoch: i64,
}

/// A lease taken: its new epoch, who held it before (none for a tenant never owned), and whether that owner
/// handed it over make-before-break (it read on until the taker's sockets displaced its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub epoch: i64,
    pub previous: Option<String>,
    pub handed_over: bool,
}

/// One row of `GET /v1/cluster`'s `tenants`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LeaseRow {
    pub id: String,
    pub owner: Option<String>,
    pub epoch: i64,
    /// Since when the owner has held it.
    pub since: Option<DateTime<Utc>>,
    #[serde(rename = "expiresAt")]
    pub expires_at: DateTime<Utc>,
}

/// One row of `GET /v1/cluster`'s `instances`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRow {
    pub id: String,
    pub heartbeat_at: DateTime<Utc>,
    pub version: String,
    pub advertise_url: Option<String>,
    pub tenants: Vec<String>,
}

/// A lease row as read: tenant, owner, epoch, since, expires_at, and whether it is still running.
type LeaseTuple = (
    String,
    Option<String>,
    i64,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    bool,
);

fn interval(d: Duration) -> String {
    format!("{} milliseconds", d.as_millis())
}

/// Says this instance is alive (and registers it the first time).
pub async fn heartbeat(pool: &PgPool, me: &str, advertise_url: Option<&str>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cluster_instances (id, started_at, heartbeat_at, advertise_url, version) \
         VALUES ($1, now(), now(), $2, $3) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), advertise_url = excluded.advertise_url, \
         version = excluded.version",
    )
    .bind(me)
    .bind(advertise_url)
    .bind(env!("CARGO_PKG_VERSION"))
    .execute(pool)
    .await?;
    Ok(())
}

/// Renews every lease this instance holds and has not lost; returns them. A tenant missing from the answer
/// is lost: stop claiming it at once.
pub async fn renew(pool: &PgPool, me: &str, ttl: Duration) -> sqlx::Result<BTreeMap<String, Held>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "UPDATE tenant_leases SET expires_at = now() + $2::interval, renewed_at = now() \
         WHERE owner = $1 AND expires_at > now() RETURNING tenant, epoch",
    )
    .bind(me)
    .bind(interval(ttl))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, epoch)| (t, Held { epoch }))
        .collect())
}

/// The instances whose heartbeat is younger than `ttl`, by id.
pub async fn live_instances(pool: &PgPool, ttl: Duration) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT id FROM cluster_instances WHERE heartbeat_at > now() - $1::interval ORDER BY id",
    )
    .bind(interval(ttl))
    .fetch_all(pool)
    .await
}

/// How many of `tenants` no live instance holds now.
pub async fn unowned(pool: &PgPool, tenants: &[String]) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM tenant_leases WHERE tenant = ANY($1) AND (owner IS NULL OR expires_at <= now())",
    )
    .bind(tenants)
    .fetch_one(pool)
    .await
}

/// Makes sure every tenant has a lease row (free, expired).
pub async fn ensure_rows(pool: &PgPool, tenants: &[String]) -> sqlx::Result<()> {
    if tenants.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tenant_leases (tenant, owner, epoch, expires_at) \
         SELECT t, NULL, 0, now() FROM UNNEST($1::text[]) AS t ON CONFLICT (tenant) DO NOTHING",
    )
    .bind(tenants)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes `tenant`'s lease if it is free, expired, already this instance's, or offered by its owner within
/// `fresh` (a make-before-break handover: the owner reads on until the taker's sockets displace its own); the
/// epoch goes up by one.
pub async fn acquire(
    pool: &PgPool,
    me: &str,
    tenant: &str,
    ttl: Duration,
    fresh: Duration,
) -> sqlx::Result<Option<Taken>> {
    let row: Option<(i64, Option<String>, bool)> = sqlx::query_as(
        "WITH old AS (SELECT tenant, owner, expires_at > now() AND handover_at > now() - $4::interval \
         AS offered FROM tenant_leases WHERE tenant = $2 FOR UPDATE SKIP LOCKED) \
         UPDATE tenant_leases AS l SET owner = $1, epoch = l.epoch + 1, expires_at = now() + $3::interval, \
         renewed_at = now(), since = now(), handover_at = NULL \
         FROM old WHERE l.tenant = old.tenant \
         AND (l.owner IS NULL OR l.expires_at <= now() OR l.owner = $1 OR old.offered) \
         RETURNING l.epoch, old.owner, coalesce(old.offered, false)",
    )
    .bind(me)
    .bind(tenant)
    .bind(interval(ttl))
    .bind(interval(fresh))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(epoch, previous, offered)| Taken {
        epoch,
        handed_over: offered && previous.as_deref().is_some_and(|p| p != me),
        previous,
    }))
}

/// Offers `tenant` to the instance the assignment gives it to (or refreshes the offer), while this instance
/// still holds it at `epoch`. `false`: the lease is no longer ours (taken by now).
pub async fn offer(pool: &PgPool, me: &str, tenant: &str, epoch: i64) -> sqlx::Result<bool> {
    update_held(
        pool,
        "UPDATE tenant_leases SET handover_at = now() \
         WHERE tenant = $2 AND owner = $1 AND epoch = $3 AND expires_at > now()",
        (me, tenant, epoch),
    )
    .await
}

/// Withdraws the offer of `tenant`. `false`: the lease is no longer ours at `epoch` (it was taken).
pub async fn withdraw(pool: &PgPool, me: &str, tenant: &str, epoch: i64) -> sqlx::Result<bool> {
    update_held(
        pool,
        "UPDATE tenant_leases SET handover_at = NULL WHERE tenant = $2 AND owner = $1 AND epoch = $3",
        (me, tenant, epoch),
    )
    .await
}

/// Gives `tenant`'s lease up (it expires now), if this instance still holds it at `epoch`.
pub async fn release(pool: &PgPool, me: &str, tenant: &str, epoch: i64) -> sqlx::Result<bool> {
    update_held(
        pool,
        "UPDATE tenant_leases SET expires_at = now(), handover_at = NULL \
         WHERE tenant = $2 AND owner = $1 AND epoch = $3",
        (me, tenant, epoch),
    )
    .await
}

/// Runs `sql`, a change of one lease this instance holds, with `$1` this instance, `$2` the tenant and `$3`
/// the epoch; `true` when the lease was still ours and changed.
async fn update_held(
    pool: &PgPool,
    sql: &'static str,
    (me, tenant, epoch): (&str, &str, i64),
) -> sqlx::Result<bool> {
    let done = sqlx::query(sql)
        .bind(me)
        .bind(tenant)
        .bind(epoch)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Stops counting this instance as a member (its heartbeat row goes), so that the others' assignment gives
/// its tenants away; its leases stay its own until taken or given up.
pub async fn withdraw_membership(pool: &PgPool, me: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cluster_instances WHERE id = $1")
        .bind(me)
        .execute(pool)
        .await?;
    Ok(())
}

/// Leaves the cluster: every lease of this instance expires now, and its heartbeat is removed.
pub async fn leave(pool: &PgPool, me: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tenant_leases SET expires_at = now(), handover_at = NULL WHERE owner = $1")
        .bind(me)
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM cluster_instances WHERE id = $1")
        .bind(me)
        .execute(pool)
        .await?;
    Ok(())
}

/// The cluster as `GET /v1/cluster` shows it: live instances (heartbeat younger than `ttl`) with the tenants
/// each holds, and every lease.
pub async fn view(pool: &PgPool, ttl: Duration) -> sqlx::Result<(Vec<InstanceRow>, Vec<LeaseRow>)> {
    let instances: Vec<(String, DateTime<Utc>, String, Option<String>)> = sqlx::query_as(
        "SELECT id, heartbeat_at, version, advertise_url FROM cluster_instances \
         WHERE heartbeat_at > now() - $1::interval ORDER BY id",
    )
    .bind(interval(ttl))
    .fetch_all(pool)
    .await?;
    let leases: Vec<LeaseTuple> = sqlx::query_as(
        "SELECT tenant, owner, epoch, since, expires_at, expires_at > now() FROM tenant_leases ORDER BY tenant",
    )
    .fetch_all(pool)
    .await?;
    let leases: Vec<LeaseRow> = leases
        .into_iter()
        .map(|(id, owner, epoch, since, expires_at, live)| LeaseRow {
            id,
            owner: owner.filter(|_| live),
            epoch,
            since: since.filter(|_| live),
            expires_at,
        })
        .collect();
    let instances = instances
        .into_iter()
        .map(|(id, heartbeat_at, version, advertise_url)| InstanceRow {
            tenants: leases
                .iter()
                .filter(|l| l.owner.as_deref() == Some(id.as_str()))
                .map(|l| l.id.clone())
                .collect(),
            id,
            heartbeat_at,
            version,
            advertise_url,
        })
        .collect();
    Ok((instances, leases))
}
