//! The rotation on PostgreSQL: one statement in the common case instead of a locked transaction
//! of six round trips, writing two token rows and nothing else.
//!
//! A token rotates only through [`qp::ROTATE_FAST`]: it states in SQL exactly the case in which
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

use super::rows::opt_time;
use super::sessions::session_from_row;
use super::PgStore;
use crate::error::map;
use crate::queries as q;
use crate::queries::postgres as qp;
use baton_core::clock::to_millis;
use baton_core::refresh::SealedSuccessor;
use baton_core::rotation::{decide, Decision, Presenter, TokenState, MAX_REPLAYS};
use baton_core::store::{RotateOutcome, RotateRequest, SessionRecord, StoreError};
use baton_core::RefreshError;
use sqlx::Row as _;

/// How many times a rotation reads again after losing a race before answering `503`.
const ATTEMPTS: usize = 4;

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

    /// [`qp::ROTATE_FAST`]: the updated session when the token rotated, `None` when it did not.
    async fn rotate_if_live(
        &self,
        req: &RotateRequest,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(qp::ROTATE_FAST)
            .bind(to_millis(req.now))
            .bind(&req.successor.0[..])
            .bind(&req.presented.0[..])
            .bind(req.client_id.as_deref())
            .bind(&req.sealed_successor.0)
            .bind(req.dpop_jkt.as_deref())
            .bind(req.bind_jkt.as_deref())
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
        let presenter = Presenter::of(
            &session.client_id,
            session.dpop_jkt.as_deref(),
            req.client_id.as_deref(),
            req.dpop_jkt.as_deref(),
        )
        .issued_bound(row.try_get("token_dpop_bound").map_err(map)?);
        let outcome = match decide(token, session.state(), presenter, req.now, req.grace) {
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
