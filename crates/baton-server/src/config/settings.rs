//! The raw settings: one field per setting, read by clap from a flag or a `BATON_*` variable.

use clap::Args;
use std::path::PathBuf;

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
