//! The shared failed-login limits on PostgreSQL: [`LimitStore`] for [`PgStore`].

use super::{begin_write, PgStore};
use crate::error::map;
use crate::new_attempt_id;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::limits::{
    combine, judge, Judgement, LimitKey, LimitOutcome, LimitVerdict, STALE_ATTEMPT,
};
use baton_core::store::{LimitStore, StoreError};
use time::{Duration, OffsetDateTime};

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
            sqlx::query(q::postgres::LOCK_LIMIT_KEY)
                .bind(LIMIT_LOCK_SPACE)
                .bind(lock)
                .execute(&mut **tx)
                .await
                .map_err(map)?;
        } else {
            let got: bool = sqlx::query_scalar(q::postgres::TRY_LOCK_LIMIT_KEY)
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

#[async_trait::async_trait]
impl LimitStore for PgStore {
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
                let id = new_attempt_id()?;
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
}
