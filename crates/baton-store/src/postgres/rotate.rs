//! The rotation on PostgreSQL: one statement in the common case instead of a locked transaction
//! of six round trips.
//!
//! A token rotates only through [`ROTATE_FAST`]: it states in SQL exactly the case in which
//! [`decide`] answers *rotate* (an unspent token of a live session presented by its own client),
//! locks the session first, and rotates in the same statement. When it changes nothing, the token
//! is read and [`decide`] judges it: a replay is counted only if its successor is still unspent,
//! the session live and the cap not reached (one conditional statement); a reuse revokes the
//! session; a refusal changes nothing. If the read says *rotate* after all, or a conditional write
//! finds its condition gone, something changed in between (another refresh, here or on another
//! instance; a logout): the rotation starts again and sees what happened. Under `READ COMMITTED`
//! a statement that waited for a row lock re-checks its conditions on the row as committed, which
//! is what makes this compare-and-set sound. The conformance suite runs every rule's case through
//! it, so the SQL form of *rotate* cannot drift from [`decide`] unnoticed.

use super::store::{opt_time, session_from_row};
use super::PgStore;
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::SealedSuccessor;
use baton_core::rotation::{decide, Decision, TokenState, MAX_REPLAYS};
use baton_core::store::{RotateOutcome, RotateRequest, SessionRecord, StoreError};
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

impl PgStore {
    pub(super) async fn rotate_token(
        &self,
        req: &RotateRequest,
    ) -> Result<RotateOutcome, StoreError> {
        for _ in 0..ATTEMPTS {
            if let Some(session) = self.rotate_if_live(req).await? {
                return Ok(RotateOutcome::Rotated(session));
            }
            if let Some(outcome) = self.rotate_once(req).await? {
                return Ok(outcome);
            }
        }
        Err(StoreError::Unavailable(
            "the refresh token kept changing during its rotation".into(),
        ))
    }

    /// [`ROTATE_FAST`]: the updated session when the token rotated, `None` when it did not.
    async fn rotate_if_live(
        &self,
        req: &RotateRequest,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(ROTATE_FAST)
            .bind(to_millis(req.now))
            .bind(&req.sealed_successor.0)
            .bind(&req.successor.0[..])
            .bind(&req.presented.0[..])
            .bind(to_millis(req.now + req.idle_ttl))
            .bind(req.client_id.as_deref())
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.as_ref().map(session_from_row).transpose().map_err(map)
    }

    /// Reads the token and carries out what [`decide`] says when it is not *rotate*; `None` when
    /// it is (the fast path did not rotate, so the state changed since: try again) or when what
    /// the read saw changed before the write.
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
        let session = session_from_row(&row).map_err(map)?;
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
            Decision::Rotate => return Ok(None),
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
