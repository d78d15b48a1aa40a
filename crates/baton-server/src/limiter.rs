//! Failed-login limits: at most N failures per username and M per client IP within a sliding
//! five-minute window. Only wrong passwords and unknown users count; a success clears that
//! username's failures; while a limit holds even the right password is refused.
//!
//! The counters live in this process. Behind a load balancer each instance counts on its own, so
//! the effective limit is per instance.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// The sliding window of the contract.
pub const WINDOW: Duration = Duration::minutes(5);
/// Above this many tracked keys, expired ones are swept before inserting.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
struct Failures {
    by_user: HashMap<String, VecDeque<OffsetDateTime>>,
    by_ip: HashMap<String, VecDeque<OffsetDateTime>>,
}

/// The login limiter.
#[derive(Debug)]
pub struct LoginLimiter {
    user_limit: u32,
    ip_limit: u32,
    failures: Mutex<Failures>,
}

fn prune(log: &mut VecDeque<OffsetDateTime>, now: OffsetDateTime) {
    while log.front().is_some_and(|t| *t + WINDOW <= now) {
        log.pop_front();
    }
}

/// Seconds until the log drops below `limit`, if it is at or above it.
fn blocked_for(
    map: &mut HashMap<String, VecDeque<OffsetDateTime>>,
    key: &str,
    limit: u32,
    now: OffsetDateTime,
) -> Option<u64> {
    let log = map.get_mut(key)?;
    prune(log, now);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 || log.len() < limit {
        return None;
    }
    let release = log[log.len() - limit] + WINDOW;
    Some(
        u64::try_from((release - now).whole_seconds())
            .unwrap_or(0)
            .max(1),
    )
}

fn record(map: &mut HashMap<String, VecDeque<OffsetDateTime>>, key: &str, now: OffsetDateTime) {
    if map.len() > SWEEP_ABOVE {
        map.retain(|_, log| {
            prune(log, now);
            !log.is_empty()
        });
    }
    let log = map.entry(key.to_owned()).or_default();
    prune(log, now);
    log.push_back(now);
}

/// A login attempt in progress. It already counts as a failure, so that concurrent attempts
/// cannot slip past the limit while their passwords are being checked; its outcome then keeps,
/// clears or withdraws that failure.
#[derive(Debug)]
#[must_use = "report the attempt's outcome"]
pub struct Attempt {
    user_key: String,
    ip: Option<String>,
    at: OffsetDateTime,
}

fn withdraw(map: &mut HashMap<String, VecDeque<OffsetDateTime>>, key: &str, at: OffsetDateTime) {
    if let Some(log) = map.get_mut(key) {
        if let Some(i) = log.iter().rposition(|t| *t == at) {
            log.remove(i);
        }
        if log.is_empty() {
            map.remove(key);
        }
    }
}

impl LoginLimiter {
    /// A limiter with these limits per window (0 turns a limit off).
    pub fn new(user_limit: u32, ip_limit: u32) -> Self {
        Self {
            user_limit,
            ip_limit,
            failures: Mutex::new(Failures::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts an attempt, or answers `Err(retry_after_secs)` while the username or the IP is
    /// over its limit.
    pub fn begin(
        &self,
        user_key: &str,
        ip: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Attempt, u64> {
        let mut f = self.lock();
        let user = blocked_for(&mut f.by_user, user_key, self.user_limit, now);
        let by_ip = ip.and_then(|ip| blocked_for(&mut f.by_ip, ip, self.ip_limit, now));
        if let Some(retry_after) = user.max(by_ip) {
            return Err(retry_after);
        }
        if self.user_limit > 0 {
            record(&mut f.by_user, user_key, now);
        }
        if let (Some(ip), true) = (ip, self.ip_limit > 0) {
            record(&mut f.by_ip, ip, now);
        }
        Ok(Attempt {
            user_key: user_key.to_owned(),
            ip: ip.map(str::to_owned),
            at: now,
        })
    }

    /// A wrong password or unknown user: the failure stays counted.
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }

    /// A successful login clears the username's failures (not the IP's earlier ones).
    pub fn succeeded(&self, attempt: Attempt) {
        let mut f = self.lock();
        f.by_user.remove(&attempt.user_key);
        if let Some(ip) = &attempt.ip {
            withdraw(&mut f.by_ip, ip, attempt.at);
        }
    }

    /// The attempt ended for another reason (the database was away): it does not count.
    pub fn abandoned(&self, attempt: Attempt) {
        let mut f = self.lock();
        withdraw(&mut f.by_user, &attempt.user_key, attempt.at);
        if let Some(ip) = &attempt.ip {
            withdraw(&mut f.by_ip, ip, attempt.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    #[test]
    fn the_user_limit_holds_for_five_minutes_after_the_oldest_failure() {
        let l = LoginLimiter::new(3, 100);
        for i in 0..3 {
            let a = l.begin("alice", Some("1.1.1.1"), T0 + Duration::seconds(i));
            l.failed(a.expect("under the limit"));
        }
        assert_eq!(
            l.begin("alice", None, T0 + Duration::seconds(10)).err(),
            Some(290)
        );
        assert!(
            l.begin("bob", None, T0).is_ok(),
            "other users are unaffected"
        );
        assert!(l.begin("alice", None, T0 + Duration::seconds(300)).is_ok());
    }

    #[test]
    fn concurrent_attempts_cannot_slip_past_the_limit() {
        let l = LoginLimiter::new(3, 100);
        let pending: Vec<_> = (0..3)
            .map(|_| l.begin("alice", None, T0).expect("room"))
            .collect();
        assert!(
            l.begin("alice", None, T0).is_err(),
            "three checks in flight fill the limit"
        );
        for a in pending {
            l.abandoned(a);
        }
        assert!(
            l.begin("alice", None, T0).is_ok(),
            "abandoned attempts do not count"
        );
    }

    #[test]
    fn a_success_clears_the_username_but_not_the_ip() {
        let l = LoginLimiter::new(2, 3);
        l.failed(l.begin("alice", Some("ip"), T0).expect("room"));
        l.succeeded(l.begin("alice", Some("ip"), T0).expect("room"));
        assert!(l.begin("alice", Some("other"), T0).is_ok());
        l.failed(l.begin("carol", Some("ip"), T0).expect("room"));
        l.failed(l.begin("dave", Some("ip"), T0).expect("room"));
        assert!(
            l.begin("erin", Some("ip"), T0).is_err(),
            "three failures from one IP"
        );
    }
}
