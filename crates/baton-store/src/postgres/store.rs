//! [`Store`] for [`PgStore`]: the shared SQL of [`crate::queries`] bound with sqlx. Write
//! transactions start `READ COMMITTED`; the rotation lives in [`super::rotate`].

use super::{begin_write, PgStore, INSERT_SESSION, LOCK_SIGNING_KEYS};
use crate::error::map;
use crate::queries as q;
use baton_core::audit::{AuditEvent, EventKind, EventQuery};
use baton_core::client::ClientRecord;
use baton_core::clock::{from_millis, to_millis};
use baton_core::keys::StoredKey;
use baton_core::limits::{
    combine, judge, Judgement, LimitKey, LimitOutcome, LimitVerdict, STALE_ATTEMPT,
};
use baton_core::refresh::TokenHash;
use baton_core::store::{
    NewSession, RefreshTokenRecord, RotateOutcome, RotateRequest, SessionCursor, SessionRecord,
    Store, StoreError, UserRecord,
};
use baton_core::{SessionId, UserId};

/// The first number of the limiter's advisory locks ("btnl"), so they never meet baton's others.
const LIMIT_LOCK_SPACE: i32 = 0x6274_6e6c;

/// One key's attempts are judged and finished one at a time across instances: a
/// transaction-scoped advisory lock per key (in the two-number form, apart from baton's other
/// locks), taken in a fixed order so that two transactions never wait for each other's. With
/// `wait` false, answers whether every lock was free instead of waiting.
async fn lock_limit_keys(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    keys: &[LimitKey],
    wait: bool,
) -> Result<bool, StoreError> {
    let mut ordered: Vec<&LimitKey> = keys.iter().collect();
    ordered.sort_by_key(|k| k.key);
    for k in ordered {
        let lock = i32::from_be_bytes([k.key[0], k.key[1], k.key[2], k.key[3]]);
        if wait {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(LIMIT_LOCK_SPACE)
                .bind(lock)
                .execute(&mut **tx)
                .await
                .map_err(map)?;
        } else {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
                .bind(LIMIT_LOCK_SPACE)
                .bind(lock)
                .fetch_one(&mut **tx)
                .await
                .map_err(map)?;
            if !got {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
use sqlx::postgres::{PgRow as Row, Postgres as Db};
use sqlx::Row as _;
use time::{Duration, OffsetDateTime};
pub(super) fn opt_time(row: &Row, col: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_millis))
}

fn time_col(row: &Row, col: &str) -> Result<OffsetDateTime, sqlx::Error> {
    Ok(from_millis(row.try_get::<i64, _>(col)?))
}

fn user_from_row(row: &Row) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: UserId::from_trusted(row.try_get::<String, _>("id")?),
        username: row.try_get("username")?,
        username_key: row.try_get("username_key")?,
        password_hash: row.try_get("password_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

/// A session as [`crate::queries`] reads it: the idle end is the last use plus the idle timeout.
pub(super) fn session_from_row(row: &Row) -> Result<SessionRecord, sqlx::Error> {
    let last_used_at = time_col(row, "last_used_at")?;
    Ok(SessionRecord {
        id: SessionId::from_trusted(row.try_get::<String, _>("id")?),
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        username: row.try_get("username")?,
        client_id: row.try_get("client_id")?,
        created_at: time_col(row, "created_at")?,
        last_used_at,
        idle_expires_at: last_used_at
            + time::Duration::milliseconds(row.try_get::<i64, _>("idle_ttl")?),
        absolute_expires_at: time_col(row, "absolute_expires_at")?,
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

fn client_from_row(row: &Row) -> Result<ClientRecord, sqlx::Error> {
    Ok(ClientRecord {
        id: row.try_get("id")?,
        confidential: row.try_get("confidential")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

fn key_from_row(row: &Row) -> Result<StoredKey, StoreError> {
    let alg: String = row.try_get("alg").map_err(map)?;
    Ok(StoredKey {
        kid: row.try_get("kid").map_err(map)?,
        alg: alg.parse().map_err(StoreError::Other)?,
        pkcs8: row.try_get("private_pkcs8").map_err(map)?,
        created_at: time_col(row, "created_at").map_err(map)?,
        retired_at: opt_time(row, "retired_at").map_err(map)?,
        publish_until: opt_time(row, "publish_until").map_err(map)?,
    })
}

async fn activate_in(
    tx: &mut sqlx::Transaction<'static, Db>,
    key: &StoredKey,
    publish_until: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(q::RETIRE_KEYS)
        .bind(to_millis(key.created_at))
        .bind(to_millis(publish_until))
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    sqlx::query(q::INSERT_KEY)
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.pkcs8)
        .bind(to_millis(key.created_at))
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(q::PING)
            .execute(&self.reader)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_USER)
            .bind(user.id.as_str())
            .bind(&user.username)
            .bind(&user.username_key)
            .bind(&user.password_hash)
            .bind(to_millis(user.created_at))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(q::USER_BY_KEY)
            .bind(username_key)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(user_from_row).transpose().map_err(map)
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(q::USERS)
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn set_password_hash(&self, id: &UserId, phc: &str) -> Result<(), StoreError> {
        sqlx::query(q::SET_PASSWORD_HASH)
            .bind(phc)
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let deleted = sqlx::query(q::DELETE_USER)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        sqlx::query(q::REVOKE_USER_SESSIONS)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(deleted == 1)
    }

    async fn create_session(
        &self,
        session: &NewSession,
        first_token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        // Only for a user that still exists: a deletion committed while the password
        // was being checked must not leave a live session behind.
        let created = sqlx::query(&INSERT_SESSION)
            .bind(session.id.as_str())
            .bind(session.user_id.as_str())
            .bind(&session.client_id)
            .bind(to_millis(session.created_at))
            .bind(to_millis(session.created_at))
            .bind(to_millis(session.idle_expires_at))
            .bind(to_millis(session.absolute_expires_at))
            .bind(&session.user_agent)
            .bind(&session.ip)
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
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        if session.live_limit > 0 {
            let now = to_millis(session.created_at);
            sqlx::query(q::REVOKE_OVER_LIMIT)
                .bind(now)
                .bind(session.user_id.as_str())
                .bind(session.id.as_str())
                .bind(now)
                .bind(now)
                .bind(i64::from(session.live_limit - 1))
                .execute(&mut *tx)
                .await
                .map_err(map)?;
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
        let done = sqlx::query(q::REVOKE_SESSION)
            .bind(now)
            .bind(session.as_str())
            .bind(user.as_str())
            .bind(now)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_all_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(q::REVOKE_ALL_SESSIONS)
            .bind(to_millis(now))
            .bind(user.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?;
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

    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_CLIENT)
            .bind(&client.id)
            .bind(client.confidential)
            .bind(&client.secret_hash)
            .bind(to_millis(client.created_at))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(q::CLIENT)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(client_from_row).transpose().map_err(map)
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let rows = sqlx::query(q::CLIENTS)
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(client_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(q::DELETE_CLIENT)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

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
        let mut total = 0;
        loop {
            let done = sqlx::query(q::PURGE_EVENTS)
                .bind(to_millis(before))
                .execute(&self.writer)
                .await
                .map_err(map)?;
            total += done.rows_affected();
            if done.rows_affected() < q::PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    async fn limit_begin(
        &self,
        keys: &[LimitKey],
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<LimitVerdict, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        // Without waiting: an attempt that finds a key locked waits outside the database, so a
        // flood on one key cannot tie up the pool's connections in lock waits.
        if !lock_limit_keys(&mut tx, keys, false).await? {
            tx.rollback().await.map_err(map)?;
            return Ok(LimitVerdict::Wait);
        }
        let (since, stale) = (to_millis(now - window), to_millis(now - STALE_ATTEMPT));
        let mut judgements = Vec::with_capacity(keys.len());
        for k in keys {
            sqlx::query(q::DROP_STALE_ATTEMPTS)
                .bind(&k.key[..])
                .bind(stale)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
            let failures: Vec<i64> = sqlx::query_scalar(q::RECENT_FAILURES)
                .bind(&k.key[..])
                .bind(since)
                .bind(i64::from(k.limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(map)?;
            let in_flight: i64 = sqlx::query_scalar(q::ATTEMPTS_IN_FLIGHT)
                .bind(&k.key[..])
                .fetch_one(&mut *tx)
                .await
                .map_err(map)?;
            let in_flight = u64::try_from(in_flight).unwrap_or(0);
            judgements.push(judge(&failures, in_flight, k.limit, now, window));
        }
        let verdict = match combine(judgements) {
            Judgement::Go => {
                let id = crate::sqlite::new_attempt_id()?;
                for k in keys {
                    sqlx::query(q::INSERT_ATTEMPT)
                        .bind(&id)
                        .bind(&k.key[..])
                        .bind(to_millis(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                }
                LimitVerdict::Go(id)
            }
            Judgement::Wait => LimitVerdict::Wait,
            Judgement::Refuse(secs) => LimitVerdict::Refuse(secs),
        };
        tx.commit().await.map_err(map)?;
        Ok(verdict)
    }

    async fn limit_finish(
        &self,
        reservation: &str,
        keys: &[LimitKey],
        outcome: LimitOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        // Under the same locks as a beginning attempt, which reads failures and attempts in
        // flight in two statements: a finish between them would count the attempt in neither.
        lock_limit_keys(&mut tx, keys, true).await?;
        sqlx::query(q::DELETE_ATTEMPT)
            .bind(reservation)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        for k in keys {
            let statement = match outcome {
                LimitOutcome::Failed => sqlx::query(q::INSERT_FAILURE)
                    .bind(&k.key[..])
                    .bind(to_millis(now)),
                LimitOutcome::Succeeded if k.cleared_by_success => {
                    sqlx::query(q::CLEAR_FAILURES).bind(&k.key[..])
                }
                _ => continue,
            };
            statement.execute(&mut *tx).await.map_err(map)?;
        }
        tx.commit().await.map_err(map)
    }

    async fn limit_purge(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let failures = sqlx::query(q::PURGE_FAILURES)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        let attempts = sqlx::query(q::PURGE_ATTEMPTS)
            .bind(to_millis(before - STALE_ATTEMPT))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(failures.rows_affected() + attempts.rows_affected())
    }

    async fn scrub_signing_keys(&self) -> Result<(), StoreError> {
        // Rewrites the table's files: the replaced rows' dead versions go with the old ones.
        sqlx::query("VACUUM FULL signing_keys")
            .execute(&self.writer)
            .await
            .map(drop)
            .map_err(map)
    }

    async fn replace_private_key(&self, kid: &str, private: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(q::REPLACE_PRIVATE_KEY)
            .bind(private)
            .bind(kid)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(q::SIGNING_KEYS)
            .fetch_all(&self.writer)
            .await
            .map_err(map)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn activate_signing_key(
        &self,
        key: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        if !LOCK_SIGNING_KEYS.is_empty() {
            sqlx::query(LOCK_SIGNING_KEYS)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        activate_in(&mut tx, key, publish_until).await?;
        tx.commit().await.map_err(map)
    }

    async fn ensure_signing_key(
        &self,
        candidate: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<StoredKey, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        if !LOCK_SIGNING_KEYS.is_empty() {
            sqlx::query(LOCK_SIGNING_KEYS)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        let row = sqlx::query(q::ACTIVE_KEY_OF_ALG)
            .bind(candidate.alg.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let active = match row {
            Some(row) => key_from_row(&row)?,
            None => {
                activate_in(&mut tx, candidate, publish_until).await?;
                candidate.clone()
            }
        };
        tx.commit().await.map_err(map)?;
        Ok(active)
    }

    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // In batches, so that the write lock is never held for long; the tokens go with
        // their sessions (ON DELETE CASCADE).
        let before = to_millis(before);
        let mut purged = 0;
        loop {
            let mut tx = begin_write(&self.writer).await.map_err(map)?;
            let done = sqlx::query(q::PURGE_SESSIONS)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
            tx.commit().await.map_err(map)?;
            purged += done.rows_affected();
            if done.rows_affected() < q::PURGE_BATCH {
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
        let done = sqlx::query(q::DROP_STALE_SEALS)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected())
    }
}
