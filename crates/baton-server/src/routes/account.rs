//! Bearer-protected routes: `/api/me`, `/auth/logout-all`, `/auth/sessions`.

use crate::error::ApiError;
use crate::extract::Authenticated;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::{SessionId, UserId};
use baton_proto::{MeResponse, SessionList, SessionView};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub(super) async fn me(Authenticated(claims): Authenticated) -> Response {
    no_store(Json(MeResponse {
        sub: claims.sub,
        username: claims.preferred_username,
        session_id: claims.sid,
    }))
}

pub(super) async fn logout_all(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, ApiError> {
    let n = state
        .baton
        .logout_all(&UserId::from_trusted(claims.sub))
        .await?;
    tracing::info!(sessions = n, "logout from every session");
    Ok(StatusCode::NO_CONTENT)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(super) async fn sessions(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Response, ApiError> {
    let records = state
        .baton
        .sessions(&UserId::from_trusted(claims.sub))
        .await?;
    let sessions = records
        .into_iter()
        .map(|s| SessionView {
            current: s.id.as_str() == claims.sid,
            expires_at: rfc3339(s.expires_at()),
            id: s.id.to_string(),
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(no_store(Json(SessionList { sessions })))
}

pub(super) async fn revoke_session(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .baton
        .revoke_session(
            &UserId::from_trusted(claims.sub),
            &SessionId::from_trusted(id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
