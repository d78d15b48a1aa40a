//! Passkeys: `/auth/webauthn/register/start|finish`, `/auth/webauthn/credentials`,
//! `/auth/webauthn/login/start|finish`.

use super::account::{no_store, rfc3339};
use super::flows::{self, Proof};
use super::mfa::{file, proof_of};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, OptionalJsonBody, Origin, PathParams};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::audit::EventKind;
use baton_core::service::Ceremony;
use baton_core::store::PasskeyRecord;
use baton_core::AuthError;
use baton_proto::{
    PasskeyList, PasskeyLoginFinishRequest, PasskeyLoginStartRequest, PasskeyOptions,
    PasskeyRegisterFinishRequest, PasskeyRegisterStartRequest, PasskeyRegistered, PasskeyView,
    StepUpRequest,
};

/// Longest passkey name, in characters.
const MAX_NAME: usize = 64;

fn options(ceremony: Ceremony) -> Response {
    no_store(Json(PasskeyOptions {
        ceremony: ceremony.token,
        public_key: ceremony.options,
    }))
}

fn view(p: &PasskeyRecord) -> PasskeyView {
    PasskeyView {
        id: p.id.clone(),
        name: p.name.clone(),
        created_at: rfc3339(p.created_at),
        last_used_at: p.last_used_at.map(rfc3339),
        backup_eligible: p.backup_eligible,
    }
}

/// A passkey's name as given: trimmed, 1–64 characters, no control characters; `Passkey`
/// when absent or blank.
fn passkey_name(name: Option<&str>) -> Result<String, ApiError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Passkey");
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!(
            "A passkey name is 1 to {MAX_NAME} characters, without control characters"
        )));
    }
    Ok(name.to_owned())
}

/// `POST /auth/webauthn/register/start`: the options to create a passkey for the caller. A
/// passkey signs in alone, so adding one takes what signing in takes: the current password
/// (checked under the failed-login limits) and, for an account with a second factor, a recent
/// sign-in with it or a code (step-up). A stolen access token alone adds none.
pub(super) async fn register_start(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<PasskeyRegisterStartRequest>,
) -> Result<Response, ApiError> {
    let Some(password) = req.current_password.filter(|p| !p.is_empty()) else {
        return Err(ApiError::InvalidRequest(
            "current_password is required to add a passkey".into(),
        ));
    };
    let proof = Proof {
        password: true,
        code: req.code.as_deref(),
    };
    flows::step_up(&state, &caller, proof, &origin).await?;
    let check = state.baton.current_password(&caller.user, password);
    let (user, _) =
        flows::with_current_password(&state, &caller.user, &caller.session, &origin, check).await?;
    Ok(options(state.baton.passkey_register_start(&user).await?))
}

/// `POST /auth/webauthn/register/finish`: stores the passkey the browser created; the first
/// second factor of an account comes with recovery codes.
pub(super) async fn register_finish(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<PasskeyRegisterFinishRequest>,
) -> Result<Response, ApiError> {
    let name = passkey_name(req.name.as_deref())?;
    let added = state
        .baton
        .passkey_register_finish(
            &caller.user,
            &caller.session,
            &req.ceremony,
            &req.credential,
            &name,
        )
        .await?;
    file(&state, &caller, &origin, EventKind::MfaEnabled, "webauthn").await;
    tracing::info!(user_id = %caller.user, "passkey registered");
    let body = PasskeyRegistered {
        credential: view(&added.record),
        recovery_codes: added
            .recovery_codes
            .map(|codes| codes.iter().map(|c| c.expose().to_owned()).collect()),
    };
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

/// `GET /auth/webauthn/credentials`: the caller's passkeys.
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let passkeys = state.baton.passkeys(&caller.user).await?;
    Ok(no_store(Json(PasskeyList {
        credentials: passkeys.iter().map(view).collect(),
    })))
}

/// `DELETE /auth/webauthn/credentials/{id}`: removes one of the caller's passkeys, after
/// step-up as for registration.
pub(super) async fn delete(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    PathParams(id): PathParams<String>,
    OptionalJsonBody(req): OptionalJsonBody<StepUpRequest>,
) -> Result<StatusCode, ApiError> {
    // Text that is no credential id names none of the caller's passkeys.
    let plausible = !id.is_empty()
        && id.len() <= 1366
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Err(ApiError::NotFound);
    }
    let req = req.unwrap_or_default();
    proof_of(&state, &caller, req.current_password, req.code, &origin).await?;
    if !state.baton.delete_passkey(&caller.user, &id).await? {
        return Err(ApiError::NotFound);
    }
    file(&state, &caller, &origin, EventKind::MfaDisabled, "webauthn").await;
    tracing::info!(user_id = %caller.user, "passkey removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/webauthn/login/start`: the options of a sign-in with a passkey alone, or, with
/// an `mfa_token`, of a login's second step with one of its user's passkeys.
pub(super) async fn login_start(
    State(state): State<AppState>,
    OptionalJsonBody(req): OptionalJsonBody<PasskeyLoginStartRequest>,
) -> Result<Response, ApiError> {
    let mfa_token = req.and_then(|r| r.mfa_token).filter(|t| !t.is_empty());
    let ceremony = match mfa_token {
        None => state.baton.passkey_login_start()?,
        Some(token) => {
            if token.len() > 256 {
                return Err(ApiError::InvalidMfaToken);
            }
            let (challenge, user) = state.baton.mfa_challenge(&token).await?;
            match state
                .baton
                .passkey_mfa_start(&user.id, &challenge.hash)
                .await
            {
                Err(AuthError::InvalidCode) => {
                    return Err(ApiError::InvalidRequest(
                        "This account has no passkey".into(),
                    ))
                }
                other => other?,
            }
        }
    };
    Ok(options(ceremony))
}

/// `POST /auth/webauthn/login/finish`: signs in with a passkey alone.
pub(super) async fn login_finish(
    State(state): State<AppState>,
    Origin(mut origin): Origin,
    proof: crate::dpop::TokenProof,
    JsonBody(req): JsonBody<PasskeyLoginFinishRequest>,
) -> Result<Response, ApiError> {
    proof.require(crate::dpop::first_party_required(&state))?;
    origin.dpop_jkt = proof.jkt();
    let issued = flows::passkey_login(&state, &req.ceremony, &req.credential, origin).await?;
    Ok(super::auth::token_response(&state, issued, req.delivery))
}
