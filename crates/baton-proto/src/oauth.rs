//! The OAuth 2.0 endpoints: `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`.

use crate::hidden;
use serde::{Deserialize, Serialize};

/// `POST /oauth/token` form (RFC 6749 §4.3 and §6).
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct OAuthTokenForm {
    /// `password`, `refresh_token` or `client_credentials`.
    pub grant_type: Option<String>,
    /// Password grant: username.
    pub username: Option<String>,
    /// Password grant: password.
    pub password: Option<String>,
    /// Refresh grant: the refresh token.
    pub refresh_token: Option<String>,
    /// A public client's id (confidential clients use HTTP Basic).
    pub client_id: Option<String>,
    /// A confidential client's secret when sent in the body instead of HTTP Basic.
    pub client_secret: Option<String>,
    /// Requested scopes, space-separated (client credentials; the password grant ignores it).
    pub scope: Option<String>,
    /// Authorization-code grant: the code.
    pub code: Option<String>,
    /// Authorization-code grant: the redirect URI of the authorization request.
    pub redirect_uri: Option<String>,
    /// Authorization-code grant: the PKCE verifier (RFC 7636).
    pub code_verifier: Option<String>,
    /// `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt`: the client's signed assertion (RFC 7523).
    pub client_assertion: Option<String>,
    /// RFC 8707: the API the access token is for (one of the client's registered resources).
    pub resource: Option<String>,
}

/// A client-credentials answer (RFC 6749 §4.4.3, §5.1): no refresh token.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ClientTokenResponse {
    /// Signed JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub scope: Option<String>,
}

/// An authorization-code answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3): the refresh
/// token only when the client gets one, the ID token for an `openid` request.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CodeTokenResponse {
    /// Signed JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub refresh_token: Option<String>,
    /// Seconds until the session can no longer refresh if unused, with a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub refresh_expires_in: Option<u64>,
    /// The ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub id_token: Option<String>,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// The tokens never show in debug output.
impl std::fmt::Debug for CodeTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeTokenResponse")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The token never shows in debug output.
impl std::fmt::Debug for ClientTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662) form.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct OAuthTokenRefForm {
    /// The token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; only a hint.
    pub token_type_hint: Option<String>,
    /// A public client's id.
    pub client_id: Option<String>,
    /// A confidential client's secret when sent in the body instead of HTTP Basic.
    pub client_secret: Option<String>,
    /// `private_key_jwt`: the assertion's type.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt`: the client's signed assertion.
    pub client_assertion: Option<String>,
}

/// Passwords, tokens and secrets never show in debug output.
impl std::fmt::Debug for OAuthTokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokenForm")
            .field("grant_type", &self.grant_type)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("refresh_token", &hidden(&self.refresh_token))
            .field("client_id", &self.client_id)
            .field("client_secret", &hidden(&self.client_secret))
            .field("scope", &self.scope)
            .field("code", &hidden(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &hidden(&self.code_verifier))
            .field("client_assertion", &hidden(&self.client_assertion))
            .finish()
    }
}

/// Tokens and secrets never show in debug output.
impl std::fmt::Debug for OAuthTokenRefForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokenRefForm")
            .field("token", &hidden(&self.token))
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .field("client_secret", &hidden(&self.client_secret))
            .field("client_assertion", &hidden(&self.client_assertion))
            .finish()
    }
}

/// RFC 7662 introspection answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(optional_fields))]
pub struct IntrospectionResponse {
    /// Whether the token is currently active.
    pub active: bool,
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Access token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The scopes granted, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user's roles, for an access token that carries them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(test, ts(as = "Option<Vec<String>>", optional))]
    pub roles: Vec<String>,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to (`{"jkt": …}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        test,
        ts(as = "Option<std::collections::HashMap<String, String>>", optional)
    )]
    pub cnf: Option<serde_json::Value>,
}
