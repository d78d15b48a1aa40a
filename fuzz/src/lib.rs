//! The checks the fuzz targets run, shared with the regression test that replays every input
//! kept in `fuzz/regressions/<target>/` (`crates/baton-server/tests/fuzz_regressions.rs`; a
//! crash found by `scripts/fuzz` goes there once fixed).

use baton_core::access::{self, TokenRules};
use baton_core::keys::{KeyRing, SigningAlg, StoredKey};
use baton_core::Username;
use baton_proto::{
    LoginRequest, OAuthTokenForm, OAuthTokenRefForm, RefreshRequest, RegisterRequest,
};
use http::{HeaderMap, HeaderValue};
use std::sync::OnceLock;
use time::macros::datetime;

const NOW: time::OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let key = StoredKey::generate(SigningAlg::EdDSA, NOW).expect("key");
        KeyRing::build(&key, std::slice::from_ref(&key), NOW, time::Duration::ZERO).expect("ring")
    })
}

/// Access-token checks: the bearer header, the token itself (with a real key set, so inputs
/// that look like baton's tokens go deep; twice, the second time through the cache of verified
/// tokens), and a JWKS document. Nothing may panic, and no fuzzed token may verify.
pub fn token(data: &[u8]) {
    let _ = baton_verify::KeySet::from_jwks(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = baton_verify::bearer_token(text);
    let rules = TokenRules {
        issuer: "https://auth.example.com".into(),
        audience: "baton".into(),
        leeway_secs: 0,
    };
    assert!(access::verify(ring(), &rules, text, NOW).is_err());
    assert!(access::verify(ring(), &rules, text, NOW).is_err());
}

/// DPoP proofs (RFC 9449): the whole check, and `htu` normalisation. Nothing may panic (a
/// proof names its own key, so unlike an access token a well-formed one may pass).
pub fn dpop(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = baton_core::dpop::normalized_htu(text);
    let context = baton_core::dpop::ProofContext {
        method: "POST",
        uri: "https://auth.example.com/auth/refresh",
        now: NOW.unix_timestamp(),
        access_token: Some("token"),
        nonce: Some("nonce"),
    };
    let _ = baton_core::dpop::check_proof(text, &context);
}

/// Request decoding: JSON bodies, OAuth form bodies, cookies, HTTP Basic credentials,
/// `X-Forwarded-For` and the CSRF rule. Nothing may panic.
pub fn request(data: &[u8]) {
    let _ = serde_json::from_slice::<LoginRequest>(data);
    let _ = serde_json::from_slice::<RegisterRequest>(data);
    let _ = serde_json::from_slice::<RefreshRequest>(data);
    let _ = serde_urlencoded::from_bytes::<OAuthTokenForm>(data);
    let _ = serde_urlencoded::from_bytes::<OAuthTokenRefForm>(data);
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for name in [
        "cookie",
        "authorization",
        "x-forwarded-for",
        "origin",
        "x-requested-with",
    ] {
        headers.append(name, value.clone());
    }
    let _ = baton_server::cookie::refresh_cookie(&headers);
    let _ = baton_server::extract::basic_credentials(&headers);
    let _ =
        baton_server::cookie::check_csrf(&headers, &["https://auth.example.com".to_owned()], &[]);
    let trusted = ["10.0.0.0/8".parse().expect("cidr")];
    let peer = "10.0.0.1".parse().expect("address");
    let _ = baton_server::extract::client_ip(peer, &headers, &trusted);
}

/// Username normalisation: never a panic, and whatever is accepted is within the rules and
/// normalises to itself.
pub fn username(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = Username::parse(raw) {
        let display = name.as_str();
        assert!(!display.is_empty());
        assert!(display.chars().count() <= baton_core::username::MAX_USERNAME_CHARS);
        assert!(!display.chars().any(char::is_control));
        let again = Username::parse(display).expect("an accepted name is accepted again");
        assert_eq!(again.as_str(), display);
        assert_eq!(again.key(), name.key());
    }
}
