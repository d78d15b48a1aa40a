//! Verify baton access tokens in the services behind it.
//!
//! baton signs RFC 9068 access tokens (`typ: at+jwt`) with a key published in its JWKS. This
//! crate holds the one implementation of the rules a token must pass (baton itself uses it for
//! its own bearer-protected routes):
//!
//! - a `typ` of `at+jwt`, a `kid` of a published key, and that key's own algorithm in `alg`
//!   (so `none`, symmetric algorithms and key confusion are refused);
//! - the signature;
//! - `iss` and `aud` as configured;
//! - `exp` (and `nbf` when present) against the current time, with a small leeway.
//!
//! With the `remote` feature, [`Verifier`] discovers the JWKS from the issuer's RFC 8414
//! metadata, caches the keys, refetches them on a schedule and when a token names an unknown
//! `kid` (at most once per `min_refetch_interval`, so forged kids cannot hammer the issuer).
//! With the `axum` feature, [`Bearer`] is an extractor and [`RequireBearerLayer`] a tower layer
//! that answer RFC 6750 `401`s exactly like baton's own `/api/me`. [`RequireMfa`] and
//! [`RequireMfaLayer`] also ask for a second factor (`amr` holding `mfa`, and with
//! [`RequireMfaLayer::max_age`] a recent `auth_time`), answering RFC 9470's
//! `insufficient_user_authentication` so the client can step up. [`DpopBearer`] and
//! [`RequireDpopBearerLayer`] take sender-constrained tokens (RFC 9449): a token bound to a key
//! (`cnf.jkt`) with the `DPoP` scheme and a proof by that key for this request ([`dpop`] checks
//! it; `htu` is [`VerifierOptions::external_url`] and the path), each proof once; [`Bearer`]
//! refuses bound tokens, which are no bearer tokens.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use baton_verify::{Bearer, Verifier};
//! use axum::{routing::get, Router};
//!
//! let verifier = Verifier::new("https://auth.example.com", "baton");
//! let app: Router = Router::new()
//!     .route("/hello", get(|Bearer(claims): Bearer| async move { format!("hi {}", claims.sub) }))
//!     .with_state(verifier);
//! # Ok(()) }
//! ```

mod cache;
mod claims;
pub mod dpop;
mod keys;
mod rules;

#[cfg(feature = "remote")]
mod remote;

#[cfg(feature = "axum")]
mod web;

pub use cache::{VerifiedCache, VERIFIED_CACHE_ENTRIES};
pub use claims::{Claims, ClientClaims, Confirmation};
pub use keys::{KeySet, KeySetError};
pub use rules::{
    bearer_token, dpop_token, verify, verify_client, Rules, VerifyError, ACCESS_TOKEN_TYP,
};

#[cfg(feature = "remote")]
pub use remote::{DpopError, Verifier, VerifierOptions};

#[cfg(feature = "axum")]
pub use web::{
    Bearer, BearerRejection, DpopBearer, DpopRejection, MfaRejection, RequireBearer,
    RequireBearerLayer, RequireDpopBearer, RequireDpopBearerLayer, RequireMfa, RequireMfaLayer,
    RequireMfaService,
};
