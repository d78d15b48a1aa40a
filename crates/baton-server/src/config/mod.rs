//! Configuration: every setting can come from a flag, a `BATON_*` environment variable or the
//! `--config` TOML file, in that order of precedence, and ends up in one validated [`Config`].

use anyhow::{anyhow, bail, Context as _};
use baton_core::keys::SigningAlg;
use ipnet::IpNet;
use std::time::Duration;

mod describe;
mod parse;
mod settings;

pub use parse::parse_duration;
use parse::{check_origin, days, parse_bool, parse_networks, read_file, secret_setting};
pub use settings::Settings;

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

#[cfg(test)]
mod tests;
