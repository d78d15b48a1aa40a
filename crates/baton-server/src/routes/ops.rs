//! Operations: liveness, readiness, metrics, and the landing page.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.baton.ready().await?;
    Ok(Json(json!({ "status": "ready" })))
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The demo page and its assets, built from `clients/web` (the test command checks that
/// `clients/web/dist` is what a fresh build produces).
const DEMO_HTML: &str = include_str!("../../../../clients/web/demo/index.html");
const DEMO_CSS: &str = include_str!("../../../../clients/web/demo/demo.css");
const DEMO_JS: &str = include_str!("../../../../clients/web/dist/demo.js");
const CLIENT_JS: &str = include_str!("../../../../clients/web/dist/client.js");

const DEMO_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub(super) async fn index() -> Response {
    let mut response = Html(DEMO_HTML).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DEMO_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn demo_css() -> Response {
    asset(DEMO_CSS, "text/css; charset=utf-8")
}

pub(super) async fn demo_js() -> Response {
    asset(DEMO_JS, "text/javascript; charset=utf-8")
}

pub(super) async fn client_js() -> Response {
    asset(CLIENT_JS, "text/javascript; charset=utf-8")
}

pub(super) async fn pages_css() -> Response {
    asset(crate::pages::STYLESHEET, "text/css; charset=utf-8")
}

pub(super) async fn pages_js() -> Response {
    asset(crate::pages::SCRIPT, "text/javascript; charset=utf-8")
}
