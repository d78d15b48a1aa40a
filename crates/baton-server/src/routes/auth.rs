//! `/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`.

use super::{audit, event, flows};
use crate::cookie::{check_csrf, clear_planted, refresh_cookie, set_cookie};
use crate::dpop::{first_party_required, TokenProof};
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, Origin};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::audit::EventKind;
use baton_core::email::Email;
use baton_core::service::{Issued, FIRST_PARTY_CLIENT};
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
    // A blank address is no address: forms send one for an empty field.
    let email = req.email.as_deref().filter(|e| !e.trim().is_empty());
    // Each address registered gets a confirmation mail: limited per address and per client IP.
    let confirming = match email {
        Some(email) => {
            let key = Email::parse(email).map_or_else(|_| email.to_owned(), |e| e.key().to_owned());
            match state
                .confirmations
                .begin(&format!("email:{key}"), origin.ip.as_deref())
                .await
            {
                Ok(ticket) => Some(ticket),
                Err(refusal) => {
                    attempt.abandoned().await;
                    signup.abandoned().await;
                    return Err(refusal.into());
                }
            }
        }
        None => None,
    };
    let registered = state
        .baton
        .register(&req.username, req.password, email)
        .await;
    if let Some(ticket) = confirming {
        if registered.as_ref().is_ok_and(|u| u.email.is_some()) {
            ticket.failed().await;
        } else {
            ticket.abandoned().await;
        }
    }
    let user = match registered {
        Ok(user) => {
            attempt.succeeded().await;
            signup.failed().await;
            user
        }
        // A taken address tells as much as a taken name: counted the same way.
        Err(e @ (AuthError::UsernameTaken | AuthError::EmailTaken)) => {
            attempt.failed().await;
            signup.abandoned().await;
            return Err(e.into());
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
    if user.email.is_some() {
        registered.reason = Some("with_email".into());
        state.mail_wake.notify_one();
    }
    audit(&state, registered).await;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            id: user.id.to_string(),
            username: user.username,
            email: user.email,
        }),
    ))
}

pub(super) async fn login(
    State(state): State<AppState>,
    Origin(mut origin): Origin,
    proof: TokenProof,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    proof.require(first_party_required(&state))?;
    origin.dpop_jkt = proof.jkt();
    let issued = flows::password_login(
        &state,
        &req.username,
        req.password,
        FIRST_PARTY_CLIENT,
        req.delivery,
        origin,
    )
    .await?;
    Ok(token_response(&state, issued, req.delivery))
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
    check_csrf(headers, &state.own_origins, &state.config.allowed_origins)?;
    Ok(Some((token, Delivery::Cookie)))
}

pub(super) async fn refresh(
    State(state): State<AppState>,
    Origin(mut origin): Origin,
    proof: TokenProof,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let (token, delivery) = match presented_token(&state, &headers, body) {
        Ok(presented) => presented.ok_or(ApiError::NoRefreshToken)?,
        Err(e) => return Ok(clearing_cookie(&state, e)),
    };
    proof.require(first_party_required(&state))?;
    origin.dpop_jkt = proof.jkt();
    match flows::refresh(&state, &token, FIRST_PARTY_CLIENT, &origin).await? {
        Ok(issued) => Ok(token_response(&state, issued, delivery)),
        Err(reason) => {
            let mut response = ApiError::Refresh(reason).into_response();
            // A token bound to a key the request did not prove was left as it was: the
            // cookie stays for the client that holds the key.
            if delivery == Delivery::Cookie && reason != RefreshError::DpopKey {
                let clear = set_cookie(None, 0, state.config.cookie_secure);
                response.headers_mut().insert(header::SET_COOKIE, clear);
            }
            Ok(response)
        }
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
    let mut response = (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response();
    // Signing out in this browser also ends its single sign-on (the sign-in pages' session).
    let secure = state.config.cookie_secure;
    if let Some(sso) = crate::cookie::sso_cookie(&headers, secure) {
        state.baton.end_browser_session(&sso).await?;
        response.headers_mut().append(
            header::SET_COOKIE,
            crate::cookie::set_sso_cookie(None, 0, secure),
        );
    }
    Ok(response)
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

/// RFC 9449 §5: `DPoP` for an access token bound to a key, `Bearer` otherwise.
pub(super) fn token_type(dpop_bound: bool) -> &'static str {
    if dpop_bound {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// The login/refresh answer, with the refresh token in the body or in the cookie.
pub(super) fn token_response(state: &AppState, issued: Issued, delivery: Delivery) -> Response {
    let in_body = delivery == Delivery::Body;
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: token_type(issued.dpop_bound).into(),
        expires_in: issued.expires_in,
        refresh_token: in_body.then(|| issued.refresh_token.expose().to_owned()),
        refresh_expires_in: issued.refresh_expires_in,
        scope: issued.scope,
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
