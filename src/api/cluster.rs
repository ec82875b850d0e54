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

/// Cluster mode: a request about a tenant another instance owns is answered there: `307` to the owner's
/// advertised URL (same path and query). `None` when this instance owns it, or without cluster mode. When
/// no instance owns it now or the owner advertises no URL: `503` if `strict`, else `None` (the caller
/// answers with what this instance knows).
pub(super) async fn redirect_to_owner(
    state: &ApiState,
    tenant: &str,
    req: &HttpRequest,
    strict: bool,
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(cluster) = &state.cluster else {
        return Ok(None);
    };
    if cluster.held().contains_key(tenant) {
        return Ok(None);
    }
    let (instances, leases) = cluster
        .view()
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    let owner = leases
        .iter()
        .find(|l| l.id == tenant)
        .and_then(|l| l.owner.clone());
    let url = owner.as_ref().and_then(|o| {
        instances
            .iter()
            .find(|i| i.id == *o)
            .and_then(|i| i.advertise_url.clone())
    });
    match (owner, url) {
        (_, Some(url)) => {
            let path_and_query = req.uri().path_and_query().map_or("", |p| p.as_str());
            Ok(Some(
                HttpResponse::TemporaryRedirect()
                    .insert_header((
                        "Location",
                        format!("{}{path_and_query}", url.trim_end_matches('/')),
                    ))
                    .finish(),
            ))
        }
        _ if !strict => Ok(None),
        (None, None) => Err(ApiError::unavailable(format!(
            "no instance owns tenant {tenant} now; try again shortly"
        ))),
        (Some(owner), None) => Err(ApiError::unavailable(format!(
            "tenant {tenant} is owned by instance {owner}, which advertises no URL ([cluster] advertise_url)"
        ))),
    }
}
