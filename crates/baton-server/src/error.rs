//! [`ApiError`]: the one error type at the HTTP edge. Every failure becomes a JSON
//! [`ErrorBody`]; 5xx log their cause and show a generic message; 401s for bearer tokens carry
//! `WWW-Authenticate` as RFC 6750 §3 asks.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::access::AccessError;
use baton_core::error::{chain, Cause};
use baton_core::store::StoreError;
use baton_core::{AuthError, RefreshError};
use baton_proto::{ErrorBody, ErrorCode, MfaMethod, MfaRequiredBody};

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input.
    #[error("{0}")]
    InvalidRequest(String),
    /// Wrong password or unknown user.
    #[error("Invalid username or password")]
    InvalidCredentials,
    /// A refused refresh token.
    #[error(transparent)]
    Refresh(RefreshError),
    /// Neither body nor cookie carried a refresh token.
    #[error("No refresh token")]
    NoRefreshToken,
    /// No bearer token.
    #[error("No token provided")]
    MissingToken,
    /// A refused bearer token.
    #[error(transparent)]
    Access(AccessError),
    /// Username already registered.
    #[error("Username is already taken")]
    UsernameTaken,
    /// E-mail address already in use by another account.
    #[error("Email is already in use")]
    EmailTaken,
    /// A one-time token from a mailed link is wrong, used or expired.
    #[error("Invalid, used or expired token")]
    InvalidLinkToken,
    /// Registration closed.
    #[error("Registration is closed")]
    RegistrationClosed,
    /// The right password for a disabled account.
    #[error("This account is disabled")]
    AccountDisabled,
    /// Cookie request without CSRF proof.
    #[error("Cookie requests need X-Requested-With: baton or an allowed Origin")]
    CsrfRejected,
    /// Rate limited.
    #[error("Too many failed attempts")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// Not JSON.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// Over 64 KiB.
    #[error("Request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// Headers over 32 KiB.
    #[error("Request headers are larger than 32 KiB")]
    HeadersTooLarge,
    /// Two or more `baton_refresh` cookies: which one is the user's cannot be told.
    #[error("More than one baton_refresh cookie")]
    DuplicateCookie,
    /// The body did not arrive within the body-read timeout.
    #[error("The request body did not arrive in time")]
    RequestTimeout,
    /// Unknown path or resource.
    #[error("Not found")]
    NotFound,
    /// Known path, wrong method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The database cannot be reached, or the request was shed; the cause, if any, is logged.
    #[error("Service temporarily unavailable")]
    Unavailable(Option<Cause>),
    /// OAuth: a refused grant (RFC 6749 §5.2).
    #[error("{0}")]
    InvalidGrant(String),
    /// OAuth: client authentication failed.
    #[error("Client authentication failed")]
    InvalidClient,
    /// OAuth: unknown grant type.
    #[error("Unsupported grant type")]
    UnsupportedGrantType,
    /// OAuth: the client was not given this grant type.
    #[error("This client may not use this grant type")]
    UnauthorizedClient,
    /// OAuth: a requested scope the client may not have.
    #[error("{0}")]
    InvalidScope(String),
    /// RFC 9449: a refused DPoP proof at a token request (`400 invalid_dpop_proof`).
    #[error("{0}")]
    InvalidDpopProof(String),
    /// RFC 9449 §8: the proof lacks the server's current nonce (`400 use_dpop_nonce`; the
    /// nonce goes in `DPoP-Nonce`).
    #[error("The DPoP proof must carry the server's nonce (DPoP-Nonce)")]
    UseDpopNonce,
    /// RFC 9449 §7: a refused request with the `DPoP` scheme at a protected resource (`401`,
    /// `WWW-Authenticate: DPoP …`).
    #[error("{description}")]
    DpopAccess {
        /// `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce`.
        error: ErrorCode,
        /// What was wrong.
        description: String,
    },
    /// RFC 9449 §7.2: a DPoP-bound access token sent with the `Bearer` scheme.
    #[error("This access token is bound to a DPoP key: send it with the DPoP scheme and a proof")]
    BoundAsBearer,
    /// RFC 8707: a resource the client may not ask for, or not its grant's.
    #[error("The resource is not one this client may ask for here")]
    InvalidTarget,
    /// A token an application got through the authorization code flow, at baton's own account
    /// endpoints.
    #[error("This token was issued to an application for its scopes; baton's account endpoints take only baton's own sign-in tokens")]
    DelegatedToken,
    /// RFC 6750 §3.1: the bearer token lacks the scope this resource needs.
    #[error("The access token was not granted the scope {0}")]
    InsufficientScope(String),
    /// OAuth: a client's own access token cannot be revoked; it expires.
    #[error("A client's own access token cannot be revoked; it expires")]
    UnsupportedTokenType,
    /// The right password for an account with a second factor: the login goes on at
    /// `/auth/login/mfa` with this token.
    #[error("A second factor is required")]
    MfaRequired {
        /// The login's `mfa_token`.
        mfa_token: String,
        /// The factors the account has.
        methods: Vec<MfaMethod>,
    },
    /// A wrong, malformed or already used second-factor code: `401` when it was to finish a
    /// login, `400` when a signed-in user presented it.
    #[error("Invalid or already used code")]
    InvalidCode {
        /// Whether it was the second step of a login.
        login: bool,
    },
    /// The `mfa_token` is unknown, used, expired or spent by wrong codes.
    #[error("Invalid or expired MFA token")]
    InvalidMfaToken,
    /// A TOTP factor is already confirmed.
    #[error("A second factor is already enabled; remove it first")]
    MfaAlreadyEnabled,
    /// No TOTP setup waits for its confirmation.
    #[error("No TOTP setup to confirm; start one at /auth/mfa/totp/setup")]
    NoPendingTotp,
    /// RFC 9470: the token's authentication is too old (or lacks a second factor the account
    /// has) for this change.
    #[error("{description}")]
    InsufficientUserAuthentication {
        /// What is missing.
        description: &'static str,
        /// The `max_age` a new sign-in must meet, in seconds.
        max_age: u64,
    },
    /// The authenticator's answer was refused: `401` when it was to sign in, `400` at
    /// registration.
    #[error("Passkey not accepted")]
    PasskeyRefused {
        /// Whether it was a sign-in.
        login: bool,
    },
    /// The account has as many passkeys as it may.
    #[error("This account has as many passkeys as it may; remove one first")]
    TooManyPasskeys,
    /// The passkey is registered already.
    #[error("This passkey is registered already")]
    PasskeyTaken,
    /// Anything unexpected; the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] Cause),
}

const REALM: &str = "Bearer realm=\"baton\"";

/// RFC 9449 §7.1's challenge: the realm, the error if any, and the proof algorithms taken.
fn dpop_challenge(error: Option<(ErrorCode, &str)>) -> HeaderValue {
    let code = error.map(|(code, description)| (code.name(), description));
    let value = baton_core::dpop::challenge("baton", code.as_ref().map(|(c, d)| (c.as_str(), *d)));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
}

impl ApiError {
    /// An unexpected failure caused by `cause` (logged, never shown).
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::DuplicateCookie
            | Self::InvalidGrant(_)
            | Self::InvalidLinkToken
            | Self::NoPendingTotp
            | Self::InvalidCode { login: false }
            | Self::PasskeyRefused { login: false }
            | Self::UnsupportedGrantType
            | Self::UnauthorizedClient
            | Self::UnsupportedTokenType
            | Self::InvalidTarget
            | Self::InvalidDpopProof(_)
            | Self::UseDpopNonce
            | Self::Refresh(RefreshError::DpopKey)
            | Self::InvalidScope(_) => StatusCode::BAD_REQUEST,
            Self::DpopAccess { .. } | Self::BoundAsBearer => StatusCode::UNAUTHORIZED,
            Self::PasskeyRefused { login: true } => StatusCode::UNAUTHORIZED,
            Self::TooManyPasskeys | Self::PasskeyTaken => StatusCode::CONFLICT,
            Self::MfaRequired { .. }
            | Self::InvalidCode { login: true }
            | Self::InvalidMfaToken
            | Self::InsufficientUserAuthentication { .. } => StatusCode::UNAUTHORIZED,
            Self::MfaAlreadyEnabled => StatusCode::CONFLICT,
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::InvalidCredentials
            | Self::Refresh(_)
            | Self::NoRefreshToken
            | Self::MissingToken
            | Self::Access(_) => StatusCode::UNAUTHORIZED,
            Self::UsernameTaken | Self::EmailTaken => StatusCode::CONFLICT,
            Self::RegistrationClosed
            | Self::CsrfRejected
            | Self::AccountDisabled
            | Self::InsufficientScope(_)
            | Self::DelegatedToken => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_)
            | Self::NoRefreshToken
            | Self::DuplicateCookie
            | Self::RequestTimeout => ErrorCode::InvalidRequest,
            Self::InvalidDpopProof(_) | Self::Refresh(RefreshError::DpopKey) => {
                ErrorCode::InvalidDpopProof
            }
            Self::UseDpopNonce => ErrorCode::UseDpopNonce,
            Self::DpopAccess { error, .. } => *error,
            Self::BoundAsBearer => ErrorCode::InvalidToken,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Refresh(_) | Self::Access(_) | Self::InvalidLinkToken => ErrorCode::InvalidToken,
            Self::EmailTaken => ErrorCode::EmailTaken,
            Self::MissingToken => ErrorCode::MissingToken,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::RegistrationClosed => ErrorCode::RegistrationClosed,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::CsrfRejected => ErrorCode::CsrfRejected,
            Self::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::HeadersTooLarge => ErrorCode::RequestHeaderFieldsTooLarge,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::ServerError,
            Self::InvalidGrant(_) => ErrorCode::InvalidGrant,
            Self::InvalidClient => ErrorCode::InvalidClient,
            Self::UnsupportedGrantType => ErrorCode::UnsupportedGrantType,
            Self::UnauthorizedClient => ErrorCode::UnauthorizedClient,
            Self::InvalidScope(_) => ErrorCode::InvalidScope,
            Self::InvalidTarget => ErrorCode::InvalidTarget,
            Self::UnsupportedTokenType => ErrorCode::UnsupportedTokenType,
            Self::InsufficientScope(_) | Self::DelegatedToken => ErrorCode::InsufficientScope,
            Self::MfaRequired { .. } => ErrorCode::MfaRequired,
            Self::InvalidCode { .. } => ErrorCode::InvalidCode,
            Self::InvalidMfaToken => ErrorCode::InvalidToken,
            Self::MfaAlreadyEnabled => ErrorCode::MfaAlreadyEnabled,
            Self::PasskeyRefused { login: true } => ErrorCode::InvalidCredentials,
            Self::PasskeyRefused { login: false } => ErrorCode::InvalidRequest,
            Self::TooManyPasskeys => ErrorCode::TooManyPasskeys,
            Self::PasskeyTaken => ErrorCode::PasskeyAlreadyRegistered,
            Self::NoPendingTotp => ErrorCode::InvalidRequest,
            Self::InsufficientUserAuthentication { .. } => {
                ErrorCode::InsufficientUserAuthentication
            }
        }
    }

    fn description(&self) -> Option<String> {
        match self {
            Self::UsernameTaken
            | Self::EmailTaken
            | Self::RegistrationClosed
            | Self::CsrfRejected
            | Self::InvalidClient
            | Self::TooManyRequests { .. }
            | Self::UnsupportedMediaType
            | Self::PayloadTooLarge
            | Self::Unavailable(_) => None,
            Self::Internal(_) => Some("Internal server error".into()),
            other => Some(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // The one place a failure's cause is logged, with its whole chain.
        match &self {
            Self::Internal(cause) => {
                tracing::error!(cause = %chain(cause.as_ref()), "request failed")
            }
            Self::Unavailable(Some(cause)) => {
                tracing::warn!(cause = %chain(cause.as_ref()), "request answered 503");
            }
            _ => {}
        }
        let body = ErrorBody {
            error: self.code(),
            error_description: self.description(),
        };
        let mut response = match &self {
            Self::MfaRequired { mfa_token, methods } => (
                status,
                Json(MfaRequiredBody {
                    error: body.error,
                    error_description: body.error_description,
                    mfa_token: mfa_token.clone(),
                    methods: methods.clone(),
                }),
            )
                .into_response(),
            _ => (status, Json(body)).into_response(),
        };
        let headers = response.headers_mut();
        match &self {
            Self::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
            }
            Self::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"baton\""),
                );
            }
            Self::InvalidGrant(_)
            | Self::UnsupportedGrantType
            | Self::UnauthorizedClient
            | Self::InvalidTarget
            | Self::InvalidScope(_) => {
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            }
            Self::DelegatedToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"baton\", error=\"insufficient_scope\"",
                    ),
                );
            }
            Self::InsufficientScope(scope) => {
                let value = format!("{REALM}, error=\"insufficient_scope\", scope=\"{scope}\"");
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::Access(e) => {
                let value = format!("{REALM}, error=\"invalid_token\", error_description=\"{e}\"");
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::BoundAsBearer => {
                let value =
                    format!("{REALM}, error=\"invalid_token\", error_description=\"{self}\"");
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
                headers.append(header::WWW_AUTHENTICATE, dpop_challenge(None));
            }
            Self::DpopAccess { error, description } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    dpop_challenge(Some((*error, description))),
                );
            }
            Self::InsufficientUserAuthentication {
                description,
                max_age,
            } => {
                // RFC 9470 §3: the error, and the `max_age` a new sign-in must meet.
                let value = format!(
                    "{REALM}, error=\"insufficient_user_authentication\", \
                     error_description=\"{description}\", max_age={max_age}"
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<crate::limiter::Refusal> for ApiError {
    fn from(refusal: crate::limiter::Refusal) -> Self {
        match refusal {
            crate::limiter::Refusal::TooManyFailures { retry_after } => {
                Self::TooManyRequests { retry_after }
            }
            crate::limiter::Refusal::Busy => Self::Unavailable(None),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                Self::Unavailable(Some(format!("database unavailable: {cause}").into()))
            }
            StoreError::Conflict(cause) | StoreError::Other(cause) => Self::Internal(cause.into()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Username(e) => Self::InvalidRequest(format!("Invalid username: {e}")),
            AuthError::Password(e) => Self::InvalidRequest(format!("Invalid password: {e}")),
            AuthError::UsernameTaken => Self::UsernameTaken,
            AuthError::Email(e) => Self::InvalidRequest(format!("Invalid email: {e}")),
            AuthError::EmailTaken => Self::EmailTaken,
            AuthError::InvalidToken => Self::InvalidLinkToken,
            AuthError::RegistrationClosed => Self::RegistrationClosed,
            AuthError::InvalidCredentials => Self::InvalidCredentials,
            AuthError::AccountDisabled => Self::AccountDisabled,
            AuthError::Refresh(r) => Self::Refresh(r),
            AuthError::SessionNotFound | AuthError::UserNotFound => Self::NotFound,
            AuthError::InvalidClient => Self::InvalidClient,
            AuthError::ClientId(e) => Self::InvalidRequest(e.to_string()),
            AuthError::ClientTaken => Self::InvalidRequest("client id is taken".into()),
            AuthError::UnknownClient => Self::InvalidClient,
            AuthError::ClientSettings(e) => Self::InvalidRequest(e.to_string()),
            AuthError::UnauthorizedClient => Self::UnauthorizedClient,
            AuthError::UnsupportedTokenType => Self::UnsupportedTokenType,
            AuthError::InvalidScope(e) => Self::InvalidScope(capitalized(&e.to_string())),
            AuthError::InvalidTarget => Self::InvalidTarget,
            AuthError::Role(e) => Self::InvalidRequest(e.to_string()),
            AuthError::InvalidCode => Self::InvalidCode { login: false },
            // The daily cap lifts as its oldest wrong codes leave the window.
            AuthError::TooManyWrongCodes => Self::TooManyRequests { retry_after: 3600 },
            AuthError::InvalidMfaToken => Self::InvalidMfaToken,
            AuthError::MfaAlreadyEnabled => Self::MfaAlreadyEnabled,
            AuthError::NoPendingTotp => Self::NoPendingTotp,
            AuthError::PasskeysOff => Self::InvalidRequest("Passkeys are not configured".into()),
            AuthError::InvalidCeremony => {
                Self::InvalidRequest("Invalid or expired passkey ceremony; start again".into())
            }
            AuthError::InvalidPasskey(why) => {
                tracing::info!(reason = %why, "passkey refused");
                Self::PasskeyRefused { login: false }
            }
            AuthError::TooManyPasskeys => Self::TooManyPasskeys,
            AuthError::PasskeyTaken => Self::PasskeyTaken,
            AuthError::Store(s) => s.into(),
            AuthError::Hash(baton_core::password::HashError::Busy) => {
                Self::Unavailable(Some("password hashing at capacity; request shed".into()))
            }
            AuthError::Hash(h) => Self::Internal(h.into()),
            AuthError::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// `text` with its first letter in upper case, as the error descriptions are written.
pub(crate) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_failure_keeps_its_cause_to_the_edge() {
        let io = std::io::Error::other("disk on fire");
        let api = ApiError::from(AuthError::internal(io));
        assert!(matches!(api, ApiError::Internal(_)));
        assert_eq!(chain(&api), "internal error: disk on fire");
    }

    #[test]
    fn a_store_outage_is_a_503_whose_cause_is_kept_for_the_log() {
        let api = ApiError::from(StoreError::Unavailable("connection refused".into()));
        let ApiError::Unavailable(Some(cause)) = &api else {
            panic!("not a 503 with a cause: {api:?}");
        };
        assert_eq!(
            cause.to_string(),
            "database unavailable: connection refused"
        );
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
