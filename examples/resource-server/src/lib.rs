//! A small API protected by baton-verify: `/hello` uses the [`Bearer`] extractor, `/orders/*`
//! sits behind the [`RequireBearerLayer`] and reads the claims from the request, `/account`
//! needs a second factor ([`RequireMfa`]) and `/transfers` a second factor proven in the last
//! ten minutes ([`RequireMfaLayer`] with a `max_age`): a token without one gets RFC 9470's
//! `insufficient_user_authentication`, and the client steps up. `/profile` takes DPoP-bound
//! tokens with their proof ([`DpopBearer`]; unbound ones as bearer tokens), and `/payments`
//! sits behind the [`RequireDpopBearerLayer`]. A bound token is refused everywhere else: it is
//! no bearer token.

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use baton_verify::{
    Bearer, Claims, DpopBearer, RequireBearerLayer, RequireDpopBearerLayer, RequireMfa,
    RequireMfaLayer, Verifier,
};
use serde_json::{json, Value};
use std::time::Duration;

/// How recent the second factor behind a transfer must be.
pub const TRANSFER_MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// The API, checking tokens with `verifier`.
pub fn app(verifier: Verifier) -> Router {
    let orders = Router::new()
        .route("/orders", get(orders))
        .layer(RequireBearerLayer::new(verifier.clone()));
    let transfers = Router::new()
        .route("/transfers", post(transfer))
        .layer(RequireMfaLayer::new(verifier.clone()).max_age(TRANSFER_MAX_AGE));
    let payments = Router::new()
        .route("/payments", post(payment))
        .layer(RequireDpopBearerLayer::new(verifier.clone()));
    Router::new()
        .route("/hello", get(hello))
        .route("/account", get(account))
        .route("/profile", get(profile))
        .merge(orders)
        .merge(transfers)
        .merge(payments)
        .with_state(verifier)
}

/// The caller's profile, and whether their token was bound to a key (`cnf.jkt`).
async fn profile(DpopBearer(claims): DpopBearer) -> Json<Value> {
    Json(json!({ "user": claims.preferred_username, "jkt": claims.dpop_jkt() }))
}

/// A payment, through the DPoP layer.
async fn payment(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({ "user": claims.sub, "jkt": claims.dpop_jkt(), "accepted": true }))
}

/// Greets the caller by name.
async fn hello(Bearer(claims): Bearer) -> String {
    format!("Hello, {}!", claims.preferred_username)
}

/// The caller's orders (none yet), with who asked.
async fn orders(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({ "user": claims.sub, "session": claims.sid, "orders": [] }))
}

/// Account settings: only for a caller who proved a second factor.
async fn account(RequireMfa(claims): RequireMfa) -> Json<Value> {
    Json(json!({ "user": claims.sub, "amr": claims.amr }))
}

/// A money transfer: a second factor proven within [`TRANSFER_MAX_AGE`].
async fn transfer(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({ "user": claims.sub, "auth_time": claims.auth_time, "accepted": true }))
}
