//! [`Verifier`]: discovers the issuer's JWKS (RFC 8414 metadata), caches the keys, refetches them
//! on a schedule and on an unknown `kid`, at most once per `min_refetch_interval`.

use crate::claims::Claims;
use crate::keys::KeySet;
use crate::rules::{checked_header, verify, Rules, VerifyError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Tuning of a [`Verifier`].
#[derive(Debug, Clone)]
pub struct VerifierOptions {
    /// Tolerance on `exp` and `nbf`, for clocks that disagree a little. Default 5 s.
    pub leeway: Duration,
    /// Keys older than this are refetched before use. Default 5 minutes.
    pub refresh_interval: Duration,
    /// An unknown `kid` triggers a refetch at most this often. Default 10 s.
    pub min_refetch_interval: Duration,
    /// The `realm` of `WWW-Authenticate` challenges. Default `baton`.
    pub realm: String,
    /// The HTTP client; a default one when `None`.
    pub http: Option<reqwest::Client>,
    /// The URL clients address this service by (scheme, host, port and any path prefix the
    /// service is mounted under, as a proxy in front of it sees it): DPoP proofs name it and
    /// the request's path as `htu`. [`crate::DpopBearer`] refuses every proof without it.
    pub external_url: Option<String>,
    /// Whether [`crate::DpopBearer`] refuses tokens not bound to a key (sent as `Bearer`).
    /// Default `false`: bound tokens need a proof, unbound ones go as bearer tokens.
    pub dpop_required: bool,
    /// How many DPoP proofs within their window are remembered against replay (each is
    /// taken once). Default 262,144 (about 16 MB at most): under a flood the window narrows to
    /// five seconds, and only more proofs than this within five seconds (some 52,000 a second,
    /// more than a few cores check) fill it, when further proofs get `503`.
    pub dpop_replay_capacity: usize,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(5),
            refresh_interval: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(10),
            realm: "baton".into(),
            http: None,
            external_url: None,
            dpop_required: false,
            dpop_replay_capacity: 1 << 18,
        }
    }
}

struct Cached {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

/// Longest a metadata or JWKS fetch may take, whatever client is used.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest metadata or JWKS document read.
const MAX_DOCUMENT: usize = 1 << 20;

struct Inner {
    issuer: String,
    rules: Rules,
    options: VerifierOptions,
    http: reqwest::Client,
    metadata: RwLock<Option<Metadata>>,
    cache: RwLock<Option<Cached>>,
    fetch: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
    last_failure: std::sync::Mutex<Option<Instant>>,
    last_unknown_kid_fetch: std::sync::Mutex<Option<Instant>>,
    dpop_replay: crate::dpop::ReplayCache,
    /// [`VerifierOptions::external_url`] checked and without its trailing `/`; `None` when
    /// absent or not an absolute `http(s)` URL without query or fragment.
    external_url: Option<String>,
}

/// Why [`Verifier::verify_dpop`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// The access token itself was refused.
    #[error(transparent)]
    Token(VerifyError),
    /// The proof failed a check of RFC 9449 §4.3 (or was seen before).
    #[error(transparent)]
    Proof(crate::dpop::ProofError),
    /// No `DPoP` header, or more than one.
    #[error("A request with the DPoP scheme carries exactly one DPoP proof")]
    NoProof,
    /// The token is not bound to a key (`cnf.jkt`).
    #[error("The access token is not bound to a DPoP key")]
    NotBound,
    /// The proof is by another key than the token's.
    #[error("The access token is bound to another DPoP key")]
    OtherKey,
    /// The service has no usable [`VerifierOptions::external_url`] to check `htu` against.
    #[error("DPoP needs the service's external URL (VerifierOptions::external_url)")]
    NoExternalUrl,
    /// The replay cache is full of proofs within their window.
    #[error("Too many DPoP proofs at once")]
    Busy,
}

/// Verifies access tokens of one issuer and audience. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.rules.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, serde::Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    introspection_endpoint: Option<String>,
}

#[derive(serde::Deserialize)]
struct Introspection {
    active: bool,
}

/// Whether two URLs share scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// The base of DPoP proofs' `htu` from [`VerifierOptions::external_url`]: an absolute `http` or
/// `https` URL with a host and neither query nor fragment, without its trailing `/`. Anything
/// else is logged and ignored, so DPoP requests get `500` rather than checks against a wrong URI.
fn external_base(url: &str) -> Option<String> {
    let usable = reqwest::Url::parse(url).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    });
    if usable.is_none() {
        tracing::error!(
            url,
            "VerifierOptions::external_url is not an absolute http(s) URL without query, \
             fragment or credentials; DPoP requests will be refused"
        );
    }
    usable.map(|_| url.trim_end_matches('/').to_owned())
}

/// Seconds since the epoch by the system clock.
#[allow(clippy::disallowed_methods)] // a resource server's verifier runs on the real clock
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Verifier {
    /// A verifier for tokens of `issuer` (its URL, as in `iss`) meant for `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::with_options(issuer, audience, VerifierOptions::default())
    }

    /// A verifier with explicit options.
    pub fn with_options(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        options: VerifierOptions,
    ) -> Self {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        let rules = Rules {
            issuer: issuer.clone(),
            audience: audience.into(),
            leeway_secs: i64::try_from(options.leeway.as_secs()).unwrap_or(0),
        };
        let http = options.http.clone().unwrap_or_else(|| {
            reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                // Keys come from the issuer's own origin; a redirect elsewhere is refused.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        });
        Self {
            inner: Arc::new(Inner {
                issuer,
                rules,
                http,
                metadata: RwLock::new(None),
                cache: RwLock::new(None),
                fetch: tokio::sync::Mutex::new(()),
                fetches: AtomicU64::new(0),
                last_failure: std::sync::Mutex::new(None),
                last_unknown_kid_fetch: std::sync::Mutex::new(None),
                dpop_replay: crate::dpop::ReplayCache::new(options.dpop_replay_capacity),
                external_url: options.external_url.as_deref().and_then(external_base),
                options,
            }),
        }
    }

    /// The `realm` for `WWW-Authenticate`.
    pub fn realm(&self) -> &str {
        &self.inner.options.realm
    }

    /// How many times the JWKS has been fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Whether unbound tokens are refused where DPoP is taken.
    pub fn dpop_required(&self) -> bool {
        self.inner.options.dpop_required
    }

    /// Verifies a token sent with the `DPoP` scheme (RFC 9449 §7) and its `proof` for a
    /// request of `method` to `path` (the path as this service received it; the configured
    /// external URL is put before it): the token as [`Self::verify`] does, then the proof with
    /// `ath`, then that the proof's key is the one the token is bound to. Each proof works
    /// once.
    pub async fn verify_dpop(
        &self,
        token: &str,
        proof: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Claims, DpopError> {
        let claims = self.verify_any(token).await.map_err(DpopError::Token)?;
        let proof = proof.ok_or(DpopError::NoProof)?;
        let bound = claims.dpop_jkt().ok_or(DpopError::NotBound)?;
        let base = self
            .inner
            .external_url
            .as_deref()
            .ok_or(DpopError::NoExternalUrl)?;
        let uri = format!("{base}{path}");
        let now = unix_now();
        let checked = crate::dpop::check_proof(
            proof,
            &crate::dpop::ProofContext {
                method,
                uri: &uri,
                now,
                access_token: Some(token),
                nonce: None,
            },
        )
        .map_err(DpopError::Proof)?;
        if checked.jkt != bound {
            return Err(DpopError::OtherKey);
        }
        match self.inner.dpop_replay.record(&checked, now) {
            Ok(crate::dpop::Recorded::Fresh) => Ok(claims),
            Ok(crate::dpop::Recorded::Replayed) => {
                Err(DpopError::Proof(crate::dpop::ProofError::Replayed))
            }
            Ok(crate::dpop::Recorded::TooOld) => {
                Err(DpopError::Proof(crate::dpop::ProofError::Iat))
            }
            Err(_) => Err(DpopError::Busy),
        }
    }

    /// Verifies a bearer token: signature against the issuer's published keys, `typ`, `iss`,
    /// `aud`, `exp` and `nbf`. A token bound to a DPoP key (`cnf`) is no bearer token (RFC 9449
    /// §7.2): it is refused with [`VerifyError::DpopBound`]; take it through
    /// [`Self::verify_dpop`] with its proof.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.verify_any(token).await?;
        if claims.cnf.is_some() {
            return Err(VerifyError::DpopBound);
        }
        Ok(claims)
    }

    /// [`Self::verify`] without the bearer rule: bound tokens too.
    async fn verify_any(&self, token: &str) -> Result<Claims, VerifyError> {
        // What needs no key is checked before anything could reach the network.
        checked_header(token)?;
        let keys = self.keys().await?;
        let outcome = verify(&keys, &self.inner.rules, token, unix_now());
        let outcome = match outcome {
            Err(VerifyError::UnknownKey) => match self.refetch_for_unknown_kid().await {
                Some(fresh) => verify(&fresh, &self.inner.rules, token, unix_now()),
                None => outcome,
            },
            other => other,
        };
        outcome.map_err(|e| match e {
            VerifyError::UnknownKey => VerifyError::Invalid,
            other => other,
        })
    }

    fn cached(&self, max_age: Duration) -> Option<Arc<KeySet>> {
        let guard = self.inner.cache.read().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|c| c.fetched_at.elapsed() < max_age)
            .map(|c| c.keys.clone())
    }

    fn stale(&self) -> Option<Arc<KeySet>> {
        self.cached(Duration::MAX)
    }

    fn failed_recently(&self) -> bool {
        let last = self
            .inner
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        last.is_some_and(|t| t.elapsed() < self.inner.options.min_refetch_interval)
    }

    /// Fetches, remembering a failure so that the next attempt waits `min_refetch_interval`.
    async fn fetch_or_note_failure(&self) -> Option<Arc<KeySet>> {
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await {
            Ok(Ok(keys)) => Some(keys),
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e,
                    _ => "timed out".into(),
                };
                tracing::warn!(issuer = %self.inner.issuer, %error, "could not fetch the JWKS");
                *self
                    .inner
                    .last_failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                None
            }
        }
    }

    /// The keys, fetched when missing or older than `refresh_interval`; one fetch at a time,
    /// and none for `min_refetch_interval` after a failed one (stale keys serve meanwhile).
    async fn keys(&self) -> Result<Arc<KeySet>, VerifyError> {
        if let Some(keys) = self.cached(self.inner.options.refresh_interval) {
            return Ok(keys);
        }
        let _one_at_a_time = self.inner.fetch.lock().await;
        if let Some(keys) = self.cached(self.inner.options.refresh_interval) {
            return Ok(keys);
        }
        if !self.failed_recently() {
            if let Some(keys) = self.fetch_or_note_failure().await {
                return Ok(keys);
            }
        }
        self.stale().ok_or(VerifyError::KeysUnavailable)
    }

    /// Refetches after an unknown `kid`, at most once per `min_refetch_interval` (however
    /// recent the last scheduled fetch: a rotation must not wait for it); otherwise the keys in
    /// hand, which a concurrent refetch may just have renewed.
    async fn refetch_for_unknown_kid(&self) -> Option<Arc<KeySet>> {
        let _one_at_a_time = self.inner.fetch.lock().await;
        let due = {
            let mut last = self
                .inner
                .last_unknown_kid_fetch
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= self.inner.options.min_refetch_interval)
                && !self.failed_recently();
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            if let Some(keys) = self.fetch_or_note_failure().await {
                return Some(keys);
            }
        }
        self.stale()
    }

    async fn metadata(&self) -> Result<Metadata, String> {
        if let Some(m) = self
            .inner
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(m);
        }
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            self.inner.issuer
        );
        let metadata: Metadata =
            serde_json::from_slice(&self.download(&url).await?).map_err(|e| e.to_string())?;
        // RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
        if metadata.issuer.trim_end_matches('/') != self.inner.issuer {
            return Err(format!(
                "metadata names issuer {:?}, expected {:?}",
                metadata.issuer, self.inner.issuer
            ));
        }
        // Keys and introspection must come from the issuer's own origin (RFC 8414 does not
        // require it, but baton publishes them there, and it rules out a planted endpoint).
        for endpoint in std::iter::once(&metadata.jwks_uri).chain(&metadata.introspection_endpoint)
        {
            if !same_origin(&self.inner.issuer, endpoint) {
                return Err(format!("{endpoint} is not on the issuer's origin"));
            }
        }
        *self
            .inner
            .metadata
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(metadata.clone());
        Ok(metadata)
    }

    /// GETs a document of at most [`MAX_DOCUMENT`] bytes.
    async fn download(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(format!("{url} is larger than {MAX_DOCUMENT} bytes"));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_DOCUMENT {
            return Err(format!("{url} is larger than {MAX_DOCUMENT} bytes"));
        }
        Ok(body.to_vec())
    }

    /// Asks the issuer's introspection endpoint (RFC 7662) whether `token` is active *now*: for
    /// routes that must honour a logout before the access token expires. Needs a confidential
    /// client's credentials (`baton client add NAME --confidential`). Errors when the issuer
    /// cannot be asked.
    pub async fn introspect(
        &self,
        token: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<bool, String> {
        let endpoint = self
            .metadata()
            .await?
            .introspection_endpoint
            .ok_or("the issuer publishes no introspection endpoint")?;
        let answer: Introspection = self
            .inner
            .http
            .post(endpoint)
            .basic_auth(client_id, Some(client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        Ok(answer.active)
    }

    async fn fetch(&self) -> Result<Arc<KeySet>, String> {
        let uri = self.metadata().await?.jwks_uri;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let body = self.download(&uri).await?;
        let keys = KeySet::from_jwks(&body).map_err(|e| e.to_string())?;
        if keys.is_empty() {
            return Err("the JWKS holds no usable key".into());
        }
        let keys = Arc::new(keys);
        *self.inner.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            keys: keys.clone(),
            fetched_at: Instant::now(),
        });
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::external_base;

    #[test]
    fn the_external_url_must_be_an_absolute_http_url_without_query_or_credentials() {
        assert_eq!(
            external_base("https://api.example/v1/").as_deref(),
            Some("https://api.example/v1")
        );
        assert_eq!(
            external_base("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "",
            "api.example",
            "/v1",
            "ftp://api.example",
            "https://api.example/?a=1",
            "https://api.example/#top",
            "https://user:pw@api.example",
            "file:///etc",
        ] {
            assert_eq!(external_base(bad), None, "{bad}");
        }
    }
}
