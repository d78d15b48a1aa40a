//! Registration, login and refresh (`/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`).

use crate::hidden;
use serde::{Deserialize, Serialize};

/// `POST /auth/register` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RegisterRequest {
    /// Requested username, normalised by the server.
    pub username: String,
    /// Plain password; hashed by the server and never stored.
    pub password: String,
    /// E-mail address (baton's extension); a mail confirming it goes out.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub email: Option<String>,
}

/// `POST /auth/password` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChangePasswordRequest {
    /// The password now, as typed.
    pub current_password: String,
    /// The new password; it must meet the password rule.
    pub new_password: String,
    /// A code from the authenticator app: the fresh second factor an account that has one
    /// needs when its token's authentication is older than the step-up age.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub code: Option<String>,
}

/// `POST /auth/password/forgot` body: one of the two.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ForgotPasswordRequest {
    /// The account's e-mail address.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub email: Option<String>,
    /// Or its username.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub username: Option<String>,
}

/// `POST /auth/password/reset` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ResetPasswordRequest {
    /// The token from the mailed link (`…/#reset=TOKEN`).
    pub token: String,
    /// The new password; it must meet the password rule.
    pub new_password: String,
}

/// `PUT /auth/email` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SetEmailRequest {
    /// The new address.
    pub email: String,
    /// The password now, as typed.
    pub current_password: String,
    /// A code from the authenticator app, as for a password change.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub code: Option<String>,
}

/// `POST /auth/email/verify` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct VerifyEmailRequest {
    /// The token from the mailed link (`…/#verify=TOKEN`).
    pub token: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UserResponse {
    /// Stable user id; the `sub` of access tokens.
    pub id: String,
    /// Normalised username.
    pub username: String,
    /// E-mail address as given, when there is one (unconfirmed at registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub email: Option<String>,
}

/// How a login or refresh hands back the refresh token.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Delivery {
    /// In the JSON body (native apps).
    #[default]
    Body,
    /// In the httpOnly `baton_refresh` cookie (browser apps).
    Cookie,
}

/// `POST /auth/login` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginRequest {
    /// Username as typed; compared after normalisation and case folding.
    pub username: String,
    /// Password as typed.
    pub password: String,
    /// Where the refresh token goes; `body` when absent or null.
    #[serde(default, deserialize_with = "null_is_default")]
    #[cfg_attr(test, ts(optional = nullable))]
    pub delivery: Delivery,
}

fn null_is_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `POST /auth/refresh` and `POST /auth/logout` body; the token may come by cookie instead.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RefreshRequest {
    /// The refresh token, when delivered in the body.
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub refresh_token: Option<String>,
}

/// Successful login or refresh.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TokenResponse {
    /// Signed JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token; absent when delivered by cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub refresh_token: Option<String>,
    /// Seconds until the session can no longer refresh if unused.
    pub refresh_expires_in: u64,
    /// The scopes granted (RFC 6749 §5.1), for a session opened through OAuth with a scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub scope: Option<String>,
}

/// The password never shows in debug output.
impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("username", &self.username)
            .field("password", &"***")
            .field("email", &self.email)
            .finish()
    }
}

/// The passwords never show in debug output.
impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("current_password", &"***")
            .field("new_password", &"***")
            .field("code", &crate::hidden(&self.code))
            .finish()
    }
}

/// The token and password never show in debug output.
impl std::fmt::Debug for ResetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPasswordRequest")
            .field("token", &"***")
            .field("new_password", &"***")
            .finish()
    }
}

/// The password never shows in debug output.
impl std::fmt::Debug for SetEmailRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetEmailRequest")
            .field("email", &self.email)
            .field("current_password", &"***")
            .field("code", &crate::hidden(&self.code))
            .finish()
    }
}

/// The token never shows in debug output.
impl std::fmt::Debug for VerifyEmailRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyEmailRequest")
            .field("token", &"***")
            .finish()
    }
}

/// The password never shows in debug output.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"***")
            .field("delivery", &self.delivery)
            .finish()
    }
}

/// The token never shows in debug output.
impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &hidden(&self.refresh_token))
            .finish()
    }
}

/// The tokens never show in debug output.
impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &hidden(&self.refresh_token))
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}
