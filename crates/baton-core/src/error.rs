//! Domain errors. The server maps each to exactly one HTTP answer.

use crate::password::{HashError, PasswordError};
use crate::store::StoreError;
use crate::username::UsernameError;

/// Why a refresh token was refused; each maps to one `error_description` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// Never issued by this server.
    #[error("Invalid refresh token")]
    Invalid,
    /// Its session was revoked.
    #[error("Refresh token has been revoked")]
    Revoked,
    /// Its session passed its idle or absolute end.
    #[error("Refresh token has expired")]
    Expired,
    /// A spent token came back after the grace window; the session is now revoked.
    #[error("Refresh token reuse detected")]
    ReuseDetected,
    /// The token is bound to a DPoP key (RFC 9449 §5) and came without a proof by that key;
    /// nothing was changed.
    #[error("The refresh token is bound to a DPoP key this request did not prove")]
    DpopKey,
}

/// The cause of an unexpected failure, kept whole (with its `source()` chain) for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error and its sources, outermost first (`a: b: c`): how a failure is logged.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// Everything a [`crate::Baton`] operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The username is not acceptable.
    #[error(transparent)]
    Username(#[from] UsernameError),
    /// The password is not acceptable.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Someone already has this username.
    #[error("username is taken")]
    UsernameTaken,
    /// The e-mail address is not acceptable.
    #[error(transparent)]
    Email(#[from] crate::email::EmailError),
    /// Another user has this e-mail address.
    #[error("email is taken")]
    EmailTaken,
    /// A one-time token sent by mail is wrong, used or expired.
    #[error("invalid, used or expired token")]
    InvalidToken,
    /// Registration is closed by configuration.
    #[error("registration is closed")]
    RegistrationClosed,
    /// Wrong password or unknown user; deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The right password for an account an operator disabled.
    #[error("account is disabled")]
    AccountDisabled,
    /// A refresh token was refused.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// No such session among the caller's live ones.
    #[error("session not found")]
    SessionNotFound,
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// OAuth client authentication failed.
    #[error("client authentication failed")]
    InvalidClient,
    /// The client id is not acceptable.
    #[error(transparent)]
    ClientId(#[from] crate::client::ClientIdError),
    /// The client id is taken.
    #[error("client id is taken")]
    ClientTaken,
    /// No client has this id.
    #[error("no such client")]
    UnknownClient,
    /// The client's settings are not acceptable.
    #[error(transparent)]
    ClientSettings(#[from] crate::client::ClientSettingsError),
    /// A token revocation cannot end (a client-credentials access token).
    #[error("this kind of token cannot be revoked")]
    UnsupportedTokenType,
    /// The client may not use this grant (RFC 6749 §5.2 `unauthorized_client`).
    #[error("the client is not allowed to use this grant")]
    UnauthorizedClient,
    /// A requested scope the client may not have (RFC 6749 §5.2 `invalid_scope`).
    #[error(transparent)]
    InvalidScope(#[from] crate::client::ScopeError),
    /// A resource (RFC 8707) the client may not ask for, or not this grant's.
    #[error("resource is not one this client may ask for here")]
    InvalidTarget,
    /// A role name that is not acceptable, or one role too many.
    #[error(transparent)]
    Role(#[from] crate::roles::RoleError),
    /// A wrong, malformed or already used second-factor code.
    #[error("invalid or already used code")]
    InvalidCode,
    /// The account's logins took [`crate::mfa::MFA_DAILY_FAILURES`] wrong codes in a day: TOTP
    /// codes are refused for now.
    #[error("too many wrong codes")]
    TooManyWrongCodes,
    /// The `mfa_token` of a login's second step is unknown, used, expired or spent by wrong
    /// codes.
    #[error("invalid or expired MFA token")]
    InvalidMfaToken,
    /// A TOTP factor is already confirmed.
    #[error("a second factor is already enabled")]
    MfaAlreadyEnabled,
    /// No TOTP setup waits for its confirmation.
    #[error("no TOTP setup to confirm")]
    NoPendingTotp,
    /// Passkeys are not configured.
    #[error("passkeys are not configured")]
    PasskeysOff,
    /// A WebAuthn ceremony token that is malformed, expired, used, of another kind or another
    /// user's.
    #[error("invalid or expired passkey ceremony")]
    InvalidCeremony,
    /// The authenticator's answer was refused (the reason is for the log).
    #[error("passkey not accepted: {0}")]
    InvalidPasskey(String),
    /// The account has [`crate::service::MAX_PASSKEYS`] passkeys.
    #[error("too many passkeys")]
    TooManyPasskeys,
    /// The credential is registered already.
    #[error("passkey already registered")]
    PasskeyTaken,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Signing or another internal step failed; the cause is kept for the log.
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl AuthError {
    /// An internal failure caused by `cause`.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }
}
