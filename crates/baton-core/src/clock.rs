//! Time is passed in: everything that asks "what time is it" goes through a [`Clock`], so tests
//! can move time forward without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the system clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that does not run backwards: when the clock it reads steps back (an operator or NTP
/// setting the wall clock back), it stands still at the latest time it has told until that
/// clock catches up. So nothing that has expired comes back to life, a spent refresh token whose
/// grace window has passed never gets it back, and times written go on increasing. A step
/// forward is followed: it is the wall clock being corrected, and tokens must carry the time
/// every other service reads. A step back of more than [`MAX_STANDSTILL`] is taken as the
/// correction of an earlier wrong step forward (a wrong year, say) and followed, with an error
/// logged: standing still for that long would stop every expiry and date tokens in the future.
#[derive(Debug)]
pub struct NeverBackwards<C: ?Sized> {
    inner: Arc<C>,
    latest: AtomicI64,
}

impl<C: Clock + ?Sized> NeverBackwards<C> {
    /// Reads `inner`, never going back.
    pub fn new(inner: Arc<C>) -> Self {
        Self {
            latest: AtomicI64::new(i64::MIN),
            inner,
        }
    }
}

/// The longest step back [`NeverBackwards`] absorbs by standing still.
pub const MAX_STANDSTILL: std::time::Duration = std::time::Duration::from_secs(600);

impl<C: Clock + ?Sized> Clock for NeverBackwards<C> {
    fn now(&self) -> OffsetDateTime {
        let read = self.inner.now();
        let ms = to_millis(read);
        // Read first: the shared value is written about once a millisecond, not per call.
        let seen = self.latest.load(Ordering::Acquire);
        if ms == seen {
            return read;
        }
        let before = if ms > seen {
            self.latest.fetch_max(ms, Ordering::AcqRel)
        } else {
            seen
        };
        if before <= ms {
            return read;
        }
        let behind = before.saturating_sub(ms);
        if behind > i64::try_from(MAX_STANDSTILL.as_millis()).unwrap_or(i64::MAX) {
            self.latest.store(ms, Ordering::Release);
            tracing::error!(
                behind_ms = behind,
                "the wall clock stepped back further than baton waits for; following it \
                 (sessions that ended in the skipped time may refresh again)"
            );
            return read;
        }
        from_millis(before)
    }
}

/// The latest time the jobs that delete for good (the purges, the sweep of sealed successors)
/// may take as now: the wall clock, but no further ahead of the wall time read when the
/// horizon was set than the time elapsed since on the monotonic clock, plus [`MAX_STANDSTILL`].
/// A wall clock stepped a year ahead by mistake only makes sessions look ended while it is
/// wrong; a purge run on it would delete them for good, and one run here waits instead. A wall
/// clock that stays ahead for [`TRUST_AFTER`] (a legitimate correction, or time spent
/// suspended, which the monotonic clock does not count) is taken as right from then on.
#[derive(Debug)]
pub struct Horizon {
    trust_after: std::time::Duration,
    state: std::sync::Mutex<HorizonState>,
}

#[derive(Debug)]
struct HorizonState {
    wall: OffsetDateTime,
    since: std::time::Instant,
    /// Since when the wall clock has been past the horizon.
    ahead_since: Option<std::time::Instant>,
}

/// How long the wall clock must stay ahead of a [`Horizon`] before it is trusted.
pub const TRUST_AFTER: std::time::Duration = std::time::Duration::from_secs(86_400);

impl Horizon {
    /// A horizon from `now`, the current wall time.
    pub fn new(now: OffsetDateTime) -> Self {
        Self::trusting_after(now, TRUST_AFTER)
    }

    /// A horizon that trusts a wall clock ahead of it after `trust_after` (tests shorten it).
    pub fn trusting_after(now: OffsetDateTime, trust_after: std::time::Duration) -> Self {
        Self {
            trust_after,
            state: std::sync::Mutex::new(HorizonState {
                wall: now,
                since: std::time::Instant::now(),
                ahead_since: None,
            }),
        }
    }

    /// `now`, or the horizon when `now` is past it.
    pub fn cap(&self, now: OffsetDateTime) -> OffsetDateTime {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let lived = time::Duration::try_from(state.since.elapsed() + MAX_STANDSTILL)
            .unwrap_or(time::Duration::MAX);
        let horizon = state.wall.saturating_add(lived);
        if now <= horizon {
            if state.ahead_since.take().is_some() {
                tracing::info!("the wall clock is back within the time baton has lived through");
            }
            return now;
        }
        match state.ahead_since {
            None => {
                state.ahead_since = Some(std::time::Instant::now());
                tracing::warn!(
                    ahead_ms = to_millis(now).saturating_sub(to_millis(horizon)),
                    "the wall clock is ahead of the time baton has lived through; purges \
                     delete only what ended before that time until it comes back or has \
                     stayed ahead for a day"
                );
            }
            Some(at) if at.elapsed() >= self.trust_after => {
                tracing::warn!(
                    ahead_ms = to_millis(now).saturating_sub(to_millis(horizon)),
                    "the wall clock has stayed ahead of the time baton has lived through; \
                     taking it as right"
                );
                *state = HorizonState {
                    wall: now,
                    since: std::time::Instant::now(),
                    ahead_since: None,
                };
                return now;
            }
            Some(_) => {}
        }
        horizon
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(to_millis(start))),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }

    /// Moves the clock back, as a wall clock set back does.
    pub fn rewind(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_sub(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// Milliseconds since the Unix epoch, the form timestamps take in storage.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch.
pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_backwards_stands_still_while_its_clock_catches_up_and_follows_it_forward() {
        let start = from_millis(1_700_000_000_000);
        let wall = Arc::new(ManualClock::new(start));
        let clock = NeverBackwards::new(Arc::clone(&wall));
        assert_eq!(clock.now(), start);
        wall.rewind(std::time::Duration::from_secs(60));
        assert_eq!(clock.now(), start, "no step back");
        wall.advance(std::time::Duration::from_secs(30));
        assert_eq!(clock.now(), start, "still behind: standing still");
        wall.advance(std::time::Duration::from_secs(45));
        assert_eq!(
            to_millis(clock.now()),
            1_700_000_015_000,
            "caught up and going on"
        );
        wall.advance(std::time::Duration::from_secs(3600));
        assert_eq!(
            to_millis(clock.now()),
            1_700_003_615_000,
            "a step forward is followed"
        );
        // A year ahead by mistake, then corrected: followed back rather than frozen for a year.
        wall.advance(std::time::Duration::from_secs(365 * 86_400));
        let _ = clock.now();
        wall.rewind(std::time::Duration::from_secs(365 * 86_400));
        assert_eq!(
            to_millis(clock.now()),
            1_700_003_615_000,
            "a long step back is followed"
        );
    }

    #[test]
    fn the_horizon_follows_the_monotonic_clock_not_a_step_ahead() {
        let start = from_millis(1_700_000_000_000);
        let horizon = Horizon::new(start);
        let soon = start + time::Duration::seconds(5);
        assert_eq!(horizon.cap(soon), soon, "inside the slack: the wall clock");
        let capped = horizon.cap(start + time::Duration::days(365));
        assert!(capped >= start + time::Duration::seconds(600));
        assert!(capped < start + time::Duration::seconds(660), "{capped}");
        assert_eq!(horizon.cap(soon), soon, "back: the wall clock again");
    }

    #[test]
    fn a_wall_clock_that_stays_ahead_is_trusted_in_the_end() {
        let start = from_millis(1_700_000_000_000);
        let horizon = Horizon::trusting_after(start, std::time::Duration::from_millis(50));
        let ahead = start + time::Duration::days(1);
        assert!(horizon.cap(ahead) < ahead, "ahead: capped");
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(
            horizon.cap(ahead),
            ahead,
            "still ahead a while later: trusted"
        );
        let later = ahead + time::Duration::seconds(1);
        assert_eq!(horizon.cap(later), later, "and followed from there");
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = from_millis(1_700_000_000_000);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_secs(5));
        assert_eq!(to_millis(clock.now()), 1_700_000_005_000);
    }
}
