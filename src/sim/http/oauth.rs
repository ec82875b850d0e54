//! `POST /oauth/token`: the client-credentials grant (contract §2).

use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;

use super::read_body;
use crate::sim::error::OAuthError;
use crate::sim::state::Sim;

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    sim: web::Data<Arc<Sim>>,
) -> Result<HttpResponse, OAuthError> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let body = read_body(payload, 64 * 1024)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body is too large"))?;
    let form: TokenForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| OAuthError::invalid_request("the request body is not a valid form"))?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::unsupported_grant_type(
                "grant type not supported",
            ));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    }
    let (client_id, secret) = match basic_credentials(&req)? {
        Some(pair) => pair,
        None => match (form.client_id, form.client_secret) {
            (Some(id), Some(secret)) => (id, secret),
            _ => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ));
            }
        },
    };
    let (access_token, expires_in) = sim.issue_token(&client_id, &secret)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": expires_in,
        })))
}

/// The `Authorization: Basic` pair, `None` when there is no such header, an error when it is malformed.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic authorization header");
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    Ok(Some((id.to_string(), secret.to_string())))
}
