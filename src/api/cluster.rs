//! `GET /v1/cluster`: the instances sharing this store and who owns which tenant (cluster mode).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::auth::authorize;
use super::{ApiError, ApiState};
use crate::api::responses::{NotFound, Unauthorized, Unavailable};
use crate::cluster::leases::{InstanceRow, LeaseRow};
use crate::config::Role;

/// The cluster as the store sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// This instance's id.
    pub me: String,
    /// Live instances (a heartbeat younger than the lease TTL) and the tenants each holds.
    pub instances: Vec<InstanceRow>,
    /// Every tenant's lease: its owner (none while free or expired), epoch, and since when it is held.
    pub tenants: Vec<LeaseRow>,
}

/// The instances of the cluster and the owner of each tenant (404 without `[cluster]`).
#[utoipa::path(get, path = "/v1/cluster", security(("bearer" = [])),
    responses((status = 200, body = ClusterView),
        Unauthorized, NotFound, Unavailable))]
pub async fn cluster(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let Some(cluster) = &state.cluster else {
        return Err(ApiError::not_found(
            "cluster mode is off: this instance owns every tenant ([cluster] turns it on)",
        ));
    };
    let (instances, tenants) = cluster
        .view()
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(ClusterView {
        me: cluster.id().to_string(),
        instances,
        tenants,
    }))
}
