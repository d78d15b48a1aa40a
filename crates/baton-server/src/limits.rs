//! The failed-login limits in effect: counted in this process ([`LoginLimiter`], for the one
//! instance a SQLite database has) or in the database ([`SharedLimiter`], for every instance on
//! PostgreSQL to count together).
//!
//! With the counters in the database, an attempt that must wait polls it, and a poll cannot
//! keep a place in a line: an attempt arriving just as another finishes would take the free
//! room ahead of those already waiting, so clients looping logins of one user kept the room
//! among themselves and starved the rest into `503`. So in each instance only the first in line
//! for a username asks the database; the others wait behind it in memory (a [`LoginLimiter`]
//! that lets one attempt at a time through and never counts a failure), first come, first
//! served, and each leaves the line as soon as the database lets it go ahead.

use crate::limiter::{Attempt, LoginLimiter, Refusal, MAX_WAIT};
use crate::shared_limits::{SharedAttempt, SharedLimiter};
use baton_core::limits::LimitOutcome;

/// Where the counters live.
#[derive(Debug)]
pub enum Limits {
    /// In this process.
    Local(LoginLimiter),
    /// In the database, asked by one attempt per username at a time in this process.
    Shared {
        /// The counters every instance shares.
        counters: SharedLimiter,
        /// This instance's attempts waiting for their turn to ask, per username (per IP for
        /// limits that count only addresses).
        line: LoginLimiter,
    },
}

/// An attempt under way; report its outcome.
#[derive(Debug)]
#[must_use = "report the attempt's outcome"]
pub enum Ticket<'a> {
    /// Counted in this process.
    Local(Attempt<'a>),
    /// Counted in the database.
    Shared(SharedAttempt),
}

impl Limits {
    /// Limits counted in the database by `counters`, asked in this process by one attempt at
    /// a time per username (or per IP when only addresses are counted).
    pub fn shared(counters: SharedLimiter, clock: std::sync::Arc<dyn baton_core::Clock>) -> Self {
        let by_user = counters.limits().0 > 0;
        Self::Shared {
            counters,
            line: LoginLimiter::new(u32::from(by_user), u32::from(!by_user), clock),
        }
    }

    /// Starts an attempt for the username with comparison key `user_key` from `ip`.
    pub async fn begin(&self, user_key: &str, ip: Option<&str>) -> Result<Ticket<'_>, Refusal> {
        match self {
            Self::Local(l) => l.begin(user_key, ip).await.map(Ticket::Local),
            Self::Shared { counters, line } => {
                let deadline = tokio::time::Instant::now() + MAX_WAIT;
                let turn = line.begin(user_key, ip).await?;
                let attempt = counters.begin(user_key, ip, deadline).await;
                // Gone ahead or refused, it lets the next in line ask.
                turn.abandoned();
                attempt.map(Ticket::Shared)
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
            (Self::Shared(a), outcome) => a.finish(outcome).await,
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
