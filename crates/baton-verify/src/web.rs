//! axum and tower glue: the [`Bearer`] extractor and the [`RequireBearerLayer`], both answering
//! RFC 6750 §3 challenges exactly as baton's own `/api/me` does.

use crate::claims::Claims;
use crate::remote::Verifier;
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
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
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

/// The verified claims of a bearer token whose user proved a second factor (`amr` holds `mfa`):
/// an extractor for routes that need more than a password. A token without it is refused with
/// RFC 9470's `insufficient_user_authentication`, so the client can sign in again with a second
/// factor and retry. [`RequireMfaLayer`] also bounds the age of that sign-in.
#[derive(Debug, Clone)]
pub struct RequireMfa(pub Claims);

/// Why [`RequireMfa`] or [`RequireMfaLayer`] refused a request.
#[derive(Debug, Clone)]
pub enum MfaRejection {
    /// No valid bearer token: the RFC 6750 answer of [`Bearer`].
    Bearer(BearerRejection),
    /// A valid token whose authentication is too weak (no second factor) or, with a
    /// `max_age`, too old (RFC 9470).
    Insufficient {
        /// The realm of the challenge.
        realm: String,
        /// The largest age (seconds since `auth_time`) the route accepts, if it bounds it.
        max_age: Option<u64>,
    },
}

impl IntoResponse for MfaRejection {
    fn into_response(self) -> Response {
        let (realm, max_age) = match self {
            Self::Bearer(rejection) => return rejection.into_response(),
            Self::Insufficient { realm, max_age } => (realm.replace('"', ""), max_age),
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
        let mut challenge = format!(
            "Bearer realm=\"{realm}\", error=\"insufficient_user_authentication\", \
             error_description=\"{description}\""
        );
        if let Some(age) = max_age {
            challenge.push_str(&format!(", max_age={age}"));
        }
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Checks the request's bearer token, then that its user proved a second factor, and with
/// `max_age` that they did so no more than that many seconds ago.
async fn check_mfa(
    verifier: &Verifier,
    headers: &HeaderMap,
    max_age: Option<u64>,
) -> Result<Claims, MfaRejection> {
    let claims = check(verifier, headers)
        .await
        .map_err(MfaRejection::Bearer)?;
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
        check_mfa(&verifier, &parts.headers, None)
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
            match check_mfa(&verifier, req.headers(), max_age).await {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
