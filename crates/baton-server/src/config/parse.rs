//! Reading values: durations, booleans, networks, origins, secrets from files, the config file.

use anyhow::{anyhow, bail, Context as _};
use ipnet::IpNet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An entry of `allowed_origins`: `scheme://host[:port]`, nothing else (no `*`: credentialed
/// requests cannot be allowed from everywhere).
pub(super) fn check_origin(origin: &str) -> anyhow::Result<()> {
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
pub(super) fn parse_networks(list: &str) -> anyhow::Result<Vec<IpNet>> {
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

pub(super) fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// A setting that may come as a value or as a file holding it (`X` or `X_FILE`, not both; a
/// file's trailing newline is not part of the value).
/// How [`Config::resolve`] reads one setting: the flag or environment value, else the file's.
pub(super) type Lookup<'a> = &'a dyn Fn(&Option<String>, &str) -> anyhow::Result<Option<String>>;

pub(super) fn secret_setting(
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
pub(super) const FILE_KEYS: &[&str] = &[
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
pub(super) fn read_file(path: &Path) -> anyhow::Result<toml::Table> {
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

pub(super) fn parse_bool(s: &str) -> anyhow::Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => bail!("{other:?} is not true or false"),
    }
}
