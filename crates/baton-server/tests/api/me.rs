//! `GET /api/me` and the bearer-token rules of RFC 6750 and RFC 9068: missing, bad, forged and
//! expired tokens, and the statelessness of access tokens.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use baton_core::keys::{SigningAlg, StoredKey};
use baton_core::Clock as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const CHALLENGE: &str = "Bearer realm=\"baton\"";

async fn me_with_authorization(app: &TestApp, value: &str) -> Response {
    app.client
        .get(app.url("/api/me"))
        .header("authorization", value)
        .send()
        .await
        .expect("request")
}

/// Asserts a `401 invalid_token` with the RFC 6750 challenge naming the same description.
async fn assert_invalid_token(r: Response, description: Option<&str>) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .expect("ascii")
        .to_owned();
    let b = body(r).await;
    assert_eq!(b["error"], "invalid_token", "in {b}");
    let d = b["error_description"].as_str().expect("description");
    if let Some(expected) = description {
        assert_eq!(d, expected);
    }
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(
        challenge,
        format!("{CHALLENGE}, error=\"invalid_token\", error_description=\"{d}\"")
    );
}

async fn assert_missing_token(r: Response) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], CHALLENGE);
    assert_eq!(
        body(r).await,
        json!({"error": "missing_token", "error_description": "No token provided"})
    );
}

/// The server's own active signing key, read from its store and opened with its secret (as
/// someone holding both the database and the secret could).
async fn server_key(app: &TestApp) -> StoredKey {
    let keys = app.store.signing_keys().await.expect("signing keys");
    let sealed = keys
        .into_iter()
        .find(|k| k.retired_at.is_none())
        .expect("an active key");
    let secret = if postgres_backend() {
        TEST_SECRET.to_owned()
    } else {
        std::fs::read_to_string(app.dir.path().join("baton.secret"))
            .expect("the generated secret")
            .trim_end()
            .to_owned()
    };
    baton_core::vault::KeyVault::new(secret.as_bytes(), None)
        .expect("vault")
        .open(&sealed)
        .expect("opens")
}

fn ed_header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.into());
    h
}

fn sign_ed(key: &StoredKey, kid: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &ed_header(kid),
        claims,
        &EncodingKey::from_ed_der(&key.pkcs8),
    )
    .expect("sign")
}

#[tokio::test]
async fn me_answers_the_callers_id_username_and_session() {
    let app = TestApp::spawn().await;
    let id = app.create_user("alice").await;
    let t = app.login_ok("alice").await;
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    assert_eq!(b["sub"], id.as_str());
    assert_eq!(b["username"], "alice");
    assert_eq!(b["session_id"], jwt_claims(&t.access)["sid"]);
}

#[tokio::test]
async fn no_token_or_another_scheme_is_a_missing_token_with_the_bare_challenge() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app
        .client
        .get(app.url("/api/me"))
        .send()
        .await
        .expect("request");
    assert_missing_token(r).await;
    assert_missing_token(me_with_authorization(&app, "Basic YWxpY2U6cGFzc3dvcmQ=").await).await;
    let other_scheme = format!("Token {}", t.access);
    assert_missing_token(me_with_authorization(&app, &other_scheme).await).await;
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = me_with_authorization(&app, &format!("{scheme} {}", t.access)).await;
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn a_garbage_token_is_invalid_with_the_rfc_6750_challenge() {
    let app = TestApp::spawn().await;
    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9..", "....."] {
        assert_invalid_token(app.get_bearer("/api/me", garbage).await, None).await;
    }
}

#[tokio::test]
async fn a_token_with_a_tampered_signature_or_payload_is_invalid() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let parts: Vec<&str> = t.access.split('.').collect();
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
    let sig: String = sig.into_iter().collect();
    let tampered = format!("{}.{}.{sig}", parts[0], parts[1]);
    assert_invalid_token(app.get_bearer("/api/me", &tampered).await, None).await;

    let mut claims = jwt_claims(&t.access);
    claims["preferred_username"] = json!("mallory");
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_invalid_token(app.get_bearer("/api/me", &forged).await, None).await;
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the untouched token still works"
    );
}

#[tokio::test]
async fn an_expired_token_says_so_in_the_body_and_the_challenge() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    app.advance(899);
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(r.status(), StatusCode::OK, "valid until its exp");
    app.advance(2);
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"baton\", error=\"invalid_token\", error_description=\"Token has expired\""
    );
    assert_eq!(
        body(r).await,
        json!({"error": "invalid_token", "error_description": "Token has expired"})
    );
}

#[tokio::test]
async fn a_short_access_lifetime_expires_sooner() {
    let app =
        TestApp::spawn_with(|s| s.access_ttl = Some(std::time::Duration::from_secs(60))).await;
    let t = app.user_session("alice").await;
    assert_eq!(t.json["expires_in"], 60);
    app.advance(61);
    assert_invalid_token(
        app.get_bearer("/api/me", &t.access).await,
        Some("Token has expired"),
    )
    .await;
}

#[tokio::test]
async fn the_clock_leeway_accepts_a_token_a_little_past_its_exp() {
    let app =
        TestApp::spawn_with(|s| s.clock_leeway = Some(std::time::Duration::from_secs(30))).await;
    let t = app.user_session("alice").await;
    app.advance(920);
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(r.status(), StatusCode::OK, "inside the leeway");
    app.advance(11);
    assert_invalid_token(
        app.get_bearer("/api/me", &t.access).await,
        Some("Token has expired"),
    )
    .await;
}

#[tokio::test]
async fn a_token_re_signed_with_the_servers_own_key_is_accepted() {
    // The control for the forgeries below: the minting here is right, only the claims differ there.
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let key = server_key(&app).await;
    let kid = jwt_header(&t.access)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    assert_eq!(kid, key.kid);
    let token = sign_ed(&key, &kid, &jwt_claims(&t.access));
    let r = app.get_bearer("/api/me", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let kid = jwt_header(&t.access)["kid"].clone();
    let parts: Vec<&str> = t.access.split('.').collect();
    for alg in ["none", "None", "NONE"] {
        let head =
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string());
        let unsigned = format!("{head}.{}.", parts[1]);
        assert_invalid_token(app.get_bearer("/api/me", &unsigned).await, None).await;
        let with_old_sig = format!("{head}.{}.{}", parts[1], parts[2]);
        assert_invalid_token(app.get_bearer("/api/me", &with_old_sig).await, None).await;
    }
}

#[tokio::test]
async fn a_token_signed_hs256_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let kid = jwt_header(&t.access)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let jwks_text = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let jwks: Value = serde_json::from_str(&jwks_text).expect("json");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("published key")
        .clone();
    let x = jwk["x"].as_str().expect("x").to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&x).expect("base64url");
    let jwk_text = jwk.to_string();
    let claims = jwt_claims(&t.access);
    for secret in [
        raw.as_slice(),
        x.as_bytes(),
        jwk_text.as_bytes(),
        jwks_text.as_bytes(),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut h = Header::new(alg);
            h.typ = Some("at+jwt".into());
            h.kid = Some(kid.clone());
            let token =
                jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(secret)).expect("sign");
            assert_invalid_token(app.get_bearer("/api/me", &token).await, None).await;
        }
    }
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_or_a_foreign_key_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let claims = jwt_claims(&t.access);
    let key = server_key(&app).await;
    let unknown_kid = sign_ed(&key, "not-a-published-kid", &claims);
    assert_invalid_token(app.get_bearer("/api/me", &unknown_kid).await, None).await;

    let mut no_kid = ed_header("x");
    no_kid.kid = None;
    let token = jsonwebtoken::encode(&no_kid, &claims, &EncodingKey::from_ed_der(&key.pkcs8))
        .expect("sign");
    assert_invalid_token(app.get_bearer("/api/me", &token).await, None).await;

    let foreign = StoredKey::generate(SigningAlg::EdDSA, app.clock.now()).expect("key");
    let under_our_kid = sign_ed(&foreign, &key.kid, &claims);
    assert_invalid_token(app.get_bearer("/api/me", &under_our_kid).await, None).await;
    let under_its_kid = sign_ed(&foreign, &foreign.kid, &claims);
    assert_invalid_token(app.get_bearer("/api/me", &under_its_kid).await, None).await;
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let key = server_key(&app).await;
    let claims = jwt_claims(&t.access);
    let changes = [
        ("aud", json!("other")),
        ("aud", json!(["other"])),
        ("iss", json!("http://evil.example")),
        ("iss", json!(format!("{}/", app.base))),
    ];
    for (claim, value) in changes {
        let mut c = claims.clone();
        c[claim] = value.clone();
        let token = sign_ed(&key, &key.kid, &c);
        let r = app.get_bearer("/api/me", &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{claim} = {value}");
        assert_invalid_token(r, None).await;
    }
}

#[tokio::test]
async fn a_token_from_a_server_with_another_audience_is_refused() {
    let app = TestApp::spawn().await;
    let other = TestApp::spawn_with(|s| s.audience = Some("other".into())).await;
    let t = other.user_session("alice").await;
    assert_eq!(jwt_claims(&t.access)["aud"], "other");
    app.create_user("alice").await;
    assert_invalid_token(app.get_bearer("/api/me", &t.access).await, None).await;
}

#[tokio::test]
async fn an_access_token_stays_valid_after_its_session_is_revoked_until_it_expires() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app
        .post_json("/auth/logout", &json!({"refresh_token": t.refresh}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(r.status(), StatusCode::OK, "stateless after logout");

    let other = app.login_ok("alice").await;
    let r = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(&other.access)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get_bearer("/api/me", &other.access).await;
    assert_eq!(r.status(), StatusCode::OK, "stateless after logout-all");

    app.advance(900);
    assert_invalid_token(
        app.get_bearer("/api/me", &t.access).await,
        Some("Token has expired"),
    )
    .await;
}
