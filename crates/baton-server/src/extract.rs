//! Extractors: JSON bodies whose every rejection is an [`ApiError`], the bearer-token
//! [`Authenticated`] caller, and where a request came from.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use baton_core::access::AccessClaims;
use baton_core::service::ClientInfo;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// A JSON body; wrong content type → 415, too large → 413, malformed → 400.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A JSON body that may be absent (empty), as for cookie-mode refresh and logout.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<(bool, Bytes), ApiError> {
    let json = is_json(req.headers());
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidRequest("Could not read the request body".into())
        }
    })?;
    Ok((json, bytes))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Request bodies are JSON objects; serde would otherwise also read a struct from an array.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::InvalidRequest(
            "The request body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("Invalid JSON body: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (json, bytes) = read_body(req, state).await?;
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse(&bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (json, bytes) = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse(&bytes).map(|v| Self(Some(v)))
    }
}

/// A form-encoded body (`application/x-www-form-urlencoded`), as the OAuth endpoints take.
#[derive(Debug)]
pub struct FormBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let (_, bytes) = read_body(req, state).await?;
        if !form {
            return Err(ApiError::UnsupportedMediaType);
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| ApiError::InvalidRequest(format!("Invalid form body: {e}")))
    }
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1: each part form-urlencoded).
#[derive(Debug, Clone)]
pub struct BasicCredentials {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
}

/// The Basic credentials of a request: `Ok(None)` without an `Authorization: Basic` header,
/// an error when the header is malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<BasicCredentials>, ApiError> {
    use base64::Engine as _;
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidClient)?.trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(ApiError::InvalidClient)?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ApiError::InvalidClient)
    };
    Ok(Some(BasicCredentials {
        id: unescape(id)?,
        secret: unescape(secret)?,
    }))
}

/// A caller that presented a valid access token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

/// The bearer token of a request: `None` when there is no `Authorization` header, another
/// scheme, or an empty token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    baton_verify::bearer_token(value)
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer_token(&parts.headers).ok_or(ApiError::MissingToken)?;
        state
            .baton
            .verify_access_fresh(token)
            .await
            .map(Self)
            .map_err(ApiError::Access)
    }
}

/// Who is calling: `User-Agent` and client IP (the socket peer, or the trusted proxy header).
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S> FromRequestParts<S> for Client
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Ok(Self(client_info(
            parts,
            state.config.trusted_proxy_header.as_deref(),
        )))
    }
}

fn client_info(parts: &Parts, proxy_header: Option<&str>) -> ClientInfo {
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    let from_proxy = proxy_header
        .and_then(|h| parts.headers.get(h))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|ip| ip.trim().chars().take(64).collect::<String>())
        .filter(|ip| !ip.is_empty());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    ClientInfo {
        user_agent,
        ip: from_proxy.or(peer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(auth).expect("ascii"),
        );
        h
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bEaReR abc")), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn basic_credentials_are_decoded_and_unescaped() {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20api:s3cr%3At");
        let h = headers(&format!("Basic {encoded}"));
        let c = basic_credentials(&h).expect("valid").expect("present");
        assert_eq!((c.id.as_str(), c.secret.as_str()), ("my api", "s3cr:t"));
        assert!(basic_credentials(&headers("Bearer abc"))
            .expect("ok")
            .is_none());
        assert!(basic_credentials(&headers("Basic !!!")).is_err());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
    }
}
