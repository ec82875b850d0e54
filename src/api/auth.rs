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
