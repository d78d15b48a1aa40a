//! Sessions and their refresh tokens on SQLite: [`SessionStore`] for [`SqliteStore`].

use super::rows::{execute, opt_time, query_all, query_one, time_col};
use super::SqliteStore;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::mfa::Amr;
use baton_core::refresh::TokenHash;
use baton_core::store::{
    NewSession, RefreshTokenRecord, RotateOutcome, RotateRequest, SessionCursor, SessionRecord,
    SessionStore, StoreError,
};
use baton_core::{SessionId, UserId};
use rusqlite::{params, Row};
use time::OffsetDateTime;

/// Rows one statement of a purge changes or deletes at most (sessions, seals, audit events).
pub(super) const SLICE_ROWS: i64 = 64;
/// Runs `sql`, a statement that changes or deletes up to `$2` rows older than `$1`, on
/// [`SLICE_ROWS`] of them: how many, and whether there may be more.
pub(super) fn slice(
    conn: &rusqlite::Connection,
    sql: &str,
    before: i64,
) -> Result<(u64, bool), StoreError> {
    let n = execute(conn, sql, params![before, SLICE_ROWS])?;
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    Ok((n, n >= SLICE_ROWS.unsigned_abs()))
}

/// Sessions one round of the session purge works on: it deletes up to [`SLICE_TOKENS`] of their
/// tokens, then those of them left without any.
const SLICE_SESSIONS: i64 = 8;
/// Tokens one round of the session purge deletes at most: a token with its index entries costs
/// about 25 µs to delete, so a round stays inside the budget of one write job.
const SLICE_TOKENS: i64 = 32;

/// A session as [`crate::queries`] reads it: the idle end is the last use plus the idle timeout.
pub(super) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let last_used_at = time_col(row, "last_used_at")?;
    Ok(SessionRecord {
        id: SessionId::from_trusted(row.get::<_, String>("id")?),
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        username: row.get("username")?,
        email: row.get("email")?,
        email_verified: opt_time(row, "email_verified_at")?.is_some(),
        client_id: row.get("client_id")?,
        created_at: time_col(row, "created_at")?,
        last_used_at,
        idle_expires_at: last_used_at
            + time::Duration::milliseconds(row.get::<_, i64>("idle_ttl")?),
        absolute_expires_at: time_col(row, "absolute_expires_at")?,
        user_agent: row.get("user_agent")?,
        ip: row.get("ip")?,
        revoked_at: opt_time(row, "revoked_at")?,
        amr: Amr::from_stored(row.get::<_, Option<String>>("amr")?.as_deref()),
        scope: row.get("scope")?,
        audience: row.get("audience")?,
        dpop_jkt: row.get("dpop_jkt")?,
        roles: crate::roles_from_column(row.get::<_, Option<String>>("roles")?.as_deref()),
        auth_time: time_col(row, "auth_time")?,
    })
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
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
                    q::sqlite::DIALECT.insert_session,
                    params![
                        s.id.as_str(),
                        s.user_id.as_str(),
                        s.client_id,
                        to_millis(s.created_at),
                        to_millis(s.created_at),
                        to_millis(s.idle_expires_at),
                        to_millis(s.absolute_expires_at),
                        s.user_agent,
                        s.ip,
                        s.amr,
                        s.scope,
                        s.auth_time.map(to_millis),
                        s.parent_id.as_ref().map(SessionId::as_str),
                        s.audience,
                        s.dpop_jkt,
                        s.password_hash
                    ],
                )?;
                if created != 1 {
                    return Ok(None);
                }
                execute(
                    c,
                    q::INSERT_TOKEN,
                    params![
                        &token.0[..],
                        s.id.as_str(),
                        to_millis(s.created_at),
                        s.dpop_jkt.is_some()
                    ],
                )?;
                if s.live_limit > 0 {
                    let now = to_millis(s.created_at);
                    let over = i64::from(s.live_limit - 1);
                    let (user, id) = (s.user_id.as_str(), s.id.as_str());
                    if s.parent_id.is_some() {
                        // An application's session counts toward its own cap.
                        execute(
                            c,
                            q::REVOKE_APP_OVER_LIMIT,
                            params![now, user, s.client_id, id, now, now, over],
                        )?;
                    } else {
                        let ended: Vec<String> = query_all(
                            c,
                            q::REVOKE_OVER_LIMIT,
                            params![now, user, id, now, now, over],
                            |r| r.get(0),
                        )?;
                        for session in &ended {
                            super::oidc::end_browser_session(c, session, now)?;
                        }
                    }
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
                if done == 1 {
                    super::oidc::end_browser_session(c, session.as_str(), now)?;
                }
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
                super::oidc::queue_logouts(c, &user, now)?;
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

    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // A few rows per statement, in write jobs of a bounded time (see `write_in_slices`):
        // a refresh queued behind the purge of a large backlog waits about one job at most.
        let before = to_millis(before);
        self.engine
            .write_in_slices(move |c| {
                let tokens = execute(
                    c,
                    q::PURGE_ENDED_TOKENS,
                    params![before, SLICE_SESSIONS, SLICE_TOKENS],
                )?;
                let sessions =
                    execute(c, q::PURGE_ENDED_SESSIONS, params![before, SLICE_SESSIONS])?;
                let purged = u64::try_from(sessions).unwrap_or(u64::MAX);
                if tokens > 0 || sessions > 0 {
                    return Ok((purged, true));
                }
                // Nothing ended by its absolute end is left: the next sessions that ended idle
                // take theirs, for the rounds after this one (see `queries`).
                let (moved, _) = slice(c, q::END_IDLE_SESSIONS, before)?;
                Ok((0, moved > 0))
            })
            .await
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
        self.engine
            .write_in_slices(move |c| slice(c, q::DROP_STALE_SEALS, before))
            .await
    }
}
