//! The claims of a baton access token.

use serde::{Deserialize, Serialize};

/// The claims of a baton access token (RFC 9068 plus baton's `sid` and `preferred_username`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer URL.
    pub iss: String,
    /// User id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Not-before time, seconds since the epoch (baton does not set it; other issuers may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// OAuth client the token was issued to.
    pub client_id: String,
    /// Session id.
    pub sid: String,
    /// Username at issue time.
    pub preferred_username: String,
    /// The user's e-mail address at issue time (OpenID Connect's claim), when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether that address was confirmed at issue time; present with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}
