//! OAuth clients. The first-party client `baton` (the `/auth/*` endpoints) always exists and is
//! public; others are added by the operator, public (id only) or confidential (id and secret).
//! A secret has 256 random bits, so a SHA-256 of it is stored rather than a slow password hash.
//!
//! What a client may do is its [`ClientSettings`]: its grants, redirect URIs, scopes, token
//! lifetimes and whether it is first-party (no consent asked) or third-party.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// An OAuth client as stored.
#[derive(Clone)]
pub struct ClientRecord {
    /// The `client_id`.
    pub id: String,
    /// Whether it authenticates with a secret.
    pub confidential: bool,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<Vec<u8>>,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// What it may do.
    pub settings: ClientSettings,
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRecord")
            .field("id", &self.id)
            .field("confidential", &self.confidential)
            .field("created_at", &self.created_at)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why a client id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    /// Empty, too long or with characters outside `A-Z a-z 0-9 . _ -`.
    #[error("client ids are 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    Malformed,
    /// `baton` names the first-party client.
    #[error("the client id 'baton' is reserved")]
    Reserved,
    /// A UUID, the form of user ids: a client's own tokens carry its id as `sub`, which must
    /// never name a user.
    #[error("a client id must not be a UUID (user ids are)")]
    Uuid,
}

/// Checks an operator-chosen client id.
pub fn parse_client_id(id: &str) -> Result<&str, ClientIdError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 64 || !id.chars().all(ok_char) {
        return Err(ClientIdError::Malformed);
    }
    if id == crate::service::FIRST_PARTY_CLIENT {
        return Err(ClientIdError::Reserved);
    }
    if uuid::Uuid::parse_str(id).is_ok() {
        return Err(ClientIdError::Uuid);
    }
    Ok(id)
}

/// A new client secret and its stored hash.
pub fn generate_secret() -> Result<(String, Vec<u8>), crate::refresh::RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|_| crate::refresh::RandomError)?;
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_secret(&secret);
    Ok((secret, hash))
}

fn hash_secret(secret: &str) -> Vec<u8> {
    digest(&SHA256, secret.as_bytes()).as_ref().to_vec()
}

impl ClientRecord {
    /// The first-party client `baton`: public, the password and refresh-token grants, no
    /// consent.
    pub fn first_party() -> Self {
        Self {
            id: crate::service::FIRST_PARTY_CLIENT.to_owned(),
            confidential: false,
            secret_hash: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            settings: ClientSettings {
                first_party: true,
                display_name: Some("baton".into()),
                ..ClientSettings::legacy()
            },
        }
    }

    /// Whether it authenticates with `private_key_jwt` (RFC 7523) rather than a secret.
    pub fn uses_private_key_jwt(&self) -> bool {
        self.settings.jwks.is_some()
    }

    /// The name users see: the display name, or the id.
    pub fn display_name(&self) -> &str {
        self.settings.display_name.as_deref().unwrap_or(&self.id)
    }

    /// Whether `secret` is this client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash
            .as_deref()
            .is_some_and(|stored| verify_slices_are_equal(stored, &hash_secret(secret)).is_ok())
    }
}

/// An OAuth grant type a client may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// RFC 6749 §4.1, with PKCE (RFC 7636).
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4: a confidential client acting for itself.
    ClientCredentials,
    /// RFC 6749 §4.3, which RFC 9700 says not to use: only for clients given it.
    Password,
}

impl Grant {
    /// Every grant, in a stable order.
    pub const ALL: [Grant; 4] = [
        Grant::AuthorizationCode,
        Grant::RefreshToken,
        Grant::ClientCredentials,
        Grant::Password,
    ];

    /// Its `grant_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::RefreshToken => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
        }
    }

    /// The grant of a `grant_type` name.
    pub fn parse(name: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OpenID Connect scopes every client may be registered for, and `roles` (the user's roles
/// in the ID token).
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "roles"];

/// The scopes a client added without `--scope` may ask for.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// Most scopes a client may be registered for.
pub const MAX_CLIENT_SCOPES: usize = 32;
/// Most redirect URIs (and, separately, post-logout redirect URIs) of a client.
pub const MAX_REDIRECT_URIS: usize = 16;
/// Longest scope name.
pub const MAX_SCOPE_LEN: usize = 64;
/// Longest URI a client may register.
pub const MAX_URI_LEN: usize = 2048;
/// Longest display name.
pub const MAX_DISPLAY_NAME_LEN: usize = 100;
/// Largest JWKS of a `private_key_jwt` client.
pub const MAX_JWKS_LEN: usize = 16 * 1024;
/// Most keys in that JWKS.
pub const MAX_CLIENT_KEYS: usize = 10;
/// Most resources (RFC 8707) a client may name.
pub const MAX_CLIENT_RESOURCES: usize = 16;
/// Shortest and longest access-token lifetime a client may be given.
pub const ACCESS_TTL_BOUNDS: (u64, u64) = (10, 86_400);
/// Shortest and longest refresh idle timeout a client may be given.
pub const REFRESH_IDLE_TTL_BOUNDS: (u64, u64) = (60, 400 * 86_400);

/// What a client may do. Stored as JSON with the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSettings {
    /// The name users see on the consent page (the client id when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A first-party client is the operator's own app: no consent is asked, and it gets a
    /// refresh token without `offline_access`.
    #[serde(default)]
    pub first_party: bool,
    /// The grants it may use.
    pub grants: Vec<Grant>,
    /// Where authorization answers may go, matched exactly (a loopback URI's port excepted,
    /// RFC 8252 §7.3).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for: standard ones and its own API scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The resources (RFC 8707: absolute URIs of the APIs) it may ask tokens for with
    /// `resource`: such a token's `aud` is that resource instead of baton's audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Its access tokens' lifetime in seconds (the server's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_ttl: Option<u64>,
    /// Its sessions' refresh idle timeout in seconds (the server's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_idle_ttl: Option<u64>,
    /// Whether its authorization requests must be pushed first (RFC 9126).
    #[serde(default)]
    pub require_par: bool,
    /// Whether its token requests must come with a DPoP proof (RFC 9449), so that every
    /// token it gets is bound to its key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_dpop: bool,
    /// Where OpenID Connect back-channel logout tokens are posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The public keys (a JWKS) of a client that authenticates with `private_key_jwt` (RFC
    /// 7523) instead of a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Extra claims of its ID tokens and userinfo, by name: a user attribute under the name the
    /// application expects (`groups` = `roles`), released only with the scope that releases
    /// the attribute itself.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub claims: std::collections::BTreeMap<String, ClaimSource>,
}

/// A user attribute a client's claim mapping can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimSource {
    /// The user id (with `openid`).
    Sub,
    /// The username (with `profile`).
    Username,
    /// The e-mail address (with `email`).
    Email,
    /// Whether it is confirmed (with `email`).
    EmailVerified,
    /// The roles (with `roles`).
    Roles,
}

impl ClaimSource {
    /// Every source, in a stable order.
    pub const ALL: [ClaimSource; 5] = [
        ClaimSource::Sub,
        ClaimSource::Username,
        ClaimSource::Email,
        ClaimSource::EmailVerified,
        ClaimSource::Roles,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimSource::Sub => "sub",
            ClaimSource::Username => "username",
            ClaimSource::Email => "email",
            ClaimSource::EmailVerified => "email_verified",
            ClaimSource::Roles => "roles",
        }
    }

    /// The source of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope that releases it.
    pub fn scope(self) -> &'static str {
        match self {
            ClaimSource::Sub => "openid",
            ClaimSource::Username => "profile",
            ClaimSource::Email | ClaimSource::EmailVerified => "email",
            ClaimSource::Roles => "roles",
        }
    }
}

/// Claims a mapping may not name: the ones OpenID Connect and baton give a meaning.
const RESERVED_CLAIMS: [&str; 20] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
    "preferred_username",
    "email",
    "email_verified",
    "roles",
    "events",
];
/// Most mapped claims of a client.
pub const MAX_CLAIMS: usize = 16;

impl ClientSettings {
    /// The settings of a client stored before clients had settings, and of a client added
    /// without grants or redirect URIs: the password and refresh-token grants, as clients
    /// always had.
    pub fn legacy() -> Self {
        Self {
            display_name: None,
            first_party: false,
            grants: vec![Grant::RefreshToken, Grant::Password],
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: Vec::new(),
            resources: Vec::new(),
            access_ttl: None,
            refresh_idle_ttl: None,
            require_par: false,
            require_dpop: false,
            backchannel_logout_uri: None,
            jwks: None,
            claims: std::collections::BTreeMap::new(),
        }
    }

    /// Whether the client may ask for tokens for `resource` (RFC 8707), exactly as registered.
    pub fn allows_resource(&self, resource: &str) -> bool {
        self.resources.iter().any(|r| r == resource)
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// Checks the settings of a client (`confidential` or public) and puts them in canonical
    /// form: lists sorted and without duplicates.
    pub fn validated(mut self, confidential: bool) -> Result<Self, ClientSettingsError> {
        use ClientSettingsError as E;
        self.grants.sort();
        self.grants.dedup();
        if self.grants.is_empty() {
            return Err(E::NoGrant);
        }
        if let Some(name) = &self.display_name {
            let bad = name.trim().is_empty()
                || name.chars().count() > MAX_DISPLAY_NAME_LEN
                || name.chars().any(char::is_control);
            if bad {
                return Err(E::DisplayName);
            }
        }
        for list in [&mut self.redirect_uris, &mut self.post_logout_redirect_uris] {
            list.sort();
            list.dedup();
            if list.len() > MAX_REDIRECT_URIS {
                return Err(E::TooManyUris);
            }
            for uri in list.iter() {
                check_redirect_uri(uri)?;
            }
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            check_web_uri(uri).map_err(|why| E::Uri(uri.clone(), why))?;
        }
        self.resources.sort();
        self.resources.dedup();
        if self.resources.len() > MAX_CLIENT_RESOURCES {
            return Err(E::TooManyResources);
        }
        for uri in &self.resources {
            check_resource(uri).map_err(|why| E::Uri(uri.clone(), why))?;
        }
        self.scopes.sort();
        self.scopes.dedup();
        if self.scopes.len() > MAX_CLIENT_SCOPES {
            return Err(E::TooManyScopes);
        }
        if let Some(bad) = self.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(E::Scope(bad.clone()));
        }
        if self.allows(Grant::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(E::NoRedirectUri);
        }
        if self.allows(Grant::ClientCredentials) && !confidential {
            return Err(E::PublicClientCredentials);
        }
        if let Some(ttl) = self.access_ttl {
            if ttl < ACCESS_TTL_BOUNDS.0 || ttl > ACCESS_TTL_BOUNDS.1 {
                return Err(E::AccessTtl);
            }
        }
        if let Some(jwks) = &self.jwks {
            if !confidential {
                return Err(E::Jwks(
                    "private_key_jwt is for confidential clients".into(),
                ));
            }
            let bytes = serde_json::to_vec(jwks).map_err(|e| E::Jwks(e.to_string()))?;
            if bytes.len() > MAX_JWKS_LEN {
                return Err(E::Jwks("the JWKS is larger than 16 KiB".into()));
            }
            let keys =
                baton_verify::KeySet::from_jwks(&bytes).map_err(|e| E::Jwks(e.to_string()))?;
            if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
                return Err(E::Jwks(
                    "the JWKS needs 1 to 10 public signing keys (EdDSA, ES256 or RS256), each with a kid"
                        .into(),
                ));
            }
            // Every key must be usable: a key the key set skipped (symmetric, without a kid,
            // of another algorithm, a second one with the same kid) or a private part is
            // refused, not stored quietly.
            const PRIVATE: [&str; 8] = ["d", "k", "p", "q", "dp", "dq", "qi", "oth"];
            let listed = jwks["keys"].as_array().map_or(0, Vec::len);
            let private = jwks["keys"].as_array().is_some_and(|keys| {
                keys.iter()
                    .any(|k| PRIVATE.iter().any(|member| k.get(member).is_some()))
            });
            if private {
                return Err(E::Jwks(
                    "the JWKS holds a private or symmetric key; give the public keys only".into(),
                ));
            }
            if listed != keys.len() {
                return Err(E::Jwks(
                    "every key needs its own kid and must be an EdDSA, ES256 or RS256 signing key"
                        .into(),
                ));
            }
        }
        if self.claims.len() > MAX_CLAIMS {
            return Err(E::Claim("a client maps at most 16 claims".into()));
        }
        for name in self.claims.keys() {
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
            if name.is_empty() || name.len() > 64 || !name.chars().all(ok) {
                return Err(E::Claim(format!(
                    "{name:?}: claim names are 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':', '-'"
                )));
            }
            if RESERVED_CLAIMS.contains(&name.as_str()) {
                return Err(E::Claim(format!(
                    "{name:?} is a standard claim and cannot be mapped"
                )));
            }
        }
        if let Some(ttl) = self.refresh_idle_ttl {
            if ttl < REFRESH_IDLE_TTL_BOUNDS.0 || ttl > REFRESH_IDLE_TTL_BOUNDS.1 {
                return Err(E::RefreshIdleTtl);
            }
        }
        Ok(self)
    }

    /// The registered scopes that are the client's own API scopes (not OpenID Connect's).
    pub fn api_scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !STANDARD_SCOPES.contains(s))
    }

    /// Checks a requested `scope` (space-separated, RFC 6749 §3.3) against the registered
    /// scopes: the scopes granted, sorted and without duplicates, or the first one the client
    /// may not ask for.
    pub fn grant_scopes(&self, requested: &str) -> Result<Vec<String>, ScopeError> {
        let mut granted: Vec<String> = Vec::new();
        for scope in requested.split(' ').filter(|s| !s.is_empty()) {
            if !is_scope_token(scope) {
                return Err(ScopeError::Malformed);
            }
            if !self.scopes.iter().any(|s| s == scope) {
                return Err(ScopeError::NotAllowed(scope.to_owned()));
            }
            granted.push(scope.to_owned());
        }
        granted.sort();
        granted.dedup();
        Ok(granted)
    }
}

/// Why a requested scope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not a list of RFC 6749 scope tokens, or longer than allowed.
    #[error("scope is malformed")]
    Malformed,
    /// Not registered for this client.
    #[error("scope {0} is not registered for this client")]
    NotAllowed(String),
}

/// Why client settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientSettingsError {
    /// No grant at all.
    #[error("a client needs at least one grant")]
    NoGrant,
    /// The display name is empty, too long or has control characters.
    #[error("the display name must be 1-100 printable characters")]
    DisplayName,
    /// Over [`MAX_REDIRECT_URIS`].
    #[error("at most 16 redirect URIs (and 16 post-logout redirect URIs)")]
    TooManyUris,
    /// A URI that cannot be registered.
    #[error("{0:?} cannot be registered: {1}")]
    Uri(String, &'static str),
    /// Over [`MAX_CLIENT_SCOPES`].
    #[error("at most 32 scopes")]
    TooManyScopes,
    /// Over [`MAX_CLIENT_RESOURCES`].
    #[error("at most 16 resources")]
    TooManyResources,
    /// Not an RFC 6749 scope token (or longer than 64 characters).
    #[error("{0:?} is not a valid scope name")]
    Scope(String),
    /// The authorization-code grant without a redirect URI.
    #[error("the authorization_code grant needs a redirect URI")]
    NoRedirectUri,
    /// The client-credentials grant for a public client.
    #[error("the client_credentials grant is for confidential clients")]
    PublicClientCredentials,
    /// Access-token lifetime out of bounds.
    #[error("the access-token lifetime must be between 10 s and 24 h")]
    AccessTtl,
    /// Refresh idle timeout out of bounds.
    #[error("the refresh idle timeout must be between 1 min and 400 days")]
    RefreshIdleTtl,
    /// A new secret for a public client.
    #[error("a public client has no secret")]
    PublicSecret,
    /// An unusable `private_key_jwt` JWKS.
    #[error("the client's JWKS cannot be used: {0}")]
    Jwks(String),
    /// A claim mapping that cannot be used.
    #[error("{0}")]
    Claim(String),
}

/// RFC 6749 §3.3 `scope-token`: printable ASCII except space, `"` and `\`; here at most
/// [`MAX_SCOPE_LEN`] long.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

/// An `https` URI, or `http` on a loopback host; no fragment, no user info.
fn check_web_uri(uri: &str) -> Result<url::Url, &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("longer than 2048 characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if parsed.fragment().is_some() {
        return Err("a fragment is not allowed");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("user information is not allowed");
    }
    let host = parsed.host().ok_or("no host")?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback_host(&host) => Ok(parsed),
        "http" => Err("http is only for loopback addresses; use https"),
        _ => Err("the scheme must be https (or http on a loopback address)"),
    }
}

/// A resource indicator (RFC 8707 §2): an absolute URI without a fragment (nor a query, which
/// the RFC advises against), at most 2048 characters, and printable ASCII so that it can be an
/// `aud` as it is.
pub fn check_resource(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("longer than 2048 characters");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("only printable ASCII without spaces");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if parsed.fragment().is_some() {
        return Err("a fragment is not allowed");
    }
    if parsed.query().is_some() {
        return Err("a query is not allowed");
    }
    Ok(())
}

/// A redirect URI: a web URI as [`check_web_uri`] wants, or a native app's private-use scheme
/// in reverse-domain form (RFC 8252 §7.1, `com.example.app:/callback`).
fn check_redirect_uri(uri: &str) -> Result<(), ClientSettingsError> {
    let refuse = |why| ClientSettingsError::Uri(uri.to_owned(), why);
    let parsed = url::Url::parse(uri).map_err(|_| refuse("not an absolute URI"))?;
    if matches!(parsed.scheme(), "http" | "https") {
        return check_web_uri(uri).map(drop).map_err(refuse);
    }
    if uri.len() > MAX_URI_LEN {
        return Err(refuse("longer than 2048 characters"));
    }
    if !parsed.scheme().contains('.') {
        return Err(refuse(
            "a private-use scheme must be a reverse domain name (com.example.app)",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(refuse("a fragment is not allowed"));
    }
    Ok(())
}

/// Whether `presented` matches the registered `registered` redirect URI: exactly, except that
/// a loopback `http` URI matches on any port (RFC 8252 §7.3; native apps listen on a port the
/// system gives them).
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    let loopback_ip = |u: &url::Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    // RFC 8252 §8.3 recommends loopback IP literals over `localhost`; only they get the port
    // exception. The rest of the URI (path and query) must match exactly, and the presented
    // text must be in canonical form so that nothing but the port differs.
    if !(loopback_ip(&r) && loopback_ip(&p)) || presented != p.as_str() {
        return false;
    }
    let mut p = p;
    if p.set_port(r.port()).is_err() {
        return false;
    }
    p.as_str() == r.as_str() && registered == r.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves() {
        let (secret, hash) = generate_secret().expect("rng");
        let client = ClientRecord {
            id: "api".into(),
            confidential: true,
            secret_hash: Some(hash),
            created_at: OffsetDateTime::UNIX_EPOCH,
            settings: ClientSettings::legacy(),
        };
        assert!(client.secret_matches(&secret));
        assert!(!client.secret_matches("guess"));
        assert!(!format!("{client:?}").contains(&secret));
    }

    #[test]
    fn client_ids_are_plain_and_baton_is_reserved() {
        assert_eq!(parse_client_id("billing-api"), Ok("billing-api"));
        assert_eq!(parse_client_id("baton"), Err(ClientIdError::Reserved));
        assert_eq!(parse_client_id("a b"), Err(ClientIdError::Malformed));
        assert_eq!(parse_client_id(""), Err(ClientIdError::Malformed));
        assert_eq!(
            parse_client_id("0190f5c2-6f1e-7c3a-9b52-3c1d2e4f5a6b"),
            Err(ClientIdError::Uuid)
        );
    }

    fn web_client() -> ClientSettings {
        ClientSettings {
            grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["openid".into(), "billing:read".into()],
            ..ClientSettings::legacy()
        }
    }

    #[test]
    fn settings_are_checked_and_made_canonical() {
        let s = ClientSettings {
            grants: vec![
                Grant::RefreshToken,
                Grant::AuthorizationCode,
                Grant::RefreshToken,
            ],
            scopes: vec!["openid".into(), "email".into(), "openid".into()],
            ..web_client()
        }
        .validated(false)
        .expect("valid");
        assert_eq!(s.grants, [Grant::AuthorizationCode, Grant::RefreshToken]);
        assert_eq!(s.scopes, ["email", "openid"]);
        let refused = |s: ClientSettings, confidential| s.validated(confidential).unwrap_err();
        assert_eq!(
            refused(
                ClientSettings {
                    redirect_uris: vec![],
                    ..web_client()
                },
                false
            ),
            ClientSettingsError::NoRedirectUri
        );
        assert_eq!(
            refused(
                ClientSettings {
                    grants: vec![Grant::ClientCredentials],
                    ..web_client()
                },
                false
            ),
            ClientSettingsError::PublicClientCredentials
        );
        assert_eq!(
            refused(
                ClientSettings {
                    grants: vec![],
                    ..web_client()
                },
                true
            ),
            ClientSettingsError::NoGrant
        );
        assert_eq!(
            refused(
                ClientSettings {
                    scopes: vec!["a b".into()],
                    ..web_client()
                },
                false
            ),
            ClientSettingsError::Scope("a b".into())
        );
        assert_eq!(
            refused(
                ClientSettings {
                    access_ttl: Some(5),
                    ..web_client()
                },
                false
            ),
            ClientSettingsError::AccessTtl
        );
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://user:pw@app.example/cb",
            "/relative",
            "javascript:alert(1)",
            "myapp:/cb",
        ] {
            let s = ClientSettings {
                redirect_uris: vec![bad.into()],
                ..web_client()
            };
            assert!(
                matches!(refused(s, false), ClientSettingsError::Uri(..)),
                "{bad} was accepted"
            );
        }
        for good in [
            "http://127.0.0.1/cb",
            "http://localhost:8080/cb",
            "com.example.app:/cb",
        ] {
            let s = ClientSettings {
                redirect_uris: vec![good.into()],
                ..web_client()
            };
            assert!(s.validated(false).is_ok(), "{good} was refused");
        }
    }

    #[test]
    fn requested_scopes_must_be_registered() {
        let s = web_client();
        assert_eq!(
            s.grant_scopes("openid  billing:read openid"),
            Ok(vec!["billing:read".to_owned(), "openid".to_owned()])
        );
        assert_eq!(s.grant_scopes(""), Ok(vec![]));
        assert_eq!(
            s.grant_scopes("openid admin"),
            Err(ScopeError::NotAllowed("admin".into()))
        );
        assert_eq!(s.grant_scopes("open\"id"), Err(ScopeError::Malformed));
        assert_eq!(s.api_scopes().collect::<Vec<_>>(), ["billing:read"]);
    }

    #[test]
    fn resources_are_absolute_uris_without_fragment_or_query() {
        assert!(check_resource("https://api.example/").is_ok());
        assert!(check_resource("urn:example:billing").is_ok());
        for bad in [
            "api.example",
            "/relative",
            "https://api.example/#x",
            "https://api.example/?v=1",
            "https://api.example/ü",
            "https://api.example/a b",
        ] {
            assert!(check_resource(bad).is_err(), "{bad}");
        }
        assert!(check_resource(&format!("https://a.example/{}", "x".repeat(2048))).is_err());
        let many = ClientSettings {
            resources: (0..=MAX_CLIENT_RESOURCES)
                .map(|i| format!("https://api{i}.example/"))
                .collect(),
            ..ClientSettings::legacy()
        };
        assert!(matches!(
            many.validated(true),
            Err(ClientSettingsError::TooManyResources)
        ));
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_loopback_ports() {
        let m = redirect_uri_matches;
        assert!(m("https://app.example/cb", "https://app.example/cb"));
        assert!(!m("https://app.example/cb", "https://app.example/cb/evil"));
        assert!(!m("https://app.example/cb", "https://app.example/cb?x=1"));
        assert!(!m("https://app.example/cb", "https://app.example:444/cb"));
        assert!(!m("https://app.example/cb", "https://APP.example/cb"));
        assert!(m("http://127.0.0.1/cb", "http://127.0.0.1:53211/cb"));
        assert!(m("http://127.0.0.1:8000/cb", "http://127.0.0.1:53211/cb"));
        assert!(m("http://[::1]/cb", "http://[::1]:4000/cb"));
        assert!(!m("http://127.0.0.1/cb", "http://127.0.0.1:53211/cb2"));
        assert!(!m("http://127.0.0.1/cb", "http://127.0.0.2:53211/cb"));
        assert!(!m("http://localhost/cb", "http://localhost:53211/cb"));
        assert!(!m("http://127.0.0.1/cb", "https://127.0.0.1:53211/cb"));
        assert!(!m("http://127.0.0.1/cb", "http://127.0.0.1:53211/cb?x"));
    }

    #[test]
    fn grants_have_their_rfc_names() {
        for g in Grant::ALL {
            assert_eq!(Grant::parse(g.as_str()), Some(g));
            let json = serde_json::to_string(&g).expect("json");
            assert_eq!(json, format!("\"{}\"", g.as_str()));
        }
        assert_eq!(Grant::parse("implicit"), None);
    }
}
