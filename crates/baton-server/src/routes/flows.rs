//! One home for each flow that more than one endpoint offers: a password login (`/auth/login`
//! and the OAuth password grant) and a refresh (`/auth/refresh` and the OAuth refresh-token
//! grant). Each runs the failed-login limits, the service call, the metrics and the audit log
//! exactly once; the handlers keep only their wire mapping.

use super::{audit, event};
use crate::error::ApiError;
use crate::extract::Authenticated;
use crate::limiter::Refusal;
use crate::limits::Ticket;
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use baton_core::audit::{AuditEvent, EventKind};
use baton_core::mfa::Amr;
use baton_core::refresh::RefreshToken;
use baton_core::service::Factor;
use baton_core::service::{Issued, RequestOrigin};
use baton_core::store::UserRecord;
use baton_core::{AuthError, RefreshError, SessionId, UserId, Username};
use baton_proto::Delivery;

/// Signs a user in with a password for the OAuth client `client_id`: the failed-login limits,
/// the password check, a new session, the login metrics and the audit log. A wrong password or
/// unknown user is [`ApiError::InvalidCredentials`]; the right password of an account with a
/// second factor is [`ApiError::MfaRequired`], whose token remembers `delivery`.
pub(super) async fn password_login(
    state: &AppState,
    username: &str,
    password: String,
    client_id: &str,
    delivery: Delivery,
    origin: RequestOrigin,
) -> Result<Issued, ApiError> {
    let (user, attempt) = checked_authenticate(state, username, password, &origin).await?;
    let mfa = match state.baton.mfa_state(&user.id).await {
        Ok(mfa) => mfa,
        Err(e) => {
            attempt.abandoned().await;
            return Err(e.into());
        }
    };
    if mfa.required() {
        // The password alone proves nothing yet: it clears no failures, or it would reset the
        // count that limits guessing the second factor.
        attempt.abandoned().await;
        let token = state
            .baton
            .begin_mfa(&user, client_id, delivery_name(delivery))
            .await?;
        state.metrics.login("mfa_required");
        return Err(ApiError::MfaRequired {
            mfa_token: token.expose().to_owned(),
            methods: mfa.methods(),
        });
    }
    attempt.succeeded().await;
    let mut success = event(state, EventKind::LoginSucceeded, &origin);
    let issued = state
        .baton
        .open_session(&user, client_id, origin, &Amr::password())
        .await?;
    state.metrics.login("success");
    success.user_id = Some(user.id.clone());
    success.username = Some(user.username.clone());
    success.session_id = Some(issued.session_id.clone());
    audit(state, success).await;
    tracing::info!(session_id = %issued.session_id, user_id = %user.id, client_id, "login");
    Ok(issued)
}

/// Rotates `token` for the OAuth client `client_id`, counting the outcome and recording what
/// the audit log keeps. `Ok(Err(reason))` is a refusal of the contract, which each endpoint
/// words its own way; `Err` anything else.
pub(super) async fn refresh(
    state: &AppState,
    token: &str,
    client_id: &str,
    origin: &RequestOrigin,
) -> Result<Result<Issued, RefreshError>, ApiError> {
    match state
        .baton
        .refresh(token, Some(client_id), origin.dpop_jkt.as_deref())
        .await
    {
        Ok(issued) => {
            state.metrics.refresh(if issued.replayed {
                "replayed"
            } else {
                "success"
            });
            if issued.replayed {
                let mut replay = event(state, EventKind::GraceReplay, origin);
                replay.session_id = Some(issued.session_id.clone());
                replay.user_id = Some(issued.user_id.clone());
                audit(state, replay).await;
            }
            Ok(Ok(issued))
        }
        Err(AuthError::Refresh(reason)) => {
            state.metrics.refresh(refresh_outcome(reason));
            let filed = match reason {
                RefreshError::ReuseDetected => Some((EventKind::RefreshReuse, "reuse_detected")),
                // A bound token without its key: a thief's attempt, or a client that lost it.
                RefreshError::DpopKey => Some((
                    EventKind::DpopKeyRefused,
                    if origin.dpop_jkt.is_some() {
                        "another_key"
                    } else {
                        "no_proof"
                    },
                )),
                _ => None,
            };
            // A refusal for the key spends nothing, so the token can come back at will: filed
            // once per token (by its hash), reason and address per ten minutes, and the
            // lookup below skipped for the others.
            let filed = filed.filter(|(kind, why)| {
                *kind != EventKind::DpopKeyRefused
                    || state.dpop_refusals.allow(
                        &format!(
                            "{}\u{0}{why}\u{0}{}",
                            URL_SAFE_NO_PAD.encode(RefreshToken::presented(token).hash().0),
                            origin.ip.as_deref().unwrap_or_default()
                        ),
                        state.baton.now(),
                        time::Duration::minutes(10),
                    )
            });
            if let Some((kind, why)) = filed {
                // Filed under the account and session the token belongs to.
                let mut refused = event(state, kind, origin);
                refused.reason = Some(why.into());
                if let Ok(Some((user, session, _))) = state.baton.token_owner(token).await {
                    refused.user_id = Some(user);
                    refused.session_id = Some(session);
                }
                audit(state, refused).await;
            }
            Ok(Err(reason))
        }
        Err(e) => Err(e.into()),
    }
}

/// The metrics label of a refused refresh.
fn refresh_outcome(reason: RefreshError) -> &'static str {
    match reason {
        RefreshError::Invalid => "invalid",
        RefreshError::Revoked => "revoked",
        RefreshError::Expired => "expired",
        RefreshError::ReuseDetected => "reuse_detected",
        RefreshError::DpopKey => "dpop_key",
    }
}

/// Checks a password under the failed-login limits shared by every password login; the right
/// one gives the user and the attempt, still open, for the caller to finish.
async fn checked_authenticate<'a>(
    state: &'a AppState,
    username: &str,
    password: String,
    origin: &RequestOrigin,
) -> Result<(UserRecord, Ticket<'a>), ApiError> {
    let parsed = Username::parse(username).ok();
    let key = parsed
        .as_ref()
        .map_or_else(|| username.to_owned(), |u| u.key().to_owned());
    let attempt = begin_attempt(state, &key, username, origin).await?;
    match state.baton.authenticate(username, password).await {
        Ok(user) => Ok((user, attempt)),
        Err(AuthError::InvalidCredentials) => {
            attempt.failed().await;
            state.metrics.login("invalid_credentials");
            let mut failed = event(state, EventKind::LoginFailed, origin);
            failed.reason = Some("invalid_credentials".into());
            file_under_account(state, &mut failed, username).await;
            audit(state, failed).await;
            Err(ApiError::InvalidCredentials)
        }
        Err(AuthError::AccountDisabled) => {
            // The right password: it clears nothing, and tells no more than the 403 does.
            attempt.abandoned().await;
            state.metrics.login("account_disabled");
            let mut refused = event(state, EventKind::LoginFailed, origin);
            refused.reason = Some("account_disabled".into());
            file_under_account(state, &mut refused, username).await;
            audit(state, refused).await;
            Err(ApiError::AccountDisabled)
        }
        Err(e) => {
            attempt.abandoned().await;
            state.metrics.login("error");
            Err(e.into())
        }
    }
}

/// Starts a password check under the failed-login limits of the account `key` (a case-folded
/// username, or the name as typed when it is none) and the client IP; a refusal is counted,
/// and a lockout filed once per account and address while it holds.
async fn begin_attempt<'a>(
    state: &'a AppState,
    key: &str,
    typed: &str,
    origin: &RequestOrigin,
) -> Result<Ticket<'a>, ApiError> {
    match state.limiter.begin(key, origin.ip.as_deref()).await {
        Ok(attempt) => Ok(attempt),
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
                file_under_account(state, &mut locked, typed).await;
                audit(state, locked).await;
            }
            Err(ApiError::TooManyRequests { retry_after })
        }
        Err(Refusal::Busy) => {
            state.metrics.login("unavailable");
            Err(ApiError::Unavailable(None))
        }
    }
}

/// Runs `op`, which checks the signed-in user's current password, under the same failed-login
/// limits as a login to the account: a wrong password counts as a failed login and is filed as
/// one (`login_failed`, reason `wrong_current_password`), the right one clears the account's
/// count, and any other refusal counts nothing. The user, as read before, and what `op` gave.
pub(super) async fn with_current_password<T, F>(
    state: &AppState,
    user: &UserId,
    session: &SessionId,
    origin: &RequestOrigin,
    op: F,
) -> Result<(UserRecord, T), ApiError>
where
    F: std::future::Future<Output = Result<T, AuthError>>,
{
    with_checked(state, user, session, origin, "wrong_current_password", op).await
}

/// Runs `op`, which checks a credential of the signed-in user, under the failed-login limits
/// of their account: [`AuthError::InvalidCredentials`] from it counts as a failed login, filed
/// with `reason`.
async fn with_checked<T, F>(
    state: &AppState,
    user: &UserId,
    session: &SessionId,
    origin: &RequestOrigin,
    reason: &'static str,
    op: F,
) -> Result<(UserRecord, T), ApiError>
where
    F: std::future::Future<Output = Result<T, AuthError>>,
{
    // A token outliving its user's deletion proves nothing the password check could.
    let record = match state.baton.user(user).await {
        Err(AuthError::UserNotFound) => return Err(ApiError::InvalidCredentials),
        other => other?,
    };
    let attempt = begin_attempt(state, &record.username_key, &record.username, origin).await?;
    match op.await {
        Ok(value) => {
            attempt.succeeded().await;
            Ok((record, value))
        }
        Err(AuthError::InvalidCredentials) => {
            attempt.failed().await;
            state.metrics.login("invalid_credentials");
            let mut failed = event(state, EventKind::LoginFailed, origin);
            failed.reason = Some(reason.into());
            failed.user_id = Some(record.id.clone());
            failed.username = Some(record.username.clone());
            failed.session_id = Some(session.clone());
            audit(state, failed).await;
            Err(ApiError::InvalidCredentials)
        }
        Err(e) => {
            // The right password with a request refused for another reason is no failed
            // attempt.
            attempt.abandoned().await;
            Err(e.into())
        }
    }
}

/// A signed-in user's password change: the current password is checked under the failed-login
/// limits ([`with_current_password`]), then the new one is set and every other session of the
/// user revoked.
pub(super) async fn change_password(
    state: &AppState,
    user: &UserId,
    session: &SessionId,
    current: String,
    new: String,
    origin: &RequestOrigin,
) -> Result<UserRecord, ApiError> {
    let change = state.baton.change_password(user, session, current, new);
    let (record, _) = with_current_password(state, user, session, origin, change).await?;
    let mut changed = event(state, EventKind::PasswordChanged, origin);
    changed.user_id = Some(record.id.clone());
    changed.username = Some(record.username.clone());
    changed.session_id = Some(session.clone());
    changed.reason = Some("changed_by_user".into());
    audit(state, changed).await;
    tracing::info!(user_id = %record.id, session_id = %session, "password changed");
    Ok(record)
}

/// Files `event` under the account `typed` names, when it names one, so that its owner sees
/// it. A name that is no account is not kept: people type their password into the name field.
async fn file_under_account(state: &AppState, event: &mut AuditEvent, typed: &str) {
    if let Ok(Some(user)) = state.baton.user_named(typed).await {
        event.user_id = Some(user.id);
        event.username = Some(user.username);
    }
}

/// The stored name of a delivery (what an `mfa_token` remembers).
pub(super) fn delivery_name(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Body => "body",
        Delivery::Cookie => "cookie",
    }
}

/// The second step of a login: `factor` for the login waiting behind `mfa_token`, under the
/// failed-login limits of its account (a wrong code counts as a failed login, and five spend
/// the token). The tokens, and the delivery the first step asked for. With `dpop_checked`
/// (the JSON endpoint), a client that must send DPoP proofs must have sent one.
pub(super) async fn mfa_login(
    state: &AppState,
    mfa_token: &str,
    factor: Factor<'_>,
    origin: RequestOrigin,
    dpop_checked: bool,
) -> Result<(Issued, Delivery), ApiError> {
    let (challenge, user) = state.baton.mfa_challenge(mfa_token).await?;
    // The tokens go to the client of the first step, which may have to bind them to a key.
    if dpop_checked
        && origin.dpop_jkt.is_none()
        && crate::dpop::required_for(state, &challenge.client_id).await?
    {
        return Err(ApiError::InvalidDpopProof(
            "This client must send a DPoP proof".into(),
        ));
    }
    if user.disabled_at.is_some() {
        return Err(ApiError::AccountDisabled);
    }
    let attempt = begin_attempt(state, &user.username_key, &user.username, &origin).await?;
    let mut done = event(state, EventKind::LoginSucceeded, &origin);
    done.user_id = Some(user.id.clone());
    done.username = Some(user.username.clone());
    match state
        .baton
        .finish_mfa(&challenge, &user, factor, origin)
        .await
    {
        Ok(issued) => {
            attempt.succeeded().await;
            state.metrics.login("success");
            done.session_id = Some(issued.session_id.clone());
            if let Factor::RecoveryCode(_) = factor {
                let mut used = done.clone();
                used.kind = EventKind::RecoveryCodeUsed;
                audit(state, used).await;
            }
            done.reason = Some(factor.name().into());
            audit(state, done).await;
            tracing::info!(session_id = %issued.session_id, user_id = %user.id,
                client_id = %challenge.client_id, "login with a second factor");
            let delivery = if challenge.delivery == "cookie" {
                Delivery::Cookie
            } else {
                Delivery::Body
            };
            Ok((issued, delivery))
        }
        Err(AuthError::InvalidCode) => {
            attempt.failed().await;
            state.metrics.login("invalid_code");
            done.kind = EventKind::LoginFailed;
            done.reason = Some("wrong_code".into());
            audit(state, done).await;
            Err(ApiError::InvalidCode { login: true })
        }
        Err(e) => {
            attempt.abandoned().await;
            // A password changed, or the account disabled or deleted, since the first step.
            if matches!(e, AuthError::InvalidCredentials) {
                return Err(ApiError::InvalidMfaToken);
            }
            Err(e.into())
        }
    }
}

/// Signs a user in with a passkey alone (`/auth/webauthn/login/finish` and the sign-in page):
/// the ceremony's answer checked, a new session of baton's own, the login metrics and the
/// audit log. A refused passkey is [`ApiError::PasskeyRefused`].
pub(super) async fn passkey_login(
    state: &AppState,
    ceremony: &str,
    credential: &serde_json::Value,
    origin: RequestOrigin,
) -> Result<Issued, ApiError> {
    match state
        .baton
        .passkey_login(ceremony, credential, origin.clone())
        .await
    {
        Ok((user, issued)) => {
            state.metrics.login("success");
            let mut done = event(state, EventKind::LoginSucceeded, &origin);
            done.user_id = Some(user.id.clone());
            done.username = Some(user.username.clone());
            done.session_id = Some(issued.session_id.clone());
            done.reason = Some("passkey".into());
            audit(state, done).await;
            tracing::info!(session_id = %issued.session_id, user_id = %user.id, "login with a passkey");
            Ok(issued)
        }
        Err(AuthError::InvalidPasskey(why)) => {
            tracing::info!(reason = %why, "passkey sign-in refused");
            state.metrics.login("passkey_refused");
            let mut failed = event(state, EventKind::LoginFailed, &origin);
            failed.reason = Some("passkey_refused".into());
            audit(state, failed).await;
            Err(ApiError::PasskeyRefused { login: true })
        }
        Err(AuthError::AccountDisabled) => {
            state.metrics.login("account_disabled");
            let mut refused = event(state, EventKind::LoginFailed, &origin);
            refused.reason = Some("account_disabled".into());
            audit(state, refused).await;
            Err(ApiError::AccountDisabled)
        }
        Err(e) => Err(e.into()),
    }
}

/// What a sensitive change (password, e-mail address, second factors) brings besides its
/// access token.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Proof<'a> {
    /// The request checks the current password (it fails by itself when wrong).
    pub password: bool,
    /// A second-factor code in the request.
    pub code: Option<&'a str>,
}

/// Step-up (RFC 9470) for a sensitive change: the caller's token must come from a sign-in no
/// older than `step_up_max_age` (with a second factor when the account has one), or the
/// request must bring a fresh factor: a code when the account has a second factor, its
/// password otherwise. A wrong code counts as a failed login. Otherwise `401
/// insufficient_user_authentication`, with the `max_age` a new sign-in must meet.
pub(super) async fn step_up(
    state: &AppState,
    caller: &Authenticated,
    proof: Proof<'_>,
    origin: &RequestOrigin,
) -> Result<(), ApiError> {
    let max_age = state.config.step_up_max_age.as_secs();
    let fresh = caller.claims.authenticated_within(
        i64::try_from(max_age).unwrap_or(i64::MAX),
        state.baton.now().unix_timestamp(),
    );
    let mfa = state.baton.mfa_state(&caller.user).await?;
    if !mfa.required() {
        if fresh || proof.password {
            return Ok(());
        }
        return Err(ApiError::InsufficientUserAuthentication {
            description: "Sign in again, or confirm with the current password",
            max_age,
        });
    }
    if fresh && caller.claims.is_multi_factor() {
        return Ok(());
    }
    let Some(code) = proof.code.filter(|c| !c.trim().is_empty()) else {
        return Err(ApiError::InsufficientUserAuthentication {
            description: "Sign in again with a second factor, or send a code",
            max_age,
        });
    };
    check_code(state, caller, code, origin).await
}

/// Checks and uses up a TOTP code of the signed-in caller under the failed-login limits of
/// their account; a wrong one is `400 invalid_code` and counts as a failed login.
pub(super) async fn check_code(
    state: &AppState,
    caller: &Authenticated,
    code: &str,
    origin: &RequestOrigin,
) -> Result<(), ApiError> {
    // An account without an authenticator app has no code to prove: no guess is counted, the
    // answer says to sign in again (with a passkey, say).
    if !state.baton.mfa_state(&caller.user).await?.totp {
        return Err(ApiError::InsufficientUserAuthentication {
            description:
                "This account has no authenticator app; sign in again with a second factor",
            max_age: state.config.step_up_max_age.as_secs(),
        });
    }
    let op = state.baton.check_factor(&caller.user, Factor::Totp(code));
    match with_checked_factor(state, &caller.user, &caller.session, origin, op).await {
        Ok(_) => Ok(()),
        Err(ApiError::InvalidCredentials) => Err(ApiError::InvalidCode { login: false }),
        Err(e) => Err(e),
    }
}

/// Runs `op`, which checks a second-factor code of the signed-in caller, under the failed-login
/// limits of their account: [`AuthError::InvalidCode`] counts as a failed login, filed as
/// `login_failed` with reason `wrong_code`, and comes back as [`ApiError::InvalidCredentials`].
pub(super) async fn with_checked_code<T, F>(
    state: &AppState,
    caller: &Authenticated,
    origin: &RequestOrigin,
    op: F,
) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<T, AuthError>>,
{
    let wrapped = async {
        match op.await {
            Err(AuthError::InvalidCode) => Err(AuthError::InvalidCredentials),
            other => other,
        }
    };
    with_checked(
        state,
        &caller.user,
        &caller.session,
        origin,
        "wrong_code",
        wrapped,
    )
    .await
    .map(|(_, value)| value)
}

/// [`with_current_password`] for a second-factor code: a wrong one is filed as
/// `login_failed` with reason `wrong_code`.
async fn with_checked_factor<F>(
    state: &AppState,
    user: &UserId,
    session: &SessionId,
    origin: &RequestOrigin,
    op: F,
) -> Result<UserRecord, ApiError>
where
    F: std::future::Future<Output = Result<Vec<baton_core::mfa::AuthMethod>, AuthError>>,
{
    let wrapped = async {
        match op.await {
            Ok(_) => Ok(()),
            Err(AuthError::InvalidCode) => Err(AuthError::InvalidCredentials),
            Err(e) => Err(e),
        }
    };
    with_checked(state, user, session, origin, "wrong_code", wrapped)
        .await
        .map(|(record, ())| record)
}
