//! Sessions and their refresh tokens on PostgreSQL: [`SessionStore`] for [`PgStore`].

use super::rows::{opt_time, time_col};
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::mfa::Amr;
use baton_core::refresh::TokenHash;
use baton_core::store::{
    NewSession, RefreshTokenRecord, RotateOutcome, RotateRequest, SessionCursor, SessionRecord,
    SessionStore, StoreError,
};
use baton_core::{SessionId, UserId};
use sqlx::postgres::PgRow as Row;
use sqlx::Row as _;
use time::OffsetDateTime;

/// Tokens one transaction of the purge deletes, per session it works on: a usual session holds
/// a few, so a batch of ended sessions goes in one or two transactions.
const TOKENS_PER_SESSION: i64 = 10;

impl PgStore {
    /// Runs `sql`, a statement that changes or deletes up to `$2` rows older than `$1`, on
    /// [`q::PURGE_BATCH`] of them in a transaction of its own: how many.
    pub(super) async fn batch(&self, sql: &str, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(sql)
            .bind(before)
            .bind(i64::try_from(q::PURGE_BATCH).unwrap_or(i64::MAX))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected())
    }
}

/// A session as [`crate::queries`] reads it: the idle end is the last use plus the idle timeout.
pub(super) fn session_from_row(row: &Row) -> Result<SessionRecord, sqlx::Error> {
    let last_used_at = time_col(row, "last_used_at")?;
    Ok(SessionRecord {
        id: SessionId::from_trusted(row.try_get::<String, _>("id")?),
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        email_verified: opt_time(row, "email_verified_at")?.is_some(),
        client_id: row.try_get("client_id")?,
        created_at: time_col(row, "created_at")?,
        last_used_at,
        idle_expires_at: last_used_at
            + time::Duration::milliseconds(row.try_get::<i64, _>("idle_ttl")?),
        absolute_expires_at: time_col(row, "absolute_expires_at")?,
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
        revoked_at: opt_time(row, "revoked_at")?,
        amr: Amr::from_stored(row.try_get::<Option<String>, _>("amr")?.as_deref()),
        scope: row.try_get("scope")?,
        audience: row.try_get("audience")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        roles: crate::roles_from_column(row.try_get::<Option<String>, _>("roles")?.as_deref()),
        auth_time: time_col(row, "auth_time")?,
    })
}

#[async_trait::async_trait]
impl SessionStore for PgStore {
    async fn create_session(
        &self,
        session: &NewSession,
        first_token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        // Only for a user that still exists, enabled, with the password checked: a deletion,
        // a disabling or a password change committed meanwhile must not leave a live session.
        let created = sqlx::query(q::postgres::DIALECT.insert_session)
            .bind(session.id.as_str())
            .bind(session.user_id.as_str())
            .bind(&session.client_id)
            .bind(to_millis(session.created_at))
            .bind(to_millis(session.created_at))
            .bind(to_millis(session.idle_expires_at))
            .bind(to_millis(session.absolute_expires_at))
            .bind(&session.user_agent)
            .bind(&session.ip)
            .bind(&session.amr)
            .bind(&session.scope)
            .bind(session.auth_time.map(to_millis))
            .bind(session.parent_id.as_ref().map(SessionId::as_str))
            .bind(&session.audience)
            .bind(&session.dpop_jkt)
            .bind(&session.password_hash)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        if created.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query(q::INSERT_TOKEN)
            .bind(&first_token.0[..])
            .bind(session.id.as_str())
            .bind(to_millis(session.created_at))
            .bind(session.dpop_jkt.is_some())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        if session.live_limit > 0 {
            let now = to_millis(session.created_at);
            let over = i64::from(session.live_limit - 1);
            if session.parent_id.is_some() {
                // An application's session counts toward its own cap.
                sqlx::query(q::REVOKE_APP_OVER_LIMIT)
                    .bind(now)
                    .bind(session.user_id.as_str())
                    .bind(&session.client_id)
                    .bind(session.id.as_str())
                    .bind(now)
                    .bind(now)
                    .bind(over)
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
            } else {
                let ended: Vec<String> = sqlx::query_scalar(q::REVOKE_OVER_LIMIT)
                    .bind(now)
                    .bind(session.user_id.as_str())
                    .bind(session.id.as_str())
                    .bind(now)
                    .bind(now)
                    .bind(over)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map)?;
                for ended in &ended {
                    super::oidc::end_browser_session(&mut tx, ended, now).await?;
                }
            }
        }
        let row = sqlx::query(q::SESSION)
            .bind(session.id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(map)?;
        let record = session_from_row(&row).map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(Some(record))
    }

    async fn rotate(&self, req: &RotateRequest) -> Result<RotateOutcome, StoreError> {
        self.rotate_token(req).await
    }

    async fn revoke_by_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let session: Option<String> = sqlx::query_scalar(q::TOKEN_SESSION)
            .bind(&token.0[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        if let Some(id) = &session {
            sqlx::query(q::REVOKE_FOR_LOGOUT)
                .bind(to_millis(now))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        Ok(session.map(SessionId::from_trusted))
    }

    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let done = sqlx::query(q::REVOKE_SESSION)
            .bind(now)
            .bind(session.as_str())
            .bind(user.as_str())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        if done.rows_affected() == 1 {
            super::oidc::end_browser_session(&mut tx, session.as_str(), now).await?;
        }
        tx.commit().await.map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_all_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let done = sqlx::query(q::REVOKE_ALL_SESSIONS)
            .bind(now)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        super::oidc::queue_logouts(&mut tx, user, now).await?;
        tx.commit().await.map_err(map)?;
        Ok(done.rows_affected())
    }

    async fn live_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
        after: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let now = to_millis(now);
        let (before, after_id) =
            after.map_or((i64::MAX, ""), |c| (to_millis(c.created_at), c.id.as_str()));
        let rows = sqlx::query(q::LIVE_SESSIONS)
            .bind(user.as_str())
            .bind(now)
            .bind(now)
            .bind(before)
            .bind(before)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(q::SESSION)
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(session_from_row).transpose().map_err(map)
    }

    async fn refresh_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = sqlx::query(q::REFRESH_TOKEN)
            .bind(&token.0[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshTokenRecord {
            created_at: time_col(&row, "token_created_at").map_err(map)?,
            spent_at: opt_time(&row, "token_spent_at").map_err(map)?,
            session: session_from_row(&row).map_err(map)?,
        }))
    }

    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // In batches of a bounded size, each its own transaction, so that no lock is held for
        // long; see `queries` for the three steps.
        let before = to_millis(before);
        let batch = i64::try_from(q::PURGE_BATCH).unwrap_or(i64::MAX);
        let mut purged = 0;
        loop {
            let mut tx = begin_write(&self.writer).await.map_err(map)?;
            let tokens = sqlx::query(q::PURGE_ENDED_TOKENS)
                .bind(before)
                .bind(batch)
                .bind(batch.saturating_mul(TOKENS_PER_SESSION))
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            let sessions = sqlx::query(q::PURGE_ENDED_SESSIONS)
                .bind(before)
                .bind(batch)
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            tx.commit().await.map_err(map)?;
            purged += sessions;
            // Nothing ended by its absolute end is left: the next sessions that ended idle
            // take theirs, for the batches after this one (see `queries`).
            if tokens == 0 && sessions == 0 && self.batch(q::END_IDLE_SESSIONS, before).await? == 0
            {
                return Ok(purged);
            }
        }
    }

    async fn set_idle_timeout(
        &self,
        ttl: time::Duration,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let (ttl, now) = (
            i64::try_from(ttl.whole_milliseconds()).unwrap_or(i64::MAX),
            to_millis(now),
        );
        let (mut changed, mut after) = (0, String::new());
        loop {
            let ids: Vec<String> = sqlx::query_scalar(q::SET_IDLE_TIMEOUT)
                .bind(ttl)
                .bind(now)
                .bind(&after)
                .fetch_all(&self.writer)
                .await
                .map_err(map)?;
            let batch = u64::try_from(ids.len()).unwrap_or(u64::MAX);
            changed += batch;
            match ids.into_iter().max() {
                Some(last) if batch == q::PURGE_BATCH => after = last,
                _ => return Ok(changed),
            }
        }
    }

    async fn drop_stale_seals(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let mut dropped = 0;
        loop {
            let n = self.batch(q::DROP_STALE_SEALS, before).await?;
            dropped += n;
            if n < q::PURGE_BATCH {
                return Ok(dropped);
            }
        }
    }
}
