//! Configuration: every setting can come from a flag, a `BATON_*` environment variable or the
//! `--config` TOML file, in that order of precedence, and ends up in one validated [`Config`].

use anyhow::{anyhow, bail, Context as _};
use baton_core::keys::SigningAlg;
use clap::Args;
use ipnet::IpNet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The raw settings as flags and environment give them; every one optional.
#[derive(Debug, Clone, Default, Args)]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:4000]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_LISTEN")]
    pub listen: Option<String>,
    /// Database URL, sqlite://… [default: sqlite://baton.db]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_URL"
    )]
    pub database_url: Option<String>,
    /// File holding the database URL (instead of BATON_DATABASE_URL)
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_URL_FILE"
    )]
    pub database_url_file: Option<PathBuf>,
    /// Secret the signing keys are encrypted under, at least 16 bytes [default on SQLite: a
    /// generated file baton.secret beside the database; required on PostgreSQL]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_SECRET")]
    pub secret: Option<String>,
    /// File holding the secret (instead of BATON_SECRET)
    #[arg(long, global = true, hide_env_values = true, env = "BATON_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The secret before the last change, still accepted for decryption until `baton keys
    /// rewrap`
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SECRET_PREVIOUS"
    )]
    pub secret_previous: Option<String>,
    /// File holding the previous secret
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SECRET_PREVIOUS_FILE"
    )]
    pub secret_previous_file: Option<PathBuf>,
    /// Issuer (`iss`) [default: http:// + the listen address]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_ISSUER")]
    pub issuer: Option<String>,
    /// Audience (`aud`) [default: baton]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_AUDIENCE")]
    pub audience: Option<String>,
    /// Access-token lifetime, seconds or 15m, 1h … [default: 900]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_ACCESS_TTL")]
    pub access_ttl: Option<String>,
    /// Refresh idle timeout [default: 7d]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_IDLE_TTL"
    )]
    pub refresh_idle_ttl: Option<String>,
    /// Refresh absolute lifetime [default: 30d]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_ABSOLUTE_TTL"
    )]
    pub refresh_absolute_ttl: Option<String>,
    /// Refresh reuse grace window, 0 turns it off [default: 10]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_GRACE"
    )]
    pub refresh_grace: Option<String>,
    /// `open` or `closed` [default: open]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REGISTRATION"
    )]
    pub registration: Option<String>,
    /// EdDSA, ES256 or RS256 [default: EdDSA]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_SIGNING_ALG")]
    pub signing_alg: Option<String>,
    /// Minimum password length [default: 8]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_PASSWORD_MIN_LENGTH"
    )]
    pub password_min_length: Option<String>,
    /// Origins allowed for cookie requests, comma-separated [default: none]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_ALLOWED_ORIGINS"
    )]
    pub allowed_origins: Option<String>,
    /// `Secure` attribute on the refresh cookie [default: true]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_COOKIE_SECURE"
    )]
    pub cookie_secure: Option<String>,
    /// Clock leeway for baton's own token checks [default: 0]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_CLOCK_LEEWAY"
    )]
    pub clock_leeway: Option<String>,
    /// Failed logins per username per 5 minutes before 429 [default: 10]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_LOGIN_LIMIT_USER"
    )]
    pub login_limit_user: Option<String>,
    /// Failed logins per client IP per 5 minutes before 429 [default: 30]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_LOGIN_LIMIT_IP"
    )]
    pub login_limit_ip: Option<String>,
    /// Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the
    /// client [default: none]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_TRUSTED_PROXIES"
    )]
    pub trusted_proxies: Option<String>,
    /// Replaced by BATON_TRUSTED_PROXIES; refused when set.
    #[arg(long, global = true, hide = true, env = "BATON_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<String>,
    /// Longest wait for a request's headers; also ends idle keep-alive connections [default: 10s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_HEADER_TIMEOUT"
    )]
    pub header_timeout: Option<String>,
    /// Longest wait for a request's body [default: 10s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_BODY_TIMEOUT"
    )]
    pub body_timeout: Option<String>,
    /// Most client connections open at once; more wait to be accepted [default: 4096]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_MAX_CONNECTIONS"
    )]
    pub max_connections: Option<String>,
    /// Longest wait for requests in flight at shutdown before the rest are closed [default: 30s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SHUTDOWN_TIMEOUT"
    )]
    pub shutdown_timeout: Option<String>,
    /// Successful registrations per client IP per 5 minutes before 429, 0 for no limit
    /// [default: 0]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REGISTER_LIMIT_IP"
    )]
    pub register_limit_ip: Option<String>,
    /// Most live sessions per user; a new login revokes the oldest beyond it, 0 for no limit
    /// [default: 100]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SESSIONS_PER_USER"
    )]
    pub sessions_per_user: Option<String>,
    /// Password hashes computed at once [default: number of CPUs]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_HASH_CONCURRENCY"
    )]
    pub hash_concurrency: Option<String>,
    /// Password hashes waiting for a hashing thread before new ones get 503 [default: 128]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_HASH_QUEUE")]
    pub hash_queue: Option<String>,
    /// Most open database connections (PostgreSQL) [default: 10]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_MAX_CONNECTIONS"
    )]
    pub database_max_connections: Option<String>,
    /// How long a request waits for a database connection before a 503 [default: 3s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_ACQUIRE_TIMEOUT"
    )]
    pub database_acquire_timeout: Option<String>,
    /// Longest a database statement may run (PostgreSQL) [default: 10s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_STATEMENT_TIMEOUT"
    )]
    pub database_statement_timeout: Option<String>,
    /// How often signing keys are reread from the database, to follow rotations made by other
    /// instances [default: 30s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_KEY_RELOAD_INTERVAL"
    )]
    pub key_reload_interval: Option<String>,
    /// How long audit events are kept [default: 90d]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_AUDIT_RETENTION"
    )]
    pub audit_retention: Option<String>,
    /// How often expired sessions are purged [default: 10m]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_PURGE_INTERVAL"
    )]
    pub purge_interval: Option<String>,
    /// Log format, `text` or `json` [default: text]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// TOML file with any of these settings (snake_case keys)
    #[arg(
        long = "config",
        global = true,
        hide_env_values = true,
        env = "BATON_CONFIG"
    )]
    pub config_file: Option<PathBuf>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret setting: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub listen: String,
    /// Database URL.
    pub database_url: String,
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
    /// Origins allowed to make credentialed (cookie) requests.
    pub allowed_origins: Vec<String>,
    /// Whether the refresh cookie is `Secure`.
    pub cookie_secure: bool,
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
}

impl Config {
    /// Resolves settings: flags and environment (already merged by clap) beat the config file,
    /// which beats the defaults.
    pub fn resolve(settings: &Settings) -> anyhow::Result<Self> {
        let file = match &settings.config_file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let get = |flag: &Option<String>, key: &str| -> anyhow::Result<Option<String>> {
            if let Some(v) = flag {
                return Ok(Some(v.clone()));
            }
            match file.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(toml::Value::Integer(i)) => Ok(Some(i.to_string())),
                Some(toml::Value::Boolean(b)) => Ok(Some(b.to_string())),
                Some(toml::Value::Array(items)) => Ok(Some(
                    items
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                Some(other) => bail!("config file: {key} has an unsupported value {other}"),
            }
        };
        let s = settings;
        let dur =
            |flag: &Option<String>, key: &str, default: Duration| -> anyhow::Result<Duration> {
                get(flag, key)?
                    .map(|v| parse_duration(&v).with_context(|| format!("invalid {key}")))
                    .transpose()
                    .map(|v| v.unwrap_or(default))
            };
        let num = |flag: &Option<String>, key: &str, default: u64| -> anyhow::Result<u64> {
            get(flag, key)?
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .with_context(|| format!("invalid {key}: {v:?} is not a whole number"))
                })
                .transpose()
                .map(|v| v.unwrap_or(default))
        };

        if get(&s.trusted_proxy_header, "trusted_proxy_header")?.is_some() {
            bail!(
                "BATON_TRUSTED_PROXY_HEADER (trusted_proxy_header) is replaced by \
                 BATON_TRUSTED_PROXIES: list your reverse proxies' addresses or CIDRs, and \
                 X-Forwarded-For is read from them only"
            );
        }
        let registration_open = match get(&s.registration, "registration")?.as_deref() {
            None | Some("open") => true,
            Some("closed") => false,
            Some(other) => bail!("invalid registration: {other:?} (use open or closed)"),
        };
        let cookie_secure = get(&s.cookie_secure, "cookie_secure")?
            .map(|v| parse_bool(&v).with_context(|| "invalid cookie_secure"))
            .transpose()?
            .unwrap_or(true);
        let signing_alg = get(&s.signing_alg, "signing_alg")?
            .map(|v| v.parse::<SigningAlg>().map_err(|e| anyhow!(e)))
            .transpose()?
            .unwrap_or(SigningAlg::EdDSA);
        let log_format = match get(&s.log_format, "log_format")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("invalid log_format: {other:?} (use text or json)"),
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let config = Self {
            listen: get(&s.listen, "listen")?.unwrap_or_else(|| "127.0.0.1:4000".into()),
            database_url: secret_setting(
                &get,
                &s.database_url,
                &s.database_url_file,
                "database_url",
            )?
            .unwrap_or_else(|| "sqlite://baton.db".into()),
            secret: secret_setting(&get, &s.secret, &s.secret_file, "secret")?.map(Secret),
            secret_previous: secret_setting(
                &get,
                &s.secret_previous,
                &s.secret_previous_file,
                "secret_previous",
            )?
            .map(Secret),
            issuer: get(&s.issuer, "issuer")?.map(|i| i.trim_end_matches('/').to_owned()),
            audience: get(&s.audience, "audience")?.unwrap_or_else(|| "baton".into()),
            access_ttl: dur(&s.access_ttl, "access_ttl", Duration::from_secs(900))?,
            refresh_idle_ttl: dur(&s.refresh_idle_ttl, "refresh_idle_ttl", days(7))?,
            refresh_absolute_ttl: dur(&s.refresh_absolute_ttl, "refresh_absolute_ttl", days(30))?,
            refresh_grace: dur(&s.refresh_grace, "refresh_grace", Duration::from_secs(10))?,
            registration_open,
            signing_alg,
            password_min_length: usize::try_from(num(
                &s.password_min_length,
                "password_min_length",
                8,
            )?)?,
            allowed_origins: get(&s.allowed_origins, "allowed_origins")?
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            cookie_secure,
            clock_leeway: dur(&s.clock_leeway, "clock_leeway", Duration::ZERO)?,
            login_limit_user: u32::try_from(num(&s.login_limit_user, "login_limit_user", 10)?)?,
            login_limit_ip: u32::try_from(num(&s.login_limit_ip, "login_limit_ip", 30)?)?,
            trusted_proxies: get(&s.trusted_proxies, "trusted_proxies")?
                .map(|v| parse_networks(&v).context("invalid trusted_proxies"))
                .transpose()?
                .unwrap_or_default(),
            header_timeout: dur(&s.header_timeout, "header_timeout", Duration::from_secs(10))?,
            body_timeout: dur(&s.body_timeout, "body_timeout", Duration::from_secs(10))?,
            max_connections: usize::try_from(num(&s.max_connections, "max_connections", 4096)?)?,
            shutdown_timeout: dur(
                &s.shutdown_timeout,
                "shutdown_timeout",
                Duration::from_secs(30),
            )?,
            register_limit_ip: u32::try_from(num(&s.register_limit_ip, "register_limit_ip", 0)?)?,
            sessions_per_user: u32::try_from(num(&s.sessions_per_user, "sessions_per_user", 100)?)?,
            hash_concurrency: usize::try_from(num(
                &s.hash_concurrency,
                "hash_concurrency",
                cpus as u64,
            )?)?,
            hash_queue: usize::try_from(num(&s.hash_queue, "hash_queue", 128)?)?,
            purge_interval: dur(
                &s.purge_interval,
                "purge_interval",
                Duration::from_secs(600),
            )?,
            audit_retention: dur(&s.audit_retention, "audit_retention", days(90))?,
            database_pool: baton_store::PoolSettings {
                max_connections: u32::try_from(num(
                    &s.database_max_connections,
                    "database_max_connections",
                    10,
                )?)?,
                acquire_timeout: dur(
                    &s.database_acquire_timeout,
                    "database_acquire_timeout",
                    Duration::from_secs(3),
                )?,
                statement_timeout: dur(
                    &s.database_statement_timeout,
                    "database_statement_timeout",
                    Duration::from_secs(10),
                )?,
            },
            key_reload_interval: dur(
                &s.key_reload_interval,
                "key_reload_interval",
                Duration::from_secs(30),
            )?,
            log_format,
        };
        config.validate()?;
        Ok(config)
    }

    /// Every setting in effect as `key = value` lines (the config file's keys), secrets
    /// redacted: what `baton config check` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let list = |items: &[String]| items.join(", ");
        vec![
            ("listen", self.listen.clone()),
            ("database_url", crate::app::redact(&self.database_url)),
            (
                "secret",
                if self.secret.is_some() {
                    "(set)"
                } else {
                    "(not set: on SQLite, baton.secret beside the database)"
                }
                .into(),
            ),
            (
                "secret_previous",
                if self.secret_previous.is_some() {
                    "(set)"
                } else {
                    "(not set)"
                }
                .into(),
            ),
            (
                "issuer",
                self.issuer
                    .clone()
                    .unwrap_or_else(|| format!("http://{} (the listen address)", self.listen)),
            ),
            ("audience", self.audience.clone()),
            ("access_ttl", secs(self.access_ttl)),
            ("refresh_idle_ttl", secs(self.refresh_idle_ttl)),
            ("refresh_absolute_ttl", secs(self.refresh_absolute_ttl)),
            ("refresh_grace", secs(self.refresh_grace)),
            (
                "registration",
                if self.registration_open {
                    "open"
                } else {
                    "closed"
                }
                .into(),
            ),
            ("signing_alg", self.signing_alg.to_string()),
            ("password_min_length", self.password_min_length.to_string()),
            ("allowed_origins", list(&self.allowed_origins)),
            ("cookie_secure", self.cookie_secure.to_string()),
            ("clock_leeway", secs(self.clock_leeway)),
            ("login_limit_user", self.login_limit_user.to_string()),
            ("login_limit_ip", self.login_limit_ip.to_string()),
            (
                "trusted_proxies",
                list(
                    &self
                        .trusted_proxies
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                ),
            ),
            ("header_timeout", secs(self.header_timeout)),
            ("body_timeout", secs(self.body_timeout)),
            ("max_connections", self.max_connections.to_string()),
            ("shutdown_timeout", secs(self.shutdown_timeout)),
            ("sessions_per_user", self.sessions_per_user.to_string()),
            ("register_limit_ip", self.register_limit_ip.to_string()),
            ("hash_concurrency", self.hash_concurrency.to_string()),
            ("hash_queue", self.hash_queue.to_string()),
            (
                "database_max_connections",
                self.database_pool.max_connections.to_string(),
            ),
            (
                "database_acquire_timeout",
                secs(self.database_pool.acquire_timeout),
            ),
            (
                "database_statement_timeout",
                secs(self.database_pool.statement_timeout),
            ),
            ("key_reload_interval", secs(self.key_reload_interval)),
            ("purge_interval", secs(self.purge_interval)),
            ("audit_retention", secs(self.audit_retention)),
            (
                "log_format",
                match self.log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }
                .into(),
            ),
        ]
    }

    fn validate(&self) -> anyhow::Result<()> {
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
        if self.hash_concurrency == 0 || self.hash_concurrency > 256 {
            bail!("hash_concurrency must be between 1 and 256");
        }
        if self.hash_queue == 0 || self.hash_queue > 65_536 {
            bail!("hash_queue must be between 1 and 65536");
        }
        if self.audit_retention.is_zero()
            || self.audit_retention > 10 * Duration::from_secs(365 * 86_400)
        {
            bail!("audit_retention must be positive and at most ten years");
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

/// An entry of `allowed_origins`: `scheme://host[:port]`, nothing else (no `*`: credentialed
/// requests cannot be allowed from everywhere).
fn check_origin(origin: &str) -> anyhow::Result<()> {
    if origin.contains('*') {
        bail!(
            "a wildcard cannot allow cookie requests; list each origin (https://app.example.com)"
        );
    }
    let (scheme, host) = origin
        .split_once("://")
        .ok_or_else(|| anyhow!("an origin is scheme://host[:port]"))?;
    if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains(['/', '?', '#', ' '])
    {
        bail!("an origin is http(s)://host[:port], with no path");
    }
    axum::http::HeaderValue::from_str(origin).context("not a valid header value")?;
    Ok(())
}

/// Addresses or CIDRs, comma-separated: `10.0.0.0/8, 192.0.2.7, ::1`.
fn parse_networks(list: &str) -> anyhow::Result<Vec<IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| anyhow!("{item:?} is neither an address nor a CIDR"))
        })
        .collect()
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// A setting that may come as a value or as a file holding it (`X` or `X_FILE`, not both; a
/// file's trailing newline is not part of the value).
/// How [`Config::resolve`] reads one setting: the flag or environment value, else the file's.
type Lookup<'a> = &'a dyn Fn(&Option<String>, &str) -> anyhow::Result<Option<String>>;

fn secret_setting(
    get: Lookup<'_>,
    value: &Option<String>,
    file: &Option<PathBuf>,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let file_key = format!("{key}_file");
    let file = match file {
        Some(path) => Some(path.clone()),
        None => get(&None, &file_key)?.map(PathBuf::from),
    };
    let value = get(value, key)?;
    match (value, file) {
        (Some(_), Some(_)) => bail!("set {key} or {file_key}, not both"),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {file_key} {}", path.display()))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            if text.is_empty() {
                bail!("{file_key} {} is empty", path.display());
            }
            Ok(Some(text.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// The keys a config file may hold: the settings' names in snake_case.
const FILE_KEYS: &[&str] = &[
    "listen",
    "database_url",
    "database_url_file",
    "secret",
    "secret_file",
    "secret_previous",
    "secret_previous_file",
    "issuer",
    "audience",
    "access_ttl",
    "refresh_idle_ttl",
    "refresh_absolute_ttl",
    "refresh_grace",
    "registration",
    "signing_alg",
    "password_min_length",
    "allowed_origins",
    "cookie_secure",
    "clock_leeway",
    "login_limit_user",
    "login_limit_ip",
    "trusted_proxies",
    "trusted_proxy_header",
    "header_timeout",
    "body_timeout",
    "max_connections",
    "shutdown_timeout",
    "sessions_per_user",
    "register_limit_ip",
    "hash_concurrency",
    "hash_queue",
    "database_max_connections",
    "database_acquire_timeout",
    "database_statement_timeout",
    "key_reload_interval",
    "purge_interval",
    "audit_retention",
    "log_format",
];

/// Reads the config file; a key baton does not know (a typo would otherwise leave its
/// setting at the default unnoticed) stops startup.
fn read_file(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("invalid TOML in {}", path.display()))?;
    let unknown: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|key| !FILE_KEYS.contains(key))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "config file {}: unknown setting(s) {} (known: {})",
            path.display(),
            unknown.join(", "),
            FILE_KEYS.join(", ")
        );
    }
    Ok(table)
}

/// Parses `900`, `15m`, `1h 30m`, `7d`: a bare number is seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| anyhow!("{s:?} is not a duration: {e}"))
}

fn parse_bool(s: &str) -> anyhow::Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => bail!("{other:?} is not true or false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::resolve(&Settings::default()).expect("defaults are valid");
        assert_eq!(c.listen, "127.0.0.1:4000");
        assert_eq!(c.database_url, "sqlite://baton.db");
        assert_eq!(c.audience, "baton");
        assert_eq!(c.access_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_idle_ttl, days(7));
        assert_eq!(c.refresh_absolute_ttl, days(30));
        assert_eq!(c.refresh_grace, Duration::from_secs(10));
        assert!(c.registration_open);
        assert_eq!(c.signing_alg, SigningAlg::EdDSA);
        assert_eq!(c.password_min_length, 8);
        assert!(c.allowed_origins.is_empty());
        assert!(c.cookie_secure);
        assert_eq!(c.clock_leeway, Duration::ZERO);
        assert_eq!((c.login_limit_user, c.login_limit_ip), (10, 30));
    }

    #[test]
    fn durations_take_seconds_or_units() {
        assert_eq!(parse_duration("900").expect("ok"), Duration::from_secs(900));
        assert_eq!(parse_duration("15m").expect("ok"), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").expect("ok"), Duration::from_secs(3600));
        assert_eq!(parse_duration("7d").expect("ok"), days(7));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            file,
            "access_ttl = \"1h\"\naudience = \"from-file\"\ncookie_secure = false\n\
             allowed_origins = [\"https://a.example\", \"https://b.example/\"]"
        )
        .expect("write");
        let settings = Settings {
            audience: Some("from-flag".into()),
            config_file: Some(file.path().to_owned()),
            ..Settings::default()
        };
        let c = Config::resolve(&settings).expect("valid");
        assert_eq!(c.audience, "from-flag");
        assert_eq!(c.access_ttl, Duration::from_secs(3600));
        assert!(!c.cookie_secure);
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn every_setting_may_be_in_the_file() {
        use clap::Args as _;
        let command = Settings::augment_args(clap::Command::new("baton"));
        let ids: Vec<String> = command
            .get_arguments()
            .map(|a| a.get_id().as_str().to_owned())
            .filter(|id| id != "config_file")
            .collect();
        assert_eq!(ids.len(), FILE_KEYS.len(), "{ids:?}");
        for id in ids {
            assert!(FILE_KEYS.contains(&id.as_str()), "{id} is missing");
        }
    }

    #[test]
    fn finding_14_unknown_keys_in_the_file_stop_startup() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "refresh_absolut_ttl = \"1d\"").expect("write");
        let settings = Settings {
            config_file: Some(file.path().to_owned()),
            ..Settings::default()
        };
        let err = format!("{:#}", Config::resolve(&settings).expect_err("unknown key"));
        assert!(err.contains("refresh_absolut_ttl"), "{err}");
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "access_ttl = 1.5").expect("write");
        let settings = Settings {
            config_file: Some(file.path().to_owned()),
            ..Settings::default()
        };
        let err = format!("{:#}", Config::resolve(&settings).expect_err("a float"));
        assert!(err.contains("access_ttl"), "{err}");
    }

    #[test]
    fn finding_13_a_wildcard_origin_is_refused_with_a_message() {
        for bad in [
            "*",
            "https://*.example.com",
            "example.com",
            "https://a.example/path",
        ] {
            let settings = Settings {
                allowed_origins: Some(bad.into()),
                ..Settings::default()
            };
            let err = format!("{:#}", Config::resolve(&settings).expect_err(bad));
            assert!(err.contains("allowed_origins"), "{err}");
        }
        let settings = Settings {
            allowed_origins: Some("https://app.example.com, http://localhost:5173".into()),
            ..Settings::default()
        };
        assert!(Config::resolve(&settings).is_ok());
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidrs() {
        let settings = Settings {
            trusted_proxies: Some("10.0.0.0/8, 192.0.2.7,::1".into()),
            ..Settings::default()
        };
        let c = Config::resolve(&settings).expect("valid");
        assert_eq!(c.trusted_proxies.len(), 3);
        let settings = Settings {
            trusted_proxies: Some("10.0.0.0/33".into()),
            ..Settings::default()
        };
        assert!(Config::resolve(&settings).is_err());
        let settings = Settings {
            trusted_proxy_header: Some("X-Forwarded-For".into()),
            ..Settings::default()
        };
        let err = format!("{:#}", Config::resolve(&settings).expect_err("replaced"));
        assert!(err.contains("BATON_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let settings = Settings {
            access_ttl: Some("soon".into()),
            ..Settings::default()
        };
        let err = Config::resolve(&settings).expect_err("invalid");
        assert!(format!("{err:#}").contains("access_ttl"));
        let settings = Settings {
            signing_alg: Some("HS256".into()),
            ..Settings::default()
        };
        assert!(Config::resolve(&settings).is_err());
    }
}
