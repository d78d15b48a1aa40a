//! Startup and shutdown: [`Application::build`] binds the listener (port 0 works, for tests),
//! opens and migrates the database, loads the keys; [`Application::run_until`] serves until the
//! shutdown future resolves, letting requests in flight finish.

use crate::admission::{Admission, Admissions, Capacity};
use crate::config::{Config, Secret};
use crate::cookie::origin_of;
use crate::limiter::LoginLimiter;
use crate::limits::Limits;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::routes;
use crate::serve::{serve, ServeLimits};
use crate::shared_limits::SharedLimiter;
use crate::state::{AppState, Shared};
use anyhow::Context as _;
use axum::Router;
use baton_core::clock::NeverBackwards;
use baton_core::password::{HashingLimits, PasswordHasher};
use baton_core::service::{KeyMode, WebauthnPolicy};
use baton_core::store::Store;
use baton_core::vault::KeyVault;
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
    store: Arc<dyn Store>,
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
        // Time never runs backwards for the server, whatever the wall clock does.
        let clock: Arc<dyn Clock> = Arc::new(NeverBackwards::new(clock));
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let issuer = config
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let (store, baton) = open_parts(&config, &issuer, clock.clone(), Access::Serve).await?;
        // Each session keeps the idle timeout it was opened with; a changed setting reaches the
        // live ones here, as the server starts.
        let retimed = baton
            .apply_idle_timeout()
            .await
            .context("cannot apply the idle timeout to the open sessions")?;
        if retimed > 0 {
            tracing::info!(
                sessions = retimed,
                "the configured idle timeout now applies to open sessions"
            );
        }
        if !config.cookie_secure {
            tracing::warn!(
                "BATON_COOKIE_SECURE=false: the refresh cookie is sent over plain HTTP. \
                 Use this only for local development, never in production."
            );
        }
        let (user_limit, ip_limit) = (config.login_limit_user, config.login_limit_ip);
        // Several instances share a PostgreSQL database, so they must share the counters too.
        let shared = baton_store::sqlite_path(&config.database_url).is_none();
        let limits = |user: u32, ip: u32, namespace: &'static str| {
            if shared {
                Limits::shared(
                    SharedLimiter::new(Arc::clone(&store), clock.clone(), user, ip, namespace),
                    clock.clone(),
                )
            } else {
                Limits::Local(LoginLimiter::new(user, ip, clock.clone()))
            }
        };
        let limiter = Arc::new(limits(user_limit, ip_limit, "login"));
        let registrations = Arc::new(limits(0, ip_limit, "register"));
        let signups = Arc::new(limits(0, config.register_limit_ip, "signup"));
        let public_pushes = Arc::new(limits(0, PUBLIC_PUSHES_PER_IP, "par"));
        let resets = Arc::new(limits(RESETS_PER_ACCOUNT, RESETS_PER_IP, "reset"));
        let confirmations = Arc::new(limits(
            CONFIRMATIONS_PER_ACCOUNT,
            CONFIRMATIONS_PER_IP,
            "confirm",
        ));
        let mailer = Mailer::from_config(&config, &issuer)?.map(Arc::new);
        if mailer.is_none() {
            tracing::warn!(
                "no SMTP server configured (BATON_SMTP_URL): no mail is sent, so addresses \
                 cannot be confirmed and passwords cannot be reset by mail \
                 (`baton user reset-link` prints a link instead)"
            );
        }
        let admissions = Arc::new(admissions(&config));
        let state = AppState::new(Shared {
            admissions,
            baton: Arc::new(baton),
            issuer_origin: origin_of(&issuer).into(),
            own_origins: own_origins(&issuer).into(),
            issuer: issuer.into(),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            limiter,
            registrations,
            public_pushes,
            signups,
            resets,
            confirmations,
            reset_slots: Arc::new(tokio::sync::Semaphore::new(RESET_SLOTS)),
            mailer,
            mail_wake: Arc::default(),
            lockouts: Arc::default(),
            dpop_refusals: Arc::default(),
        });
        Ok(Self {
            listener,
            state,
            store,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (tests reach the service through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The storage the service runs on, for what shares it without being part of the API (the
    /// login limits counted in the database; tests that look at or plant rows).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
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
        let mut background = vec![
            tokio::spawn(clock_loop(self.state.clone())),
            tokio::spawn(purge_loop(self.state.clone())),
            tokio::spawn(sweep_loop(self.state.clone())),
            tokio::spawn(key_reload_loop(self.state.clone())),
            tokio::spawn(crate::backchannel::run(self.state.clone())),
        ];
        if let Some(mailer) = &self.state.mailer {
            background.push(tokio::spawn(crate::mail::run_outbox(
                self.state.clone(),
                Arc::clone(mailer),
                Arc::clone(&self.state.mail_wake),
            )));
        }
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
        for task in &background {
            task.abort();
        }
        // Nothing writes any more: an aborted purge leaves at most its last job, run or skipped.
        for task in background {
            let _ = task.await;
        }
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "could not close the database cleanly");
        }
        Ok(())
    }
}

/// Pushed authorization requests of public clients per client IP per five minutes (a user's
/// browser pushes one per sign-in; a confidential client's pushes are its operator's to bound).
const PUBLIC_PUSHES_PER_IP: u32 = 30;
/// Password-reset requests per account (as typed: an address or a username) per five minutes.
const RESETS_PER_ACCOUNT: u32 = 3;
/// Password-reset requests per client IP per five minutes.
const RESETS_PER_IP: u32 = 20;
/// Confirmation mails per account (or address, at registration) per five minutes.
const CONFIRMATIONS_PER_ACCOUNT: u32 = 3;
/// Confirmation mails per client IP per five minutes.
const CONFIRMATIONS_PER_IP: u32 = 20;
/// Password-reset requests looked up at once after their `202`; past it, `503`.
const RESET_SLOTS: usize = 64;

/// How often successors sealed before the grace window are dropped.
const SEAL_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The server's clock never runs backwards from the latest time it read; reading it every
/// second keeps that time current when no request does, so a wall clock set back cannot bring
/// back a session that ended unobserved. A task of its own: a long purge must not hold it up.
async fn clock_loop(state: AppState) {
    let mut clock = tokio::time::interval(std::time::Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        clock.tick().await;
        let _ = state.baton.now();
    }
}

/// Deletes ended sessions and old audit events, as often as configured.
async fn purge_loop(state: AppState) {
    let mut purge = tokio::time::interval(state.config.purge_interval);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        purge.tick().await;
        match state.baton.purge_expired(PURGE_RETENTION).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged ended sessions"),
            Err(e) => tracing::warn!(error = %e, "session purge failed"),
        }
        if let Err(e) = state.baton.purge_mail().await {
            tracing::warn!(error = %e, "purging expired mail tokens failed");
        }
        if let Err(e) = state.baton.purge_mfa_challenges().await {
            tracing::warn!(error = %e, "purging expired MFA tokens failed");
        }
        if let Err(e) = state.baton.purge_ceremonies().await {
            tracing::warn!(error = %e, "purging finished passkey ceremonies failed");
        }
        if let Err(e) = state.baton.purge_authorization_codes().await {
            tracing::warn!(error = %e, "purging expired authorization codes failed");
        }
        if let Err(e) = state.baton.purge_pushed_requests().await {
            tracing::warn!(error = %e, "purging expired pushed requests failed");
        }
        if let Err(e) = state.baton.purge_client_assertions().await {
            tracing::warn!(error = %e, "purging used client assertions failed");
        }
        if let Err(e) = state.baton.purge_logouts().await {
            tracing::warn!(error = %e, "purging expired logout notices failed");
        }
        match to_time(state.config.audit_retention) {
            Ok(retention) => {
                if let Err(e) = state.baton.purge_events(retention).await {
                    tracing::warn!(error = %e, "audit event purge failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "audit retention out of range"),
        }
    }
}

/// Drops stale sealed successors, forgets the limiters' old entries and the DPoP proofs past
/// their window every minute, beside a purge that may take longer than that.
async fn sweep_loop(state: AppState) {
    let mut sweep = tokio::time::interval(SEAL_SWEEP_INTERVAL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        sweep.tick().await;
        if let Err(e) = state.baton.drop_stale_seals().await {
            tracing::warn!(error = %e, "dropping stale sealed successors failed");
        }
        if let Err(e) = state.baton.purge_dpop_proofs().await {
            tracing::warn!(error = %e, "purging used DPoP proofs failed");
        }
        state.limiter.purge().await;
        state.registrations.purge().await;
        state.signups.purge().await;
        state.public_pushes.purge().await;
        state.resets.purge().await;
        state.confirmations.purge().await;
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
            tracing::warn!(error = %baton_core::error::chain(&e), "could not reload the signing keys");
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
    Ok(open_parts(config, issuer, clock, access).await?.1)
}

/// [`open_service`], also answering the storage it runs on.
async fn open_parts(
    config: &Config,
    issuer: &str,
    clock: Arc<dyn Clock>,
    access: Access,
) -> anyhow::Result<(Arc<dyn Store>, Baton)> {
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
        password_min_score: config.password_min_score,
        register_min_score: config.register_min_score,
        registration_open: config.registration_open,
        signing_alg: config.signing_alg,
        sessions_per_user: config.sessions_per_user,
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| issuer.to_owned()),
        reset_ttl: to_time(config.reset_ttl)?,
        verify_ttl: to_time(config.email_verify_ttl)?,
        mail_enabled: config.smtp_url.is_some(),
        totp_issuer: config
            .totp_issuer
            .clone()
            .unwrap_or_else(|| issuer_host(issuer)),
        webauthn: webauthn_policy(config, issuer)?,
    };
    let vault = key_vault(config, access, store.as_ref()).await?;
    let baton =
        Baton::start_with(Arc::clone(&store), hasher, clock, policy, vault, key_mode).await?;
    Ok((store, baton))
}

/// Room per route class. Password checks run two per hashing thread (the second overlaps the
/// first's database work) and wait in a line as long as the hashing queue; refreshes and
/// verifications have their own room, four times as many waiting as running.
fn admissions(config: &Config) -> Admissions {
    let class = |running: usize, waiting: usize| {
        Admission::new(Capacity {
            running,
            waiting,
            max_wait: config.queue_timeout,
        })
    };
    Admissions {
        credentials: class(config.hash_concurrency.saturating_mul(2), config.hash_queue),
        refresh: class(
            config.refresh_concurrency,
            config.refresh_concurrency.saturating_mul(4),
        ),
        verify: class(
            config.verify_concurrency,
            config.verify_concurrency.saturating_mul(4),
        ),
    }
}

/// The key-encryption secret's file beside a SQLite database when none is configured.
pub const SECRET_FILE: &str = "baton.secret";

/// The vault the signing keys are sealed in: under the configured secret, or on SQLite under
/// the file [`SECRET_FILE`] beside the database, generated (readable by its owner only) by the
/// first command that may write.
async fn key_vault(
    config: &Config,
    access: Access,
    store: &dyn baton_core::store::Store,
) -> anyhow::Result<KeyVault> {
    let previous = config.secret_previous.as_ref().map(Secret::expose);
    if let Some(secret) = &config.secret {
        return Ok(KeyVault::new(secret.expose(), previous)?);
    }
    let Some(database) = baton_store::sqlite_path(&config.database_url) else {
        anyhow::bail!(
            "BATON_SECRET (or BATON_SECRET_FILE) is required with PostgreSQL: the signing keys \
             are encrypted under it, and every instance needs the same one"
        );
    };
    let path = match database.parent() {
        Some(dir) => dir.join(SECRET_FILE),
        None => std::path::PathBuf::from(SECRET_FILE),
    };
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim_end().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && access != Access::Read => {
            // A new secret for keys sealed under a lost one would only stand in the way of
            // restoring the right file.
            let sealed = store.signing_keys().await?.iter().any(KeyVault::is_sealed);
            if sealed {
                anyhow::bail!(
                    "the signing keys are encrypted, but {} is missing: restore it from your \
                     backup, or set BATON_SECRET to the secret they were sealed under",
                    path.display()
                );
            }
            generate_secret(&path)?
        }
        Err(e) => anyhow::bail!(
            "cannot read the key-encryption secret {}: {e} (set BATON_SECRET, or let `baton \
             serve` generate the file)",
            path.display()
        ),
    };
    Ok(KeyVault::new(secret.as_bytes(), previous)?)
}

/// Writes a new random secret to `path`, readable by its owner only.
fn generate_secret(path: &std::path::Path) -> anyhow::Result<String> {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{secret}")
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "generated the secret the signing keys are encrypted under; back it up apart from the \
         database (without it the keys cannot be read), or set BATON_SECRET"
    );
    Ok(secret)
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
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***{}", &base[..scheme_end], user, &base[at..])
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        // `?password=…` (and `sslpassword`) carry secrets too.
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests;

/// The host of `url` (without scheme, port, path or an IPv6 literal's brackets).
fn raw_host(url: &str) -> &str {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    }
}

/// The host of `issuer`: what authenticator apps show by default beside a TOTP account (an
/// IPv6 literal keeps its colons out of the Key Uri Format's label).
fn issuer_host(issuer: &str) -> String {
    raw_host(issuer).replace(':', ".")
}

/// The WebAuthn relying party: the configured RP id and origins, or ones that follow the
/// issuer. Browsers refuse an IP address as RP id, so a loopback issuer
/// (`http://127.0.0.1:4000`) gets `localhost`, with `http://localhost:4000` as first origin;
/// another IP address leaves passkeys off unless configured (with a warning).
fn webauthn_policy(config: &Config, issuer: &str) -> anyhow::Result<Option<WebauthnPolicy>> {
    let is_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok();
    let host = raw_host(issuer).to_ascii_lowercase();
    let authority = issuer
        .split_once("://")
        .map_or(issuer, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let scheme = issuer.split_once("://").map_or("http", |(s, _)| s);
    let issuer_origin = format!("{scheme}://{authority}");
    let loopback = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    let rp_id = match &config.webauthn_rp_id {
        Some(id) => id.clone(),
        None if loopback => "localhost".to_owned(),
        None if is_ip(&host) => {
            tracing::warn!(
                "the issuer is an IP address, which browsers refuse for passkeys: passkeys are \
                 off (set BATON_WEBAUTHN_RP_ID and BATON_WEBAUTHN_ORIGINS to a domain)"
            );
            return Ok(None);
        }
        None => host.clone(),
    };
    let origins = if config.webauthn_origins.is_empty() {
        let mut origins = Vec::new();
        if rp_id == "localhost" && loopback {
            let port = authority
                .rsplit_once(':')
                .map(|(_, p)| p)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            origins.push(match port {
                Some(p) => format!("{scheme}://localhost:{p}"),
                None => format!("{scheme}://localhost"),
            });
        }
        origins.push(issuer_origin);
        origins
    } else {
        config.webauthn_origins.clone()
    };
    for origin in &origins {
        let origin_host = raw_host(origin).to_ascii_lowercase();
        let under = origin_host == rp_id || origin_host.ends_with(&format!(".{rp_id}"));
        if !under && !is_ip(&origin_host) {
            anyhow::bail!(
                "the passkey origin {origin} is not on the relying party {rp_id}: set \
                 BATON_WEBAUTHN_RP_ID or BATON_WEBAUTHN_ORIGINS"
            );
        }
    }
    if origins.first().is_none_or(|o| is_ip(raw_host(o))) {
        anyhow::bail!(
            "the first passkey origin must have a domain for host (browsers refuse IP addresses \
             for passkeys): set BATON_WEBAUTHN_ORIGINS"
        );
    }
    Ok(Some(WebauthnPolicy {
        rp_name: config.totp_issuer.clone().unwrap_or_else(|| rp_id.clone()),
        rp_id,
        origins,
    }))
}

/// The origins that are the issuer's own: its origin and, for a loopback issuer, the same
/// server by its `localhost` name.
fn own_origins(issuer: &str) -> Vec<String> {
    let mut own = vec![origin_of(issuer)];
    let host = raw_host(issuer);
    let loopback = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        let origin = origin_of(issuer);
        let (scheme, authority) = origin.split_once("://").unwrap_or(("http", ""));
        let port = if authority.ends_with(']') {
            None
        } else {
            authority.rsplit_once(':').map(|(_, p)| p)
        };
        own.push(match port {
            Some(p) => format!("{scheme}://localhost:{p}"),
            None => format!("{scheme}://localhost"),
        });
    }
    own
}
