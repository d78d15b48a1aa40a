//! The rotation on SQLite, run by the writer thread inside its transaction: load the presented
//! token, its successor's state and its session (primary-key lookups only), ask [`decide`], and
//! apply the answer. The single writer makes the read and the writes one atomic step.

use super::rows::{execute, opt_time, query_one};
use super::sessions::session_from_row;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::SealedSuccessor;
use baton_core::rotation::{decide, Decision, Presenter, TokenState, MAX_REPLAYS};
use baton_core::store::{RotateOutcome, RotateRequest, StoreError};
use baton_core::RefreshError;
use rusqlite::{params, Connection};

/// One rotation, inside the writer's transaction: load, ask [`decide`], apply.
pub(super) fn rotate_in(
    conn: &Connection,
    req: &RotateRequest,
) -> Result<RotateOutcome, StoreError> {
    let now = to_millis(req.now);
    let loaded = query_one(conn, q::ROTATION_STATE, [&req.presented.0[..]], |row| {
        let token = TokenState {
            spent_at: opt_time(row, "token_spent_at")?,
            successor_spent: row.get::<_, Option<i64>>("successor_spent_at")?.is_some(),
            replays: u32::try_from(row.get::<_, i64>("replays")?).unwrap_or(u32::MAX),
        };
        let sealed: Option<Vec<u8>> = row.get("sealed_successor")?;
        let token_bound: bool = row.get("token_dpop_bound")?;
        Ok((token, sealed, session_from_row(row)?, token_bound))
    })?;
    let Some((token, sealed, mut session, token_bound)) = loaded else {
        return Ok(RotateOutcome::Refused(RefreshError::Invalid));
    };
    let presenter = Presenter::of(
        &session.client_id,
        session.dpop_jkt.as_deref(),
        req.client_id.as_deref(),
        req.dpop_jkt.as_deref(),
    )
    .issued_bound(token_bound);
    Ok(
        match decide(token, session.state(), presenter, req.now, req.grace) {
            Decision::Rotate => {
                let spent = execute(
                    conn,
                    q::SPEND_TOKEN,
                    params![now, &req.successor.0[..], &req.presented.0[..]],
                )?;
                if spent != 1 {
                    // The single writer makes this unreachable; should it ever happen, change
                    // nothing rather than fork the chain.
                    return Err(StoreError::Unavailable(
                        "the refresh token changed during its rotation".into(),
                    ));
                }
                execute(
                    conn,
                    q::INSERT_SUCCESSOR,
                    params![
                        &req.successor.0[..],
                        session.id.as_str(),
                        now,
                        req.sealed_successor.0,
                        session.dpop_jkt.is_some() || req.bind_jkt.is_some()
                    ],
                )?;
                execute(conn, q::TOUCH_SESSION, params![now, session.id.as_str()])?;
                if let (Some(jkt), None) = (&req.bind_jkt, &session.dpop_jkt) {
                    execute(conn, q::BIND_SESSION_KEY, params![jkt, session.id.as_str()])?;
                    session.dpop_jkt = Some(jkt.clone());
                }
                // The successor is now the newest token: the session's last use is now, its
                // idle end its idle timeout later.
                let idle_ttl = session.idle_expires_at - session.last_used_at;
                session.last_used_at = req.now;
                session.idle_expires_at = req.now + idle_ttl;
                RotateOutcome::Rotated(session)
            }
            Decision::Replay => match sealed {
                Some(sealed)
                    if execute(
                        conn,
                        q::COUNT_REPLAY,
                        params![&req.presented.0[..], MAX_REPLAYS, now],
                    )? == 1 =>
                {
                    RotateOutcome::Replayed(session, SealedSuccessor(sealed))
                }
                _ => RotateOutcome::Refused(RefreshError::Invalid),
            },
            Decision::RevokeForReuse => {
                tracing::warn!(session_id = %session.id, user_id = %session.user_id,
                    "refresh token reuse detected; session revoked");
                execute(conn, q::REVOKE_FOR_REUSE, params![now, session.id.as_str()])?;
                RotateOutcome::Refused(RefreshError::ReuseDetected)
            }
            Decision::Reject(reason) => RotateOutcome::Refused(reason),
        },
    )
}
