//! `/sim/v1/org...`: reading the simulated org and changing it while it runs: divisions, users
//! (added, state or division changed, deleted), queues (added, removed) and queue membership. A
//! refused change (400, or 404 for the user or queue in the path) leaves the org as it was.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ControlError, SimData, json_body};
use crate::sim::workload::Family;
use crate::sim::workload::changes::{
    AddDivisions, AddQueues, AddUsers, ChangeMembers, ChangeUsers,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/org", web::get().to(org))
        .route("/org/divisions", web::post().to(add_divisions))
        .route("/org/users", web::post().to(add_users))
        .route("/org/users", web::patch().to(change_users))
        .route("/org/users/{id}", web::delete().to(delete_user))
        .route("/org/queues", web::post().to(add_queues))
        .route("/org/queues/{id}", web::delete().to(delete_queue))
        .route("/org/queues/{id}/members", web::patch().to(change_members));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrgQuery {
    /// When set, also list the exact topic names the org emits for this family.
    family: Option<Family>,
}

/// The whole org: divisions, users (every state) and queues, as the control API shows them.
async fn org(sim: SimData, query: web::Query<OrgQuery>) -> HttpResponse {
    let body = sim.with_org(|org| {
        let divisions: Vec<_> = org.divisions().map(|d| org.division_record(d)).collect();
        let users: Vec<_> = org.users().map(|u| org.user_record(u)).collect();
        let queues: Vec<_> = org.queues().map(|q| org.queue_record(q)).collect();
        let mut body = json!({
            "divisions": divisions,
            "users": users,
            "queues": queues,
            "conversations": org.conversations().count(),
        });
        if let Some(family) = query.family {
            body["topics"] = json!(org.topics_for(family));
        }
        body
    });
    HttpResponse::Ok().json(body)
}

async fn add_divisions(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let req: AddDivisions = json_body(payload).await?;
    let added = sim.change_org(|org| org.add_divisions(req))?;
    Ok(HttpResponse::Created().json(json!({ "divisions": added })))
}

async fn add_users(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let req: AddUsers = json_body(payload).await?;
    let added = sim.change_org(|org| org.add_users(req))?;
    Ok(HttpResponse::Created().json(json!({ "users": added })))
}

async fn change_users(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let req: ChangeUsers = json_body(payload).await?;
    let changed = sim.change_org(|org| org.change_users(req))?;
    Ok(HttpResponse::Ok().json(json!({ "users": changed })))
}

async fn delete_user(sim: SimData, id: web::Path<String>) -> Result<HttpResponse, ControlError> {
    let user = sim.change_org(|org| org.delete_user(&id))?;
    Ok(HttpResponse::Ok().json(user))
}

async fn add_queues(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let req: AddQueues = json_body(payload).await?;
    let added = sim.change_org(|org| org.add_queues(req))?;
    Ok(HttpResponse::Created().json(json!({ "queues": added })))
}

async fn delete_queue(sim: SimData, id: web::Path<String>) -> Result<HttpResponse, ControlError> {
    let queue = sim.change_org(|org| org.delete_queue(&id))?;
    Ok(HttpResponse::Ok().json(queue))
}

async fn change_members(
    sim: SimData,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ControlError> {
    let req: ChangeMembers = json_body(payload).await?;
    let queue = sim.change_org(|org| org.change_members(&id, req))?;
    Ok(HttpResponse::Ok().json(queue))
}
