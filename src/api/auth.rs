//! Bearer-token auth with two roles. Tokens are kept as SHA-256 hashes and compared in constant time.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use super::error::ApiError;
use crate::config::{AdminToken, Role, hash_token};

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The caller if the request carries a known token and its role allows `needed`.
pub fn authorize(
    req: &HttpRequest,
    tokens: &[AdminToken],
    needed: Role,
) -> Result<Caller, ApiError> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let hash = hash_token(token);
    let found = tokens
        .iter()
        .find(|t| constant_time_eq(&t.sha256, &hash))
        .ok_or_else(ApiError::unauthorized)?;
    if needed == Role::Admin && found.role != Role::Admin {
        return Err(ApiError::forbidden());
    }
    Ok(Caller {
        name: found.name.clone(),
        role: found.role,
    })
}

/// Routes anyone may call: the probes (`/readyz` shows tenants' states only to a caller with a token), the
/// API's own description, and the console's static page, script and style (they hold no data; the page reads
/// the API with the token its user types). `/metrics` is not one: on the admin listener it needs a read or
/// admin token (the metrics listener, `[admin] metrics_listen`, serves it without this middleware).
pub const OPEN_PATHS: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/v1/openapi.json",
    super::console::PATHS[0],
    super::console::PATHS[1],
    super::console::PATHS[2],
];

/// Who the caller is: its token's name and role (what the console shows, and which actions it offers).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The token's `name` in `[[admin.tokens]]`.
    pub name: String,
    /// `admin` or `read`.
    #[schema(value_type = String, pattern = "^(admin|read)$")]
    pub role: Role,
}

/// The caller's token name and role.
#[utoipa::path(get, path = "/v1/whoami", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), super::responses::Unauthorized))]
pub async fn whoami(
    req: HttpRequest,
    state: actix_web::web::Data<super::ApiState>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Read)?;
    Ok(actix_web::HttpResponse::Ok().json(WhoAmI {
        name: caller.name,
        role: caller.role,
    }))
}

/// Refuses a request without a known token before anything reads its body: an unauthenticated client can
/// then make the API buffer nothing (handlers check the role a route needs once the token is known).
pub async fn require_token(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::ResponseError as _;
    if !OPEN_PATHS.contains(&req.path()) {
        let tokens = req
            .app_data::<actix_web::web::Data<super::ApiState>>()
            .map(|s| s.tokens.as_slice())
            .unwrap_or_default();
        if let Err(e) = authorize(req.request(), tokens, Role::Read) {
            // The body stays unread: the connection is closed after this answer.
            let res = e.error_response().map_into_right_body();
            return Ok(req.into_response(res));
        }
    }
    next.call(req)
        .await
        .map(actix_web::dev::ServiceResponse::map_into_left_body)
}
