//! A small API protected by baton-verify: `/hello` uses the [`Bearer`] extractor, `/orders/*`
//! sits behind the [`RequireBearerLayer`] and reads the claims from the request.

use axum::routing::get;
use axum::{Extension, Json, Router};
use baton_verify::{Bearer, Claims, RequireBearerLayer, Verifier};
use serde_json::{json, Value};

/// The API, checking tokens with `verifier`.
pub fn app(verifier: Verifier) -> Router {
    let orders = Router::new()
        .route("/orders", get(orders))
        .layer(RequireBearerLayer::new(verifier.clone()));
    Router::new()
        .route("/hello", get(hello))
        .merge(orders)
        .with_state(verifier)
}

/// Greets the caller by name.
async fn hello(Bearer(claims): Bearer) -> String {
    format!("Hello, {}!", claims.preferred_username)
}

/// The caller's orders (none yet), with who asked.
async fn orders(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({ "user": claims.sub, "session": claims.sid, "orders": [] }))
}
