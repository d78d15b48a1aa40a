//! `baton client …`: adding, showing, changing, listing and deleting OAuth clients.

use anyhow::{bail, Context as _};
use baton_core::client::{ClaimSource, ClientRecord, ClientSettings, Grant, DEFAULT_SCOPES};
use baton_core::Baton;
use std::io::Write;

/// What a client may do, as `client add` and `client update` take it. In `update`, a flag not
/// given leaves that setting as it is, a list given replaces the old one, and a list given as
/// the one word `none` empties it.
#[derive(Debug, Default, clap::Args)]
pub struct ClientFlags {
    /// The name users see on the consent page [default: the client_id].
    #[arg(long = "name", value_name = "TEXT")]
    display_name: Option<String>,
    /// A URI authorization answers may go to, matched exactly (but for the port of an http
    /// URI on a loopback IP address, 127.0.0.1 or `[::1]`); repeat for several.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A URI RP-initiated logout may send the browser to afterwards; repeat for several.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A grant it may use: authorization_code, refresh_token, client_credentials or password
    /// (repeat, or separate with commas) [default: authorization_code and refresh_token with
    /// a redirect URI; password and refresh_token without one, as clients always had].
    #[arg(long = "grant", value_name = "GRANT", value_delimiter = ',')]
    grants: Vec<String>,
    /// Scopes it may ask for: openid, profile, email, offline_access, roles and its own API
    /// scopes (repeat, or separate with spaces or commas) [default: openid profile email
    /// with the authorization_code grant].
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The operator's own app: no consent asked, a refresh token without offline_access
    /// (`--first-party=false` to undo).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    first_party: Option<bool>,
    /// Both lifetimes follow the server's settings again. (`--access-ttl` and
    /// `--refresh-idle-ttl` given on the command line of `client add` or `client update`,
    /// before or after the subcommand, set the client's own lifetimes.)
    #[arg(long)]
    default_ttls: bool,
    /// `--access-ttl` as given on this command line: the server's global flag of that name,
    /// which on `client add` and `client update` sets the client's own (see [`Self::with_ttls`]).
    #[arg(skip)]
    access_ttl: Option<u64>,
    /// `--refresh-idle-ttl` as given on this command line (see [`Self::with_ttls`]).
    #[arg(skip)]
    refresh_idle_ttl: Option<u64>,
    /// Its authorization requests must be pushed first (RFC 9126) (`--require-par=false` to
    /// undo).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    require_par: Option<bool>,
    /// Its token requests must come with a DPoP proof (RFC 9449), binding its tokens to its
    /// key (`--require-dpop=false` to undo).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    require_dpop: Option<bool>,
    /// Where OpenID Connect back-channel logout tokens are posted; `none` to stop.
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// An API (RFC 8707 resource indicator: an absolute URI) it may ask tokens for with
    /// `resource`; their `aud` is then that URI. Repeat for several.
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
    /// A claim of its ID tokens and userinfo, NAME=SOURCE (SOURCE: sub, username, email,
    /// email_verified, roles), released with the scope that releases SOURCE; repeat for
    /// several (a given list replaces the old one).
    #[arg(long = "claim", value_name = "NAME=SOURCE")]
    claims: Vec<String>,
    /// A JSON file with the client's public keys (a JWKS, each key with a kid): it then
    /// authenticates with private_key_jwt (RFC 7523) and has no secret.
    #[arg(long, value_name = "FILE")]
    jwks: Option<std::path::PathBuf>,
}

fn words(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([' ', ',']))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

impl ClientFlags {
    /// The client's lifetimes: `--access-ttl` and `--refresh-idle-ttl` are the server's global
    /// flags (they set `BATON_ACCESS_TTL` and `BATON_REFRESH_IDLE_TTL` for `serve`); given on
    /// the command line of `client add` or `client update`, they are the client's own. Values
    /// from the environment or a configuration file are not: they are the server's.
    pub fn with_ttls(
        mut self,
        access: Option<std::time::Duration>,
        refresh_idle: Option<std::time::Duration>,
    ) -> Self {
        self.access_ttl = access.map(|d| d.as_secs());
        self.refresh_idle_ttl = refresh_idle.map(|d| d.as_secs());
        self
    }

    /// `base` with these flags applied.
    fn apply(&self, mut base: ClientSettings) -> anyhow::Result<ClientSettings> {
        if let Some(name) = &self.display_name {
            base.display_name = Some(name.clone());
        }
        if !self.redirect_uris.is_empty() {
            base.redirect_uris = list(&self.redirect_uris);
        }
        if !self.post_logout_redirect_uris.is_empty() {
            base.post_logout_redirect_uris = list(&self.post_logout_redirect_uris);
        }
        if !self.resources.is_empty() {
            base.resources = list(&self.resources);
        }
        if !self.grants.is_empty() {
            base.grants = words(&self.grants)
                .iter()
                .map(|g| {
                    Grant::parse(g).with_context(|| {
                        format!(
                            "unknown grant {g:?} (authorization_code, refresh_token, \
                             client_credentials or password)"
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if !self.scopes.is_empty() {
            base.scopes = list(&words(&self.scopes));
        }
        if let Some(first_party) = self.first_party {
            base.first_party = first_party;
        }
        if self.default_ttls {
            base.access_ttl = None;
            base.refresh_idle_ttl = None;
        }
        if let Some(secs) = self.access_ttl {
            base.access_ttl = Some(secs);
        }
        if let Some(secs) = self.refresh_idle_ttl {
            base.refresh_idle_ttl = Some(secs);
        }
        if let Some(require_par) = self.require_par {
            base.require_par = require_par;
        }
        if let Some(require_dpop) = self.require_dpop {
            base.require_dpop = require_dpop;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            base.backchannel_logout_uri = (uri != "none").then(|| uri.clone());
        }
        if !self.claims.is_empty() {
            base.claims = list(&self.claims)
                .iter()
                .map(|c| {
                    let (name, source) = c
                        .split_once('=')
                        .with_context(|| format!("--claim {c:?}: write NAME=SOURCE"))?;
                    let source = ClaimSource::parse(source).with_context(|| {
                        format!(
                            "--claim {c:?}: the source is one of sub, username, email, \
                             email_verified, roles"
                        )
                    })?;
                    Ok((name.to_owned(), source))
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(path) = &self.jwks {
            let text = std::fs::read(path)
                .with_context(|| format!("reading --jwks {}", path.display()))?;
            base.jwks = Some(
                serde_json::from_slice(&text)
                    .with_context(|| format!("--jwks {} is not JSON", path.display()))?,
            );
        }
        Ok(base)
    }

    /// The settings of a new client: these flags over the defaults.
    pub fn new_settings(&self) -> anyhow::Result<ClientSettings> {
        let mut base = ClientSettings::legacy();
        if !self.redirect_uris.is_empty() {
            base.grants = vec![Grant::AuthorizationCode, Grant::RefreshToken];
        }
        let mut settings = self.apply(base)?;
        if self.scopes.is_empty() && settings.allows(Grant::AuthorizationCode) {
            settings.scopes = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        }
        Ok(settings)
    }

    /// A client's settings with these flags applied.
    pub fn changed(&self, client: &ClientRecord) -> anyhow::Result<ClientSettings> {
        self.apply(client.settings.clone())
    }
}

fn seconds(ttl: Option<u64>) -> String {
    ttl.map_or_else(
        || "default".into(),
        |s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string(),
    )
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `client show`: one `key: value` line per setting (a list's items on one line,
/// space-separated; URIs one line each).
pub fn show(out: &mut impl Write, client: &ClientRecord) -> anyhow::Result<()> {
    let s = &client.settings;
    let kind = if client.confidential {
        "confidential"
    } else {
        "public"
    };
    let created = client
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    writeln!(out, "client_id: {}", client.id)?;
    writeln!(out, "type: {kind}")?;
    let auth = match (&s.jwks, client.confidential) {
        (Some(jwks), _) => format!(
            "private_key_jwt ({} keys)",
            jwks["keys"].as_array().map_or(0, Vec::len)
        ),
        (None, true) => "client_secret".into(),
        (None, false) => "none (public)".into(),
    };
    writeln!(out, "authentication: {auth}")?;
    writeln!(out, "name: {}", client.display_name())?;
    writeln!(out, "first_party: {}", yes_no(s.first_party))?;
    let grants: Vec<&str> = s.grants.iter().map(|g| g.as_str()).collect();
    writeln!(out, "grants: {}", grants.join(" "))?;
    for uri in &s.redirect_uris {
        writeln!(out, "redirect_uri: {uri}")?;
    }
    for uri in &s.post_logout_redirect_uris {
        writeln!(out, "post_logout_redirect_uri: {uri}")?;
    }
    writeln!(out, "scopes: {}", s.scopes.join(" "))?;
    writeln!(out, "access_ttl: {}", seconds(s.access_ttl))?;
    writeln!(out, "refresh_idle_ttl: {}", seconds(s.refresh_idle_ttl))?;
    writeln!(out, "require_par: {}", yes_no(s.require_par))?;
    writeln!(out, "require_dpop: {}", yes_no(s.require_dpop))?;
    if let Some(uri) = &s.backchannel_logout_uri {
        writeln!(out, "backchannel_logout_uri: {uri}")?;
    }
    for uri in &s.resources {
        writeln!(out, "resource: {uri}")?;
    }
    for (name, source) in &s.claims {
        writeln!(out, "claim: {name}={}", source.as_str())?;
    }
    writeln!(out, "created_at: {created}")?;
    Ok(())
}

/// `client show --json`.
pub fn show_json(out: &mut impl Write, client: &ClientRecord) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(&client.settings)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("client_id".into(), client.id.clone().into());
        map.insert("confidential".into(), client.confidential.into());
        map.insert(
            "created_at".into(),
            client
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
                .into(),
        );
    }
    writeln!(out, "{value}")?;
    Ok(())
}

/// A list flag's values: the one word `none` is the empty list.
fn list(values: &[String]) -> Vec<String> {
    if values.len() == 1 && values[0] == "none" {
        Vec::new()
    } else {
        values.to_vec()
    }
}

/// Refuses an update that would change nothing, so a mistyped command does not pass silently.
pub fn check_changes(flags: &ClientFlags, new_secret: bool) -> anyhow::Result<()> {
    let untouched = flags.display_name.is_none()
        && flags.redirect_uris.is_empty()
        && flags.post_logout_redirect_uris.is_empty()
        && flags.grants.is_empty()
        && flags.scopes.is_empty()
        && flags.first_party.is_none()
        && flags.access_ttl.is_none()
        && flags.refresh_idle_ttl.is_none()
        && !flags.default_ttls
        && flags.require_par.is_none()
        && flags.require_dpop.is_none()
        && flags.backchannel_logout_uri.is_none()
        && flags.resources.is_empty()
        && flags.jwks.is_none()
        && flags.claims.is_empty();
    if untouched && !new_secret {
        bail!("nothing to change: give a setting's flag (see `baton client update --help`)");
    }
    Ok(())
}

/// The client, or a clear error.
pub async fn find(baton: &Baton, name: &str) -> anyhow::Result<ClientRecord> {
    baton
        .client(name)
        .await
        .with_context(|| format!("no client {name}"))
}
