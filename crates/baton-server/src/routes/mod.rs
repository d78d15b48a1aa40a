//! The router: every path of the contract, the JSON 404/405 answers, and the layers around them.

mod account;
mod apps;
mod auth;
mod authorize;
mod discovery;
mod email;
mod flows;
mod mfa;
mod oauth;
mod ops;
mod webauthn;

use crate::admission::{self, Class, Gate};
use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{delete, get, post, put};
use axum::{middleware, Router};
use baton_core::audit::{AuditEvent, EventKind};
use baton_core::service::RequestOrigin;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest accepted request head (request line and headers).
pub const HEADER_LIMIT: usize = 32 * 1024;

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    // Each class of routes is admitted apart (crate::admission); the rest cost next to nothing.
    let class = |class: Class, routes: Router<AppState>| {
        routes.route_layer(middleware::from_fn_with_state(
            Arc::new(Gate::new(
                state.admissions.clone(),
                state.metrics.clone(),
                class,
            )),
            admission::admit,
        ))
    };
    let credentials = class(
        Class::Credentials,
        Router::new()
            .route("/auth/register", post(auth::register))
            .route("/auth/login", post(auth::login))
            .route("/auth/password", post(account::change_password))
            .route("/auth/password/reset", post(email::reset))
            .route("/auth/email", put(email::set_email))
            .route("/auth/login/mfa", post(mfa::login_mfa))
            .route("/auth/mfa/totp/setup", post(mfa::totp_setup))
            .route("/auth/mfa/totp/confirm", post(mfa::totp_confirm))
            .route("/auth/mfa/totp", delete(mfa::totp_delete))
            .route(
                "/auth/mfa/recovery-codes",
                post(mfa::regenerate_recovery_codes),
            )
            .route(
                "/auth/webauthn/register/start",
                post(webauthn::register_start),
            )
            .route(
                "/auth/webauthn/register/finish",
                post(webauthn::register_finish),
            )
            .route("/auth/webauthn/credentials/{id}", delete(webauthn::delete))
            .route("/auth/webauthn/login/start", post(webauthn::login_start))
            .route("/auth/webauthn/login/finish", post(webauthn::login_finish))
            .route("/oauth/token", post(oauth::token))
            .route("/oauth/authorize/login", post(authorize::login))
            .route("/oauth/authorize/mfa", post(authorize::mfa))
            .route("/oauth/authorize/passkey", post(authorize::passkey)),
    );
    let refresh = class(
        Class::Refresh,
        Router::new()
            .route("/auth/refresh", post(auth::refresh))
            .route("/auth/logout", post(auth::logout))
            .route("/auth/password/forgot", post(email::forgot))
            .route("/auth/email/verify", post(email::verify_email))
            .route("/oauth/revoke", post(oauth::revoke))
            .route("/oauth/par", post(oauth::par))
            .route(
                "/oauth/logout",
                get(authorize::logout).post(authorize::logout),
            )
            .route("/oauth/logout/confirm", post(authorize::confirm_logout))
            .route(
                "/oauth/authorize",
                get(authorize::authorize).post(authorize::authorize),
            )
            .route("/oauth/authorize/consent", post(authorize::consent)),
    );
    let verify = class(
        Class::Verify,
        Router::new()
            .route("/auth/logout-all", post(account::logout_all))
            .route("/auth/sessions", get(account::sessions))
            .route("/auth/sessions/{id}", delete(account::revoke_session))
            .route("/auth/connected-apps", get(apps::list))
            .route("/auth/connected-apps/{client_id}", delete(apps::disconnect))
            .route("/auth/events", get(account::events))
            .route("/auth/mfa", get(mfa::status))
            .route("/auth/webauthn/credentials", get(webauthn::list))
            .route("/api/me", get(account::me))
            .route("/oauth/introspect", post(oauth::introspect))
            .route(
                "/oauth/userinfo",
                get(discovery::userinfo).post(discovery::userinfo),
            )
            .route(
                "/.well-known/openid-configuration",
                get(discovery::openid_configuration),
            )
            .route("/.well-known/jwks.json", get(discovery::jwks))
            .route(
                "/.well-known/oauth-authorization-server",
                get(discovery::metadata),
            ),
    );
    let mut app = Router::new()
        .route("/", get(ops::index))
        .route("/assets/demo.css", get(ops::demo_css))
        .route("/assets/demo.js", get(ops::demo_js))
        .route("/assets/client.js", get(ops::client_js))
        .route("/assets/pages.css", get(ops::pages_css))
        .route("/assets/pages.js", get(ops::pages_js))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(credentials)
        .merge(refresh)
        .merge(verify)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), read_body))
        .layer(middleware::from_fn(size_guard))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ));
    if let Some(cors) = cors(&state.config.allowed_origins) {
        app = app.layer(cors);
    }
    app.layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal(
                "handler panicked".into(),
            ))
        }))
        // Outside every layer that may refuse a request: each answer carries the DPoP nonce.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::dpop::answers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// An audit event of `kind` now, from `origin`.
pub(super) fn event(state: &AppState, kind: EventKind, origin: &RequestOrigin) -> AuditEvent {
    let mut event = AuditEvent::new(kind, state.baton.now());
    event.ip.clone_from(&origin.ip);
    event.user_agent.clone_from(&origin.user_agent);
    event
}

/// Counts and records an audit event; a failure to record is logged, not the request's.
pub(super) async fn audit(state: &AppState, event: AuditEvent) {
    state.metrics.event(event.kind.as_str());
    state.baton.record(event).await;
}

/// Refuses oversized heads (431) and bodies announced as oversized (413) on every route, also
/// those that never read a body. The head is the request line (method, target, version) and the
/// headers; the server closes connections whose head passes twice this limit before it gets here.
async fn size_guard(req: Request, next: Next) -> Response {
    let request_line =
        req.method().as_str().len() + req.uri().to_string().len() + "  HTTP/1.1\r\n".len();
    let head: usize = request_line
        + req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head > HEADER_LIMIT {
        return ApiError::HeadersTooLarge.into_response();
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(req).await
}

/// Reads the whole body (at most [`BODY_LIMIT`]) before the handler runs, within the body-read
/// timeout, so a client trickling its body cannot hold a request open for longer than that.
async fn read_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, BODY_LIMIT);
    let read = http_body_util::BodyExt::collect(limited);
    let bytes = match tokio::time::timeout(state.config.body_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return ApiError::PayloadTooLarge.into_response();
        }
        Ok(Err(_)) => {
            return ApiError::InvalidRequest("Could not read the request body".into())
                .into_response();
        }
        Err(_) => {
            let mut response = ApiError::RequestTimeout.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Headers every answer carries: `nosniff` and `no-referrer` everywhere, `no-store` on every
/// `/auth` and `/oauth` answer (tokens and account data must stay out of caches), HSTS when the
/// issuer is `https://`; and the contract's `application/json; charset=utf-8`.
async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let sensitive = {
        let path = req.uri().path();
        path.starts_with("/auth/") || path == "/auth" || path.starts_with("/oauth/")
    };
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // baton's own pages choose theirs (`same-origin`, so that their forms carry `Origin`).
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    if sensitive {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.issuer.starts_with("https://") {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json")
    {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::HeaderName::from_static("x-requested-with"),
                crate::dpop::DPOP,
            ])
            .expose_headers([
                crate::dpop::DPOP_NONCE,
                header::WWW_AUTHENTICATE,
                // The DPoP client keeps its proofs' iat on the server's clock.
                header::DATE,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
