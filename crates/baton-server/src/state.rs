//! The application state shared by every handler: no globals, so each test can build its own.

use crate::config::Config;
use crate::limits::Limits;
use crate::metrics::Metrics;
use baton_core::Baton;
use std::sync::Arc;

/// Shared state: one `Arc`, so that handing it to a request (which axum does by cloning, in
/// every extractor and middleware that takes it) costs one reference count, however many
/// parts it has.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state made of `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The token service.
    pub baton: Arc<Baton>,
    /// Resolved configuration (with the issuer filled in).
    pub config: Arc<Config>,
    /// The issuer URL in effect.
    pub issuer: Arc<str>,
    /// Origin (scheme://host:port) of the issuer, for the CSRF rule.
    pub issuer_origin: Arc<str>,
    /// The origins the CSRF rule counts as the issuer's own: its origin and, for an issuer on a
    /// loopback address (`http://127.0.0.1:4000`), its `localhost` name on the same port, the
    /// page passkeys need (browsers refuse them on an IP address).
    pub own_origins: Arc<[String]>,
    /// Failed-login limits.
    pub limiter: Arc<Limits>,
    /// Limits on taken-username answers at registration, per client IP (the login IP limit,
    /// counted apart).
    pub registrations: Arc<Limits>,
    /// The optional cap on successful registrations per client IP.
    pub signups: Arc<Limits>,
    /// Pushed authorization requests of public clients (which prove nothing about who pushes)
    /// per client IP.
    pub public_pushes: Arc<Limits>,
    /// Limits on password-reset requests, per account (as typed) and per client IP.
    pub resets: Arc<Limits>,
    /// Limits on confirmation mails, per account (or address, at registration) and per client
    /// IP.
    pub confirmations: Arc<Limits>,
    /// Room for password-reset requests being looked up after their `202`.
    pub reset_slots: Arc<tokio::sync::Semaphore>,
    /// Sends mail; `None` without an SMTP server.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// Wakes the outbox worker when a mail was queued here.
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// Lockout events recorded once per username and address per window.
    pub lockouts: Arc<crate::throttle::Throttle>,
    /// `dpop_key_refused` events recorded once per token, reason and address per ten minutes
    /// (the refused token is not spent, so it can come back at will).
    pub dpop_refusals: Arc<crate::throttle::Throttle>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Room per route class; past it requests are shed.
    pub admissions: Arc<crate::admission::Admissions>,
}
