//! Second factors: `/auth/login/mfa` (a login's second step), `/auth/mfa` (the caller's
//! factors), TOTP enrolment and removal, and new recovery codes.

use super::account::no_store;
use super::flows::{self, Proof};
use super::{audit, event};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, Origin};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use baton_core::audit::EventKind;
use baton_core::mfa::RecoveryCode;
use baton_core::service::{Factor, RequestOrigin};
use baton_proto::{
    LoginMfaRequest, MfaStatus, RecoveryCodesResponse, StepUpRequest, TotpConfirmRequest,
    TotpSetupRequest, TotpSetupResponse,
};

/// `POST /auth/login/mfa`: the second step of a login, with a TOTP code or a recovery code.
pub(super) async fn login_mfa(
    State(state): State<AppState>,
    Origin(mut origin): Origin,
    proof: crate::dpop::TokenProof,
    JsonBody(req): JsonBody<LoginMfaRequest>,
) -> Result<Response, ApiError> {
    origin.dpop_jkt = proof.jkt();
    let code = req.code.as_deref().filter(|c| !c.is_empty());
    let recovery = req.recovery_code.as_deref().filter(|c| !c.is_empty());
    let factor = match (code, recovery, &req.webauthn) {
        (Some(code), None, None) => Factor::Totp(code),
        (None, Some(code), None) => Factor::RecoveryCode(code),
        (None, None, Some(passkey)) => Factor::Passkey {
            ceremony: &passkey.ceremony,
            credential: &passkey.credential,
        },
        _ => {
            return Err(ApiError::InvalidRequest(
                "Send one of code, recovery_code or webauthn".into(),
            ))
        }
    };
    if req.mfa_token.is_empty() || req.mfa_token.len() > 256 {
        return Err(ApiError::InvalidMfaToken);
    }
    let (issued, delivery) = flows::mfa_login(&state, &req.mfa_token, factor, origin, true).await?;
    Ok(super::auth::token_response(&state, issued, delivery))
}

/// `GET /auth/mfa`: the caller's second factors.
pub(super) async fn status(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let mfa = state.baton.mfa_state(&caller.user).await?;
    Ok(no_store(Json(MfaStatus {
        totp: mfa.totp,
        recovery_codes_left: mfa.recovery_codes_left,
        webauthn_credentials: mfa.passkeys,
        methods: mfa.methods(),
    })))
}

/// `POST /auth/mfa/totp/setup`: a new TOTP secret, pending until a code confirms it. Needs the
/// current password (under the failed-login limits) and a recent sign-in.
pub(super) async fn totp_setup(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<TotpSetupRequest>,
) -> Result<Response, ApiError> {
    if state.baton.mfa_state(&caller.user).await?.totp {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    let proof = Proof {
        password: true,
        code: None,
    };
    flows::step_up(&state, &caller, proof, &origin).await?;
    let check = state
        .baton
        .current_password(&caller.user, req.current_password);
    let (user, _) =
        flows::with_current_password(&state, &caller.user, &caller.session, &origin, check).await?;
    let enrolment = state.baton.totp_setup(&user).await?;
    let secret = enrolment.secret.base32().map_err(ApiError::internal)?;
    let qr_svg = qr_svg(&enrolment.otpauth_uri)?;
    Ok(no_store(Json(TotpSetupResponse {
        secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg,
    })))
}

/// `POST /auth/mfa/totp/confirm`: a code from the app just enrolled turns the factor on; the
/// answer holds ten recovery codes, shown this once.
pub(super) async fn totp_confirm(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<TotpConfirmRequest>,
) -> Result<Response, ApiError> {
    // A wrong code counts as a failed login: a stolen token must not guess its way to
    // confirming a setup someone left waiting (and to its recovery codes).
    let confirm = state
        .baton
        .totp_confirm(&caller.user, &caller.session, &req.code);
    let codes = match flows::with_checked_code(&state, &caller, &origin, confirm).await {
        Ok(codes) => codes,
        Err(ApiError::InvalidCredentials) => return Err(ApiError::InvalidCode { login: false }),
        Err(e) => return Err(e),
    };
    file(&state, &caller, &origin, EventKind::MfaEnabled, "totp").await;
    tracing::info!(user_id = %caller.user, "TOTP enabled");
    Ok(recovery_codes(codes))
}

/// `DELETE /auth/mfa/totp`: removes the TOTP factor (and the recovery codes with it), proven by
/// a code, or by the password with a recent sign-in.
pub(super) async fn totp_delete(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<StepUpRequest>,
) -> Result<StatusCode, ApiError> {
    fresh_proof(&state, &caller, req, &origin).await?;
    if !state.baton.totp_delete(&caller.user).await? {
        return Err(ApiError::NotFound);
    }
    file(&state, &caller, &origin, EventKind::MfaDisabled, "totp").await;
    tracing::info!(user_id = %caller.user, "TOTP removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/mfa/recovery-codes`: ten new recovery codes replace the old ones, proven as a
/// removal is.
pub(super) async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<StepUpRequest>,
) -> Result<Response, ApiError> {
    if !state.baton.mfa_state(&caller.user).await?.required() {
        return Err(ApiError::InvalidRequest(
            "Recovery codes come with a second factor; enable one first".into(),
        ));
    }
    fresh_proof(&state, &caller, req, &origin).await?;
    let codes = state.baton.regenerate_recovery_codes(&caller.user).await?;
    file(
        &state,
        &caller,
        &origin,
        EventKind::RecoveryCodesRegenerated,
        "by_user",
    )
    .await;
    Ok(recovery_codes(codes))
}

/// The proof a removal or a regeneration brings: a code (checked under the failed-login
/// limits), or the password with a sign-in recent enough for [`flows::step_up`].
async fn fresh_proof(
    state: &AppState,
    caller: &Authenticated,
    req: StepUpRequest,
    origin: &RequestOrigin,
) -> Result<(), ApiError> {
    let code = req.code.filter(|c| !c.is_empty());
    let password = req.current_password.filter(|p| !p.is_empty());
    if code.is_some() == password.is_some() {
        return Err(ApiError::InvalidRequest(
            "Send either current_password or code".into(),
        ));
    }
    proof_of(state, caller, password, code, origin).await
}

/// Step-up for a change of factors with what the request brings: a code (checked under the
/// failed-login limits) proves it; the password (checked likewise) proves it for an account
/// without a second factor, or with a recent sign-in with one; nothing needs a recent sign-in.
pub(super) async fn proof_of(
    state: &AppState,
    caller: &Authenticated,
    password: Option<String>,
    code: Option<String>,
    origin: &RequestOrigin,
) -> Result<(), ApiError> {
    if let Some(code) = code.filter(|c| !c.is_empty()) {
        return flows::check_code(state, caller, &code, origin).await;
    }
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return flows::step_up(state, caller, Proof::default(), origin).await;
    };
    let proof = Proof {
        password: true,
        code: None,
    };
    flows::step_up(state, caller, proof, origin).await?;
    let check = state.baton.current_password(&caller.user, password);
    flows::with_current_password(state, &caller.user, &caller.session, origin, check).await?;
    Ok(())
}

/// Files an event of the caller's.
pub(super) async fn file(
    state: &AppState,
    caller: &Authenticated,
    origin: &RequestOrigin,
    kind: EventKind,
    reason: &str,
) {
    let mut e = event(state, kind, origin);
    e.user_id = Some(caller.user.clone());
    e.username = Some(caller.claims.preferred_username.clone());
    e.session_id = Some(caller.session.clone());
    e.reason = Some(reason.into());
    audit(state, e).await;
}

/// The recovery-codes answer.
pub(super) fn recovery_codes(codes: Vec<RecoveryCode>) -> Response {
    no_store(Json(RecoveryCodesResponse {
        recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }))
}

/// The otpauth URI as an SVG QR code (medium error correction, a quiet zone, 200 px or more).
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(ApiError::internal)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}
