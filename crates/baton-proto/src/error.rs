//! The JSON body of every error answer.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes: the `error` of every error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum ErrorCode {
    /// Malformed or missing input.
    InvalidRequest,
    /// Wrong username or password.
    InvalidCredentials,
    /// Bad, expired, revoked or reused token.
    InvalidToken,
    /// No bearer token at all.
    MissingToken,
    /// Username already registered.
    UsernameTaken,
    /// Another account has this e-mail address.
    EmailTaken,
    /// Registration is closed.
    RegistrationClosed,
    /// The right password for an account an operator disabled.
    AccountDisabled,
    /// Cookie request without the CSRF proof.
    CsrfRejected,
    /// Too many failed attempts.
    TooManyRequests,
    /// Body is not JSON.
    UnsupportedMediaType,
    /// Body over the limit.
    PayloadTooLarge,
    /// Headers over the limit.
    RequestHeaderFieldsTooLarge,
    /// No such resource.
    NotFound,
    /// Method not allowed on this path.
    MethodNotAllowed,
    /// The database cannot be reached.
    Unavailable,
    /// An unexpected server fault.
    ServerError,
    /// OAuth: the grant (password or refresh token) is invalid, expired or revoked.
    InvalidGrant,
    /// OAuth: client authentication failed.
    InvalidClient,
    /// OAuth: the grant type is not supported.
    UnsupportedGrantType,
    /// OAuth: the client may not use this grant type.
    UnauthorizedClient,
    /// OAuth: a requested scope is unknown, malformed or not the client's.
    InvalidScope,
    /// RFC 8707: the requested resource is not one the client may ask for (or not the grant's).
    InvalidTarget,
    /// RFC 9449: the DPoP proof is missing, malformed or does not fit the request, or the
    /// refresh token is bound to a key the request did not prove.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the DPoP proof must carry the server's nonce (`DPoP-Nonce`).
    UseDpopNonce,
    /// OAuth: this kind of token cannot be revoked (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// RFC 6750 §3.1: the bearer token lacks a scope the resource needs.
    InsufficientScope,
    /// The right password for an account with a second factor: the login goes on at
    /// `POST /auth/login/mfa`.
    MfaRequired,
    /// A wrong, expired or already used second-factor code.
    InvalidCode,
    /// A second factor is already enrolled.
    MfaAlreadyEnabled,
    /// RFC 9470: the token's authentication is too old or too weak for this request; the
    /// client signs in again (with a second factor) and retries.
    InsufficientUserAuthentication,
    /// The account has as many passkeys as it may.
    TooManyPasskeys,
    /// This passkey is registered already.
    PasskeyAlreadyRegistered,
}

impl ErrorCode {
    /// The code as it is written on the wire (`invalid_token`), for challenges.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ErrorBody {
    /// Error code.
    pub error: ErrorCode,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub error_description: Option<String>,
}
