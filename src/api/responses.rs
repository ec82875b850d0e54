//! The admin API's error answers as OpenAPI responses, one type per answer: a route lists the errors it
//! can give by name (`responses((status = 200, body = X), Unauthorized, Unavailable)`) and every route
//! describes an error the same way. The body of each is an [`ApiError`] whose `code` is named here.

// The types are only described (utoipa reads them at compile time), never built: their field is not read.
#![allow(dead_code)]

use super::error::ApiError;

/// 400: the query, the path or the body is not valid.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`"
)]
pub struct Invalid(ApiError);

/// 401: no known bearer token.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "No known bearer token (`unauthorized`)")]
pub struct Unauthorized(ApiError);

/// 403: the token's role may not do that.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "The token's role may not do that (`forbidden`)"
)]
pub struct Forbidden(ApiError);

/// 404: no such tenant, sink or route.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No such tenant, sink or route (`not_found`)"
)]
pub struct NotFound(ApiError);

/// 409: refused in the current state.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 409,
    description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`"
)]
pub struct Conflict(ApiError);

/// 413: the body is too big.
#[derive(utoipa::IntoResponses)]
#[response(status = 413, description = "The body is too big (`too_large`)")]
pub struct TooLarge(ApiError);

/// 415: the body is not JSON.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 415,
    description = "The body is not `application/json` (`unsupported_media_type`)"
)]
pub struct UnsupportedMediaType(ApiError);

/// 503: the store did not answer or the engine is stopping.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "The store did not answer or the engine is stopping (`unavailable`)"
)]
pub struct Unavailable(ApiError);

/// 307: cluster mode, another instance owns the tenant.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 307,
    description = "Cluster mode: another instance owns the tenant; `Location` is the same request there"
)]
pub struct Redirected;
