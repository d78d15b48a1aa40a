//! Configuration: every setting can come from a flag, a `BATON_*` environment variable or the
//! `--config` TOML file, in that order of precedence, and ends up in one validated [`Config`].

use anyhow::{bail, Context as _};
use baton_core::keys::SigningAlg;
use ipnet::IpNet;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

mod describe;
mod settings;
mod values;

pub use settings::Settings;
use values::{check_origin, check_origin_or_url, days, read_file, secret_setting};
pub use values::{parse_duration, List, Network, Secret};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether anyone may register (`POST /auth/register`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone may.
    Open,
    /// Only operators add users (`baton user add`).
    Closed,
}

/// DPoP (RFC 9449) for baton's own client (`/auth/*`, and `/oauth/token` without a client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dpop {
    /// The `DPoP` header is ignored everywhere, and the `DPoP` scheme not accepted.
    Off,
    /// A request with a proof gets tokens bound to its key; one without, bearer tokens.
    Allowed,
    /// Token requests of baton's own client must come with a proof.
    Required,
}

impl std::fmt::Display for Dpop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Allowed => "allowed",
            Self::Required => "required",
        })
    }
}

/// The database URL: shown by `Debug` with its password hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL, password included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", crate::app::redact(&self.0))
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub listen: String,
    /// Database URL.
    pub database_url: DatabaseUrl,
    /// Secret the signing keys are sealed under (`None`: the SQLite default file).
    pub secret: Option<Secret>,
    /// The previous secret, still opening what it sealed.
    pub secret_previous: Option<Secret>,
    /// Explicit issuer; `None` follows the bound address.
    pub issuer: Option<String>,
    /// Audience.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh idle timeout.
    pub refresh_idle_ttl: Duration,
    /// Refresh absolute lifetime.
    pub refresh_absolute_ttl: Duration,
    /// Reuse grace window.
    pub refresh_grace: Duration,
    /// Whether `/auth/register` is open.
    pub registration_open: bool,
    /// Signing algorithm.
    pub signing_alg: SigningAlg,
    /// Minimum password length.
    pub password_min_length: usize,
    /// Lowest strength score of a changed, reset or operator-set password.
    pub password_min_score: u8,
    /// Lowest strength score of a password at registration.
    pub register_min_score: u8,
    /// Origins allowed to make credentialed (cookie) requests.
    pub allowed_origins: Vec<String>,
    /// Whether the refresh cookie is `Secure`.
    pub cookie_secure: bool,
    /// DPoP for baton's own client.
    pub dpop: Dpop,
    /// Whether DPoP proofs must carry the server's nonce.
    pub dpop_nonce: bool,
    /// Leeway on `exp` for baton's own checks.
    pub clock_leeway: Duration,
    /// Failed logins per username per window.
    pub login_limit_user: u32,
    /// Failed logins per IP per window.
    pub login_limit_ip: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Longest wait for a request's head.
    pub header_timeout: Duration,
    /// Longest wait for a request's body.
    pub body_timeout: Duration,
    /// Most open client connections.
    pub max_connections: usize,
    /// Longest wait for requests in flight at shutdown.
    pub shutdown_timeout: Duration,
    /// Most live sessions per user (0: no limit).
    pub sessions_per_user: u32,
    /// Successful registrations per client IP per window (0: no limit).
    pub register_limit_ip: u32,
    /// Concurrent password hashes (hashing threads).
    pub hash_concurrency: usize,
    /// Password hashes that may wait for a hashing thread.
    pub hash_queue: usize,
    /// Refreshes and revocations handled at once (four times as many may wait).
    pub refresh_concurrency: usize,
    /// Token-verifying requests handled at once (four times as many may wait).
    pub verify_concurrency: usize,
    /// Longest wait for room in a route class.
    pub queue_timeout: Duration,
    /// Purge interval for ended sessions.
    pub purge_interval: Duration,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// Database pool settings.
    pub database_pool: baton_store::PoolSettings,
    /// Signing-key reload interval.
    pub key_reload_interval: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Base URL of the links in mails; `None` follows the issuer.
    pub public_url: Option<String>,
    /// How long a password-reset link works.
    pub reset_ttl: Duration,
    /// How long an address-confirmation link works.
    pub email_verify_ttl: Duration,
    /// How recent a sign-in must be for a sensitive change without a fresh factor.
    pub step_up_max_age: Duration,
    /// The TOTP issuer label; `None` follows the issuer's host.
    pub totp_issuer: Option<String>,
    /// The WebAuthn RP id; `None` follows the issuer's host.
    pub webauthn_rp_id: Option<String>,
    /// Origins allowed to use passkeys; empty follows the issuer.
    pub webauthn_origins: Vec<String>,
    /// SMTP server URL; `None`: no mail is sent.
    pub smtp_url: Option<Secret>,
    /// SMTP password when not in the URL.
    pub smtp_password: Option<Secret>,
    /// Sender address; `None`: `baton@` the issuer's host.
    pub mail_from: Option<String>,
    /// Directory of templates replacing the built-in ones.
    pub mail_templates: Option<PathBuf>,
}

impl Settings {
    /// These settings, each unset one taken from `file`.
    fn or(self, file: Settings) -> Settings {
        Settings {
            listen: self.listen.or(file.listen),
            database_url: self.database_url.or(file.database_url),
            database_url_file: self.database_url_file.or(file.database_url_file),
            secret: self.secret.or(file.secret),
            secret_file: self.secret_file.or(file.secret_file),
            secret_previous: self.secret_previous.or(file.secret_previous),
            secret_previous_file: self.secret_previous_file.or(file.secret_previous_file),
            issuer: self.issuer.or(file.issuer),
            audience: self.audience.or(file.audience),
            access_ttl: self.access_ttl.or(file.access_ttl),
            refresh_idle_ttl: self.refresh_idle_ttl.or(file.refresh_idle_ttl),
            refresh_absolute_ttl: self.refresh_absolute_ttl.or(file.refresh_absolute_ttl),
            refresh_grace: self.refresh_grace.or(file.refresh_grace),
            registration: self.registration.or(file.registration),
            signing_alg: self.signing_alg.or(file.signing_alg),
            password_min_length: self.password_min_length.or(file.password_min_length),
            password_min_score: self.password_min_score.or(file.password_min_score),
            register_min_score: self.register_min_score.or(file.register_min_score),
            allowed_origins: self.allowed_origins.or(file.allowed_origins),
            cookie_secure: self.cookie_secure.or(file.cookie_secure),
            dpop: self.dpop.or(file.dpop),
            dpop_nonce: self.dpop_nonce.or(file.dpop_nonce),
            clock_leeway: self.clock_leeway.or(file.clock_leeway),
            login_limit_user: self.login_limit_user.or(file.login_limit_user),
            login_limit_ip: self.login_limit_ip.or(file.login_limit_ip),
            trusted_proxies: self.trusted_proxies.or(file.trusted_proxies),
            trusted_proxy_header: self.trusted_proxy_header.or(file.trusted_proxy_header),
            header_timeout: self.header_timeout.or(file.header_timeout),
            body_timeout: self.body_timeout.or(file.body_timeout),
            max_connections: self.max_connections.or(file.max_connections),
            shutdown_timeout: self.shutdown_timeout.or(file.shutdown_timeout),
            register_limit_ip: self.register_limit_ip.or(file.register_limit_ip),
            sessions_per_user: self.sessions_per_user.or(file.sessions_per_user),
            hash_concurrency: self.hash_concurrency.or(file.hash_concurrency),
            hash_queue: self.hash_queue.or(file.hash_queue),
            refresh_concurrency: self.refresh_concurrency.or(file.refresh_concurrency),
            verify_concurrency: self.verify_concurrency.or(file.verify_concurrency),
            queue_timeout: self.queue_timeout.or(file.queue_timeout),
            database_max_connections: self
                .database_max_connections
                .or(file.database_max_connections),
            database_acquire_timeout: self
                .database_acquire_timeout
                .or(file.database_acquire_timeout),
            database_statement_timeout: self
                .database_statement_timeout
                .or(file.database_statement_timeout),
            key_reload_interval: self.key_reload_interval.or(file.key_reload_interval),
            audit_retention: self.audit_retention.or(file.audit_retention),
            purge_interval: self.purge_interval.or(file.purge_interval),
            log_format: self.log_format.or(file.log_format),
            public_url: self.public_url.or(file.public_url),
            reset_ttl: self.reset_ttl.or(file.reset_ttl),
            email_verify_ttl: self.email_verify_ttl.or(file.email_verify_ttl),
            step_up_max_age: self.step_up_max_age.or(file.step_up_max_age),
            totp_issuer: self.totp_issuer.or(file.totp_issuer),
            webauthn_rp_id: self.webauthn_rp_id.or(file.webauthn_rp_id),
            webauthn_origins: self.webauthn_origins.or(file.webauthn_origins),
            smtp_url: self.smtp_url.or(file.smtp_url),
            smtp_url_file: self.smtp_url_file.or(file.smtp_url_file),
            smtp_password: self.smtp_password.or(file.smtp_password),
            smtp_password_file: self.smtp_password_file.or(file.smtp_password_file),
            mail_from: self.mail_from.or(file.mail_from),
            mail_templates: self.mail_templates.or(file.mail_templates),
            config_file: self.config_file,
        }
    }
}

impl Default for Config {
    /// Every default, in one place.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            listen: "127.0.0.1:4000".into(),
            database_url: DatabaseUrl("sqlite://baton.db".into()),
            secret: None,
            secret_previous: None,
            issuer: None,
            audience: "baton".into(),
            access_ttl: Duration::from_secs(900),
            refresh_idle_ttl: days(7),
            refresh_absolute_ttl: days(30),
            refresh_grace: Duration::from_secs(10),
            registration_open: true,
            signing_alg: SigningAlg::EdDSA,
            password_min_length: 8,
            password_min_score: 2,
            register_min_score: 0,
            allowed_origins: Vec::new(),
            cookie_secure: true,
            dpop: Dpop::Allowed,
            dpop_nonce: false,
            clock_leeway: Duration::ZERO,
            login_limit_user: 10,
            login_limit_ip: 30,
            trusted_proxies: Vec::new(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_timeout: Duration::from_secs(30),
            sessions_per_user: 100,
            register_limit_ip: 0,
            hash_concurrency: cpus,
            hash_queue: 128,
            refresh_concurrency: 256,
            verify_concurrency: 1024,
            queue_timeout: Duration::from_secs(5),
            purge_interval: Duration::from_secs(600),
            audit_retention: days(90),
            public_url: None,
            reset_ttl: Duration::from_secs(30 * 60),
            email_verify_ttl: days(1),
            step_up_max_age: Duration::from_secs(10 * 60),
            totp_issuer: None,
            webauthn_rp_id: None,
            webauthn_origins: Vec::new(),
            smtp_url: None,
            smtp_password: None,
            mail_from: None,
            mail_templates: None,
            database_pool: baton_store::PoolSettings::default(),
            key_reload_interval: Duration::from_secs(30),
            log_format: LogFormat::Text,
        }
    }
}

impl Config {
    /// Resolves settings: flags and environment (already merged by clap) beat the config file,
    /// which beats the defaults ([`Config::default`]).
    pub fn resolve(settings: &Settings) -> anyhow::Result<Self> {
        let file = match &settings.config_file {
            Some(path) => read_file(path)?,
            None => Settings::default(),
        };
        let s = settings.clone().or(file);
        if s.trusted_proxy_header.is_some() {
            bail!(
                "BATON_TRUSTED_PROXY_HEADER (trusted_proxy_header) is replaced by \
                 BATON_TRUSTED_PROXIES: list your reverse proxies' addresses or CIDRs, and \
                 X-Forwarded-For is read from them only"
            );
        }
        let d = Self::default();
        let pool = d.database_pool;
        let config = Self {
            listen: s.listen.unwrap_or(d.listen),
            database_url: secret_setting(
                s.database_url,
                s.database_url_file.as_deref(),
                "database_url",
            )?
            .map_or(d.database_url, |url| {
                DatabaseUrl(url.expose_str().to_owned())
            }),
            secret: secret_setting(s.secret, s.secret_file.as_deref(), "secret")?,
            secret_previous: secret_setting(
                s.secret_previous,
                s.secret_previous_file.as_deref(),
                "secret_previous",
            )?,
            issuer: s.issuer.map(|i| i.trim_end_matches('/').to_owned()),
            audience: s.audience.unwrap_or(d.audience),
            access_ttl: s.access_ttl.unwrap_or(d.access_ttl),
            refresh_idle_ttl: s.refresh_idle_ttl.unwrap_or(d.refresh_idle_ttl),
            refresh_absolute_ttl: s.refresh_absolute_ttl.unwrap_or(d.refresh_absolute_ttl),
            refresh_grace: s.refresh_grace.unwrap_or(d.refresh_grace),
            registration_open: s
                .registration
                .map_or(d.registration_open, |r| r == Registration::Open),
            signing_alg: s.signing_alg.unwrap_or(d.signing_alg),
            password_min_length: s.password_min_length.unwrap_or(d.password_min_length),
            password_min_score: s.password_min_score.unwrap_or(d.password_min_score),
            register_min_score: s.register_min_score.unwrap_or(d.register_min_score),
            allowed_origins: s.allowed_origins.map_or(d.allowed_origins, |origins| {
                origins
                    .0
                    .into_iter()
                    .map(|o| o.trim_end_matches('/').to_owned())
                    .collect()
            }),
            cookie_secure: s.cookie_secure.unwrap_or(d.cookie_secure),
            dpop: s.dpop.unwrap_or(d.dpop),
            dpop_nonce: s.dpop_nonce.unwrap_or(d.dpop_nonce),
            clock_leeway: s.clock_leeway.unwrap_or(d.clock_leeway),
            login_limit_user: s.login_limit_user.unwrap_or(d.login_limit_user),
            login_limit_ip: s.login_limit_ip.unwrap_or(d.login_limit_ip),
            trusted_proxies: s.trusted_proxies.map_or(d.trusted_proxies, |n| {
                n.0.into_iter().map(|n| n.0).collect()
            }),
            header_timeout: s.header_timeout.unwrap_or(d.header_timeout),
            body_timeout: s.body_timeout.unwrap_or(d.body_timeout),
            max_connections: s.max_connections.unwrap_or(d.max_connections),
            shutdown_timeout: s.shutdown_timeout.unwrap_or(d.shutdown_timeout),
            sessions_per_user: s.sessions_per_user.unwrap_or(d.sessions_per_user),
            register_limit_ip: s.register_limit_ip.unwrap_or(d.register_limit_ip),
            hash_concurrency: s.hash_concurrency.unwrap_or(d.hash_concurrency),
            hash_queue: s.hash_queue.unwrap_or(d.hash_queue),
            refresh_concurrency: s.refresh_concurrency.unwrap_or(d.refresh_concurrency),
            verify_concurrency: s.verify_concurrency.unwrap_or(d.verify_concurrency),
            queue_timeout: s.queue_timeout.unwrap_or(d.queue_timeout),
            purge_interval: s.purge_interval.unwrap_or(d.purge_interval),
            audit_retention: s.audit_retention.unwrap_or(d.audit_retention),
            public_url: s.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            reset_ttl: s.reset_ttl.unwrap_or(d.reset_ttl),
            email_verify_ttl: s.email_verify_ttl.unwrap_or(d.email_verify_ttl),
            step_up_max_age: s.step_up_max_age.unwrap_or(d.step_up_max_age),
            totp_issuer: s
                .totp_issuer
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
            webauthn_rp_id: s
                .webauthn_rp_id
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty()),
            webauthn_origins: s.webauthn_origins.map_or(d.webauthn_origins, |origins| {
                origins
                    .0
                    .into_iter()
                    .map(|o| o.trim_end_matches('/').to_owned())
                    .collect()
            }),
            smtp_url: secret_setting(s.smtp_url, s.smtp_url_file.as_deref(), "smtp_url")?,
            smtp_password: secret_setting(
                s.smtp_password,
                s.smtp_password_file.as_deref(),
                "smtp_password",
            )?,
            mail_from: s.mail_from,
            mail_templates: s.mail_templates,
            database_pool: baton_store::PoolSettings {
                max_connections: s.database_max_connections.unwrap_or(pool.max_connections),
                acquire_timeout: s.database_acquire_timeout.unwrap_or(pool.acquire_timeout),
                statement_timeout: s
                    .database_statement_timeout
                    .unwrap_or(pool.statement_timeout),
            },
            key_reload_interval: s.key_reload_interval.unwrap_or(d.key_reload_interval),
            log_format: s.log_format.unwrap_or(d.log_format),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(issuer) = &self.issuer {
            if issuer.is_empty() || issuer.trim() != issuer {
                bail!("issuer must be a URL, without blanks around it (or unset)");
            }
        }
        if self.access_ttl.is_zero() {
            bail!("access_ttl must be positive");
        }
        if self.refresh_idle_ttl.is_zero() || self.refresh_absolute_ttl.is_zero() {
            bail!("refresh lifetimes must be positive");
        }
        // Bounds that keep every `now + lifetime` far from overflowing.
        let year = Duration::from_secs(365 * 86_400);
        if self.access_ttl > year || self.clock_leeway > year || self.refresh_grace > year {
            bail!("access_ttl, clock_leeway and refresh_grace must be at most a year");
        }
        if self.refresh_idle_ttl > 10 * year || self.refresh_absolute_ttl > 10 * year {
            bail!("refresh lifetimes must be at most ten years");
        }
        if !(1..=1024).contains(&self.password_min_length) {
            bail!("password_min_length must be between 1 and 1024");
        }
        if self.password_min_score > 4 || self.register_min_score > 4 {
            bail!("password_min_score and register_min_score must be between 0 and 4");
        }
        if self.hash_concurrency == 0 || self.hash_concurrency > 256 {
            bail!("hash_concurrency must be between 1 and 256");
        }
        if self.hash_queue == 0 || self.hash_queue > 65_536 {
            bail!("hash_queue must be between 1 and 65536");
        }
        for (name, n) in [
            ("refresh_concurrency", self.refresh_concurrency),
            ("verify_concurrency", self.verify_concurrency),
        ] {
            if n == 0 || n > 65_536 {
                bail!("{name} must be between 1 and 65536");
            }
        }
        if self.queue_timeout.is_zero() || self.queue_timeout > Duration::from_secs(60) {
            bail!("queue_timeout must be positive and at most a minute");
        }
        if self.audit_retention.is_zero()
            || self.audit_retention > 10 * Duration::from_secs(365 * 86_400)
        {
            bail!("audit_retention must be positive and at most ten years");
        }
        for (name, ttl) in [
            ("reset_ttl", self.reset_ttl),
            ("email_verify_ttl", self.email_verify_ttl),
        ] {
            if ttl < Duration::from_secs(60) || ttl > days(30) {
                bail!("{name} must be between a minute and 30 days");
            }
        }
        if self.step_up_max_age < Duration::from_secs(30) || self.step_up_max_age > days(1) {
            bail!("step_up_max_age must be between 30 seconds and a day");
        }
        if let Some(t) = &self.totp_issuer {
            if t.contains(':') || t.chars().count() > 64 || t.chars().any(char::is_control) {
                bail!(
                    "totp_issuer must be at most 64 characters, without ':' or control characters"
                );
            }
        }
        if let Some(rp_id) = &self.webauthn_rp_id {
            let domain = rp_id.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !domain || rp_id.parse::<std::net::IpAddr>().is_ok() || rp_id.len() > 253 {
                bail!("webauthn_rp_id must be a domain (example.com), never an IP address");
            }
        }
        for origin in &self.webauthn_origins {
            check_origin(origin)
                .with_context(|| format!("invalid webauthn_origins: {origin:?}"))?;
        }
        if let Some(url) = &self.public_url {
            check_origin_or_url(url).context("invalid public_url")?;
        }
        if let Some(url) = &self.smtp_url {
            crate::mail::check_smtp_url(url.expose_str()).context("invalid smtp_url")?;
        }
        if let Some(from) = &self.mail_from {
            crate::mail::check_sender(from).context("invalid mail_from")?;
        }
        if self.purge_interval.is_zero() || self.key_reload_interval.is_zero() {
            bail!("purge_interval and key_reload_interval must be positive");
        }
        if self.database_pool.max_connections == 0 || self.database_pool.acquire_timeout.is_zero() {
            bail!("database_max_connections and database_acquire_timeout must be positive");
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            bail!("header_timeout and body_timeout must be positive");
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            bail!("max_connections must be between 1 and 1000000");
        }
        if self.header_timeout > Duration::from_secs(3600)
            || self.body_timeout > Duration::from_secs(3600)
            || self.shutdown_timeout > Duration::from_secs(3600)
        {
            bail!("header_timeout, body_timeout and shutdown_timeout must be at most an hour");
        }
        for (name, secret) in [
            ("secret", &self.secret),
            ("secret_previous", &self.secret_previous),
        ] {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose().len() < baton_core::vault::MIN_SECRET_LEN)
            {
                bail!(
                    "{name} must be at least {} bytes long",
                    baton_core::vault::MIN_SECRET_LEN
                );
            }
        }
        for origin in &self.allowed_origins {
            check_origin(origin).with_context(|| format!("invalid allowed_origins: {origin:?}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
