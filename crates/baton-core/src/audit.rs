//! The audit log: security events, stored with who, when, from where and why, and never a
//! token, a password or a secret. Kept [`DEFAULT_RETENTION`] unless configured otherwise.

use crate::ids::{SessionId, UserId};
use time::{Duration, OffsetDateTime};

/// How long events are kept by default.
pub const DEFAULT_RETENTION: Duration = Duration::days(90);

pub use baton_proto::EventKind;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unique and increasing with time (a UUIDv7), for paging.
    pub id: String,
    /// When.
    pub at: OffsetDateTime,
    /// What.
    pub kind: EventKind,
    /// Whose account, when known.
    pub user_id: Option<UserId>,
    /// The username as typed (failed logins of unknown names too), at most 64 characters.
    pub username: Option<String>,
    /// Which session.
    pub session_id: Option<SessionId>,
    /// From which address.
    pub ip: Option<String>,
    /// With which `User-Agent`, at most 512 characters.
    pub user_agent: Option<String>,
    /// Why, in a few words (`wrong_password`, `unknown_user` …).
    pub reason: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` now, with nothing else known yet.
    pub fn new(kind: EventKind, at: OffsetDateTime) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            kind,
            user_id: None,
            username: None,
            session_id: None,
            ip: None,
            user_agent: None,
            reason: None,
        }
    }
}

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this user's.
    pub user_id: Option<UserId>,
    /// Only those at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only this kind (all when none).
    pub kind: Option<EventKind>,
    /// Only those older than this event (the previous page's last): its time and id.
    pub before: Option<(OffsetDateTime, String)>,
    /// At most this many.
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
