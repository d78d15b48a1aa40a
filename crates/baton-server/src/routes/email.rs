//! E-mail addresses and password resets: `PUT /auth/email`, `POST /auth/email/verify`,
//! `POST /auth/password/forgot`, `POST /auth/password/reset`.

use super::flows::with_current_password;
use super::{audit, event};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, Origin};
use crate::limiter::Refusal;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use baton_core::audit::EventKind;
use baton_core::email::Email;
use baton_core::service::{RequestOrigin, ResetRequest};
use baton_core::Username;
use baton_proto::{
    ForgotPasswordRequest, ResetPasswordRequest, SetEmailRequest, VerifyEmailRequest,
};

/// `PUT /auth/email`: sets or changes the caller's address (unconfirmed until the link mailed
/// to it is followed), after checking their password under the failed-login limits.
pub(super) async fn set_email(
    State(state): State<AppState>,
    Origin(origin): Origin,
    caller: Authenticated,
    JsonBody(req): JsonBody<SetEmailRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = super::flows::Proof {
        password: true,
        code: req.code.as_deref(),
    };
    super::flows::step_up(&state, &caller, proof, &origin).await?;
    // Each change mails a confirmation: limited per recipient whichever account asks (first,
    // as registration takes it, so neither waits on the other), then per account and per
    // client IP.
    let recipient = match Email::parse(&req.email) {
        Ok(email) => Some(
            state
                .confirmations
                .begin(&format!("email:{}", email.key()), None)
                .await?,
        ),
        Err(_) => None,
    };
    let ticket = match state
        .confirmations
        .begin(&format!("user:{}", caller.user), origin.ip.as_deref())
        .await
    {
        Ok(ticket) => ticket,
        Err(refusal) => {
            if let Some(r) = recipient {
                r.abandoned().await;
            }
            return Err(refusal.into());
        }
    };
    let set = state
        .baton
        .set_email(&caller.user, req.current_password, &req.email);
    let (_, before) =
        match with_current_password(&state, &caller.user, &caller.session, &origin, set).await {
            Ok(done) => done,
            Err(e) => {
                ticket.abandoned().await;
                if let Some(r) = recipient {
                    r.abandoned().await;
                }
                return Err(e);
            }
        };
    let unchanged =
        before.email.as_deref() == Some(req.email.trim()) && before.email_verified_at.is_some();
    if unchanged {
        ticket.abandoned().await;
        if let Some(r) = recipient {
            r.abandoned().await;
        }
    } else {
        ticket.failed().await;
        if let Some(r) = recipient {
            r.failed().await;
        }
        let mut changed = event(&state, EventKind::EmailChanged, &origin);
        changed.user_id = Some(before.id.clone());
        changed.username = Some(before.username.clone());
        changed.session_id = Some(caller.session);
        audit(&state, changed).await;
        state.mail_wake.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/email/verify`: confirms an address with the token of its link.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    Origin(origin): Origin,
    JsonBody(req): JsonBody<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    let user = state.baton.verify_email(&req.token).await?;
    let mut verified = event(&state, EventKind::EmailVerified, &origin);
    verified.user_id = Some(user);
    audit(&state, verified).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/password/forgot`: always `202`, after the same work whether or not the account
/// exists: the limits (keyed by what was typed, not by what it names) and a hand-off. The
/// lookup and the mail happen after the answer, so its time tells nothing.
pub(super) async fn forgot(
    State(state): State<AppState>,
    Origin(origin): Origin,
    JsonBody(req): JsonBody<ForgotPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let (request, key) = match (req.email, req.username) {
        // Malformed input is refused outright: that tells nothing about any account.
        (Some(email), None) => {
            let key = Email::parse(&email)
                .map_err(|e| ApiError::InvalidRequest(format!("Invalid email: {e}")))?
                .key()
                .to_owned();
            (ResetRequest::Email(email), format!("email:{key}"))
        }
        (None, Some(name)) => {
            let key = Username::parse(&name)
                .map_err(|e| ApiError::InvalidRequest(format!("Invalid username: {e}")))?
                .key()
                .to_owned();
            (ResetRequest::Username(name), format!("user:{key}"))
        }
        _ => {
            return Err(ApiError::InvalidRequest(
                "Give either email or username".into(),
            ))
        }
    };
    match state.resets.begin(&key, origin.ip.as_deref()).await {
        Ok(ticket) => ticket.failed().await,
        Err(Refusal::TooManyFailures { retry_after }) => {
            return Err(ApiError::TooManyRequests { retry_after })
        }
        Err(Refusal::Busy) => return Err(ApiError::Unavailable(None)),
    }
    let Ok(slot) = std::sync::Arc::clone(&state.reset_slots).try_acquire_owned() else {
        return Err(ApiError::Unavailable(None));
    };
    tokio::spawn(async move {
        send_reset(&state, &request, &origin).await;
        drop(slot);
    });
    Ok(StatusCode::ACCEPTED)
}

/// Queues a reset mail when the request names a live, enabled account with a confirmed address.
async fn send_reset(state: &AppState, request: &ResetRequest, origin: &RequestOrigin) {
    let user = match state.baton.reset_recipient(request).await {
        Ok(Some(user)) => user,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "a password-reset request could not be looked up");
            return;
        }
    };
    // Counted once more under the account itself, however it was named (its address or its
    // username): past the limit, quietly no mail.
    match state.resets.begin(&format!("id:{}", user.id), None).await {
        Ok(ticket) => ticket.failed().await,
        Err(_) => return,
    }
    match state.baton.send_reset(&user).await {
        Ok(true) => {
            state.mail_wake.notify_one();
            let mut requested = event(state, EventKind::PasswordResetRequested, origin);
            requested.user_id = Some(user.id.clone());
            requested.username = Some(user.username.clone());
            audit(state, requested).await;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(user_id = %user.id, error = %e, "a reset mail could not be queued")
        }
    }
}

/// `POST /auth/password/reset`: sets a new password with the token of a reset link; every
/// session of the user is revoked.
pub(super) async fn reset(
    State(state): State<AppState>,
    Origin(origin): Origin,
    JsonBody(req): JsonBody<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let user = state
        .baton
        .reset_password(&req.token, req.new_password)
        .await?;
    tracing::info!(user_id = %user.id, "password reset");
    let mut done = event(&state, EventKind::PasswordReset, &origin);
    done.user_id = Some(user.id);
    done.username = Some(user.username);
    audit(&state, done).await;
    Ok(StatusCode::NO_CONTENT)
}
