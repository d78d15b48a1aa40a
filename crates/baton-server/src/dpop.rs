//! DPoP (RFC 9449) at baton's endpoints: the proof of a token request (which binds the tokens
//! it gets to the proof's key), the proof of a request to a protected route (which must be by
//! the key the access token is bound to), and the server's nonce.

use crate::config::Dpop;
use crate::error::{capitalized, ApiError};
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use baton_core::dpop::{Proof, ProofError};
use baton_core::service::DpopRequest;
use baton_proto::ErrorCode;

/// The request header that carries a proof.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The response header that carries the server's nonce.
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The one `DPoP` header of a request: `Ok(None)` without one, an error with more than one
/// (RFC 9449 §4.3) or one that is not text.
fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut all = headers.get_all(DPOP).iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err("A request carries one DPoP header at most");
    }
    first
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| "The DPoP proof is malformed")
}

/// The URI a proof names as `htu`: baton's external URL (the issuer) and the path.
fn htu(state: &AppState, parts_uri: &axum::http::Uri, original: Option<&OriginalUri>) -> String {
    let path = original.map_or(parts_uri.path(), |o| o.0.path());
    format!("{}{path}", state.issuer)
}

/// The proof of a request to an endpoint that issues tokens (RFC 9449 §5), checked: `None`
/// without one (or with DPoP off). Whether one is required depends on the client, which the
/// handler knows: [`TokenProof::require`].
#[derive(Debug)]
pub struct TokenProof(pub Option<Proof>);

impl TokenProof {
    /// The thumbprint of the key proved, if any.
    pub fn jkt(&self) -> Option<String> {
        self.0.as_ref().map(|p| p.jkt.clone())
    }

    /// Refuses a request without a proof when `required`.
    pub fn require(&self, required: bool) -> Result<(), ApiError> {
        if required && self.0.is_none() {
            return Err(ApiError::InvalidDpopProof(
                "This client must send a DPoP proof".into(),
            ));
        }
        Ok(())
    }
}

impl<S> FromRequestParts<S> for TokenProof
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let uri = htu(&state, &parts.uri, parts.extensions.get::<OriginalUri>());
        token_request(&state, &parts.headers, parts.method.as_str(), &uri)
            .await
            .map(Self)
    }
}

/// Checks the proof of a request to a token endpoint at `uri`: `Ok(None)` without one (or
/// with DPoP off).
async fn token_request(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    uri: &str,
) -> Result<Option<Proof>, ApiError> {
    if state.config.dpop == Dpop::Off {
        return Ok(None);
    }
    let proof = proof_header(headers).map_err(|e| ApiError::InvalidDpopProof(e.into()))?;
    let Some(proof) = proof else {
        return Ok(None);
    };
    let checked = state
        .baton
        .check_dpop(&DpopRequest {
            proof,
            method,
            uri,
            access_token: None,
            nonce_required: state.config.dpop_nonce,
        })
        .await?;
    match checked {
        Ok(proof) => Ok(Some(proof)),
        Err(ProofError::Nonce) => Err(ApiError::UseDpopNonce),
        Err(e) => {
            state.metrics.dpop_refused(e);
            Err(ApiError::InvalidDpopProof(capitalized(&e.to_string())))
        }
    }
}

/// Whether baton's own client must send proofs.
pub fn first_party_required(state: &AppState) -> bool {
    state.config.dpop == Dpop::Required
}

/// Whether the client `client_id` must send proofs: baton's own as `BATON_DPOP` says, the
/// others as registered (`--require-dpop`); a client deleted since need not.
pub async fn required_for(state: &AppState, client_id: &str) -> Result<bool, ApiError> {
    if client_id == baton_core::service::FIRST_PARTY_CLIENT {
        return Ok(first_party_required(state));
    }
    match state.baton.client(client_id).await {
        Ok(client) => Ok(client.settings.require_dpop && state.config.dpop != Dpop::Off),
        Err(baton_core::AuthError::UnknownClient) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The access token of a request with the `DPoP` scheme, checked with its proof (RFC 9449
/// §7): the token is `token`, the claims' key `jkt` must be the proof's.
pub async fn resource_request(
    state: &AppState,
    parts: &Parts,
    token: &str,
    bound_to: Option<&str>,
) -> Result<(), ApiError> {
    let refuse = |error: ErrorCode, description: &str| ApiError::DpopAccess {
        error,
        description: description.to_owned(),
    };
    let proof = proof_header(&parts.headers)
        .map_err(|e| refuse(ErrorCode::InvalidDpopProof, e))?
        .ok_or_else(|| refuse(ErrorCode::InvalidDpopProof, "A DPoP proof is required"))?;
    let Some(bound_to) = bound_to else {
        return Err(refuse(
            ErrorCode::InvalidToken,
            "The access token is not bound to a DPoP key",
        ));
    };
    let uri = htu(state, &parts.uri, parts.extensions.get::<OriginalUri>());
    let checked = state
        .baton
        .check_dpop(&DpopRequest {
            proof,
            method: parts.method.as_str(),
            uri: &uri,
            access_token: Some(token),
            nonce_required: state.config.dpop_nonce,
        })
        .await?;
    match checked {
        Ok(proof) if proof.jkt == bound_to => Ok(()),
        Ok(_) => Err(refuse(
            ErrorCode::InvalidToken,
            "The access token is bound to another DPoP key",
        )),
        Err(ProofError::Nonce) => Err(refuse(
            ErrorCode::UseDpopNonce,
            "The DPoP proof must carry the server's nonce (DPoP-Nonce)",
        )),
        Err(e) => {
            state.metrics.dpop_refused(e);
            Err(refuse(
                ErrorCode::InvalidDpopProof,
                &capitalized(&e.to_string()),
            ))
        }
    }
}

/// What every answer to a DPoP request carries, whichever layer answered it:
/// - the server's current nonce, to each request that came with a proof when nonces are on
///   (RFC 9449 §8, §9: a client takes the newest one it was given);
/// - to a request with the `DPoP` scheme, refusals for scope or step-up
///   (`insufficient_scope`, `insufficient_user_authentication`) challenge with the `DPoP`
///   scheme it used rather than `Bearer` (RFC 9449 §7.1).
pub async fn answers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let on = state.config.dpop != Dpop::Off;
    let with_proof = on && state.config.dpop_nonce && request.headers().contains_key(DPOP);
    let dpop_scheme = on && crate::extract::dpop_token(request.headers()).is_some();
    let mut response = next.run(request).await;
    if with_proof {
        if let Ok(nonce) = HeaderValue::from_str(&state.baton.dpop_nonce()) {
            response.headers_mut().insert(DPOP_NONCE, nonce);
        }
    }
    if dpop_scheme {
        as_dpop_challenge(response.headers_mut());
    }
    response
}

/// Turns a `Bearer` challenge for scope or step-up into the same under the `DPoP` scheme.
fn as_dpop_challenge(headers: &mut HeaderMap) {
    let www = axum::http::header::WWW_AUTHENTICATE;
    let Some(challenge) = headers.get(&www).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        return;
    };
    if !params.contains("error=\"insufficient_") {
        return;
    }
    let algs = baton_core::dpop::DPOP_ALGS.join(" ");
    if let Ok(v) = HeaderValue::from_str(&format!("DPoP {params}, algs=\"{algs}\"")) {
        headers.insert(www, v);
    }
}
