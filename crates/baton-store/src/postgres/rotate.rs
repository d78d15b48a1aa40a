//! The rotation on PostgreSQL: one statement in the common case instead of a locked transaction
//! of six round trips, writing two token rows and nothing else.
//!
//! A token rotates only through [`ROTATE_FAST`]: it states in SQL exactly the case in which
//! [`decide`] answers *rotate* (an unspent token of a live session presented by its own client),
//! locks the session first, and rotates in the same statement. When it changes nothing, the
//! token is read and [`decide`] judges it: a replay is counted only if its successor is still
//! unspent, the session live and the cap not reached (one conditional statement); a reuse
//! revokes the session; a refusal changes nothing. If the read says *rotate* after all, or a conditional write
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

/// The whole rotation when [`decide`] would answer *rotate*: the token is unspent (`$3`), its
/// session not revoked, before its absolute end and its idle end at `$1` (the token is the
/// session's newest, so the idle end is its issue time plus the session's idle timeout), and
/// issued to the presenting client (`$4`, or any when `NULL`). The session row is locked first
/// (`FOR NO KEY UPDATE`: a revocation committing meanwhile is waited for and seen), then the
/// token is spent (naming its successor `$2`) and the successor stored with its sealed copy
/// (`$5`). The session row itself is written only when its checkpoint of the last use is due
/// (`TOUCH_SESSION`), so spending and storing are the whole write in the common case: two token
/// rows, the spent one updated in place (no indexed column changes). The session comes back as
/// it now stands, or no row when any condition fails (nothing is then changed).
const ROTATE_FAST: &str = "WITH live AS MATERIALIZED (\
        SELECT s.id, s.user_id, s.client_id, s.created_at, \
        COALESCE(s.idle_ttl, s.idle_expires_at - s.last_used_at) AS idle_ttl, \
        s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at \
        FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
        WHERE t.hash = $3 AND t.spent_at IS NULL AND s.revoked_at IS NULL \
        AND s.absolute_expires_at > $1 \
        AND t.created_at + COALESCE(s.idle_ttl, s.idle_expires_at - s.last_used_at) > $1 \
        AND ($4::text IS NULL OR s.client_id = $4) FOR NO KEY UPDATE OF s), \
    spent AS (\
        UPDATE refresh_tokens SET spent_at = $1, successor_hash = $2 \
        WHERE hash = $3 AND spent_at IS NULL AND session_id = (SELECT id FROM live) \
        RETURNING session_id), \
    stored AS (INSERT INTO refresh_tokens (hash, session_id, created_at, sealed) \
        SELECT $2, session_id, $1, $5 FROM spent), \
    touched AS (UPDATE sessions SET last_used_at = $1, idle_expires_at = $1 + live.idle_ttl \
        FROM live JOIN spent ON spent.session_id = live.id WHERE sessions.id = live.id \
        AND sessions.last_used_at + LEAST(live.idle_ttl / 16, 3600000) < $1) \
    SELECT s.id, s.user_id, u.username, s.client_id, s.created_at, \
        $1::bigint AS last_used_at, s.idle_ttl, \
        s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at \
    FROM live s JOIN spent ON spent.session_id = s.id JOIN users u ON u.id = s.user_id";

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
            .bind(&req.successor.0[..])
            .bind(&req.presented.0[..])
            .bind(req.client_id.as_deref())
            .bind(&req.sealed_successor.0)
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
