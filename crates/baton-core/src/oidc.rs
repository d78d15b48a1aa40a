//! OpenID Connect's authorization code flow: checking an authorization request (RFC 6749 §4.1,
//! OpenID Connect Core §3.1.2), PKCE (RFC 7636, `S256` only), and the ID token's claims.
//! Nothing here touches storage; [`crate::service`] does.

use crate::client::{redirect_uri_matches, ClientRecord, Grant, ScopeError};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::Duration;

/// How long an authorization code may be exchanged.
pub const CODE_TTL: Duration = Duration::seconds(60);
/// How long a sign-in page's pending authorization request stays good.
pub const PENDING_REQUEST_TTL: Duration = Duration::minutes(10);
/// Longest `state` kept and sent back.
pub const MAX_STATE_LEN: usize = 1024;
/// Longest `nonce`.
pub const MAX_NONCE_LEN: usize = 512;
/// Longest `login_hint`.
pub const MAX_LOGIN_HINT_LEN: usize = 256;
/// How long a pushed authorization request's `request_uri` may be used (RFC 9126 §2.2).
pub const PUSHED_REQUEST_TTL: Duration = Duration::seconds(60);
/// How long a back-channel logout notice is tried before it is dropped undelivered.
pub const LOGOUT_NOTICE_TTL: Duration = Duration::days(1);
/// How long a logout token is valid after it is signed (OpenID Connect Back-Channel Logout
/// 1.0 §2.4 recommends at most two minutes).
pub const LOGOUT_TOKEN_TTL: Duration = Duration::minutes(2);
/// The event a logout token carries (OpenID Connect Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The prefix of a pushed request's `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of an authorization request as they came (the query of
/// `GET /oauth/authorize`, or a pushed request's body). Unknown parameters are ignored (RFC 6749
/// §3.1).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// One of the client's registered redirect URIs.
    pub redirect_uri: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Opaque value sent back.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// BASE64URL(SHA-256(verifier)).
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
    /// `none`, `login`, `consent` (space-separated).
    pub prompt: Option<String>,
    /// Most seconds since the user last authenticated.
    pub max_age: Option<String>,
    /// The username to prefill.
    pub login_hint: Option<String>,
    /// Only `query` (the default for `code`).
    pub response_mode: Option<String>,
    /// A request object (not supported).
    pub request: Option<String>,
    /// A pushed request's reference (RFC 9126).
    pub request_uri: Option<String>,
    /// The API the access token is for (RFC 8707), one of the client's registered resources.
    #[serde(default)]
    pub resource: Option<String>,
    /// Whether `resource` came more than once (set by whoever parsed the request: baton asks
    /// tokens for one resource at a time, RFC 8707 §2's `invalid_target`).
    #[serde(skip)]
    pub resource_repeated: bool,
    /// The RFC 7638 thumbprint of the DPoP key the code is bound to (RFC 9449 §10): its
    /// exchange must carry a proof by that key.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// What `prompt` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: no page may be shown.
    pub none: bool,
    /// `login`: the user must sign in again.
    pub login: bool,
    /// `consent`: consent must be asked again.
    pub consent: bool,
}

/// A checked authorization request: what the sign-in page carries (sealed) and the code is
/// issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI, exactly as given (it matched a registered one).
    pub redirect_uri: String,
    /// The scopes asked for and allowed, sorted.
    pub scopes: Vec<String>,
    /// Sent back as given.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge (S256).
    pub code_challenge: String,
    /// What `prompt` asked.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// The username to prefill.
    pub login_hint: Option<String>,
    /// Whether it came as a pushed request (RFC 9126).
    #[serde(default)]
    pub pushed: bool,
    /// The API the access tokens are for (RFC 8707); baton's audience when absent.
    #[serde(default)]
    pub resource: Option<String>,
    /// The DPoP key the code is bound to (RFC 9449 §10), by its thumbprint.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl AuthorizeRequest {
    /// Whether `openid` was asked for (an OpenID Connect request, with an ID token).
    pub fn is_openid(&self) -> bool {
        self.has_scope("openid")
    }

    /// Whether `scope` was asked for.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes, space-separated.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// Whether `client`, as it is now, still allows this request (it was checked when it
    /// arrived; the operator may have changed the client while the user was on the pages):
    /// the redirect URI still registered, the grant still given, every scope still allowed.
    pub fn still_allowed(&self, client: &ClientRecord) -> bool {
        let s = &client.settings;
        client.id == self.client_id
            && s.allows(Grant::AuthorizationCode)
            && (!s.require_par || self.pushed)
            && s.redirect_uris
                .iter()
                .any(|r| redirect_uri_matches(r, &self.redirect_uri))
            && self.scopes.iter().all(|scope| s.scopes.contains(scope))
            && self
                .resource
                .as_deref()
                .is_none_or(|r| s.allows_resource(r))
    }
}

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or the redirect URI is unknown or wrong: the error cannot be sent to the
    /// redirect URI (RFC 6749 §4.1.2.1) and is shown on a page.
    Page(String),
    /// An error sent to the redirect URI, with `state`.
    Redirect {
        /// Where to.
        redirect_uri: String,
        /// The request's `state`.
        state: Option<String>,
        /// RFC 6749 §4.1.2.1 / OpenID Connect Core §3.1.2.6 error code.
        error: &'static str,
        /// What was wrong.
        description: String,
    },
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Checks an authorization request against its client (`None`: no such client), `pushed` when
/// it came as a pushed request (RFC 9126). The client and redirect URI are checked first: until
/// both are right nothing goes to the redirect URI.
pub fn check_request(
    params: &AuthorizeParams,
    client: Option<&ClientRecord>,
    pushed: bool,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_owned());
    let client_id = present(&params.client_id).ok_or_else(|| page("client_id is missing."))?;
    let client = client.ok_or_else(|| page("The application (client_id) is not known."))?;
    if client.id != client_id {
        return Err(page("The application (client_id) is not known."));
    }
    let redirect_uri =
        present(&params.redirect_uri).ok_or_else(|| page("redirect_uri is missing."))?;
    let registered = client
        .settings
        .redirect_uris
        .iter()
        .any(|r| redirect_uri_matches(r, redirect_uri));
    if !registered {
        return Err(page(
            "The redirect_uri is not registered for this application.",
        ));
    }
    let state = present(&params.state).map(str::to_owned);
    let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone().filter(|s| s.len() <= MAX_STATE_LEN),
        error,
        description: description.to_owned(),
    };
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(refuse("invalid_request", "state is too long"));
    }
    if state.as_ref().is_some_and(|s| !is_vschar(s)) {
        return Err(refuse(
            "invalid_request",
            "state must be printable ASCII (RFC 6749 VSCHAR)",
        ));
    }
    if params.request.is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    match present(&params.response_type) {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
        None => return Err(refuse("invalid_request", "response_type is missing")),
    }
    if !client.settings.allows(Grant::AuthorizationCode) {
        return Err(refuse(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    if present(&params.response_mode).is_some_and(|m| m != "query") {
        return Err(refuse(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    if present(&params.request_uri).is_some() {
        return Err(refuse(
            "invalid_request",
            "request_uri cannot be part of a pushed request",
        ));
    }
    if client.settings.require_par && !pushed {
        return Err(refuse(
            "invalid_request",
            "this client must push its authorization requests (RFC 9126)",
        ));
    }
    let code_challenge = present(&params.code_challenge)
        .ok_or_else(|| refuse("invalid_request", "PKCE code_challenge is required"))?;
    if present(&params.code_challenge_method) != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !is_s256_challenge(code_challenge) {
        return Err(refuse("invalid_request", "code_challenge is malformed"));
    }
    let scopes = client
        .settings
        .grant_scopes(params.scope.as_deref().unwrap_or_default())
        .map_err(|e| match e {
            ScopeError::Malformed => refuse("invalid_scope", "scope is malformed"),
            ScopeError::NotAllowed(s) => refuse(
                "invalid_scope",
                &format!("scope {s} is not registered for this client"),
            ),
        })?;
    if scopes.is_empty() {
        return Err(refuse("invalid_scope", "scope is missing"));
    }
    if params.resource_repeated {
        return Err(refuse("invalid_target", "one resource per request"));
    }
    let resource = present(&params.resource).map(str::to_owned);
    if resource
        .as_deref()
        .is_some_and(|r| !client.settings.allows_resource(r))
    {
        return Err(refuse(
            "invalid_target",
            "resource is not registered for this client",
        ));
    }
    let dpop_jkt = present(&params.dpop_jkt).map(str::to_owned);
    // A SHA-256 thumbprint: 43 characters of base64url, as an S256 challenge.
    if dpop_jkt.as_deref().is_some_and(|j| !is_s256_challenge(j)) {
        return Err(refuse("invalid_request", "dpop_jkt is malformed"));
    }
    let nonce = present(&params.nonce).map(str::to_owned);
    if nonce
        .as_ref()
        .is_some_and(|n| n.len() > MAX_NONCE_LEN || !is_vschar(n))
    {
        return Err(refuse(
            "invalid_request",
            "nonce must be at most 512 printable ASCII characters",
        ));
    }
    let mut prompt = Prompt::default();
    for p in params.prompt.as_deref().unwrap_or_default().split(' ') {
        match p {
            "" => {}
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {
                return Err(refuse(
                    "account_selection_required",
                    "baton signs in one account per browser",
                ))
            }
            _ => return Err(refuse("invalid_request", "prompt has an unknown value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match present(&params.max_age) {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| refuse("invalid_request", "max_age must be a number of seconds"))?,
        ),
    };
    let login_hint = present(&params.login_hint).map(str::to_owned);
    if login_hint
        .as_ref()
        .is_some_and(|h| h.len() > MAX_LOGIN_HINT_LEN || h.chars().any(char::is_control))
    {
        return Err(refuse(
            "invalid_request",
            "login_hint must be at most 256 printable characters",
        ));
    }
    Ok(AuthorizeRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state,
        nonce,
        code_challenge: code_challenge.to_owned(),
        prompt,
        max_age,
        login_hint,
        pushed,
        resource,
        dpop_jkt,
    })
}

/// RFC 6749 Appendix A's VSCHAR: printable ASCII and space.
fn is_vschar(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

/// Whether `s` can be an S256 challenge: 43 characters of base64url (a SHA-256).
fn is_s256_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (RFC 7636 §4.1: 43-128 characters of `A-Z a-z 0-9 - . _ ~`) is the one
/// `challenge` was made from with S256 (compared in constant time).
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let made = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    verify_slices_are_equal(made.as_bytes(), challenge.as_bytes()).is_ok()
}

/// The claims of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4): `sub` and `sid`
/// name the sign-in that ended, `events` says what the token is; it never has a `nonce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    /// baton's issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The application told.
    pub aud: String,
    /// When it was signed (seconds since the epoch).
    pub iat: i64,
    /// When it stops being valid, [`LOGOUT_TOKEN_TTL`] after `iat`.
    pub exp: i64,
    /// Unique per token, so a receiver can refuse a replay.
    pub jti: String,
    /// The browser session the application's ID tokens named.
    pub sid: String,
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
    pub events: serde_json::Map<String, serde_json::Value>,
}

impl LogoutTokenClaims {
    /// The claims telling `client` that the sign-in `sid` of `user` ended, signed at `iat`.
    pub fn new(issuer: &str, user: &str, client: &str, sid: &str, iat: i64) -> Self {
        let mut events = serde_json::Map::new();
        events.insert(
            BACKCHANNEL_LOGOUT_EVENT.to_owned(),
            serde_json::Value::Object(serde_json::Map::new()),
        );
        Self {
            iss: issuer.to_owned(),
            sub: user.to_owned(),
            aud: client.to_owned(),
            iat,
            exp: iat.saturating_add(LOGOUT_TOKEN_TTL.whole_seconds()),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.to_owned(),
            events,
        }
    }
}

/// The claims of an ID token (OpenID Connect Core §2), with the standard claims the granted
/// scopes release (§5.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The request's `nonce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the user authenticated (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The client the token was issued to.
    pub azp: String,
    /// The browser session (OpenID Connect Back-Channel Logout's `sid`).
    pub sid: String,
    /// `profile` scope: the username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email` scope, with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `roles` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The client's mapped claims ([`mapped_claims`]).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The claims `settings` maps for `user`, those the granted `scopes` release.
pub fn mapped_claims(
    settings: &crate::client::ClientSettings,
    user: &crate::store::UserRecord,
    scopes: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    use crate::client::ClaimSource;
    use serde_json::json;
    let mut out = serde_json::Map::new();
    for (name, source) in &settings.claims {
        if !scopes.contains(&source.scope()) {
            continue;
        }
        let value = match source {
            ClaimSource::Sub => Some(json!(user.id.to_string())),
            ClaimSource::Username => Some(json!(user.username)),
            ClaimSource::Email => user.email.as_ref().map(|e| json!(e)),
            ClaimSource::EmailVerified => user
                .email
                .as_ref()
                .map(|_| json!(user.email_verified_at.is_some())),
            ClaimSource::Roles => Some(json!(user.roles)),
        };
        if let Some(value) = value {
            out.insert(name.clone(), value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientSettings;
    use time::OffsetDateTime;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> ClientRecord {
        ClientRecord {
            id: "web".into(),
            confidential: true,
            secret_hash: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            settings: ClientSettings {
                grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
                redirect_uris: vec!["https://app.example/cb".into()],
                scopes: vec!["openid".into(), "profile".into()],
                ..ClientSettings::legacy()
            },
        }
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("web".into()),
            redirect_uri: Some("https://app.example/cb".into()),
            scope: Some("openid profile".into()),
            state: Some("st".into()),
            nonce: Some("n-0S6_WzA2Mj".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..AuthorizeParams::default()
        }
    }

    fn redirect_error(p: AuthorizeParams) -> &'static str {
        match check_request(&p, Some(&client()), false) {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(
                    state.as_deref(),
                    p.state.as_deref().filter(|s| s.len() <= 1024)
                );
                error
            }
            other => panic!("not a redirect error: {other:?}"),
        }
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert!(pkce_matches(CHALLENGE, VERIFIER));
        assert!(!pkce_matches(CHALLENGE, &VERIFIER.replace('d', "e")));
        assert!(!pkce_matches(CHALLENGE, "short"));
        assert!(!pkce_matches(CHALLENGE, &format!("{VERIFIER} ")));
        // `plain` would compare the verifier itself.
        assert!(!pkce_matches(VERIFIER, VERIFIER));
    }

    #[test]
    fn a_good_request_is_accepted() {
        let r = check_request(&params(), Some(&client()), false).expect("valid");
        assert_eq!(r.scopes, ["openid", "profile"]);
        assert!(r.is_openid());
        assert_eq!(r.state.as_deref(), Some("st"));
        assert_eq!(r.code_challenge, CHALLENGE);
    }

    #[test]
    fn client_and_redirect_uri_errors_stay_on_a_page() {
        for p in [
            AuthorizeParams {
                client_id: None,
                ..params()
            },
            AuthorizeParams {
                redirect_uri: Some("https://app.example/cb/../evil".into()),
                ..params()
            },
            AuthorizeParams {
                redirect_uri: Some("https://app.example/cb2".into()),
                ..params()
            },
            AuthorizeParams {
                redirect_uri: Some("https://app.example/c".into()),
                ..params()
            },
            AuthorizeParams {
                redirect_uri: None,
                ..params()
            },
        ] {
            assert!(matches!(
                check_request(&p, Some(&client()), false),
                Err(AuthorizeError::Page(_))
            ));
        }
        assert!(matches!(
            check_request(&params(), None, false),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn other_errors_go_to_the_redirect_uri() {
        let cases: Vec<(AuthorizeParams, &str)> = vec![
            (
                AuthorizeParams {
                    response_type: Some("token".into()),
                    ..params()
                },
                "unsupported_response_type",
            ),
            (
                AuthorizeParams {
                    code_challenge: None,
                    ..params()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    code_challenge_method: Some("plain".into()),
                    ..params()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    code_challenge_method: None,
                    ..params()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    scope: Some("openid admin".into()),
                    ..params()
                },
                "invalid_scope",
            ),
            (
                AuthorizeParams {
                    scope: None,
                    ..params()
                },
                "invalid_scope",
            ),
            (
                AuthorizeParams {
                    prompt: Some("none login".into()),
                    ..params()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    max_age: Some("soon".into()),
                    ..params()
                },
                "invalid_request",
            ),
            (
                AuthorizeParams {
                    request: Some("eyJ".into()),
                    ..params()
                },
                "request_not_supported",
            ),
            (
                AuthorizeParams {
                    state: Some("x".repeat(2000)),
                    ..params()
                },
                "invalid_request",
            ),
        ];
        for (p, error) in cases {
            assert_eq!(redirect_error(p), error);
        }
    }
}
