//! The audit log on PostgreSQL: [`AuditStore`] for [`PgStore`].

use super::PgStore;
use crate::error::map;
use crate::queries as q;
use baton_core::audit::{AuditEvent, EventKind, EventQuery};
use baton_core::clock::{from_millis, to_millis};
use baton_core::store::{AuditStore, StoreError};
use baton_core::{SessionId, UserId};
use sqlx::Row as _;
use time::OffsetDateTime;

#[async_trait::async_trait]
impl AuditStore for PgStore {
    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_EVENT)
            .bind(&event.id)
            .bind(to_millis(event.at))
            .bind(event.kind.as_str())
            .bind(event.user_id.as_ref().map(UserId::as_str))
            .bind(event.username.as_deref())
            .bind(event.session_id.as_ref().map(SessionId::as_str))
            .bind(event.ip.as_deref())
            .bind(event.user_agent.as_deref())
            .bind(event.reason.as_deref())
            .execute(&self.writer)
            .await
            .map(drop)
            .map_err(map)
    }

    async fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let (before_at, before_id) = query
            .before
            .as_ref()
            .map_or((i64::MAX, ""), |(at, id)| (to_millis(*at), id.as_str()));
        let since = query.since.map_or(i64::MIN, to_millis);
        let kind = query.kind.map(EventKind::as_str);
        let statement = match &query.user_id {
            Some(user) => sqlx::query(q::EVENTS_OF_USER).bind(user.as_str()),
            None => sqlx::query(q::EVENTS),
        };
        let rows = statement
            .bind(since)
            .bind(kind)
            .bind(before_at)
            .bind(before_id)
            .bind(i64::from(query.limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    at: from_millis(row.try_get("at")?),
                    kind: EventKind::parse(&kind).unwrap_or(EventKind::LoginFailed),
                    user_id: row
                        .try_get::<Option<String>, _>("user_id")?
                        .map(UserId::from_trusted),
                    username: row.try_get("username")?,
                    session_id: row
                        .try_get::<Option<String>, _>("session_id")?
                        .map(SessionId::from_trusted),
                    ip: row.try_get("ip")?,
                    user_agent: row.try_get("user_agent")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map)
    }

    async fn purge_events(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let mut total = 0;
        loop {
            let n = self.batch(q::PURGE_EVENTS, before).await?;
            total += n;
            if n < q::PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}
