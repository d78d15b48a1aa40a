//! Failed-login limits: at most N failures per username and M per client IP within a sliding
//! five-minute window. Only wrong passwords and unknown users count; a success clears that
//! username's failures; while a limit holds even the right password is refused.
//!
//! The limit counts failures, not concurrency. An attempt whose password is being checked is
//! "in flight"; a username (or IP) with `failures + in_flight` at its limit makes the next
//! attempt wait for one in flight to finish instead of refusing it. So however many attempts
//! arrive at once, at most `limit` of them reach a password check before the limit is known to
//! hold, and 64 simultaneous correct logins of one user all succeed.
//!
//! Usernames are kept as a SHA-256 of their comparison key, so a long made-up name costs no more
//! than a short one. An entry lives only while it has failures inside the window or attempts in
//! flight, and the number of failures is bounded by the password-hashing rate.
//!
//! These counters live in this process, for SQLite's single instance; on PostgreSQL every
//! instance counts in the database instead ([`crate::shared_limits`]).

use aws_lc_rs::digest::{digest, SHA256};
use baton_core::Clock;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;

/// The sliding window of the contract.
pub const WINDOW: Duration = Duration::minutes(5);
/// Longest an attempt waits for others of the same username or IP to finish.
pub(crate) const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Entries are swept of expired failures when the map grows past this (then twice its size).
const FIRST_SWEEP: usize = 10_000;

#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<OffsetDateTime>,
    in_flight: u32,
    /// Tickets of the attempts waiting for this key, first come first served.
    waiting: VecDeque<u64>,
}

impl Entry {
    fn prune(&mut self, now: OffsetDateTime) {
        while self.failures.front().is_some_and(|t| *t + WINDOW <= now) {
            self.failures.pop_front();
        }
    }

    fn idle(&self) -> bool {
        self.failures.is_empty() && self.in_flight == 0 && self.waiting.is_empty()
    }

    /// Whether `ticket` may go before the attempts waiting for this key: it is first in line,
    /// or nobody waits.
    fn turn_of(&self, ticket: u64) -> bool {
        self.waiting.front().is_none_or(|t| *t == ticket)
    }
}

/// Failures and attempts in flight per key, swept now and then rather than on every insert.
#[derive(Debug)]
struct Counters<K> {
    entries: HashMap<K, Entry>,
    next_sweep: usize,
}

impl<K: Hash + Eq + Clone> Counters<K> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
            next_sweep: FIRST_SWEEP,
        }
    }

    fn entry(&mut self, key: &K, now: OffsetDateTime) -> &mut Entry {
        if self.entries.len() >= self.next_sweep {
            self.entries.retain(|_, e| {
                e.prune(now);
                !e.idle()
            });
            self.next_sweep = (self.entries.len() * 2).max(FIRST_SWEEP);
        }
        let entry = self.entries.entry(key.clone()).or_default();
        entry.prune(now);
        entry
    }

    fn tidy(&mut self, key: &K) {
        if self.entries.get(key).is_some_and(Entry::idle) {
            self.entries.remove(key);
        }
    }
}

/// The key an address counts under: an IPv6 client by its /64 (one customer's network, in
/// which it can pick any address), an IPv4 client by its address.
pub fn ip_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let prefix = u128::from(v6) & !(u128::MAX >> 64);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| ip.into(), |v4| v4.to_string()),
        _ => ip.chars().take(64).collect(),
    }
}

/// What one limit says about a new attempt.
enum Verdict {
    Go,
    Wait,
    Refuse(u64),
}

fn verdict(entry: &Entry, limit: u32, now: OffsetDateTime) -> Verdict {
    let limit_n = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 {
        return Verdict::Go;
    }
    if entry.failures.len() >= limit_n {
        let release = entry.failures[entry.failures.len() - limit_n] + WINDOW;
        let secs = u64::try_from((release - now).whole_seconds()).unwrap_or(0);
        return Verdict::Refuse(secs.max(1));
    }
    if entry.failures.len() + usize::try_from(entry.in_flight).unwrap_or(usize::MAX) < limit_n {
        Verdict::Go
    } else {
        Verdict::Wait
    }
}

/// Why an attempt may not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A limit holds: `429` with `Retry-After` of this many seconds.
    TooManyFailures {
        /// Seconds until an attempt may succeed.
        retry_after: u64,
    },
    /// Others of the same username or IP kept the attempt waiting too long: `503`.
    Busy,
}

#[derive(Debug)]
struct State {
    by_user: Counters<[u8; 32]>,
    by_ip: Counters<String>,
    next_ticket: u64,
}

/// The login limiter.
pub struct LoginLimiter {
    user_limit: u32,
    ip_limit: u32,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    changed: Notify,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("user_limit", &self.user_limit)
            .field("ip_limit", &self.ip_limit)
            .finish_non_exhaustive()
    }
}

/// A login attempt whose password is being checked. Report its outcome; dropped without one
/// (the client went away), it counts as abandoned.
#[derive(Debug)]
#[must_use = "report the attempt's outcome"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    user: [u8; 32],
    ip: Option<String>,
    open: bool,
}

impl LoginLimiter {
    /// A limiter with these limits per window (0 turns a limit off), reading time from `clock`.
    pub fn new(user_limit: u32, ip_limit: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            user_limit,
            ip_limit,
            clock,
            state: Mutex::new(State {
                by_user: Counters::new(),
                by_ip: Counters::new(),
                next_ticket: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts an attempt for the username with comparison key `user_key` from `ip`: at once when
    /// there is room, after others in flight finish when there is not (in the order the attempts
    /// for that username arrived), or never while a limit holds.
    pub async fn begin(&self, user_key: &str, ip: Option<&str>) -> Result<Attempt<'_>, Refusal> {
        let mut user = [0u8; 32];
        user.copy_from_slice(digest(&SHA256, user_key.as_bytes()).as_ref());
        let ip = ip.map(ip_key);
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        let mut place = Place {
            limiter: self,
            user,
            ticket: None,
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(outcome) = self.try_begin(&mut place, ip.as_deref()) {
                return outcome.map(|()| Attempt {
                    limiter: self,
                    user,
                    ip: ip.clone(),
                    open: true,
                });
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(Refusal::Busy);
            }
        }
    }

    /// `Some(Ok)` when the attempt may go (and is now in flight), `Some(Err)` when refused,
    /// `None` when it must wait (it then holds a place in the username's line).
    fn try_begin(&self, place: &mut Place<'_>, ip: Option<&str>) -> Option<Result<(), Refusal>> {
        let now = self.clock.now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let user = &place.user;
        let ticket = *place.ticket.get_or_insert_with(|| {
            state.next_ticket += 1;
            state.next_ticket
        });
        let entry = state.by_user.entry(user, now);
        let my_turn = entry.turn_of(ticket);
        let by_user = verdict(entry, self.user_limit, now);
        let by_ip = match ip {
            Some(ip) => verdict(state.by_ip.entry(&ip.to_owned(), now), self.ip_limit, now),
            None => Verdict::Go,
        };
        let outcome = match (by_user, by_ip) {
            (Verdict::Refuse(a), Verdict::Refuse(b)) => Some(Err(a.max(b))),
            (Verdict::Refuse(a), _) | (_, Verdict::Refuse(a)) => Some(Err(a)),
            (Verdict::Go, Verdict::Go) if my_turn => Some(Ok(())),
            _ => None,
        };
        let entry = state.by_user.entry(user, now);
        match outcome {
            Some(Ok(())) => {
                entry.in_flight += 1;
                entry.waiting.retain(|t| *t != ticket);
                place.ticket = None;
                if let Some(ip) = ip {
                    state.by_ip.entry(&ip.to_owned(), now).in_flight += 1;
                }
                // The next in line may have room too.
                self.changed.notify_waiters();
                Some(Ok(()))
            }
            Some(Err(retry_after)) => {
                entry.waiting.retain(|t| *t != ticket);
                place.ticket = None;
                state.by_user.tidy(user);
                if let Some(ip) = ip {
                    state.by_ip.tidy(&ip.to_owned());
                }
                self.changed.notify_waiters();
                Some(Err(Refusal::TooManyFailures { retry_after }))
            }
            None => {
                if !entry.waiting.contains(&ticket) {
                    entry.waiting.push_back(ticket);
                }
                if let Some(ip) = ip {
                    state.by_ip.tidy(&ip.to_owned());
                }
                None
            }
        }
    }

    /// Gives up a place in a username's line (the attempt was refused, timed out or dropped).
    fn leave(&self, user: &[u8; 32], ticket: u64) {
        {
            let mut state = self.lock();
            if let Some(entry) = state.by_user.entries.get_mut(user) {
                entry.waiting.retain(|t| *t != ticket);
            }
            state.by_user.tidy(user);
        }
        self.changed.notify_waiters();
    }

    fn finish(&self, attempt: &mut Attempt<'_>, outcome: Outcome) {
        if !attempt.open {
            return;
        }
        attempt.open = false;
        let now = self.clock.now();
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            let user = state.by_user.entry(&attempt.user, now);
            user.in_flight = user.in_flight.saturating_sub(1);
            match outcome {
                Outcome::Failed if self.user_limit > 0 => user.failures.push_back(now),
                Outcome::Succeeded => user.failures.clear(),
                _ => {}
            }
            state.by_user.tidy(&attempt.user);
            if let Some(ip) = &attempt.ip {
                let entry = state.by_ip.entry(ip, now);
                entry.in_flight = entry.in_flight.saturating_sub(1);
                if matches!(outcome, Outcome::Failed) && self.ip_limit > 0 {
                    entry.failures.push_back(now);
                }
                state.by_ip.tidy(ip);
            }
        }
        self.changed.notify_waiters();
    }
}

/// An attempt's place in its username's line while it waits; leaving it (however the wait ends)
/// lets the next one go.
struct Place<'a> {
    limiter: &'a LoginLimiter,
    user: [u8; 32],
    ticket: Option<u64>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.limiter.leave(&self.user, ticket);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Failed,
    Succeeded,
    Abandoned,
}

impl Attempt<'_> {
    /// A wrong password or unknown user: counts as a failure for the username and the IP.
    pub fn failed(mut self) {
        self.limiter.finish(&mut self, Outcome::Failed);
    }

    /// A successful login clears the username's failures (not the IP's).
    pub fn succeeded(mut self) {
        self.limiter.finish(&mut self, Outcome::Succeeded);
    }

    /// The attempt ended for another reason (the database was away): it does not count.
    pub fn abandoned(mut self) {
        self.limiter.finish(&mut self, Outcome::Abandoned);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let limiter = self.limiter;
        limiter.finish(self, Outcome::Abandoned);
    }
}

#[cfg(test)]
mod tests;
