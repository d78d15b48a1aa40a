//! Bearer-protected routes: `/api/me`, `/auth/password`, `/auth/logout-all`, `/auth/sessions`,
//! `/auth/events`.

use crate::error::ApiError;
use crate::extract::{AnyUser, Authenticated, JsonBody, Origin, PathParams, QueryParams};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::audit::{EventKind, EventQuery};
use baton_core::clock::{from_millis, to_millis};
use baton_core::store::SessionCursor;
use baton_core::SessionId;
use baton_proto::{
    ChangePasswordRequest, EventList, EventView, MeResponse, SessionList, SessionView,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub(super) async fn me(AnyUser(caller): AnyUser) -> Response {
    no_store(Json(MeResponse {
        sub: caller.user.to_string(),
        username: caller.claims.preferred_username,
        session_id: caller.session.to_string(),
        email: caller.claims.email,
        email_verified: caller.claims.email_verified,
    }))
}

/// `POST /auth/password`: the caller changes their own password; every other session of
/// theirs is revoked, the calling one stays.
pub(super) async fn change_password(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = super::flows::Proof {
        password: true,
        code: req.code.as_deref(),
    };
    super::flows::step_up(&state, &caller, proof, &origin).await?;
    super::flows::change_password(
        &state,
        &caller.user,
        &caller.session,
        req.current_password,
        req.new_password,
        &origin,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn logout_all(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
) -> Result<StatusCode, ApiError> {
    let n = state.baton.logout_all(&caller.user).await?;
    tracing::info!(sessions = n, "logout from every session");
    let mut out = super::event(&state, EventKind::LogoutAll, &origin);
    out.user_id = Some(caller.user);
    out.username = Some(caller.claims.preferred_username);
    out.session_id = Some(caller.session);
    super::audit(&state, out).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /auth/events`: the caller's own audit events, newest first, by pages.
pub(super) async fn events(
    State(state): State<AppState>,
    caller: Authenticated,
    QueryParams(query): QueryParams<SessionsQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(query.limit.as_deref())?;
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut events = state
        .baton
        .events(&EventQuery {
            user_id: Some(caller.user),
            since: None,
            kind: None,
            before,
            limit: limit.saturating_add(1),
        })
        .await?;
    let more = events.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = events
        .last()
        .filter(|_| more)
        .map(|last| encode_cursor(last.at, &last.id));
    let events: Vec<EventView> = events
        .into_iter()
        .map(|e| EventView {
            id: e.id,
            kind: e.kind,
            at: rfc3339(e.at),
            session_id: e.session_id.map(|s| s.to_string()),
            ip: e.ip,
            user_agent: e.user_agent,
            reason: e.reason,
        })
        .collect();
    Ok(no_store(Json(EventList {
        events,
        next_cursor,
    })))
}

/// `?limit=`: 1–100, 50 when absent.
fn page_limit(value: Option<&str>) -> Result<u32, ApiError> {
    match value {
        None => Ok(PAGE_DEFAULT),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!("limit must be between 1 and {PAGE_MAX}"))
            }),
    }
}

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `?limit=&cursor=` of `GET /auth/sessions`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct SessionsQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// Sessions per page by default, and at most.
const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 100;

/// A cursor names the last item of a page (a session, an event): its time (Unix milliseconds)
/// and id, base64url-encoded so clients treat it as opaque.
fn encode_cursor(at: OffsetDateTime, id: &str) -> String {
    use base64::Engine as _;
    let text = format!("{}.{id}", to_millis(at));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(encoded: &str) -> Result<(OffsetDateTime, String), ApiError> {
    use base64::Engine as _;
    let invalid = || ApiError::InvalidRequest("Invalid cursor".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (millis, id) = text.split_once('.').ok_or_else(invalid)?;
    let millis: i64 = millis.parse().map_err(|_| invalid())?;
    if id.is_empty() || id.len() > 64 {
        return Err(invalid());
    }
    Ok((from_millis(millis), id.to_owned()))
}

pub(super) async fn sessions(
    State(state): State<AppState>,
    caller: Authenticated,
    QueryParams(query): QueryParams<SessionsQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(query.limit.as_deref())?;
    let after = match query.cursor.as_deref().map(decode_cursor).transpose()? {
        Some((created_at, id)) => Some(SessionCursor {
            created_at,
            id: SessionId::parse(&id)
                .map_err(|_| ApiError::InvalidRequest("Invalid cursor".into()))?,
        }),
        None => None,
    };
    let page = state
        .baton
        .sessions(&caller.user, after.as_ref(), limit)
        .await?;
    let sessions = page
        .sessions
        .into_iter()
        .map(|s| SessionView {
            current: s.id == caller.session,
            expires_at: rfc3339(s.expires_at()),
            id: s.id.to_string(),
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(no_store(Json(SessionList {
        sessions,
        next_cursor: page
            .next
            .as_ref()
            .map(|c| encode_cursor(c.created_at, c.id.as_str())),
    })))
}

pub(super) async fn revoke_session(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    // Text that is no session id names none of the caller's sessions.
    let session = SessionId::parse(&id).map_err(|_| ApiError::NotFound)?;
    state.baton.revoke_session(&caller.user, &session).await?;
    let mut revoked = super::event(&state, EventKind::SessionRevoked, &origin);
    revoked.user_id = Some(caller.user);
    revoked.username = Some(caller.claims.preferred_username);
    revoked.session_id = Some(session);
    super::audit(&state, revoked).await;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
