//! What a signed-in user reads about their account: `/api/me`, `/auth/sessions`, `/auth/events`.

use serde::{Deserialize, Serialize};

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
    /// E-mail address at the time the token was issued, when the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub email: Option<String>,
    /// Whether it was confirmed then; present with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub email_verified: Option<bool>,
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
    /// A refresh token bound to a DPoP key came without a proof by that key: refused, nothing
    /// spent (a stolen token, or a client that lost its key).
    DpopKeyRefused,
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
    /// An OAuth client's settings (or secret) were changed.
    ClientUpdated,
    /// An operator gave a user a role.
    RoleAdded,
    /// An operator took a role from a user.
    RoleRemoved,
    /// A user allowed a third-party application (on the consent page).
    ConsentGranted,
    /// A user disconnected an application they had allowed.
    AppDisconnected,
    /// A user changed their password (their other sessions revoked), or an operator set it
    /// (all revoked).
    PasswordChanged,
    /// An operator disabled a user (their sessions revoked, their logins refused).
    UserDisabled,
    /// An operator enabled a disabled user again.
    UserEnabled,
    /// A reset link was mailed to the account (or printed by an operator).
    PasswordResetRequested,
    /// A password was reset with a mailed link (every session revoked).
    PasswordReset,
    /// The account's e-mail address was set or changed (unconfirmed).
    EmailChanged,
    /// The account's e-mail address was confirmed.
    EmailVerified,
    /// A second factor was enrolled (`reason`: `totp`).
    MfaEnabled,
    /// A second factor was removed by its user (`reason`: `totp`).
    MfaDisabled,
    /// A login finished with a recovery code (it is now used up).
    RecoveryCodeUsed,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
    /// An operator removed every second factor of a user.
    MfaReset,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 32] = [
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
        Self::PasswordChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailChanged,
        Self::EmailVerified,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRegenerated,
        Self::MfaReset,
        Self::ClientUpdated,
        Self::RoleAdded,
        Self::RoleRemoved,
        Self::ConsentGranted,
        Self::AppDisconnected,
        Self::DpopKeyRefused,
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
            Self::PasswordChanged => "password_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::EmailChanged => "email_changed",
            Self::EmailVerified => "email_verified",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::MfaReset => "mfa_reset",
            Self::ClientUpdated => "client_updated",
            Self::RoleAdded => "role_added",
            Self::RoleRemoved => "role_removed",
            Self::ConsentGranted => "consent_granted",
            Self::AppDisconnected => "app_disconnected",
            Self::DpopKeyRefused => "dpop_key_refused",
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

/// An application the user allowed (`GET /auth/connected-apps`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ConnectedApp {
    /// The client id.
    pub client_id: String,
    /// Its display name (the client id when it has none or was deleted).
    pub name: String,
    /// The scopes allowed.
    pub scopes: Vec<String>,
    /// When the user first allowed it (RFC 3339).
    pub granted_at: String,
    /// When they last allowed more (RFC 3339).
    pub updated_at: String,
}

/// `GET /auth/connected-apps` answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ConnectedAppList {
    /// The applications, by client id.
    pub apps: Vec<ConnectedApp>,
}
