//! axum and tower glue: the [`Bearer`] extractor and the [`RequireBearerLayer`], both answering
//! RFC 6750 §3 challenges exactly as baton's own `/api/me` does.

use crate::claims::Claims;
use crate::remote::{DpopError, Verifier};
use crate::rules::{bearer_token, VerifyError};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_proto::{ErrorBody, ErrorCode};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The verified claims of the request's bearer token.
#[derive(Debug, Clone)]
pub struct Bearer(pub Claims);

/// Why a request was refused.
#[derive(Debug, Clone)]
pub struct BearerRejection {
    realm: String,
    error: Option<VerifyError>,
}

impl BearerRejection {
    /// The refusal's reason: `None` when no token was presented.
    pub fn reason(&self) -> Option<VerifyError> {
        self.error
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let realm = self.realm.replace('"', "");
        let (status, body, challenge) = match self.error {
            None => (
                StatusCode::UNAUTHORIZED,
                ErrorBody {
                    error: ErrorCode::MissingToken,
                    error_description: Some("No token provided".into()),
                },
                Some(format!("Bearer realm=\"{realm}\"")),
            ),
            Some(VerifyError::KeysUnavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody {
                    error: ErrorCode::Unavailable,
                    error_description: None,
                },
                None,
            ),
            Some(e) => (
                StatusCode::UNAUTHORIZED,
                ErrorBody {
                    error: ErrorCode::InvalidToken,
                    error_description: Some(e.to_string()),
                },
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{e}\""
                )),
            ),
        };
        let dpop_hint = self.error == Some(VerifyError::DpopBound);
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if dpop_hint {
            if let Ok(v) = HeaderValue::from_str(&dpop_challenge(&realm, None)) {
                headers.append(header::WWW_AUTHENTICATE, v);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

use crate::dpop::challenge as dpop_challenge;

/// The verified claims of a request's access token, sender-constrained when it is bound to a
/// key (RFC 9449 §7): a bound token must come with the `DPoP` scheme and a proof by its key
/// (`htu` is [`crate::VerifierOptions::external_url`] and the request's path), each proof
/// once; an unbound one with the `Bearer` scheme, unless
/// [`crate::VerifierOptions::dpop_required`] refuses those. Refusals answer `401` with a
/// `WWW-Authenticate: DPoP …` challenge.
#[derive(Debug, Clone)]
pub struct DpopBearer(pub Claims);

/// Why [`DpopBearer`] or [`RequireDpopBearerLayer`] refused a request.
#[derive(Debug, Clone)]
pub enum DpopRejection {
    /// A bearer token refused as [`Bearer`] refuses it.
    Bearer(BearerRejection),
    /// A request with the `DPoP` scheme refused, or a bearer token where DPoP is required.
    Dpop {
        /// The realm of the challenge.
        realm: String,
        /// Why.
        error: DpopError,
    },
}

impl IntoResponse for DpopRejection {
    fn into_response(self) -> Response {
        let (realm, error) = match self {
            Self::Bearer(rejection) => return rejection.into_response(),
            Self::Dpop { realm, error } => (realm.replace('"', ""), error),
        };
        let (status, code, description) = match error {
            DpopError::Token(VerifyError::KeysUnavailable) | DpopError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                None,
            ),
            DpopError::NoExternalUrl => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError,
                None,
            ),
            DpopError::Token(_) | DpopError::NotBound | DpopError::OtherKey => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                Some(error.to_string()),
            ),
            DpopError::Proof(crate::dpop::ProofError::Nonce) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::UseDpopNonce,
                Some(error.to_string()),
            ),
            DpopError::Proof(_) | DpopError::NoProof => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidDpopProof,
                Some(error.to_string()),
            ),
        };
        let body = ErrorBody {
            error: code,
            error_description: description.clone(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = dpop_challenge(
                &realm,
                Some((&code.name(), description.as_deref().unwrap_or(""))),
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The access token of the `DPoP` scheme (case-insensitive), if the request uses it.
fn dpop_token(headers: &HeaderMap) -> Option<&str> {
    crate::rules::dpop_token(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The request's one `DPoP` header, if it has exactly one that is text.
fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut all = headers.get_all("dpop").iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(DpopError::NoProof);
    }
    first
        .to_str()
        .map(|p| Some(p.trim()))
        .map_err(|_| DpopError::Proof(crate::dpop::ProofError::Malformed))
}

/// The path the client sent (a nested router's `OriginalUri` when there is one): DPoP proofs
/// name it.
fn request_path(path: &str, extensions: &http::Extensions) -> String {
    extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(path, |o| o.0.path())
        .to_owned()
}

async fn check_dpop(
    verifier: &Verifier,
    method: &http::Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Claims, DpopRejection> {
    let reject = |error| DpopRejection::Dpop {
        realm: verifier.realm().to_owned(),
        error,
    };
    let Some(token) = dpop_token(headers) else {
        if verifier.dpop_required() {
            return Err(reject(DpopError::NotBound));
        }
        return check(verifier, headers)
            .await
            .map_err(DpopRejection::Bearer);
    };
    let proof = dpop_proof(headers).map_err(reject)?;
    verifier
        .verify_dpop(token, proof, method.as_str(), path)
        .await
        .map_err(reject)
}

impl<S> FromRequestParts<S> for DpopBearer
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = DpopRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let path = request_path(parts.uri.path(), &parts.extensions);
        check_dpop(&verifier, &parts.method, &path, &parts.headers)
            .await
            .map(DpopBearer)
    }
}

/// A tower layer that admits requests as [`DpopBearer`] does and puts the [`Claims`] of the
/// admitted ones in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequireDpopBearerLayer {
    verifier: Verifier,
}

impl RequireDpopBearerLayer {
    /// Protects the wrapped service with `verifier` (give it an
    /// [`crate::VerifierOptions::external_url`]).
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for RequireDpopBearerLayer {
    type Service = RequireDpopBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireDpopBearer {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service of [`RequireDpopBearerLayer`].
#[derive(Debug, Clone)]
pub struct RequireDpopBearer<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> tower::Service<http::Request<B>> for RequireDpopBearer<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let path = request_path(req.uri().path(), req.extensions());
            match check_dpop(&verifier, req.method(), &path, req.headers()).await {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

async fn check(verifier: &Verifier, headers: &HeaderMap) -> Result<Claims, BearerRejection> {
    let reject = |error| BearerRejection {
        realm: verifier.realm().to_owned(),
        error,
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(|| reject(None))?;
    // RFC 9449 §7.2: a token bound to a key is no bearer token (`verify` refuses it).
    verifier.verify(token).await.map_err(|e| reject(Some(e)))
}

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        check(&verifier, &parts.headers).await.map(Bearer)
    }
}

/// A tower layer that refuses requests without a valid bearer token and puts the [`Claims`] of
/// the others in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequireBearerLayer {
    verifier: Verifier,
}

impl RequireBearerLayer {
    /// Protects the wrapped service with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for RequireBearerLayer {
    type Service = RequireBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireBearer {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service of [`RequireBearerLayer`].
#[derive(Debug, Clone)]
pub struct RequireBearer<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> tower::Service<http::Request<B>> for RequireBearer<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match check(&verifier, req.headers()).await {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

/// The verified claims of an access token whose user proved a second factor (`amr` holds `mfa`):
/// an extractor for routes that need more than a password. A token without it is refused with
/// RFC 9470's `insufficient_user_authentication`, so the client can sign in again with a second
/// factor and retry. [`RequireMfaLayer`] also bounds the age of that sign-in. The token is taken
/// as [`DpopBearer`] takes it: a bearer token, or a DPoP-bound one with its proof.
#[derive(Debug, Clone)]
pub struct RequireMfa(pub Claims);

/// Why [`RequireMfa`] or [`RequireMfaLayer`] refused a request.
#[derive(Debug, Clone)]
pub enum MfaRejection {
    /// No valid bearer token: the RFC 6750 answer of [`Bearer`].
    Bearer(BearerRejection),
    /// A request with the `DPoP` scheme refused as [`DpopBearer`] refuses it.
    Dpop(DpopRejection),
    /// A valid token whose authentication is too weak (no second factor) or, with a
    /// `max_age`, too old (RFC 9470).
    Insufficient {
        /// The realm of the challenge.
        realm: String,
        /// The largest age (seconds since `auth_time`) the route accepts, if it bounds it.
        max_age: Option<u64>,
        /// Whether the token came with the `DPoP` scheme (the challenge then names it).
        dpop: bool,
    },
}

impl IntoResponse for MfaRejection {
    fn into_response(self) -> Response {
        let (realm, max_age, dpop) = match self {
            Self::Bearer(rejection) => return rejection.into_response(),
            Self::Dpop(rejection) => return rejection.into_response(),
            Self::Insufficient {
                realm,
                max_age,
                dpop,
            } => (realm.replace('"', ""), max_age, dpop),
        };
        let description = match max_age {
            Some(_) => "A recent sign-in with a second factor is required",
            None => "A second factor is required",
        };
        let body = ErrorBody {
            error: ErrorCode::InsufficientUserAuthentication,
            error_description: Some(description.into()),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (StatusCode::UNAUTHORIZED, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let mut challenge = if dpop {
            dpop_challenge(
                &realm,
                Some(("insufficient_user_authentication", description)),
            )
        } else {
            format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_user_authentication\", \
                 error_description=\"{description}\""
            )
        };
        if let Some(age) = max_age {
            challenge.push_str(&format!(", max_age={age}"));
        }
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Checks the request's access token (as [`DpopBearer`] does), then that its user proved a
/// second factor, and with `max_age` that they did so no more than that many seconds ago.
async fn check_mfa(
    verifier: &Verifier,
    method: &http::Method,
    path: &str,
    headers: &HeaderMap,
    max_age: Option<u64>,
) -> Result<Claims, MfaRejection> {
    let claims = check_dpop(verifier, method, path, headers)
        .await
        .map_err(|rejection| match rejection {
            DpopRejection::Bearer(bearer) => MfaRejection::Bearer(bearer),
            dpop => MfaRejection::Dpop(dpop),
        })?;
    let recent = max_age.is_none_or(|age| {
        claims.authenticated_within(
            i64::try_from(age).unwrap_or(i64::MAX),
            crate::remote::unix_now(),
        )
    });
    if claims.is_multi_factor() && recent {
        Ok(claims)
    } else {
        Err(MfaRejection::Insufficient {
            realm: verifier.realm().to_owned(),
            max_age,
            dpop: claims.cnf.is_some(),
        })
    }
}

impl<S> FromRequestParts<S> for RequireMfa
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = MfaRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let path = request_path(parts.uri.path(), &parts.extensions);
        check_mfa(&verifier, &parts.method, &path, &parts.headers, None)
            .await
            .map(RequireMfa)
    }
}

/// A tower layer that refuses requests without a valid bearer token of a user who proved a
/// second factor (optionally within `max_age`), answering RFC 9470's
/// `insufficient_user_authentication`; the [`Claims`] of the others go in the request's
/// extensions.
#[derive(Debug, Clone)]
pub struct RequireMfaLayer {
    verifier: Verifier,
    max_age: Option<u64>,
}

impl RequireMfaLayer {
    /// Protects the wrapped service with `verifier`, with no bound on the sign-in's age.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            max_age: None,
        }
    }

    /// Also refuses tokens whose sign-in (`auth_time`) is older than `max_age`; the challenge
    /// then names it (`max_age=…`), so the client asks for a new sign-in.
    #[must_use]
    pub fn max_age(mut self, max_age: std::time::Duration) -> Self {
        self.max_age = Some(max_age.as_secs());
        self
    }
}

impl<S> tower::Layer<S> for RequireMfaLayer {
    type Service = RequireMfaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireMfaService {
            inner,
            verifier: self.verifier.clone(),
            max_age: self.max_age,
        }
    }
}

/// The service of [`RequireMfaLayer`].
#[derive(Debug, Clone)]
pub struct RequireMfaService<S> {
    inner: S,
    verifier: Verifier,
    max_age: Option<u64>,
}

impl<S, B> tower::Service<http::Request<B>> for RequireMfaService<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (verifier, max_age) = (self.verifier.clone(), self.max_age);
        Box::pin(async move {
            let path = request_path(req.uri().path(), req.extensions());
            match check_mfa(&verifier, req.method(), &path, req.headers(), max_age).await {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
