//! Wire types of baton's public HTTP contract (`shared/API.md`): request and response bodies and
//! the JSON error body. Nothing here knows about HTTP frameworks or storage.

use serde::{Deserialize, Serialize};

/// `POST /auth/register` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RegisterRequest {
    /// Requested username, normalised by the server.
    pub username: String,
    /// Plain password; hashed by the server and never stored.
    pub password: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UserResponse {
    /// Stable user id; the `sub` of access tokens.
    pub id: String,
    /// Normalised username.
    pub username: String,
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RefreshRequest {
    /// The refresh token, when delivered in the body.
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub refresh_token: Option<String>,
}

/// Successful login or refresh.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
}

/// `GET /api/me` answer.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MeResponse {
    /// User id.
    pub sub: String,
    /// Username at the time the token was issued.
    pub username: String,
    /// Session the token belongs to.
    pub session_id: String,
}

/// One live session in `GET /auth/sessions`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SessionView {
    /// Session id (the `sid` claim).
    pub id: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last login or refresh.
    pub last_used_at: String,
    /// RFC 3339 time at which the session ends if not refreshed.
    pub expires_at: String,
    /// `User-Agent` seen at login.
    pub user_agent: Option<String>,
    /// Client IP seen at login.
    pub ip: Option<String>,
    /// Whether the calling access token belongs to this session.
    pub current: bool,
}

/// `GET /auth/sessions` answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SessionList {
    /// Live sessions, newest first.
    pub sessions: Vec<SessionView>,
    /// Present when there are more: pass it as `?cursor=` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub next_cursor: Option<String>,
}

/// Machine-readable error codes used in [`ErrorBody::error`].
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
    /// Registration is closed.
    RegistrationClosed,
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
}

/// `POST /oauth/token` form (RFC 6749 §4.3 and §6).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OAuthTokenForm {
    /// `password` or `refresh_token`.
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
    /// Requested scope; baton issues no scopes and ignores it.
    pub scope: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662) form.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OAuthTokenRefForm {
    /// The token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; only a hint.
    pub token_type_hint: Option<String>,
    /// A public client's id.
    pub client_id: Option<String>,
    /// A confidential client's secret when sent in the body instead of HTTP Basic.
    pub client_secret: Option<String>,
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

/// What happened, in the audit log (`GET /auth/events`' `type`). The names are also the stored
/// kind and the metrics label, a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum EventKind {
    /// A password login succeeded.
    LoginSucceeded,
    /// A password login failed (wrong password or unknown user).
    LoginFailed,
    /// A login was refused because a failed-login limit holds.
    LockedOut,
    /// A spent refresh token came back after the grace window: its session was revoked.
    RefreshReuse,
    /// A spent refresh token came back within the grace window and got its successor again.
    GraceReplay,
    /// A session ended by logout.
    Logout,
    /// Every session of a user ended.
    LogoutAll,
    /// One session was revoked by its user.
    SessionRevoked,
    /// A user registered.
    Registered,
    /// An operator added a user.
    UserAdded,
    /// An operator deleted a user (their sessions revoked).
    UserDeleted,
    /// A new signing key became active.
    KeyRotated,
    /// An OAuth client was added.
    ClientAdded,
    /// An OAuth client was deleted.
    ClientDeleted,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 14] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LockedOut,
        Self::RefreshReuse,
        Self::GraceReplay,
        Self::Logout,
        Self::LogoutAll,
        Self::SessionRevoked,
        Self::Registered,
        Self::UserAdded,
        Self::UserDeleted,
        Self::KeyRotated,
        Self::ClientAdded,
        Self::ClientDeleted,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LockedOut => "locked_out",
            Self::RefreshReuse => "refresh_reuse",
            Self::GraceReplay => "grace_replay",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::SessionRevoked => "session_revoked",
            Self::Registered => "registered",
            Self::UserAdded => "user_added",
            Self::UserDeleted => "user_deleted",
            Self::KeyRotated => "key_rotated",
            Self::ClientAdded => "client_added",
            Self::ClientDeleted => "client_deleted",
        }
    }

    /// The kind a stored name names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One event of the caller's audit log in `GET /auth/events`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EventView {
    /// Event id; increases with time.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// RFC 3339 time.
    pub at: String,
    /// The session concerned.
    pub session_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Why, in a few words (`wrong_password` …).
    pub reason: Option<String>,
}

/// `GET /auth/events` answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EventList {
    /// Events, newest first.
    pub events: Vec<EventView>,
    /// Present when there are more: pass it as `?cursor=` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod typescript;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_defaults_to_body_and_rejects_unknown_values() {
        let req: LoginRequest =
            serde_json::from_str(r#"{"username":"a","password":"b"}"#).expect("valid json");
        assert_eq!(req.delivery, Delivery::Body);
        let bad = serde_json::from_str::<LoginRequest>(
            r#"{"username":"a","password":"b","delivery":"pigeon"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn event_kinds_serialise_as_their_stored_names() {
        for kind in EventKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).expect("serialisable"),
                format!("\"{}\"", kind.as_str())
            );
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn error_codes_serialise_in_snake_case() {
        let body = ErrorBody {
            error: ErrorCode::UnsupportedMediaType,
            error_description: None,
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serialisable"),
            r#"{"error":"unsupported_media_type"}"#
        );
    }
}
