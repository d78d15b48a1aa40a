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

    /// `Some(retry_after_secs)` while the username or the IP is over its limit.
    pub fn check(&self, user_key: &str, ip: Option<&str>, now: OffsetDateTime) -> Option<u64> {
        let mut f = self.lock();
        let user = blocked_for(&mut f.by_user, user_key, self.user_limit, now);
        let ip = ip.and_then(|ip| blocked_for(&mut f.by_ip, ip, self.ip_limit, now));
        user.max(ip)
    }

    /// Counts a wrong password or unknown user.
    pub fn failed(&self, user_key: &str, ip: Option<&str>, now: OffsetDateTime) {
        let mut f = self.lock();
        if self.user_limit > 0 {
            record(&mut f.by_user, user_key, now);
        }
        if let (Some(ip), true) = (ip, self.ip_limit > 0) {
            record(&mut f.by_ip, ip, now);
        }
    }

    /// A successful login clears that username's failures.
    pub fn succeeded(&self, user_key: &str) {
        self.lock().by_user.remove(user_key);
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
            assert_eq!(l.check("alice", Some("1.1.1.1"), T0), None);
            l.failed("alice", Some("1.1.1.1"), T0 + Duration::seconds(i));
        }
        assert_eq!(
            l.check("alice", None, T0 + Duration::seconds(10)),
            Some(290)
        );
        assert_eq!(l.check("bob", None, T0), None, "other users are unaffected");
        assert_eq!(l.check("alice", None, T0 + Duration::seconds(300)), None);
    }

    #[test]
    fn a_success_clears_the_username_but_not_the_ip() {
        let l = LoginLimiter::new(2, 3);
        l.failed("alice", Some("ip"), T0);
        l.failed("alice", Some("ip"), T0);
        l.succeeded("alice");
        assert_eq!(l.check("alice", Some("other"), T0), None);
        l.failed("carol", Some("ip"), T0);
        assert!(
            l.check("dave", Some("ip"), T0).is_some(),
            "three failures from one IP"
        );
    }
}
