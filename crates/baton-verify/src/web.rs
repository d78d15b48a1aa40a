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
