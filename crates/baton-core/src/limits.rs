//! Failed-login limits kept in the database, for several instances that must count together
//! (PostgreSQL). The rules are those of the server's in-memory limiter: at most `limit` failures
//! per key within a sliding window; an attempt goes ahead only while `failures + in flight` is
//! under the limit, waits while it is not but no limit holds yet, and is refused while one does.
//! Keys are fixed-size digests (of a username's comparison key or a client address), so a
//! made-up name costs no more than a short one.

use time::{Duration, OffsetDateTime};

/// A reservation older than this belongs to an instance that stopped before finishing it.
pub const STALE_ATTEMPT: Duration = Duration::seconds(60);

/// One counter an attempt is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitKey {
    /// SHA-256 of the counter's name.
    pub key: [u8; 32],
    /// Failures allowed in the window; 0 turns this counter off.
    pub limit: u32,
    /// Whether a successful attempt clears its failures (a username's, not an address's).
    pub cleared_by_success: bool,
}

/// What a counter says about a new attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Room for it.
    Go,
    /// At the limit with attempts in flight: wait for one to finish.
    Wait,
    /// A limit holds for this many more seconds.
    Refuse(u64),
}

/// Judges one counter: `failures` are the failure times (Unix milliseconds) inside the window,
/// newest first, at most `limit` of them; `in_flight` the attempts under way.
pub fn judge(
    failures: &[i64],
    in_flight: u64,
    limit: u32,
    now: OffsetDateTime,
    window: Duration,
) -> Judgement {
    if limit == 0 {
        return Judgement::Go;
    }
    let limit_n = u64::from(limit);
    let count = u64::try_from(failures.len()).unwrap_or(u64::MAX);
    if count >= limit_n {
        // The limit lifts when the limit-th newest failure leaves the window.
        let oldest_counted = failures
            .get(usize::try_from(limit_n - 1).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or_default();
        let release_ms = oldest_counted
            .saturating_add(i64::try_from(window.whole_milliseconds()).unwrap_or(i64::MAX));
        let now_ms = crate::clock::to_millis(now);
        let secs = u64::try_from((release_ms - now_ms).max(0) / 1000).unwrap_or(0);
        return Judgement::Refuse(secs.max(1));
    }
    if count + in_flight < limit_n {
        Judgement::Go
    } else {
        Judgement::Wait
    }
}

/// Combines the counters' judgements: any refusal refuses (for the longest), all go goes.
pub fn combine(judgements: impl IntoIterator<Item = Judgement>) -> Judgement {
    let mut out = Judgement::Go;
    for j in judgements {
        out = match (out, j) {
            (Judgement::Refuse(a), Judgement::Refuse(b)) => Judgement::Refuse(a.max(b)),
            (Judgement::Refuse(a), _) | (_, Judgement::Refuse(a)) => Judgement::Refuse(a),
            (Judgement::Wait, _) | (_, Judgement::Wait) => Judgement::Wait,
            (Judgement::Go, Judgement::Go) => Judgement::Go,
        };
    }
    out
}

/// The answer of [`crate::store::LimitStore::limit_begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitVerdict {
    /// The attempt is under way, reserved under this id until finished.
    Go(String),
    /// Wait and ask again.
    Wait,
    /// Refused: a limit holds for this many seconds.
    Refuse(u64),
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitOutcome {
    /// A wrong password or unknown user: a failure for every counter.
    Failed,
    /// Success: clears the counters that success clears.
    Succeeded,
    /// Ended otherwise (the database was away, the client left): counts nothing.
    Abandoned,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 0:05 UTC);
    const WINDOW: Duration = Duration::minutes(5);

    fn ms(t: OffsetDateTime) -> i64 {
        crate::clock::to_millis(t)
    }

    #[test]
    fn failures_and_attempts_in_flight_share_the_limit() {
        assert_eq!(judge(&[], 0, 3, NOW, WINDOW), Judgement::Go);
        let two = [
            ms(NOW - Duration::seconds(1)),
            ms(NOW - Duration::seconds(2)),
        ];
        assert_eq!(judge(&two, 0, 3, NOW, WINDOW), Judgement::Go);
        assert_eq!(judge(&two, 1, 3, NOW, WINDOW), Judgement::Wait);
        assert_eq!(
            judge(&two, 5, 0, NOW, WINDOW),
            Judgement::Go,
            "0 is no limit"
        );
    }

    #[test]
    fn a_limit_lifts_when_its_oldest_counted_failure_leaves_the_window() {
        let three = [
            ms(NOW - Duration::seconds(1)),
            ms(NOW - Duration::seconds(2)),
            ms(NOW - Duration::seconds(10)),
        ];
        assert_eq!(judge(&three, 0, 3, NOW, WINDOW), Judgement::Refuse(290));
        assert_eq!(
            combine([
                Judgement::Go,
                Judgement::Wait,
                Judgement::Refuse(3),
                Judgement::Refuse(9)
            ]),
            Judgement::Refuse(9)
        );
        assert_eq!(combine([Judgement::Go, Judgement::Wait]), Judgement::Wait);
        assert_eq!(combine([]), Judgement::Go);
    }
}
