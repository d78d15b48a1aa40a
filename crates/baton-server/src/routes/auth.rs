//! `/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`.

use super::{audit, event};
use crate::cookie::{check_csrf, clear_planted, refresh_cookie, set_cookie};
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, Origin};
use crate::limiter::Refusal;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::audit::{AuditEvent, EventKind};
use baton_core::service::{Issued, RequestOrigin, FIRST_PARTY_CLIENT};
use baton_core::store::UserRecord;
use baton_core::{AuthError, RefreshError, Username};
use baton_proto::{
    Delivery, LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, UserResponse,
};

/// Registers a user. A taken username counts against the client IP like a failed login (the
/// same limit, counted apart from logins), and an IP over it is refused, so the endpoint cannot
/// test usernames faster than logins can.
pub(super) async fn register(
    State(state): State<AppState>,
    Origin(origin): Origin,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let key = Username::parse(&req.username)
        .map_or_else(|_| req.username.clone(), |u| u.key().to_owned());
    let attempt = state
        .registrations
        .begin(&key, origin.ip.as_deref())
        .await?;
    // The optional cap on accounts created per client IP counts each success as one.
    let signup = state
        .signups
        // Its waiting line is the origin's address: one address at its cap holds up no other.
        .begin(
            origin.ip.as_deref().unwrap_or_default(),
            origin.ip.as_deref(),
        )
        .await?;
    let user = match state.baton.register(&req.username, req.password).await {
        Ok(user) => {
            attempt.succeeded().await;
            signup.failed().await;
            user
        }
        Err(AuthError::UsernameTaken) => {
            attempt.failed().await;
            signup.abandoned().await;
            return Err(ApiError::UsernameTaken);
        }
        Err(e) => {
            attempt.abandoned().await;
            signup.abandoned().await;
            return Err(e.into());
        }
    };
    tracing::info!(user_id = %user.id, "user registered");
    let mut registered = event(&state, EventKind::Registered, &origin);
    registered.user_id = Some(user.id.clone());
    registered.username = Some(user.username.clone());
    audit(&state, registered).await;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            id: user.id.to_string(),
            username: user.username,
        }),
    ))
}

pub(super) async fn login(
    State(state): State<AppState>,
    Origin(origin): Origin,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let user = checked_authenticate(&state, &req.username, req.password, &origin).await?;
    let mut success = event(&state, EventKind::LoginSucceeded, &origin);
    let issued = state
        .baton
        .open_session(&user, FIRST_PARTY_CLIENT, origin)
        .await?;
    state.metrics.login("success");
    success.user_id = Some(user.id.clone());
    success.username = Some(user.username.clone());
    success.session_id = Some(issued.session_id.clone());
    audit(&state, success).await;
    tracing::info!(session_id = %issued.session_id, user_id = %user.id, "login");
    Ok(token_response(&state, issued, req.delivery))
}

/// Files `event` under the account `typed` names, when it names one, so that its owner sees
/// it. A name that is no account is not kept: people type their password into the name field.
async fn file_under_account(state: &AppState, event: &mut AuditEvent, typed: &str) {
    if let Ok(Some(user)) = state.baton.user_named(typed).await {
        event.user_id = Some(user.id);
        event.username = Some(user.username);
    }
}

/// Records what a refresh did that the audit log keeps: a grace replay, or a reuse (filed
/// under the account and session the token belongs to).
pub(super) async fn audit_refresh(
    state: &AppState,
    origin: &RequestOrigin,
    token: &str,
    outcome: Result<&Issued, RefreshError>,
) {
    match outcome {
        Ok(issued) if issued.replayed => {
            let mut replay = event(state, EventKind::GraceReplay, origin);
            replay.session_id = Some(issued.session_id.clone());
            replay.user_id = Some(issued.user_id.clone());
            audit(state, replay).await;
        }
        Err(RefreshError::ReuseDetected) => {
            let mut reuse = event(state, EventKind::RefreshReuse, origin);
            reuse.reason = Some("reuse_detected".into());
            if let Ok(Some((user, session, _))) = state.baton.token_owner(token).await {
                reuse.user_id = Some(user);
                reuse.session_id = Some(session);
            }
            audit(state, reuse).await;
        }
        _ => {}
    }
}

/// Checks a password under the failed-login limits shared by every password login.
pub(super) async fn checked_authenticate(
    state: &AppState,
    username: &str,
    password: String,
    origin: &RequestOrigin,
) -> Result<UserRecord, ApiError> {
    let parsed = Username::parse(username).ok();
    let key = parsed
        .as_ref()
        .map_or_else(|| username.to_owned(), |u| u.key().to_owned());
    let attempt = match state.limiter.begin(&key, origin.ip.as_deref()).await {
        Ok(attempt) => attempt,
        Err(Refusal::TooManyFailures { retry_after }) => {
            state.metrics.login("rate_limited");
            // Once per username and address while the limit holds, not once per refusal.
            let throttle_key = format!("{key}\u{0}{}", origin.ip.as_deref().unwrap_or_default());
            if state
                .lockouts
                .allow(&throttle_key, state.baton.now(), crate::limiter::WINDOW)
            {
                let mut locked = event(state, EventKind::LockedOut, origin);
                locked.reason = Some("too_many_failures".into());
                file_under_account(state, &mut locked, username).await;
                audit(state, locked).await;
            }
            return Err(ApiError::TooManyRequests { retry_after });
        }
        Err(Refusal::Busy) => {
            state.metrics.login("unavailable");
            return Err(ApiError::Unavailable(None));
        }
    };
    match state.baton.authenticate(username, password).await {
        Ok(user) => {
            attempt.succeeded().await;
            Ok(user)
        }
        Err(AuthError::InvalidCredentials) => {
            attempt.failed().await;
            state.metrics.login("invalid_credentials");
            let mut failed = event(state, EventKind::LoginFailed, origin);
            failed.reason = Some("invalid_credentials".into());
            file_under_account(state, &mut failed, username).await;
            audit(state, failed).await;
            Err(ApiError::InvalidCredentials)
        }
        Err(e) => {
            attempt.abandoned().await;
            state.metrics.login("error");
            Err(e.into())
        }
    }
}

/// Where the refresh token came from: the body wins over the cookie.
fn presented_token(
    state: &AppState,
    headers: &HeaderMap,
    body: Option<RefreshRequest>,
) -> Result<Option<(String, Delivery)>, ApiError> {
    if let Some(token) = body.and_then(|b| b.refresh_token).filter(|t| !t.is_empty()) {
        return Ok(Some((token, Delivery::Body)));
    }
    let Some(token) = refresh_cookie(headers)? else {
        return Ok(None);
    };
    check_csrf(headers, &state.issuer_origin, &state.config.allowed_origins)?;
    Ok(Some((token, Delivery::Cookie)))
}

pub(super) async fn refresh(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let (token, delivery) = match presented_token(&state, &headers, body) {
        Ok(presented) => presented.ok_or(ApiError::NoRefreshToken)?,
        Err(e) => return Ok(clearing_cookie(&state, e)),
    };
    match state.baton.refresh(&token).await {
        Ok(issued) => {
            state.metrics.refresh(if issued.replayed {
                "replayed"
            } else {
                "success"
            });
            audit_refresh(&state, &origin, &token, Ok(&issued)).await;
            Ok(token_response(&state, issued, delivery))
        }
        Err(AuthError::Refresh(reason)) => {
            state.metrics.refresh(refresh_outcome(reason));
            audit_refresh(&state, &origin, &token, Err(reason)).await;
            let mut response = ApiError::Refresh(reason).into_response();
            if delivery == Delivery::Cookie {
                let clear = set_cookie(None, 0, state.config.cookie_secure);
                response.headers_mut().insert(header::SET_COOKIE, clear);
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn logout(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let presented = match presented_token(&state, &headers, body) {
        Ok(presented) => presented,
        Err(e) => return Ok(clearing_cookie(&state, e)),
    };
    if let Some((token, _)) = presented {
        // Only a logout that ends a live session is an event (replaying an old logout is not).
        let owner = state.baton.token_owner(&token).await.ok().flatten();
        if let Some(session) = state.baton.logout(&token).await? {
            tracing::info!(session_id = %session, "logout");
            if let Some((user, _, true)) = owner {
                let mut out = event(&state, EventKind::Logout, &origin);
                out.session_id = Some(session);
                out.user_id = Some(user);
                audit(&state, out).await;
            }
        }
    }
    let clear = set_cookie(None, 0, state.config.cookie_secure);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// `error`'s answer; a duplicate cookie's also clears the cookie.
fn clearing_cookie(state: &AppState, error: ApiError) -> Response {
    let duplicate = matches!(error, ApiError::DuplicateCookie);
    let mut response = error.into_response();
    if duplicate {
        let secure = state.config.cookie_secure;
        let headers = response.headers_mut();
        headers.insert(header::SET_COOKIE, set_cookie(None, 0, secure));
        // The other one may have been planted for a parent domain or a deeper path, where
        // clearing baton's own would leave it to be sent alone next time.
        let host = state
            .issuer_origin
            .split_once("://")
            .map_or("", |(_, authority)| authority);
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        for value in clear_planted(host.trim_matches(['[', ']']), secure) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The metrics label of a refused refresh.
pub(super) fn refresh_outcome(reason: RefreshError) -> &'static str {
    match reason {
        RefreshError::Invalid => "invalid",
        RefreshError::Revoked => "revoked",
        RefreshError::Expired => "expired",
        RefreshError::ReuseDetected => "reuse_detected",
    }
}

/// The login/refresh answer, with the refresh token in the body or in the cookie.
pub(super) fn token_response(state: &AppState, issued: Issued, delivery: Delivery) -> Response {
    let in_body = delivery == Delivery::Body;
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        refresh_token: in_body.then(|| issued.refresh_token.expose().to_owned()),
        refresh_expires_in: issued.refresh_expires_in,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if !in_body {
        headers.insert(
            header::SET_COOKIE,
            set_cookie(
                Some(issued.refresh_token.expose()),
                issued.refresh_expires_in,
                state.config.cookie_secure,
            ),
        );
    }
    response
}
