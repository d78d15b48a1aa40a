//! Extractors: JSON bodies whose every rejection is an [`ApiError`], the bearer-token
//! [`Authenticated`] caller, and where a request came from.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use baton_core::access::AccessClaims;
use baton_core::service::RequestOrigin;
use baton_core::{SessionId, UserId};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

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
#[derive(Clone)]
pub struct BasicCredentials {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
}

/// The secret never shows in debug output.
impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("id", &self.id)
            .field("secret", &"***")
            .finish()
    }
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

/// Path parameters whose every rejection (a segment that is not UTF-8 once decoded, say) is a
/// JSON `400` like any other bad input.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| ApiError::InvalidRequest(format!("Invalid path: {}", e.body_text())))
    }
}

/// A query string whose rejection is a JSON `400`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|e| ApiError::InvalidRequest(format!("Invalid query string: {e}")))
    }
}

/// A caller of baton's own account endpoints: a valid access token of baton's own sign-in (the
/// `/auth` endpoints or the password grant), which carries no `scope`. A token an application
/// got through the authorization code flow names the scopes it was granted and is refused here
/// (`403 insufficient_scope`): it speaks for the user only to that application's APIs, the
/// userinfo endpoint and `/api/me` ([`AnyUser`]).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The `sub` claim.
    pub user: UserId,
    /// The `sid` claim.
    pub session: SessionId,
    /// Every claim.
    pub claims: AccessClaims,
}

impl From<AccessClaims> for Authenticated {
    fn from(claims: AccessClaims) -> Self {
        // Ids from a token whose signature and claims were just verified.
        Self {
            user: UserId::from_trusted(claims.sub.clone()),
            session: SessionId::from_trusted(claims.sid.clone()),
            claims,
        }
    }
}

/// The bearer token of a request: `None` when there is no `Authorization` header, another
/// scheme, or an empty token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    baton_verify::bearer_token(value)
}

/// The access token of a request with the `DPoP` scheme (RFC 9449 §7.1; the scheme name is
/// case-insensitive): `None` without one.
pub fn dpop_token(headers: &HeaderMap) -> Option<&str> {
    baton_verify::dpop_token(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AnyUser(caller) = AnyUser::from_request_parts(parts, state).await?;
        if caller.claims.scope.is_some() {
            return Err(ApiError::DelegatedToken);
        }
        Ok(caller)
    }
}

/// A caller with any valid user access token, delegated ones (with `scope`) included.
#[derive(Debug, Clone)]
pub struct AnyUser(pub Authenticated);

impl<S> FromRequestParts<S> for AnyUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if let Some(token) = bearer_token(&parts.headers) {
            let claims = state
                .baton
                .verify_access_fresh(token)
                .await
                .map_err(ApiError::Access)?;
            // RFC 9449 §7.2: a bound token is no bearer token.
            if claims.cnf.is_some() {
                return Err(ApiError::BoundAsBearer);
            }
            return Ok(Self(Authenticated::from(claims)));
        }
        let token = dpop_token(&parts.headers)
            .filter(|_| state.config.dpop != crate::config::Dpop::Off)
            .ok_or(ApiError::MissingToken)?;
        let claims =
            state
                .baton
                .verify_access_fresh(token)
                .await
                .map_err(|e| ApiError::DpopAccess {
                    error: baton_proto::ErrorCode::InvalidToken,
                    description: e.to_string(),
                })?;
        crate::dpop::resource_request(&state, parts, token, claims.dpop_jkt()).await?;
        Ok(Self(Authenticated::from(claims)))
    }
}

/// Where the request comes from: `User-Agent` and client IP (the socket peer, or what trusted
/// proxies say). Not the OAuth client, which the request names by `client_id`.
#[derive(Debug, Clone)]
pub struct Origin(pub RequestOrigin);

impl<S> FromRequestParts<S> for Origin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = peer.map(|peer| client_ip(peer, &parts.headers, &state.config.trusted_proxies));
        Ok(Self(RequestOrigin {
            user_agent,
            ip: ip.map(|ip| ip.to_string()),
            dpop_jkt: None,
        }))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

/// The client's address: the socket peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` address that is not a trusted proxy (each proxy appends the
/// address it received the request from, so everything left of the last untrusted entry may
/// have been written by the client). An entry that is not an address ends the walk at the last
/// trusted hop before it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        match forwarded_address(entry) {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests;
