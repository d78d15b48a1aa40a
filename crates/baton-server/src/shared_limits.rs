//! Failed-login limits counted in the database, so that every instance on one PostgreSQL
//! database counts the same failures (with the counters in memory, N instances would allow N
//! times the attempts). Same rules as [`crate::limiter`]: attempts in flight count against the
//! limit until they finish, so however the attempts are spread over instances, at most `limit`
//! of them reach a password check before the limit is known to hold. An attempt that must wait
//! asks again after a short, growing pause (other instances cannot wake it). Within one instance
//! only the first in line per username asks ([`crate::limits::Limits`]), so the rest keep their
//! arrival order.

use crate::limiter::{ip_key, Refusal, WINDOW};
use aws_lc_rs::digest::{digest, SHA256};
use baton_core::limits::{LimitKey, LimitOutcome, LimitVerdict};
use baton_core::store::Store;
use baton_core::Clock;
use std::sync::Arc;
use std::time::Duration;

/// Limits kept in the database.
pub struct SharedLimiter {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    user_limit: u32,
    ip_limit: u32,
    /// Keeps this limiter's counters apart from another's (logins, registrations).
    namespace: &'static str,
    /// Refusals seen, by the digest of their keys, until they lift: a limit only lifts with
    /// time, so a flood of refused attempts costs no database round trip. Bounded.
    refused: std::sync::Mutex<std::collections::HashMap<[u8; 32], time::OffsetDateTime>>,
}

/// Most refusals remembered; past it the memory starts over.
const REFUSALS_KEPT: usize = 10_000;

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("namespace", &self.namespace)
            .field("user_limit", &self.user_limit)
            .field("ip_limit", &self.ip_limit)
            .finish_non_exhaustive()
    }
}

fn key(namespace: &str, kind: &str, value: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let text = format!("{namespace}\u{0}{kind}\u{0}{value}");
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    out
}

impl SharedLimiter {
    /// Limits of `user_limit` failures per username and `ip_limit` per client IP (0 turns one
    /// off) in the store's tables, named apart by `namespace`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        user_limit: u32,
        ip_limit: u32,
        namespace: &'static str,
    ) -> Self {
        Self {
            store,
            clock,
            user_limit,
            ip_limit,
            namespace,
            refused: std::sync::Mutex::default(),
        }
    }

    /// The failures allowed per username and per IP (0: no limit).
    pub fn limits(&self) -> (u32, u32) {
        (self.user_limit, self.ip_limit)
    }

    fn refusals(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<[u8; 32], time::OffsetDateTime>> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keys(&self, user_key: &str, ip: Option<&str>) -> Vec<LimitKey> {
        let mut keys = vec![LimitKey {
            key: key(self.namespace, "user", user_key),
            limit: self.user_limit,
            cleared_by_success: true,
        }];
        if let Some(ip) = ip {
            keys.push(LimitKey {
                key: key(self.namespace, "ip", &ip_key(ip)),
                limit: self.ip_limit,
                cleared_by_success: false,
            });
        }
        keys.retain(|k| k.limit > 0);
        keys
    }

    /// Starts an attempt: at once when there is room, after others in flight finish when there
    /// is not (waiting until `deadline` at most), or never while a limit holds.
    pub async fn begin(
        &self,
        user_key: &str,
        ip: Option<&str>,
        deadline: tokio::time::Instant,
    ) -> Result<SharedAttempt, Refusal> {
        let keys = self.keys(user_key, ip);
        if keys.is_empty() {
            // Every limit is off: nothing to count, nothing to ask the database.
            return Ok(SharedAttempt {
                store: Arc::clone(&self.store),
                clock: Arc::clone(&self.clock),
                keys,
                id: String::new(),
                open: false,
            });
        }
        let mut all = Vec::with_capacity(keys.len() * 32);
        for k in &keys {
            all.extend_from_slice(&k.key);
        }
        let mut combination = [0u8; 32];
        combination.copy_from_slice(digest(&SHA256, &all).as_ref());
        let now = self.clock.now();
        if let Some(until) = self.refusals().get(&combination).copied() {
            if until > now {
                let secs = u64::try_from((until - now).whole_seconds()).unwrap_or(0);
                return Err(Refusal::TooManyFailures {
                    retry_after: secs.max(1),
                });
            }
        }
        let mut pause = Duration::from_millis(10);
        loop {
            let verdict = self
                .store
                .limit_begin(&keys, self.clock.now(), WINDOW)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "the login limits could not be read");
                    Refusal::Busy
                })?;
            match verdict {
                LimitVerdict::Go(id) => {
                    return Ok(SharedAttempt {
                        store: Arc::clone(&self.store),
                        clock: Arc::clone(&self.clock),
                        keys,
                        id,
                        open: true,
                    })
                }
                LimitVerdict::Refuse(retry_after) => {
                    let until = self.clock.now()
                        + time::Duration::seconds(i64::try_from(retry_after).unwrap_or(300));
                    let mut refused = self.refusals();
                    if refused.len() >= REFUSALS_KEPT {
                        refused.clear();
                    }
                    refused.insert(combination, until);
                    return Err(Refusal::TooManyFailures { retry_after });
                }
                LimitVerdict::Wait => {
                    if tokio::time::Instant::now() + pause > deadline {
                        return Err(Refusal::Busy);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    /// Forgets failures older than the window and attempts abandoned by stopped instances.
    pub async fn purge(&self) -> Result<u64, baton_core::store::StoreError> {
        self.store.limit_purge(self.clock.now() - WINDOW).await
    }
}

/// An attempt under way, reserved in the database until its outcome is reported; dropped
/// without one (the client went away), it is abandoned in the background.
#[must_use = "report the attempt's outcome"]
pub struct SharedAttempt {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Vec<LimitKey>,
    id: String,
    open: bool,
}

impl std::fmt::Debug for SharedAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedAttempt")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SharedAttempt {
    /// Reports how the attempt ended.
    pub async fn finish(mut self, outcome: LimitOutcome) {
        if self.keys.is_empty() {
            return;
        }
        self.open = false;
        let now = self.clock.now();
        if let Err(e) = self
            .store
            .limit_finish(&self.id, &self.keys, outcome, now)
            .await
        {
            tracing::warn!(error = %e, "a login attempt's outcome could not be recorded");
        }
    }
}

impl Drop for SharedAttempt {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let (store, keys, id, now) = (
            Arc::clone(&self.store),
            std::mem::take(&mut self.keys),
            std::mem::take(&mut self.id),
            self.clock.now(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = store
                    .limit_finish(&id, &keys, LimitOutcome::Abandoned, now)
                    .await;
            });
        }
    }
}
