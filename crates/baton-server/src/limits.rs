//! The failed-login limits in effect: counted in this process ([`LoginLimiter`], for the one
//! instance a SQLite database has) or in the database ([`SharedLimiter`], for every instance on
//! PostgreSQL to count together).
//!
//! With the counters in the database, an attempt that must wait polls it, and a poll cannot
//! keep a place in a line: an attempt arriving just as another finishes would take the free
//! room ahead of those already waiting, so clients looping logins of one user kept the room
//! among themselves and starved the rest into `503`. Attempts therefore first pass a line in
//! this process ([`LoginLimiter`] with the same limits, counting only attempts in flight, never
//! failures): first come, first served, and at most the limit's worth of them per instance
//! reach the database.

use crate::limiter::{Attempt, LoginLimiter, Refusal, MAX_WAIT};
use crate::shared_limits::{SharedAttempt, SharedLimiter};
use baton_core::limits::LimitOutcome;

/// Where the counters live.
#[derive(Debug)]
pub enum Limits {
    /// In this process.
    Local(LoginLimiter),
    /// In the database, reached through a line in this process.
    Shared {
        /// The counters every instance shares.
        counters: SharedLimiter,
        /// The order of this instance's attempts per username and IP.
        line: LoginLimiter,
    },
}

/// An attempt under way; report its outcome.
#[derive(Debug)]
#[must_use = "report the attempt's outcome"]
pub enum Ticket<'a> {
    /// Counted in this process.
    Local(Attempt<'a>),
    /// Counted in the database, holding its place in this instance's line until it ends.
    Shared(SharedAttempt, Attempt<'a>),
}

impl Limits {
    /// Limits counted in the database by `counters`, reached through a line in this process
    /// that lets as many attempts at once per username and per IP as `counters` allows.
    pub fn shared(counters: SharedLimiter, clock: std::sync::Arc<dyn baton_core::Clock>) -> Self {
        let (user_limit, ip_limit) = counters.limits();
        Self::Shared {
            counters,
            line: LoginLimiter::new(user_limit, ip_limit, clock),
        }
    }

    /// Starts an attempt for the username with comparison key `user_key` from `ip`.
    pub async fn begin(&self, user_key: &str, ip: Option<&str>) -> Result<Ticket<'_>, Refusal> {
        match self {
            Self::Local(l) => l.begin(user_key, ip).await.map(Ticket::Local),
            Self::Shared { counters, line } => {
                let deadline = tokio::time::Instant::now() + MAX_WAIT;
                let place = line.begin(user_key, ip).await?;
                let attempt = counters.begin(user_key, ip, deadline).await?;
                Ok(Ticket::Shared(attempt, place))
            }
        }
    }

    /// Forgets what no longer counts (the database's counters; memory tidies itself).
    pub async fn purge(&self) {
        if let Self::Shared { counters, .. } = self {
            if let Err(e) = counters.purge().await {
                tracing::warn!(error = %e, "purging the login limits failed");
            }
        }
    }
}

impl Ticket<'_> {
    async fn finish(self, outcome: LimitOutcome) {
        match (self, outcome) {
            (Self::Local(a), LimitOutcome::Failed) => a.failed(),
            (Self::Local(a), LimitOutcome::Succeeded) => a.succeeded(),
            (Self::Local(a), LimitOutcome::Abandoned) => a.abandoned(),
            (Self::Shared(attempt, place), outcome) => {
                // The counters first, so the next in line finds the room this one leaves.
                attempt.finish(outcome).await;
                place.abandoned();
            }
        }
    }

    /// A wrong password or unknown user: counts for the username and the IP.
    pub async fn failed(self) {
        self.finish(LimitOutcome::Failed).await;
    }

    /// Success clears the username's failures (not the IP's).
    pub async fn succeeded(self) {
        self.finish(LimitOutcome::Succeeded).await;
    }

    /// Ended for another reason: counts nothing.
    pub async fn abandoned(self) {
        self.finish(LimitOutcome::Abandoned).await;
    }
}
