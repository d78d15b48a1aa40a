//! `/.well-known/jwks.json` and `/.well-known/oauth-authorization-server`: tokens verify with a
//! standard JOSE library from the JWKS alone, and the signing key survives restarts.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

const ISSUER: &str = "https://auth.baton.test";

async fn get_json(app: &TestApp, url: &str) -> Value {
    let r = app.client.get(url).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK, "GET {url}");
    body(r).await
}

async fn jwks(app: &TestApp) -> Value {
    get_json(app, &app.url("/.well-known/jwks.json")).await
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// Verifies `token` the way an outside resource server would: JWKS, kid, alg, aud, iss.
async fn verify_from_jwks(app: &TestApp, token: &str, issuer: &str) -> Value {
    verify_for(app, token, issuer, "baton").await
}

/// Like [`verify_from_jwks`], for the audience `audience`.
pub(crate) async fn verify_for(app: &TestApp, token: &str, issuer: &str, audience: &str) -> Value {
    let set: JwkSet = serde_json::from_value(jwks(app).await).expect("an RFC 7517 JWKS");
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let jwk: &Jwk = set.find(&kid).expect("the token's key is published");
    let key = DecodingKey::from_jwk(jwk).expect("usable key");
    let alg: Algorithm = jwk
        .common
        .key_algorithm
        .expect("alg")
        .to_string()
        .parse()
        .expect("a JWS algorithm");
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the token verifies")
        .claims
}

#[tokio::test]
async fn every_published_key_has_kid_alg_and_use_and_no_private_part() {
    for alg in ["EdDSA", "ES256", "RS256"] {
        let app =
            TestApp::spawn_with(|s| s.signing_alg = Some(alg.parse().expect("an algorithm"))).await;
        let set = jwks(&app).await;
        let keys = set["keys"].as_array().expect("keys");
        assert!(!keys.is_empty());
        for k in keys {
            assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()), "{k}");
            assert_eq!(k["alg"], alg, "{k}");
            assert_eq!(k["use"], "sig", "{k}");
            assert!(k["kty"].is_string(), "{k}");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(k.get(private).is_none(), "{private} published in {k}");
            }
        }
    }
}

#[tokio::test]
async fn access_tokens_verify_with_a_standard_library_from_the_jwks_alone() {
    for alg in ["EdDSA", "ES256", "RS256"] {
        let app =
            TestApp::spawn_with(|s| s.signing_alg = Some(alg.parse().expect("an algorithm"))).await;
        let id = app.create_user("alice").await;
        let t = app.login_ok("alice").await;
        let claims = verify_from_jwks(&app, &t.access, &app.base).await;
        assert_eq!(claims["sub"], id.as_str(), "{alg}");
        assert_eq!(claims["preferred_username"], "alice", "{alg}");
    }
}

#[tokio::test]
async fn the_metadata_follows_rfc_8414() {
    let app = TestApp::spawn().await;
    let m = get_json(&app, &app.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(m["issuer"], app.base.as_str());
    for field in [
        "token_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        let url = m[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {m}"));
        assert!(url.starts_with(&app.base), "{field} = {url}");
    }
    let grants: Vec<&str> = m["grant_types_supported"]
        .as_array()
        .expect("grant_types_supported")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(grants.contains(&"password"), "{grants:?}");
    assert!(grants.contains(&"refresh_token"), "{grants:?}");
    assert!(grants.contains(&"client_credentials"), "{grants:?}");
    assert!(
        m["response_types_supported"].is_array(),
        "RFC 8414 requires it"
    );
    let jwks_uri = m["jwks_uri"].as_str().expect("jwks_uri");
    assert_eq!(get_json(&app, jwks_uri).await, jwks(&app).await);
}

#[tokio::test]
async fn the_metadata_issuer_is_the_configured_one() {
    let app = TestApp::spawn_with(|s| s.issuer = Some(ISSUER.into())).await;
    let m = get_json(&app, &app.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(m["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    let t = app.user_session("alice").await;
    assert_eq!(jwt_claims(&t.access)["iss"], ISSUER);
    verify_from_jwks(&app, &t.access, ISSUER).await;
}

#[tokio::test]
async fn the_signing_key_and_the_sessions_survive_a_restart() {
    let app = TestApp::spawn_with(|s| s.issuer = Some(ISSUER.into())).await;
    let t = app.user_session("alice").await;
    let before = kids(&jwks(&app).await);
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |s| s.issuer = Some(ISSUER.into())).await;
    assert_eq!(
        kids(&jwks(&app).await),
        before,
        "the same key, not a new one"
    );
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "an access token from before the restart"
    );
    let next = app.refresh_ok(&t.refresh).await;
    assert_eq!(
        jwt_header(&next.access)["kid"],
        jwt_header(&t.access)["kid"]
    );
    app.login_ok("alice").await;
}

#[tokio::test]
async fn changing_the_algorithm_on_restart_keeps_the_old_key_published() {
    let app = TestApp::spawn_with(|s| s.issuer = Some(ISSUER.into())).await;
    let t = app.user_session("alice").await;
    let old_kid = jwt_header(&t.access)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |s| {
        s.issuer = Some(ISSUER.into());
        s.signing_alg = Some(baton_core::keys::SigningAlg::ES256);
    })
    .await;
    let set = jwks(&app).await;
    let keys = set["keys"].as_array().expect("keys");
    assert!(
        keys.iter()
            .any(|k| k["kid"] == old_kid.as_str() && k["alg"] == "EdDSA"),
        "old key still published: {set}"
    );
    assert!(keys.iter().any(|k| k["alg"] == "ES256"), "{set}");
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the old key's token still verifies"
    );
    verify_from_jwks(&app, &t.access, ISSUER).await;
    let fresh = app.refresh_ok(&t.refresh).await;
    let h = jwt_header(&fresh.access);
    assert_eq!(h["alg"], "ES256");
    assert_ne!(h["kid"], old_kid.as_str());
    verify_from_jwks(&app, &fresh.access, ISSUER).await;
}
