//! [`Store`] for [`SqliteStore`]: the shared SQL of [`crate::queries`] bound with rusqlite, each
//! write a job for the writer thread, each read a job for a reader thread.

use super::SqliteStore;
use crate::error::map_sqlite;
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
use rusqlite::{params, Connection, OptionalExtension as _, Row};
use time::{Duration, OffsetDateTime};

pub(super) fn opt_time(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<OffsetDateTime>> {
    Ok(row.get::<_, Option<i64>>(col)?.map(from_millis))
}

fn time_col(row: &Row<'_>, col: &str) -> rusqlite::Result<OffsetDateTime> {
    Ok(from_millis(row.get::<_, i64>(col)?))
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId::from_trusted(row.get::<_, String>("id")?),
        username: row.get("username")?,
        username_key: row.get("username_key")?,
        password_hash: row.get("password_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

/// A session as [`crate::queries`] reads it: the idle end is the last use plus the idle timeout.
pub(super) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let last_used_at = time_col(row, "last_used_at")?;
    Ok(SessionRecord {
        id: SessionId::from_trusted(row.get::<_, String>("id")?),
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        username: row.get("username")?,
        client_id: row.get("client_id")?,
        created_at: time_col(row, "created_at")?,
        last_used_at,
        idle_expires_at: last_used_at
            + time::Duration::milliseconds(row.get::<_, i64>("idle_ttl")?),
        absolute_expires_at: time_col(row, "absolute_expires_at")?,
        user_agent: row.get("user_agent")?,
        ip: row.get("ip")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

fn client_from_row(row: &Row<'_>) -> rusqlite::Result<ClientRecord> {
    Ok(ClientRecord {
        id: row.get("id")?,
        confidential: row.get("confidential")?,
        secret_hash: row.get("secret_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    let alg: String = row.get("alg")?;
    Ok(StoredKey {
        kid: row.get("kid")?,
        alg: alg.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
        })?,
        pkcs8: row.get("private_pkcs8")?,
        created_at: time_col(row, "created_at")?,
        retired_at: opt_time(row, "retired_at")?,
        publish_until: opt_time(row, "publish_until")?,
    })
}

fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_sqlite)?;
    let rows = stmt.query_map(params, f).map_err(map_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(map_sqlite)
}

/// A random id for a limiter reservation.
pub(crate) fn new_attempt_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Other(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

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

pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, f).optional())
        .map_err(map_sqlite)
}

pub(super) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(map_sqlite)
}

fn activate_in(
    conn: &Connection,
    key: &StoredKey,
    publish_until: OffsetDateTime,
) -> Result<(), StoreError> {
    execute(
        conn,
        q::RETIRE_KEYS,
        params![to_millis(key.created_at), to_millis(publish_until)],
    )?;
    execute(
        conn,
        q::INSERT_KEY,
        params![
            key.kid,
            key.alg.as_str(),
            key.pkcs8,
            to_millis(key.created_at)
        ],
    )?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Through the writer: ready means refreshes can be committed, not only read.
        self.engine
            .write(|c| query_one(c, q::PING, [], |_| Ok(())).map(drop))
            .await
    }

    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_USER,
                    params![
                        user.id.as_str(),
                        user.username,
                        user.username_key,
                        user.password_hash,
                        to_millis(user.created_at)
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = username_key.to_owned();
        self.engine
            .read(move |c| query_one(c, q::USER_BY_KEY, [key], user_from_row))
            .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.engine
            .read(|c| query_all(c, q::USERS, [], user_from_row))
            .await
    }

    async fn set_password_hash(&self, id: &UserId, phc: &str) -> Result<(), StoreError> {
        let (id, phc) = (id.clone(), phc.to_owned());
        self.engine
            .write(move |c| execute(c, q::SET_PASSWORD_HASH, params![phc, id.as_str()]).map(drop))
            .await
    }

    async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let (id, now) = (id.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let deleted = execute(c, q::DELETE_USER, params![now, id.as_str()])?;
                execute(c, q::REVOKE_USER_SESSIONS, params![now, id.as_str()])?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn create_session(
        &self,
        session: &NewSession,
        first_token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (s, token) = (session.clone(), first_token.clone());
        self.engine
            .write(move |c| {
                let created = execute(
                    c,
                    q::INSERT_SESSION,
                    params![
                        s.id.as_str(),
                        s.user_id.as_str(),
                        s.client_id,
                        to_millis(s.created_at),
                        to_millis(s.created_at),
                        to_millis(s.idle_expires_at),
                        to_millis(s.absolute_expires_at),
                        s.user_agent,
                        s.ip
                    ],
                )?;
                if created != 1 {
                    return Ok(None);
                }
                execute(
                    c,
                    q::INSERT_TOKEN,
                    params![&token.0[..], s.id.as_str(), to_millis(s.created_at)],
                )?;
                if s.live_limit > 0 {
                    let now = to_millis(s.created_at);
                    execute(
                        c,
                        q::REVOKE_OVER_LIMIT,
                        params![
                            now,
                            s.user_id.as_str(),
                            s.id.as_str(),
                            now,
                            now,
                            i64::from(s.live_limit - 1)
                        ],
                    )?;
                }
                query_one(c, q::SESSION, [s.id.as_str()], session_from_row)
            })
            .await
    }

    async fn rotate(&self, request: &RotateRequest) -> Result<RotateOutcome, StoreError> {
        let request = request.clone();
        self.engine
            .write(move |c| super::rotate::rotate_in(c, &request))
            .await
    }

    async fn revoke_by_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, StoreError> {
        let (token, now) = (token.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let session: Option<String> =
                    query_one(c, q::TOKEN_SESSION, [&token.0[..]], |r| r.get(0))?;
                if let Some(id) = &session {
                    execute(c, q::REVOKE_FOR_LOGOUT, params![now, id])?;
                }
                Ok(session.map(SessionId::from_trusted))
            })
            .await
    }

    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (user, session, now) = (user.clone(), session.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let done = execute(
                    c,
                    q::REVOKE_SESSION,
                    params![now, session.as_str(), user.as_str(), now, now],
                )?;
                Ok(done == 1)
            })
            .await
    }

    async fn revoke_all_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let (user, now) = (user.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let n = execute(c, q::REVOKE_ALL_SESSIONS, params![now, user.as_str()])?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            })
            .await
    }

    async fn live_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
        after: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let (user, now) = (user.clone(), to_millis(now));
        let (before, after_id) = after.map_or((i64::MAX, String::new()), |c| {
            (to_millis(c.created_at), c.id.as_str().to_owned())
        });
        self.engine
            .read(move |c| {
                query_all(
                    c,
                    q::LIVE_SESSIONS,
                    params![
                        user.as_str(),
                        now,
                        now,
                        before,
                        before,
                        after_id,
                        i64::from(limit)
                    ],
                    session_from_row,
                )
            })
            .await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.clone();
        self.engine
            .read(move |c| query_one(c, q::SESSION, [id.as_str()], session_from_row))
            .await
    }

    async fn refresh_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let token = token.clone();
        self.engine
            .read(move |c| {
                query_one(c, q::REFRESH_TOKEN, [&token.0[..]], |row| {
                    Ok(RefreshTokenRecord {
                        created_at: time_col(row, "token_created_at")?,
                        spent_at: opt_time(row, "token_spent_at")?,
                        session: session_from_row(row)?,
                    })
                })
            })
            .await
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let client = client.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_CLIENT,
                    params![
                        client.id,
                        client.confidential,
                        client.secret_hash,
                        to_millis(client.created_at)
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let id = id.to_owned();
        self.engine
            .read(move |c| query_one(c, q::CLIENT, [id], client_from_row))
            .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.engine
            .read(|c| query_all(c, q::CLIENTS, [], client_from_row))
            .await
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.engine
            .write(move |c| Ok(execute(c, q::DELETE_CLIENT, [id])? == 1))
            .await
    }

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
        let mut total = 0u64;
        loop {
            let n = self
                .engine
                .write(move |c| execute(c, q::PURGE_EVENTS, [before]))
                .await?;
            total += u64::try_from(n).unwrap_or(0);
            if u64::try_from(n).unwrap_or(0) < q::PURGE_BATCH {
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
        let keys = keys.to_vec();
        // The writer's transaction serialises every attempt, as the lock does on PostgreSQL.
        self.engine
            .write(move |c| {
                let (since, stale) = (to_millis(now - window), to_millis(now - STALE_ATTEMPT));
                let mut judgements = Vec::with_capacity(keys.len());
                for k in &keys {
                    execute(c, q::DROP_STALE_ATTEMPTS, params![&k.key[..], stale])?;
                    let failures = query_all(
                        c,
                        q::RECENT_FAILURES,
                        params![&k.key[..], since, i64::from(k.limit)],
                        |r| r.get::<_, i64>(0),
                    )?;
                    let in_flight: i64 =
                        query_one(c, q::ATTEMPTS_IN_FLIGHT, params![&k.key[..]], |r| r.get(0))?
                            .unwrap_or(0);
                    let in_flight = u64::try_from(in_flight).unwrap_or(0);
                    judgements.push(judge(&failures, in_flight, k.limit, now, window));
                }
                Ok(match combine(judgements) {
                    Judgement::Go => {
                        let id = new_attempt_id()?;
                        for k in &keys {
                            execute(
                                c,
                                q::INSERT_ATTEMPT,
                                params![id, &k.key[..], to_millis(now)],
                            )?;
                        }
                        LimitVerdict::Go(id)
                    }
                    Judgement::Wait => LimitVerdict::Wait,
                    Judgement::Refuse(secs) => LimitVerdict::Refuse(secs),
                })
            })
            .await
    }

    async fn limit_finish(
        &self,
        reservation: &str,
        keys: &[LimitKey],
        outcome: LimitOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (reservation, keys) = (reservation.to_owned(), keys.to_vec());
        self.engine
            .write(move |c| {
                execute(c, q::DELETE_ATTEMPT, [&reservation])?;
                for k in &keys {
                    match outcome {
                        LimitOutcome::Failed => {
                            execute(c, q::INSERT_FAILURE, params![&k.key[..], to_millis(now)])?;
                        }
                        LimitOutcome::Succeeded if k.cleared_by_success => {
                            execute(c, q::CLEAR_FAILURES, params![&k.key[..]])?;
                        }
                        _ => {}
                    }
                }
                Ok(())
            })
            .await
    }

    async fn limit_purge(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let (before, stale) = (to_millis(before), to_millis(before - STALE_ATTEMPT));
        self.engine
            .write(move |c| {
                let failures = execute(c, q::PURGE_FAILURES, [before])?;
                let attempts = execute(c, q::PURGE_ATTEMPTS, [stale])?;
                Ok(u64::try_from(failures + attempts).unwrap_or(u64::MAX))
            })
            .await
    }

    async fn scrub_signing_keys(&self) -> Result<(), StoreError> {
        // VACUUM cannot run inside the writer's batch transaction, so it runs on a connection of
        // its own to the same file, waiting for the writer under the busy timeout.
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = super::connect(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(map_sqlite)
        })
        .await
        .map_err(|e| StoreError::Other(format!("scrubbing the database failed: {e}")))?
    }

    async fn replace_private_key(&self, kid: &str, private: &[u8]) -> Result<bool, StoreError> {
        let (kid, private) = (kid.to_owned(), private.to_vec());
        self.engine
            .write(move |c| Ok(execute(c, q::REPLACE_PRIVATE_KEY, params![private, kid])? == 1))
            .await
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        // From the writer, so a key this process just activated is always seen (a read-only
        // store activates none, and its writer cannot begin a write transaction).
        if self.read_only {
            return self
                .engine
                .read(|c| query_all(c, q::SIGNING_KEYS, [], key_from_row))
                .await;
        }
        self.engine
            .write(|c| query_all(c, q::SIGNING_KEYS, [], key_from_row))
            .await
    }

    async fn activate_signing_key(
        &self,
        key: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        self.engine
            .write(move |c| activate_in(c, &key, publish_until))
            .await
    }

    async fn ensure_signing_key(
        &self,
        candidate: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<StoredKey, StoreError> {
        let candidate = candidate.clone();
        self.engine
            .write(move |c| {
                let active = query_one(
                    c,
                    q::ACTIVE_KEY_OF_ALG,
                    [candidate.alg.as_str()],
                    key_from_row,
                )?;
                match active {
                    Some(key) => Ok(key),
                    None => {
                        activate_in(c, &candidate, publish_until)?;
                        Ok(candidate)
                    }
                }
            })
            .await
    }

    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // One batch per write job, so rotations queued meanwhile are never held up for long.
        let before = to_millis(before);
        let mut purged = 0;
        loop {
            let n = self
                .engine
                .write(move |c| execute(c, q::PURGE_SESSIONS, [before]))
                .await?;
            let n = u64::try_from(n).unwrap_or(u64::MAX);
            purged += n;
            if n < q::PURGE_BATCH {
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
            let from = after.clone();
            let ids = self
                .engine
                .write(move |c| {
                    query_all(c, q::SET_IDLE_TIMEOUT, params![ttl, now, from], |r| {
                        r.get::<_, String>(0)
                    })
                })
                .await?;
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
            let n = self
                .engine
                .write(move |c| execute(c, q::DROP_STALE_SEALS, [before]))
                .await?;
            let n = u64::try_from(n).unwrap_or(u64::MAX);
            dropped += n;
            if n < q::PURGE_BATCH {
                return Ok(dropped);
            }
        }
    }
}
