//! "Connected apps": the third-party applications a user allowed on the consent page, listed
//! and disconnected with baton's own sign-in tokens.

use super::account::{no_store, rfc3339};
use crate::error::ApiError;
use crate::extract::{Authenticated, Origin, PathParams};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use baton_core::audit::EventKind;
use baton_proto::{ConnectedApp, ConnectedAppList};

/// `GET /auth/connected-apps`.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let apps = state
        .baton
        .connected_apps(&caller.user)
        .await?
        .into_iter()
        .map(|(consent, client)| ConnectedApp {
            name: client
                .as_ref()
                .map_or(consent.client_id.clone(), |c| c.display_name().to_owned()),
            client_id: consent.client_id,
            scopes: consent.scope.split(' ').map(str::to_owned).collect(),
            granted_at: rfc3339(consent.granted_at),
            updated_at: rfc3339(consent.updated_at),
        })
        .collect();
    Ok(no_store(Json(ConnectedAppList { apps })))
}

/// `DELETE /auth/connected-apps/{client_id}`: forgets the consent and revokes the caller's
/// sessions with that application (its refresh tokens stop working at once) → `204`; an
/// application the caller has not allowed → `404`.
pub(super) async fn disconnect(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    PathParams(client_id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    if client_id.len() > 64 || !state.baton.disconnect_app(&caller.user, &client_id).await? {
        return Err(ApiError::NotFound);
    }
    let mut out = super::event(&state, EventKind::AppDisconnected, &origin);
    out.user_id = Some(caller.user);
    out.username = Some(caller.claims.preferred_username);
    out.reason = Some(client_id);
    super::audit(&state, out).await;
    Ok(StatusCode::NO_CONTENT)
}
