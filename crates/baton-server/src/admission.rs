//! Admission by route class: each class (password checks, refreshes, token verification) lets
//! a fixed number of requests run at once and a fixed number wait, first come first served, for
//! a bounded time. Past that a request is shed at once with `503 unavailable` and
//! `Retry-After`, so an overload of one class neither grows memory or latency without bound nor
//! starves the others: a login flood waits in the password class while refreshes and `/api/me`
//! keep their own room.

use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// The classes of routes, each admitted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Routes that may check a password: `/auth/login`, `/auth/register`, `/oauth/token` (its
    /// refresh-token grant too: the class is chosen before the body is read).
    Credentials,
    /// Routes that rotate or revoke refresh tokens: `/auth/refresh`, `/auth/logout`,
    /// `/oauth/revoke`.
    Refresh,
    /// Routes that only verify an access token (and read): `/api/me`, `/auth/sessions`,
    /// `/auth/events`, `/auth/logout-all`, `/oauth/introspect`, the discovery documents.
    Verify,
}

impl Class {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::Refresh => "refresh",
            Self::Verify => "verify",
        }
    }
}

/// How many requests of a class run at once, how many may wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Requests running at once.
    pub running: usize,
    /// Requests waiting for room; more are shed at once.
    pub waiting: usize,
    /// Longest wait before a request is shed.
    pub max_wait: Duration,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Every place in the line was taken.
    LineFull,
    /// It waited [`Capacity::max_wait`] without getting room.
    WaitedTooLong,
}

/// One class's admission ([`Admissions`] holds one per [`Class`]).
#[derive(Debug)]
pub struct Admission {
    permits: Semaphore,
    waiting: AtomicUsize,
    capacity: Capacity,
}

/// Leaves the line when dropped (admitted, shed or cancelled alike).
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// Admission with `capacity` (at least one request runs).
    pub fn new(capacity: Capacity) -> Self {
        Self {
            permits: Semaphore::new(capacity.running.max(1)),
            waiting: AtomicUsize::new(0),
            capacity,
        }
    }

    /// Room to run, held until the permit is dropped; or why there is none. Waiting requests
    /// get room in the order they came (tokio's semaphore is fair).
    pub async fn admit(&self) -> Result<SemaphorePermit<'_>, Shed> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _in_line = InLine(&self.waiting);
        if ahead >= self.capacity.waiting {
            return Err(Shed::LineFull);
        }
        match tokio::time::timeout(self.capacity.max_wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one sheds like a timeout.
            Ok(Err(_)) | Err(_) => Err(Shed::WaitedTooLong),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// The three classes' admissions.
#[derive(Debug)]
pub struct Admissions {
    /// Password checks.
    pub credentials: Admission,
    /// Refreshes and revocations.
    pub refresh: Admission,
    /// Verification-only routes.
    pub verify: Admission,
}

impl Admissions {
    /// The admission of `class`.
    pub fn of(&self, class: Class) -> &Admission {
        match class {
            Class::Credentials => &self.credentials,
            Class::Refresh => &self.refresh,
            Class::Verify => &self.verify,
        }
    }
}

/// What one class's middleware needs, shared by its requests behind one `Arc` (the request path
/// clones nothing else).
#[derive(Debug)]
pub struct Gate {
    admissions: Arc<Admissions>,
    metrics: Arc<Metrics>,
    class: Class,
}

impl Gate {
    /// The gate of `class`.
    pub fn new(admissions: Arc<Admissions>, metrics: Arc<Metrics>, class: Class) -> Self {
        Self {
            admissions,
            metrics,
            class,
        }
    }
}

/// The middleware of one class: admits the request or answers `503` with `Retry-After`.
pub async fn admit(State(gate): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    let class = gate.class;
    match gate.admissions.of(class).admit().await {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(shed) => {
            // Counted, not logged: a flood would otherwise write a log line per request.
            gate.metrics.shed(class.as_str());
            tracing::debug!(class = class.as_str(), ?shed, "request shed");
            ApiError::Unavailable(None).into_response()
        }
    }
}

#[cfg(test)]
mod tests;
