//! The shared failed-login limits on SQLite: [`LimitStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, query_one};
use super::SqliteStore;
use crate::new_attempt_id;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::limits::{
    combine, judge, Judgement, LimitKey, LimitOutcome, LimitVerdict, STALE_ATTEMPT,
};
use baton_core::store::{LimitStore, StoreError};
use rusqlite::params;
use time::{Duration, OffsetDateTime};

#[async_trait::async_trait]
impl LimitStore for SqliteStore {
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
}
