//! The settings: one field per setting, typed, read by clap from a flag or a `BATON_*` variable
//! and by serde from the `--config` file, through the same parsers ([`super::values`]).

use super::values::{
    boolean, de, list, number, parse_duration, setting, signing_alg, List, Network, Secret,
};
use super::{Dpop, LogFormat, Registration};
use baton_core::keys::SigningAlg;
use clap::{ArgAction, Args};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The settings as flags and environment, or the config file, give them; every one optional
/// (unset ones take [`super::Config::default`]'s value). A key the file does not know stops
/// startup: a typo would otherwise leave its setting at the default unnoticed.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:4000]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_LISTEN")]
    #[serde(default, deserialize_with = "de::text")]
    pub listen: Option<String>,
    /// Database URL, sqlite://… [default: sqlite://baton.db]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_URL"
    )]
    #[serde(default, deserialize_with = "de::secret")]
    pub database_url: Option<Secret>,
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
    #[serde(default, deserialize_with = "de::secret")]
    pub secret: Option<Secret>,
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
    #[serde(default, deserialize_with = "de::secret")]
    pub secret_previous: Option<Secret>,
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
    #[serde(default, deserialize_with = "de::text")]
    pub issuer: Option<String>,
    /// Audience (`aud`) [default: baton]
    #[arg(long, global = true, hide_env_values = true, env = "BATON_AUDIENCE")]
    #[serde(default, deserialize_with = "de::text")]
    pub audience: Option<String>,
    /// Access-token lifetime, seconds or 15m, 1h … [default: 900]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_ACCESS_TTL",
        value_parser = setting("access_ttl", parse_duration),
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub access_ttl: Option<Duration>,
    /// Refresh idle timeout [default: 7d]
    #[arg(
        value_parser = setting("refresh_idle_ttl", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_IDLE_TTL"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub refresh_idle_ttl: Option<Duration>,
    /// Refresh absolute lifetime [default: 30d]
    #[arg(
        value_parser = setting("refresh_absolute_ttl", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_ABSOLUTE_TTL"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub refresh_absolute_ttl: Option<Duration>,
    /// Refresh reuse grace window, 0 turns it off [default: 10]
    #[arg(
        value_parser = setting("refresh_grace", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_GRACE"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub refresh_grace: Option<Duration>,
    /// `open` or `closed` [default: open]
    #[arg(
        value_enum,
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REGISTRATION"
    )]
    pub registration: Option<Registration>,
    /// EdDSA, ES256 or RS256 [default: EdDSA]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SIGNING_ALG",
        value_parser = setting("signing_alg", signing_alg),
    )]
    #[serde(default, deserialize_with = "de::signing_alg")]
    pub signing_alg: Option<SigningAlg>,
    /// Minimum password length [default: 8]
    #[arg(
        value_parser = setting("password_min_length", number::<usize>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_PASSWORD_MIN_LENGTH"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub password_min_length: Option<usize>,
    /// Lowest password strength score (zxcvbn, 0-4) for a changed, reset or operator-set
    /// password; above 0 the username is also refused inside it [default: 2]
    #[arg(
        value_parser = setting("password_min_score", number::<u8>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_PASSWORD_MIN_SCORE"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub password_min_score: Option<u8>,
    /// The same at registration and `baton user add`; 0 checks the length alone [default: 0]
    #[arg(
        value_parser = setting("register_min_score", number::<u8>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REGISTER_MIN_SCORE"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub register_min_score: Option<u8>,
    /// Origins allowed for cookie requests, comma-separated [default: none]
    #[arg(
        value_parser = setting("allowed_origins", list::<String>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_ALLOWED_ORIGINS"
    )]
    #[serde(default, deserialize_with = "de::list")]
    pub allowed_origins: Option<List<String>>,
    /// `Secure` attribute on the refresh cookie [default: true]
    #[arg(
        value_parser = setting("cookie_secure", boolean), action = ArgAction::Set,
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_COOKIE_SECURE"
    )]
    #[serde(default, deserialize_with = "de::boolean")]
    pub cookie_secure: Option<bool>,
    /// DPoP for baton's own client: `off`, `allowed` or `required` [default: allowed]
    #[arg(
        value_enum,
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DPOP"
    )]
    pub dpop: Option<Dpop>,
    /// DPoP proofs must carry the server's nonce (`DPoP-Nonce`) [default: false]
    #[arg(
        value_parser = setting("dpop_nonce", boolean), action = ArgAction::Set,
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DPOP_NONCE"
    )]
    #[serde(default, deserialize_with = "de::boolean")]
    pub dpop_nonce: Option<bool>,
    /// Clock leeway for baton's own token checks [default: 0]
    #[arg(
        value_parser = setting("clock_leeway", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_CLOCK_LEEWAY"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub clock_leeway: Option<Duration>,
    /// Failed logins per username per 5 minutes before 429 [default: 10]
    #[arg(
        value_parser = setting("login_limit_user", number::<u32>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_LOGIN_LIMIT_USER"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub login_limit_user: Option<u32>,
    /// Failed logins per client IP per 5 minutes before 429 [default: 30]
    #[arg(
        value_parser = setting("login_limit_ip", number::<u32>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_LOGIN_LIMIT_IP"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub login_limit_ip: Option<u32>,
    /// Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the
    /// client [default: none]
    #[arg(
        value_parser = setting("trusted_proxies", list::<Network>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_TRUSTED_PROXIES"
    )]
    #[serde(default, deserialize_with = "de::list")]
    pub trusted_proxies: Option<List<Network>>,
    /// Replaced by BATON_TRUSTED_PROXIES; refused when set.
    #[arg(long, global = true, hide = true, env = "BATON_TRUSTED_PROXY_HEADER")]
    #[serde(default, deserialize_with = "de::text")]
    pub trusted_proxy_header: Option<String>,
    /// Longest wait for a request's headers; also ends idle keep-alive connections [default: 10s]
    #[arg(
        value_parser = setting("header_timeout", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_HEADER_TIMEOUT"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub header_timeout: Option<Duration>,
    /// Longest wait for a request's body [default: 10s]
    #[arg(
        value_parser = setting("body_timeout", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_BODY_TIMEOUT"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub body_timeout: Option<Duration>,
    /// Most client connections open at once; more wait to be accepted [default: 4096]
    #[arg(
        value_parser = setting("max_connections", number::<usize>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_MAX_CONNECTIONS"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub max_connections: Option<usize>,
    /// Longest wait for requests in flight at shutdown before the rest are closed [default: 30s]
    #[arg(
        value_parser = setting("shutdown_timeout", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SHUTDOWN_TIMEOUT"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub shutdown_timeout: Option<Duration>,
    /// Successful registrations per client IP per 5 minutes before 429, 0 for no limit
    /// [default: 0]
    #[arg(
        value_parser = setting("register_limit_ip", number::<u32>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REGISTER_LIMIT_IP"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub register_limit_ip: Option<u32>,
    /// Most live sessions per user; a new login revokes the oldest beyond it, 0 for no limit
    /// [default: 100]
    #[arg(
        value_parser = setting("sessions_per_user", number::<u32>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SESSIONS_PER_USER"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub sessions_per_user: Option<u32>,
    /// Password hashes computed at once [default: number of CPUs]
    #[arg(
        value_parser = setting("hash_concurrency", number::<usize>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_HASH_CONCURRENCY"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub hash_concurrency: Option<usize>,
    /// Password hashes waiting for a hashing thread before new ones get 503 [default: 128]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_HASH_QUEUE",
        value_parser = setting("hash_queue", number::<usize>),
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub hash_queue: Option<usize>,
    /// Refreshes and revocations handled at once; four times as many may wait, more get 503
    /// [default: 256]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_REFRESH_CONCURRENCY",
        value_parser = setting("refresh_concurrency", number::<usize>),
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub refresh_concurrency: Option<usize>,
    /// Token-verifying requests handled at once; four times as many may wait, more get 503
    /// [default: 1024]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_VERIFY_CONCURRENCY",
        value_parser = setting("verify_concurrency", number::<usize>),
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub verify_concurrency: Option<usize>,
    /// Longest a request waits for room in its class before a 503 [default: 5s]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_QUEUE_TIMEOUT",
        value_parser = setting("queue_timeout", parse_duration),
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub queue_timeout: Option<Duration>,
    /// Most open database connections (PostgreSQL) [default: 10]
    #[arg(
        value_parser = setting("database_max_connections", number::<u32>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_MAX_CONNECTIONS"
    )]
    #[serde(default, deserialize_with = "de::number")]
    pub database_max_connections: Option<u32>,
    /// How long a request waits for a database connection before a 503 [default: 3s]
    #[arg(
        value_parser = setting("database_acquire_timeout", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_ACQUIRE_TIMEOUT"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub database_acquire_timeout: Option<Duration>,
    /// Longest a database statement may run (PostgreSQL) [default: 10s]
    #[arg(
        value_parser = setting("database_statement_timeout", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_DATABASE_STATEMENT_TIMEOUT"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub database_statement_timeout: Option<Duration>,
    /// How often signing keys are reread from the database, to follow rotations made by other
    /// instances [default: 30s]
    #[arg(
        value_parser = setting("key_reload_interval", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_KEY_RELOAD_INTERVAL"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub key_reload_interval: Option<Duration>,
    /// How long audit events are kept [default: 90d]
    #[arg(
        value_parser = setting("audit_retention", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_AUDIT_RETENTION"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub audit_retention: Option<Duration>,
    /// How often expired sessions are purged [default: 10m]
    #[arg(
        value_parser = setting("purge_interval", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_PURGE_INTERVAL"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub purge_interval: Option<Duration>,
    /// Base URL of the links in mails (`…/#reset=TOKEN`, `…/#verify=TOKEN`); the issuer when
    /// unset
    #[arg(long, global = true, hide_env_values = true, env = "BATON_PUBLIC_URL")]
    #[serde(default, deserialize_with = "de::text")]
    pub public_url: Option<String>,
    /// How long a password-reset link works [default: 30m]
    #[arg(
        value_parser = setting("reset_ttl", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_RESET_TTL"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub reset_ttl: Option<Duration>,
    /// How long an address-confirmation link works [default: 1day]
    #[arg(
        value_parser = setting("email_verify_ttl", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_EMAIL_VERIFY_TTL"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub email_verify_ttl: Option<Duration>,
    /// How recent a sign-in must be for a change of password, e-mail address or second factors
    /// without a fresh second factor in the request [default: 10m]
    #[arg(
        value_parser = setting("step_up_max_age", parse_duration),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_STEP_UP_MAX_AGE"
    )]
    #[serde(default, deserialize_with = "de::duration")]
    pub step_up_max_age: Option<Duration>,
    /// The issuer authenticator apps show beside a TOTP account; the issuer's host when unset
    #[arg(long, global = true, hide_env_values = true, env = "BATON_TOTP_ISSUER")]
    #[serde(default, deserialize_with = "de::text")]
    pub totp_issuer: Option<String>,
    /// The WebAuthn relying party id of passkeys, a domain; the issuer's host when unset
    /// (`localhost` for an IP address)
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_WEBAUTHN_RP_ID"
    )]
    #[serde(default, deserialize_with = "de::text")]
    pub webauthn_rp_id: Option<String>,
    /// Origins whose pages may use passkeys, comma-separated; the issuer's origin when unset
    /// (with http(s)://localhost:PORT first for a loopback address)
    #[arg(
        value_parser = setting("webauthn_origins", list::<String>),
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_WEBAUTHN_ORIGINS"
    )]
    #[serde(default, deserialize_with = "de::list")]
    pub webauthn_origins: Option<List<String>>,
    /// SMTP server, smtp://host:port (STARTTLS when offered; ?tls=required to insist) or
    /// smtps://host:port, credentials in the URL or BATON_SMTP_PASSWORD; unset, no mail is
    /// sent
    #[arg(long, global = true, hide_env_values = true, env = "BATON_SMTP_URL")]
    #[serde(default, deserialize_with = "de::secret")]
    pub smtp_url: Option<Secret>,
    /// File holding the SMTP URL (instead of BATON_SMTP_URL)
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SMTP_URL_FILE"
    )]
    pub smtp_url_file: Option<PathBuf>,
    /// SMTP password, when not in the URL
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SMTP_PASSWORD"
    )]
    #[serde(default, deserialize_with = "de::secret")]
    pub smtp_password: Option<Secret>,
    /// File holding the SMTP password (instead of BATON_SMTP_PASSWORD)
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_SMTP_PASSWORD_FILE"
    )]
    pub smtp_password_file: Option<PathBuf>,
    /// Sender of baton's mail, e.g. "Example <no-reply@example.com>"; baton@ the issuer's host
    /// when unset
    #[arg(long, global = true, hide_env_values = true, env = "BATON_MAIL_FROM")]
    #[serde(default, deserialize_with = "de::text")]
    pub mail_from: Option<String>,
    /// Directory of mail templates replacing the built-in ones (any of
    /// password_reset.{subject,txt,html}, verify_email.{subject,txt,html}); built-in ones
    /// when unset
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_MAIL_TEMPLATES"
    )]
    pub mail_templates: Option<PathBuf>,
    /// Log format, `text` or `json` [default: text]
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "BATON_LOG_FORMAT",
        value_enum
    )]
    pub log_format: Option<LogFormat>,
    /// TOML file with any of these settings (snake_case keys)
    #[arg(
        long = "config",
        global = true,
        hide_env_values = true,
        env = "BATON_CONFIG"
    )]
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}
