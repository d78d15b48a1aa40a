//! The audit log on SQLite: [`AuditStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, time_col};
use super::sessions::slice;
use super::SqliteStore;
use crate::queries as q;
use baton_core::audit::{AuditEvent, EventKind, EventQuery};
use baton_core::clock::to_millis;
use baton_core::store::{AuditStore, StoreError};
use baton_core::{SessionId, UserId};
use rusqlite::{params, Row};
use time::OffsetDateTime;

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let kind: String = row.get("kind")?;
    Ok(AuditEvent {
        id: row.get("id")?,
        at: time_col(row, "at")?,
        kind: EventKind::parse(&kind).unwrap_or(EventKind::LoginFailed),
        user_id: row
            .get::<_, Option<String>>("user_id")?
            .map(UserId::from_trusted),
        username: row.get("username")?,
        session_id: row
            .get::<_, Option<String>>("session_id")?
            .map(SessionId::from_trusted),
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
        reason: row.get("reason")?,
    })
}

#[async_trait::async_trait]
impl AuditStore for SqliteStore {
    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let e = event.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_EVENT,
                    params![
                        e.id,
                        to_millis(e.at),
                        e.kind.as_str(),
                        e.user_id.as_ref().map(UserId::as_str),
                        e.username,
                        e.session_id.as_ref().map(SessionId::as_str),
                        e.ip,
                        e.user_agent,
                        e.reason
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let query = query.clone();
        self.engine
            .read(move |c| {
                let (before_at, before_id) = query
                    .before
                    .as_ref()
                    .map_or((i64::MAX, String::new()), |(at, id)| {
                        (to_millis(*at), id.clone())
                    });
                let since = query.since.map_or(i64::MIN, to_millis);
                let kind = query.kind.map(EventKind::as_str);
                let limit = i64::from(query.limit);
                match &query.user_id {
                    Some(user) => query_all(
                        c,
                        q::EVENTS_OF_USER,
                        params![user.as_str(), since, kind, before_at, before_id, limit],
                        event_from_row,
                    ),
                    None => query_all(
                        c,
                        q::EVENTS,
                        params![since, kind, before_at, before_id, limit],
                        event_from_row,
                    ),
                }
            })
            .await
    }

    async fn purge_events(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write_in_slices(move |c| slice(c, q::PURGE_EVENTS, before))
            .await
    }
}
