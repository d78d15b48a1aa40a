//! The failed-login limits in effect: counted in this process ([`LoginLimiter`], for the one
//! instance a SQLite database has) or in the database ([`SharedLimiter`], for every instance on
//! PostgreSQL to count together).

use crate::limiter::{Attempt, LoginLimiter, Refusal};
use crate::shared_limits::{SharedAttempt, SharedLimiter};
use baton_core::limits::LimitOutcome;

/// Where the counters live.
#[derive(Debug)]
pub enum Limits {
    /// In this process.
    Local(LoginLimiter),
    /// In the database.
    Shared(SharedLimiter),
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
    /// Starts an attempt for the username with comparison key `user_key` from `ip`.
    pub async fn begin(&self, user_key: &str, ip: Option<&str>) -> Result<Ticket<'_>, Refusal> {
        match self {
            Self::Local(l) => l.begin(user_key, ip).await.map(Ticket::Local),
            Self::Shared(l) => l.begin(user_key, ip).await.map(Ticket::Shared),
        }
    }

    /// Forgets what no longer counts (the database's counters; memory tidies itself).
    pub async fn purge(&self) {
        if let Self::Shared(l) = self {
            if let Err(e) = l.purge().await {
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
