//! `POST /auth/login`: the token answer, identical refusals, username folding, and the RFC 9068
//! access token it hands out.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use baton_core::Clock as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn jwks(app: &TestApp) -> Vec<Value> {
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await["keys"].as_array().expect("keys").clone()
}

#[tokio::test]
async fn a_body_login_answers_the_token_shape_and_sets_no_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let r = app.login("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no cookie in body mode"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let b = body(r).await;
    assert!(b["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert!(b["refresh_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(b["refresh_expires_in"], 7 * 24 * 3600);
}

#[tokio::test]
async fn an_explicit_body_delivery_is_the_default_one() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let r = app
        .post_json(
            "/auth/login",
            &json!({"username": "alice", "password": PASSWORD, "delivery": "body"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    let b = body(r).await;
    assert!(b["refresh_token"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_identical_answers() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let expected = json!({
        "error": "invalid_credentials",
        "error_description": "Invalid username or password",
    });
    let wrong = app.login("alice", "not the password").await;
    let unknown = app.login("nobody", PASSWORD).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let header_names = |r: &reqwest::Response| {
        let mut names: Vec<String> = r
            .headers()
            .keys()
            .filter(|k| *k != "date")
            .map(|k| k.as_str().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&wrong), header_names(&unknown));
    assert_eq!(body(wrong).await, expected);
    assert_eq!(body(unknown).await, expected);
}

#[tokio::test]
async fn an_unknown_user_costs_about_as_much_time_as_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        let start = std::time::Instant::now();
        app.login("alice", "not the password").await;
        wrong.push(start.elapsed());
        let start = std::time::Instant::now();
        app.login(&format!("nobody{i}"), "not the password").await;
        unknown.push(start.elapsed());
    }
    wrong.sort();
    unknown.sort();
    let (w, u) = (wrong[2], unknown[2]);
    // Generous bounds: skipping the hash for unknown users would be tens of times faster.
    assert!(u * 4 >= w, "unknown user {u:?} vs wrong password {w:?}");
}

#[tokio::test]
async fn login_compares_usernames_after_case_folding() {
    let app = TestApp::spawn().await;
    app.create_user("Straße").await;
    app.create_user("Ärger").await;
    for typed in [
        "Straße",
        "STRASSE",
        "strasse",
        "  straße ",
        "ＳＴＲＡＳＳＥ",
    ] {
        let t = app.login_ok(typed).await;
        assert_eq!(
            jwt_claims(&t.access)["preferred_username"],
            "Straße",
            "{typed:?} logs in as the stored name"
        );
    }
    for typed in ["ärger", "ÄRGER", "a\u{308}rger"] {
        app.login_ok(typed).await;
    }
}

#[tokio::test]
async fn the_access_token_header_is_an_eddsa_at_jwt_with_a_published_kid() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let h = jwt_header(&t.access);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "EdDSA");
    let kid = h["kid"].as_str().expect("kid");
    let keys = jwks(&app).await;
    assert!(
        keys.iter().any(|k| k["kid"] == kid && k["alg"] == "EdDSA"),
        "kid {kid} in {keys:?}"
    );
}

#[tokio::test]
async fn the_access_token_carries_every_claim_of_the_contract() {
    let app = TestApp::spawn().await;
    let id = app.create_user("alice").await;
    let t = app.login_ok("alice").await;
    let c = jwt_claims(&t.access);
    assert_eq!(
        c["iss"],
        app.base.as_str(),
        "the issuer follows the listen address"
    );
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["aud"], "baton");
    let iat = c["iat"].as_i64().expect("iat");
    let exp = c["exp"].as_i64().expect("exp");
    assert_eq!(iat, app.clock.now().unix_timestamp());
    assert_eq!(exp - iat, 900);
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(c["client_id"], "baton");
    assert!(c["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(c["preferred_username"], "alice");
    let again = app.login_ok("alice").await;
    assert_ne!(jwt_claims(&again.access)["jti"], c["jti"], "jti is unique");
}

#[tokio::test]
async fn the_access_lifetime_follows_the_setting() {
    let app =
        TestApp::spawn_with(|s| s.access_ttl = Some(std::time::Duration::from_secs(3600))).await;
    let t = app.user_session("alice").await;
    assert_eq!(t.json["expires_in"], 3600);
    let c = jwt_claims(&t.access);
    assert_eq!(
        c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"),
        3600
    );
}

#[tokio::test]
async fn refresh_expires_in_is_the_nearer_of_the_idle_and_absolute_ends() {
    let app = TestApp::spawn_with(|s| {
        s.refresh_idle_ttl = Some(std::time::Duration::from_secs(3456000));
        s.refresh_absolute_ttl = Some(std::time::Duration::from_secs(2592000));
    })
    .await;
    let t = app.user_session("alice").await;
    assert_eq!(t.json["refresh_expires_in"], 30 * 24 * 3600);
}

#[tokio::test]
async fn es256_and_rs256_sign_tokens_whose_kid_is_published() {
    for alg in ["ES256", "RS256"] {
        let app =
            TestApp::spawn_with(|s| s.signing_alg = Some(alg.parse().expect("an algorithm"))).await;
        let t = app.user_session("alice").await;
        let h = jwt_header(&t.access);
        assert_eq!(h["alg"], alg);
        assert_eq!(h["typ"], "at+jwt");
        let kid = h["kid"].as_str().expect("kid");
        let keys = jwks(&app).await;
        assert!(
            keys.iter().any(|k| k["kid"] == kid && k["alg"] == alg),
            "{alg} kid {kid} in {keys:?}"
        );
        let r = app.get_bearer("/api/me", &t.access).await;
        assert_eq!(r.status(), StatusCode::OK, "{alg} token accepted");
    }
}

#[tokio::test]
async fn each_login_opens_a_new_session() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.login_ok("alice").await;
    assert_ne!(first.refresh, second.refresh);
    let (a, b) = (jwt_claims(&first.access), jwt_claims(&second.access));
    assert_ne!(a["sid"], b["sid"]);
    let sessions = app.sessions(&second.access).await;
    assert_eq!(sessions.len(), 2);
    app.refresh_ok(&first.refresh).await;
    app.refresh_ok(&second.refresh).await;
}
