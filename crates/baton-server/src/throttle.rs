//! Events recorded at most once per key and window: a client that keeps retrying while a login
//! limit holds would otherwise add an audit row per refused request.

use aws_lc_rs::digest::{digest, SHA256};
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// Most keys remembered; past it the memory starts over (a few more events get recorded).
const KEPT: usize = 10_000;

/// Remembers when each key was last let through.
#[derive(Debug, Default)]
pub struct Throttle {
    seen: Mutex<HashMap<[u8; 32], OffsetDateTime>>,
}

impl Throttle {
    /// Whether `key` may be recorded now: not within `window` of the last time it was.
    pub fn allow(&self, key: &str, now: OffsetDateTime, window: Duration) -> bool {
        let mut id = [0u8; 32];
        id.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(&id).is_some_and(|last| now - *last < window) {
            return false;
        }
        if seen.len() >= KEPT {
            seen.clear();
        }
        seen.insert(id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_key_passes_once_per_window() {
        let t = Throttle::default();
        let now = datetime!(2026-01-01 0:00 UTC);
        let window = Duration::minutes(5);
        assert!(t.allow("alice", now, window));
        assert!(!t.allow("alice", now + Duration::minutes(4), window));
        assert!(t.allow("bob", now, window));
        assert!(t.allow("alice", now + Duration::minutes(5), window));
    }
}
