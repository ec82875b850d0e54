//! The web console: one page over the admin API for people, at `/console`. Tenants and their channels (state,
//! heartbeat age, topics placed, rejected and unplaced), recent gaps, sinks with their queue and spool, a live
//! tail, and pause, resume and restart for admins.
//!
//! The page and its script are static files built into the binary (no Node build): anyone may load them, and
//! they hold no data. Everything shown is read in the browser from the API with the token the user types,
//! kept in the tab's session storage; the API checks that token's role on every call as for any client (a
//! read token sees everything and can change nothing). A strict Content-Security-Policy allows only this
//! origin's script and style and calls to this origin.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// The console's paths; they are served without a token (see [`crate::api::auth::OPEN_PATHS`]).
pub const PATHS: [&str; 3] = ["/console", "/console/app.js", "/console/style.css"];

/// Nothing but this origin's script, style and API; never framed.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes of the console.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATHS[0], web::get().to(page))
        .route(PATHS[1], web::get().to(script))
        .route(PATHS[2], web::get().to(style));
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body)
}

async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}
