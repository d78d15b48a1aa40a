//! The rotation on PostgreSQL: one statement in the common case, a read and one conditional write
//! otherwise, instead of a locked transaction of six round trips.
//!
//! The common case is an unspent token of a live session presented by its own client: exactly
//! the case in which [`decide`] answers *rotate*. [`ROTATE_FAST`] states those conditions in SQL
//! and, when they hold, rotates in the same statement and returns the updated session. When they
//! do not (a replay, a reuse, an expired or revoked session, an unknown token), it changes nothing
//! and the rotation takes the general path below, where [`decide`] judges what was read. The
//! conformance suite runs every rule's case through both, so the SQL form cannot drift from
//! [`decide`] unnoticed.
//!
//! The read loads the presented token, its successor's state and its session; the rules of
//! [`decide`] pick the answer; then one statement carries it out only if what the read saw still
//! holds. To rotate, that statement locks the session first (it must still be live), then spends
//! the token only if it is still unspent, stores the successor and moves the idle end, all or
//! nothing. To replay, it counts the replay only if the successor is still unspent, the session
//! still live and the cap not reached. When the condition no longer holds (another refresh, here
//! or on another instance, spent the token; a logout revoked the session), nothing changes and the
//! rotation reads again, now seeing what happened: it replays the winner's successor, or answers
//! "revoked". Under `READ COMMITTED` a statement that waited for a row lock re-checks its
//! conditions on the row as committed, which is what makes the compare-and-set sound.

use super::store::{opt_time, session_from_row};
use super::PgStore;
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::SealedSuccessor;
use baton_core::rotation::{decide, Decision, TokenState, MAX_REPLAYS};
use baton_core::store::{RotateOutcome, RotateRequest, StoreError};
use baton_core::RefreshError;
use sqlx::Row as _;

/// How many times a rotation reads again after losing a race before answering `503`.
const ATTEMPTS: usize = 4;

/// The whole rotation when [`decide`] would answer *rotate*: the token is unspent (`$4`), its
/// session not revoked, before its idle and absolute ends at `$1`, and issued to the presenting
/// client (`$6`, or any when `NULL`). The session is locked first; the token is spent, the
/// successor (`$3`) stored and the idle end moved to `$5`; the updated session comes back, or no
/// row when any condition fails (nothing is then changed).
const ROTATE_FAST: &str = "WITH live AS MATERIALIZED (\
        SELECT s.id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
        WHERE t.hash = $4 AND t.spent_at IS NULL AND s.revoked_at IS NULL \
        AND s.idle_expires_at > $1 AND s.absolute_expires_at > $1 \
        AND ($6::text IS NULL OR s.client_id = $6) FOR UPDATE OF s), \
    spent AS (\
        UPDATE refresh_tokens SET spent_at = $1, sealed_successor = $2, successor_hash = $3 \
        WHERE hash = $4 AND spent_at IS NULL AND session_id = (SELECT id FROM live) \
        RETURNING session_id), \
    stored AS (INSERT INTO refresh_tokens (hash, session_id, created_at) \
        SELECT $3, session_id, $1 FROM spent), \
    touched AS (UPDATE sessions SET last_used_at = $1, idle_expires_at = $5 \
        WHERE id IN (SELECT session_id FROM spent) \
        RETURNING id, user_id, client_id, created_at, last_used_at, idle_expires_at, \
        absolute_expires_at, user_agent, ip, revoked_at) \
    SELECT s.id, s.user_id, u.username, s.client_id, s.created_at, s.last_used_at, \
        s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at \
    FROM touched s JOIN users u ON u.id = s.user_id";

/// The rotation's writes as one statement, answering how many tokens were spent (0 or 1). The
/// session is locked first and must be live; then the token is spent only if still unspent.
const ROTATE: &str = "WITH live AS MATERIALIZED (\
        SELECT id FROM sessions WHERE id = $6 AND revoked_at IS NULL \
        AND idle_expires_at > $1 AND absolute_expires_at > $1 FOR UPDATE), \
    spent AS (\
        UPDATE refresh_tokens SET spent_at = $1, sealed_successor = $2, successor_hash = $3 \
        WHERE hash = $4 AND spent_at IS NULL AND session_id = (SELECT id FROM live) \
        RETURNING session_id), \
    stored AS (INSERT INTO refresh_tokens (hash, session_id, created_at) \
        SELECT $3, session_id, $1 FROM spent), \
    touched AS (UPDATE sessions SET last_used_at = $1, idle_expires_at = $5 \
        WHERE id IN (SELECT session_id FROM spent)) \
    SELECT COUNT(*) FROM spent";

impl PgStore {
    pub(super) async fn rotate_token(
        &self,
        req: &RotateRequest,
    ) -> Result<RotateOutcome, StoreError> {
        let now = to_millis(req.now);
        let fast = sqlx::query(ROTATE_FAST)
            .bind(now)
            .bind(&req.sealed_successor.0)
            .bind(&req.successor.0[..])
            .bind(&req.presented.0[..])
            .bind(to_millis(req.now + req.idle_ttl))
            .bind(req.client_id.as_deref())
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        if let Some(row) = fast {
            return Ok(RotateOutcome::Rotated(session_from_row(&row).map_err(map)?));
        }
        for _ in 0..ATTEMPTS {
            if let Some(outcome) = self.rotate_once(req).await? {
                return Ok(outcome);
            }
        }
        Err(StoreError::Unavailable(
            "the refresh token kept changing during its rotation".into(),
        ))
    }

    /// One attempt; `None` when what the read saw changed before the write.
    async fn rotate_once(&self, req: &RotateRequest) -> Result<Option<RotateOutcome>, StoreError> {
        let now = to_millis(req.now);
        let row = sqlx::query(q::ROTATION_STATE)
            .bind(&req.presented.0[..])
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        let Some(row) = row else {
            return Ok(Some(RotateOutcome::Refused(RefreshError::Invalid)));
        };
        let mut session = session_from_row(&row).map_err(map)?;
        let token = TokenState {
            spent_at: opt_time(&row, "token_spent_at").map_err(map)?,
            successor_spent: opt_time(&row, "successor_spent_at").map_err(map)?.is_some(),
            replays: u32::try_from(row.try_get::<i32, _>("replays").map_err(map)?)
                .unwrap_or(u32::MAX),
        };
        let sealed: Option<Vec<u8>> = row.try_get("sealed_successor").map_err(map)?;
        let client_matches = req
            .client_id
            .as_deref()
            .is_none_or(|c| c == session.client_id);
        let outcome = match decide(token, session.state(), client_matches, req.now, req.grace) {
            Decision::Rotate => {
                session.last_used_at = req.now;
                session.idle_expires_at = req.now + req.idle_ttl;
                let spent: i64 = sqlx::query_scalar(ROTATE)
                    .bind(now)
                    .bind(&req.sealed_successor.0)
                    .bind(&req.successor.0[..])
                    .bind(&req.presented.0[..])
                    .bind(to_millis(session.idle_expires_at))
                    .bind(session.id.as_str())
                    .fetch_one(&self.writer)
                    .await
                    .map_err(map)?;
                if spent != 1 {
                    return Ok(None);
                }
                RotateOutcome::Rotated(session)
            }
            Decision::Replay => {
                let Some(sealed) = sealed else {
                    return Ok(Some(RotateOutcome::Refused(RefreshError::Invalid)));
                };
                let counted = sqlx::query(q::COUNT_REPLAY)
                    .bind(&req.presented.0[..])
                    .bind(i32::try_from(MAX_REPLAYS).unwrap_or(i32::MAX))
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err(map)?;
                if counted.rows_affected() != 1 {
                    return Ok(None);
                }
                RotateOutcome::Replayed(session, SealedSuccessor(sealed))
            }
            Decision::RevokeForReuse => {
                sqlx::query(q::REVOKE_FOR_REUSE)
                    .bind(now)
                    .bind(session.id.as_str())
                    .execute(&self.writer)
                    .await
                    .map_err(map)?;
                tracing::warn!(session_id = %session.id, user_id = %session.user_id,
                    "refresh token reuse detected; session revoked");
                RotateOutcome::Refused(RefreshError::ReuseDetected)
            }
            Decision::Reject(reason) => RotateOutcome::Refused(reason),
        };
        Ok(Some(outcome))
    }
}
