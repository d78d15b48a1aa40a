//! Reading values, one parser per type, shared by the two sources: clap applies them to flags
//! and `BATON_*` variables ([`setting`]), serde to the config file ([`de`]), so a value means
//! the same wherever it is written.

use anyhow::{anyhow, bail, Context as _};
use baton_core::keys::SigningAlg;
use ipnet::IpNet;
use serde::Deserialize;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// A secret setting: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
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

    /// The secret as text.
    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A comma-separated list (`a, b`), or in the config file an array of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: FromStr<Err: Into<anyhow::Error>>> FromStr for List<T> {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        list(s)
    }
}

/// An entry of `trusted_proxies`: an address or a CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(pub IpNet);

impl FromStr for Network {
    type Err = anyhow::Error;

    fn from_str(item: &str) -> anyhow::Result<Self> {
        item.parse::<IpNet>()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map(Network)
            .map_err(|_| anyhow!("{item:?} is neither an address nor a CIDR"))
    }
}

/// A clap value parser for setting `key`: `parse`, with the setting named in its error.
pub(super) fn setting<T: 'static>(
    key: &'static str,
    parse: fn(&str) -> anyhow::Result<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |value| {
        parse(value)
            .map_err(|e| format!("invalid {key} (BATON_{}): {e:#}", key.to_ascii_uppercase()))
    }
}

/// Parses `900`, `15m`, `1h 30m`, `7d`: a bare number is seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| anyhow!("{s:?} is not a duration: {e}"))
}

pub(super) fn number<T: FromStr>(s: &str) -> anyhow::Result<T> {
    s.trim()
        .parse()
        .map_err(|_| anyhow!("{s:?} is not a whole number in range"))
}

pub(super) fn boolean(s: &str) -> anyhow::Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => bail!("{other:?} is not true or false"),
    }
}

pub(super) fn signing_alg(s: &str) -> anyhow::Result<SigningAlg> {
    s.trim().parse().map_err(|e: String| anyhow!(e))
}

/// Items separated by commas, blanks around them ignored, empty ones dropped.
pub(super) fn list<T: FromStr>(s: &str) -> anyhow::Result<List<T>>
where
    T::Err: Into<anyhow::Error>,
{
    s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| T::from_str(item).map_err(Into::into))
        .collect::<anyhow::Result<_>>()
        .map(List)
}

/// The config file's side: each setting's value as TOML gives it (a string, a number, a
/// boolean or an array of strings) read by the same parser as a flag's.
pub(super) mod de {
    use super::{List, Network, Secret};
    use baton_core::keys::SigningAlg;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    /// A value in whatever form TOML gave it.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(i64),
        Flag(bool),
        Items(Vec<String>),
    }

    impl Raw {
        fn text(self) -> String {
            match self {
                Self::Text(s) => s,
                Self::Number(n) => n.to_string(),
                Self::Flag(b) => b.to_string(),
                Self::Items(items) => items.join(","),
            }
        }
    }

    fn with<'de, D: Deserializer<'de>, T>(
        d: D,
        parse: impl FnOnce(&str) -> anyhow::Result<T>,
    ) -> Result<Option<T>, D::Error> {
        let raw = Option::<Raw>::deserialize(d)?;
        raw.map(|r| parse(&r.text()))
            .transpose()
            .map_err(|e| D::Error::custom(format!("{e:#}")))
    }

    /// Text, which TOML may also give as a bare number or boolean.
    pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        with(d, |s| Ok(s.to_owned()))
    }

    /// A secret, read like [`text`]; a value of the wrong shape is refused without being shown.
    pub(crate) fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Option::<Raw>::deserialize(d)
            .map(|raw| raw.map(|r| Secret::new(r.text())))
            .map_err(|_| D::Error::custom("a secret is a string"))
    }

    pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        with(d, super::parse_duration)
    }

    pub(crate) fn number<'de, D: Deserializer<'de>, T: std::str::FromStr>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        with(d, super::number)
    }

    pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        with(d, super::boolean)
    }

    pub(crate) fn signing_alg<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SigningAlg>, D::Error> {
        with(d, super::signing_alg)
    }

    /// A list, of strings or of networks.
    pub(crate) fn list<'de, D: Deserializer<'de>, T: ListItem>(
        d: D,
    ) -> Result<Option<List<T>>, D::Error> {
        with(d, super::list)
    }

    /// What a [`List`] in the config file may hold.
    pub(crate) trait ListItem: std::str::FromStr<Err: Into<anyhow::Error>> {}
    impl ListItem for String {}
    impl ListItem for Network {}
}

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

/// A base URL for links: `http(s)://host[:port][/path]`, no query or fragment.
pub(super) fn check_origin_or_url(url: &str) -> anyhow::Result<()> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("a URL is http(s)://host[:port][/path]"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if !matches!(scheme, "http" | "https")
        || host.is_empty()
        || url.contains(['?', '#', ' ', '"', '<', '>', '\\'])
        || url.chars().any(char::is_control)
    {
        bail!("a URL is http(s)://host[:port][/path], with no query, fragment or blanks");
    }
    Ok(())
}

pub(super) fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// A setting that may come as a value or as a file holding it (`X` or `X_FILE`, not both; a
/// file's trailing newline is not part of the value).
pub(super) fn secret_setting(
    value: Option<Secret>,
    file: Option<&Path>,
    key: &str,
) -> anyhow::Result<Option<Secret>> {
    match (value, file) {
        (Some(_), Some(_)) => bail!("set {key} or {key}_file, not both"),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {key}_file {}", path.display()))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            if text.is_empty() {
                bail!("{key}_file {} is empty", path.display());
            }
            Ok(Some(Secret::new(text)))
        }
        (None, None) => Ok(None),
    }
}

/// Reads the config file into [`super::Settings`]. Keys baton does not know stop startup, all
/// of them named (serde alone would name the first); values are then read with their line shown.
pub(super) fn read_file(path: &Path) -> anyhow::Result<super::Settings> {
    use clap::Args as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("invalid TOML in {}", path.display()))?;
    let command = super::Settings::augment_args(clap::Command::new("baton"));
    let settings = || {
        command
            .get_arguments()
            .filter(|a| a.get_id() != "config_file")
    };
    // A retired setting is known (to be refused with a message of its own) but not offered.
    let known: Vec<&str> = settings().map(|a| a.get_id().as_str()).collect();
    let offered: Vec<&str> = settings()
        .filter(|a| !a.is_hide_set())
        .map(|a| a.get_id().as_str())
        .collect();
    let unknown: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|key| !known.contains(key))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "config file {}: unknown setting(s) {} (known: {})",
            path.display(),
            unknown.join(", "),
            offered.join(", ")
        );
    }
    toml::from_str(&text).map_err(|e| {
        // Named by line and key, never by the line itself, which may hold a secret.
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let key = line
            .and_then(|n| text.lines().nth(n - 1))
            .and_then(|l| l.split_once('='))
            .map(|(key, _)| key.trim().to_owned());
        match (line, key) {
            (Some(n), Some(key)) => anyhow!(
                "config file {}, line {n}: invalid {key}: {}",
                path.display(),
                e.message()
            ),
            _ => anyhow!("config file {}: {}", path.display(), e.message()),
        }
    })
}
