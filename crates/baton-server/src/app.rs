//! Startup and shutdown: [`Application::build`] binds the listener (port 0 works, for tests),
//! opens and migrates the database, loads the keys; [`Application::run_until`] serves until the
//! shutdown future resolves, letting requests in flight finish.

use crate::config::Config;
use crate::cookie::origin_of;
use crate::limiter::LoginLimiter;
use crate::metrics::Metrics;
use crate::routes;
use crate::serve::{serve, ServeLimits};
use crate::state::AppState;
use anyhow::Context as _;
use axum::Router;
use baton_core::password::{HashingLimits, PasswordHasher};
use baton_core::service::KeyMode;
use baton_core::{Baton, Clock, Policy, SystemClock};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Ended sessions are kept this long before the purge deletes them, so that a late refresh
/// still hears "expired" or "revoked" rather than "invalid".
const PURGE_RETENTION: time::Duration = time::Duration::days(1);

/// A bound, ready server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

fn to_time(d: std::time::Duration) -> anyhow::Result<time::Duration> {
    time::Duration::try_from(d).context("duration out of range")
}

impl Application {
    /// Builds the server on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the server with the given clock (tests move time with a manual one).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let issuer = config
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let baton = open_service(&config, &issuer, clock.clone(), Access::Serve).await?;
        if !config.cookie_secure {
            tracing::warn!(
                "BATON_COOKIE_SECURE=false: the refresh cookie is sent over plain HTTP. \
                 Use this only for local development, never in production."
            );
        }
        let config_limits = (config.login_limit_user, config.login_limit_ip);
        let state = AppState {
            baton: Arc::new(baton),
            issuer_origin: origin_of(&issuer).into(),
            issuer: issuer.into(),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            limiter: Arc::new(LoginLimiter::new(
                config_limits.0,
                config_limits.1,
                clock.clone(),
            )),
            registrations: Arc::new(LoginLimiter::new(0, config_limits.1, clock)),
        };
        Ok(Self { listener, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (tests reach the service through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The router, for serving it some other way.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then waits for requests in flight (at most the
    /// configured shutdown timeout; connections still open then are closed).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        let purge = tokio::spawn(purge_loop(self.state.clone()));
        let reload = tokio::spawn(key_reload_loop(self.state.clone()));
        tracing::info!(
            address = %self.listener.local_addr()?,
            issuer = %self.state.issuer,
            "baton listening"
        );
        let config = &self.state.config;
        let limits = ServeLimits {
            header_timeout: config.header_timeout,
            max_connections: config.max_connections,
            shutdown_timeout: config.shutdown_timeout,
            max_head: 2 * routes::HEADER_LIMIT,
        };
        serve(self.listener, router, limits, shutdown).await;
        purge.abort();
        reload.abort();
        Ok(())
    }
}

/// How often successors sealed before the grace window are dropped.
const SEAL_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

async fn purge_loop(state: AppState) {
    let mut purge = tokio::time::interval(state.config.purge_interval);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(SEAL_SWEEP_INTERVAL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = purge.tick() => match state.baton.purge_expired(PURGE_RETENTION).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "purged ended sessions"),
                Err(e) => tracing::warn!(error = %e, "session purge failed"),
            },
            _ = sweep.tick() => {
                if let Err(e) = state.baton.drop_stale_seals().await {
                    tracing::warn!(error = %e, "dropping stale sealed successors failed");
                }
            }
        }
    }
}

/// Rereads the signing keys now and then, so a rotation made by another instance (or by
/// `baton keys rotate`) is signed with and published here too.
async fn key_reload_loop(state: AppState) {
    let mut tick = tokio::time::interval(state.config.key_reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.baton.reload_signing_keys().await {
            tracing::warn!(error = %e, "could not reload the signing keys");
        }
    }
}

/// What a command may do to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The server: migrates, and signs with the configured algorithm (rotating to it when it
    /// changed).
    Serve,
    /// Commands that change data (`migrate`, `user add`, `keys rotate` …): migrates, and keeps
    /// the signing algorithm in use whatever this shell's settings say.
    Change,
    /// Commands that only read (`user list`, `keys list` …): writes nothing, and refuses a
    /// database that is missing or not migrated.
    Read,
}

/// Opens the database and starts the token service, as `access` allows (for the server and
/// the CLI).
pub async fn open_service(
    config: &Config,
    issuer: &str,
    clock: Arc<dyn Clock>,
    access: Access,
) -> anyhow::Result<Baton> {
    let (open_mode, key_mode) = match access {
        Access::Serve => (baton_store::OpenMode::Migrate, KeyMode::Configured),
        Access::Change => (baton_store::OpenMode::Migrate, KeyMode::Existing),
        Access::Read => (baton_store::OpenMode::Existing, KeyMode::ReadOnly),
    };
    let store = baton_store::open_as(&config.database_url, config.database_pool, open_mode)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&config.database_url)))?;
    let hasher = PasswordHasher::new(
        PasswordHasher::owasp_params(),
        HashingLimits {
            workers: config.hash_concurrency,
            queue: config.hash_queue,
        },
    )?;
    let policy = Policy {
        issuer: issuer.to_owned(),
        audience: config.audience.clone(),
        access_ttl: to_time(config.access_ttl)?,
        refresh_idle_ttl: to_time(config.refresh_idle_ttl)?,
        refresh_absolute_ttl: to_time(config.refresh_absolute_ttl)?,
        refresh_grace: to_time(config.refresh_grace)?,
        clock_leeway: to_time(config.clock_leeway)?,
        password_min_length: config.password_min_length,
        registration_open: config.registration_open,
        signing_alg: config.signing_alg,
        sessions_per_user: config.sessions_per_user,
    };
    Ok(Baton::start_with(store, hasher, clock, policy, key_mode).await?)
}

/// The issuer a configuration implies when none is set: `http://` + the listen address.
pub fn default_issuer(config: &Config) -> String {
    config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***{}", &url[..scheme_end], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
