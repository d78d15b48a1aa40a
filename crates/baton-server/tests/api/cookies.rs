//! Cookie delivery: the `baton_refresh` cookie's attributes, the CSRF rule for requests that rely
//! on it, body-over-cookie precedence, cookie logout, and CORS with credentials.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::json;

const APP_ORIGIN: &str = "https://app.example";

/// The single `Set-Cookie` value of an answer.
fn set_cookie(r: &Response) -> String {
    let all: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(all.len(), 1, "one Set-Cookie: {all:?}");
    all[0].to_str().expect("ascii").to_owned()
}

/// The token inside a `baton_refresh=<token>; …` value.
fn cookie_token(set_cookie: &str) -> String {
    set_cookie
        .strip_prefix("baton_refresh=")
        .and_then(|rest| rest.split(';').next())
        .expect("a baton_refresh cookie")
        .to_owned()
}

async fn cookie_login(app: &TestApp, username: &str) -> Response {
    app.post_json(
        "/auth/login",
        &json!({"username": username, "password": PASSWORD, "delivery": "cookie"}),
    )
    .await
}

/// Creates a user, logs in with cookie delivery and returns the cookie's token.
async fn cookie_session(app: &TestApp, username: &str) -> String {
    app.create_user(username).await;
    let r = cookie_login(app, username).await;
    assert_eq!(r.status(), StatusCode::OK);
    cookie_token(&set_cookie(&r))
}

/// A cookie-carrying POST with no body.
fn with_cookie(app: &TestApp, path: &str, token: &str) -> RequestBuilder {
    app.client
        .post(app.url(path))
        .header("cookie", format!("baton_refresh={token}"))
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request")
}

async fn assert_csrf_rejected(r: Response) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await, json!({"error": "csrf_rejected"}));
}

#[tokio::test]
async fn a_cookie_login_sets_the_refresh_cookie_and_leaves_it_out_of_the_body() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let r = cookie_login(&app, "alice").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&r);
    let token = cookie_token(&cookie);
    assert!(!token.is_empty());
    assert_eq!(
        cookie,
        format!(
            "baton_refresh={token}; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=604800"
        )
    );
    let b = body(r).await;
    assert!(b.get("refresh_token").is_none(), "not in the body: {b}");
    assert!(b["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert_eq!(b["refresh_expires_in"], 604_800);
}

#[tokio::test]
async fn the_cookie_has_no_secure_attribute_when_cookie_secure_is_off() {
    let app = TestApp::spawn_with(|s| s.cookie_secure = Some(false)).await;
    app.create_user("alice").await;
    let r = cookie_login(&app, "alice").await;
    let cookie = set_cookie(&r);
    let token = cookie_token(&cookie);
    assert_eq!(
        cookie,
        format!("baton_refresh={token}; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=604800")
    );
}

#[tokio::test]
async fn the_cookie_max_age_is_the_refresh_expires_in() {
    let app = TestApp::spawn_with(|s| {
        s.refresh_idle_ttl = Some(std::time::Duration::from_secs(60));
        s.refresh_absolute_ttl = Some(std::time::Duration::from_secs(100));
    })
    .await;
    let token = cookie_session(&app, "alice").await;
    app.advance(50);
    let r =
        send(with_cookie(&app, "/auth/refresh", &token).header("x-requested-with", "baton")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = set_cookie(&r);
    assert!(cookie.ends_with("; Max-Age=50"), "{cookie}");
    assert_eq!(body(r).await["refresh_expires_in"], 50);
}

#[tokio::test]
async fn a_cookie_refresh_without_csrf_proof_is_refused_and_spends_nothing() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    assert_csrf_rejected(send(with_cookie(&app, "/auth/refresh", &token)).await).await;
    let wrong_marker =
        with_cookie(&app, "/auth/refresh", &token).header("x-requested-with", "XMLHttpRequest");
    assert_csrf_rejected(send(wrong_marker).await).await;
    let r =
        send(with_cookie(&app, "/auth/refresh", &token).header("x-requested-with", "baton")).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the refused attempts spent nothing"
    );
}

#[tokio::test]
async fn a_cookie_refresh_with_the_header_rotates_the_cookie() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    let r =
        send(with_cookie(&app, "/auth/refresh", &token).header("x-requested-with", "baton")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&r);
    let next = cookie_token(&cookie);
    assert_ne!(next, token, "rotated");
    assert_eq!(
        cookie,
        format!(
            "baton_refresh={next}; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=604800"
        )
    );
    let b = body(r).await;
    assert!(b.get("refresh_token").is_none(), "not in the body: {b}");
    assert!(b["access_token"].is_string());
    let r =
        send(with_cookie(&app, "/auth/refresh", &next).header("x-requested-with", "baton")).await;
    assert_eq!(r.status(), StatusCode::OK, "the new cookie works");
}

#[tokio::test]
async fn an_empty_json_body_defers_to_the_cookie() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    let r = send(
        with_cookie(&app, "/auth/refresh", &token)
            .header("x-requested-with", "baton")
            .json(&json!({})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(cookie_token(&set_cookie(&r)), token);
}

#[tokio::test]
async fn an_allowed_origin_needs_no_header() {
    let app =
        TestApp::spawn_with(|s| s.allowed_origins = Some(APP_ORIGIN.parse().expect("a list")))
            .await;
    let token = cookie_session(&app, "alice").await;
    let r = send(with_cookie(&app, "/auth/refresh", &token).header("origin", APP_ORIGIN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(cookie_token(&set_cookie(&r)), token);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_even_with_the_header() {
    let app =
        TestApp::spawn_with(|s| s.allowed_origins = Some(APP_ORIGIN.parse().expect("a list")))
            .await;
    let token = cookie_session(&app, "alice").await;
    for origin in [
        "https://evil.example",
        "null",
        "https://app.example.evil.example",
    ] {
        let r = send(
            with_cookie(&app, "/auth/refresh", &token)
                .header("origin", origin)
                .header("x-requested-with", "baton"),
        )
        .await;
        assert_csrf_rejected(r).await;
    }
    let r =
        send(with_cookie(&app, "/auth/refresh", &token).header("x-requested-with", "baton")).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the refused attempts spent nothing"
    );
}

#[tokio::test]
async fn a_foreign_origin_is_refused_when_no_origins_are_listed() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    let r = send(
        with_cookie(&app, "/auth/refresh", &token)
            .header("origin", "https://evil.example")
            .header("x-requested-with", "baton"),
    )
    .await;
    assert_csrf_rejected(r).await;
}

#[tokio::test]
async fn the_issuers_own_origin_works_with_the_header_but_not_alone() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    let own = app.base.clone();
    assert_csrf_rejected(
        send(with_cookie(&app, "/auth/refresh", &token).header("origin", &own)).await,
    )
    .await;
    let r = send(
        with_cookie(&app, "/auth/refresh", &token)
            .header("origin", &own)
            .header("x-requested-with", "baton"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_body_token_wins_over_the_cookie_and_the_answer_goes_in_the_body() {
    let app = TestApp::spawn().await;
    let cookie = cookie_session(&app, "alice").await;
    let in_body = app.login_ok("alice").await;
    let r = send(
        with_cookie(&app, "/auth/refresh", &cookie)
            .json(&json!({"refresh_token": in_body.refresh})),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "no CSRF proof needed for a body token"
    );
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no cookie for a body answer"
    );
    let t = Tokens::from(body(r).await);
    assert!(!t.refresh.is_empty(), "the refresh token is in the body");
    assert_eq!(
        jwt_claims(&t.access)["sid"],
        jwt_claims(&in_body.access)["sid"]
    );
    let r =
        send(with_cookie(&app, "/auth/refresh", &cookie).header("x-requested-with", "baton")).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the cookie's token was not touched"
    );
}

#[tokio::test]
async fn a_cookie_logout_needs_csrf_proof_then_revokes_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    assert_csrf_rejected(send(with_cookie(&app, "/auth/logout", &token)).await).await;
    let r =
        send(with_cookie(&app, "/auth/logout", &token).header("x-requested-with", "baton")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(&r);
    assert!(cleared.starts_with("baton_refresh=;"), "{cleared}");
    assert!(cleared.contains("Path=/auth"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let r =
        send(with_cookie(&app, "/auth/refresh", &token).header("x-requested-with", "baton")).await;
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_credentials() {
    let app = TestApp::spawn_with(|s| {
        s.allowed_origins = Some(
            format!("{APP_ORIGIN}, https://other.example")
                .parse()
                .expect("a list"),
        )
    })
    .await;
    let r = send(
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/refresh"))
            .header("origin", APP_ORIGIN)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, x-requested-with",
            ),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn a_cookie_refresh_from_an_allowed_origin_carries_the_cors_headers() {
    let app =
        TestApp::spawn_with(|s| s.allowed_origins = Some(APP_ORIGIN.parse().expect("a list")))
            .await;
    let token = cookie_session(&app, "alice").await;
    let r = send(with_cookie(&app, "/auth/refresh", &token).header("origin", APP_ORIGIN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    // A DPoP client reads the server's nonce, its challenges, and its clock (proofs' iat).
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    for name in ["dpop-nonce", "www-authenticate", "date"] {
        assert!(exposed.split(',').any(|h| h.trim() == name), "{exposed}");
    }
}

#[tokio::test]
async fn a_preflight_allows_the_dpop_header() {
    let app =
        TestApp::spawn_with(|s| s.allowed_origins = Some(APP_ORIGIN.parse().expect("a list")))
            .await;
    let r = send(
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/me"))
            .header("origin", APP_ORIGIN)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization, dpop"),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ASCII")
        .to_ascii_lowercase();
    assert!(allowed.split(',').any(|h| h.trim() == "dpop"), "{allowed}");
}

#[tokio::test]
async fn a_preflight_from_an_unlisted_origin_gets_no_allow_origin() {
    let listed =
        TestApp::spawn_with(|s| s.allowed_origins = Some(APP_ORIGIN.parse().expect("a list")))
            .await;
    let unlisted = TestApp::spawn().await;
    for app in [&listed, &unlisted] {
        let r = send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/auth/refresh"))
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{:?}",
            r.headers()
        );
    }
}

/// A loopback issuer's `localhost` name on the same port is the same server (the page
/// passkeys need): its origin counts as the issuer's own, and no other port's does.
#[tokio::test]
async fn a_loopback_issuers_localhost_name_is_its_own_origin() {
    let app = TestApp::spawn().await;
    let token = cookie_session(&app, "alice").await;
    let port = app.base.rsplit(':').next().expect("port").to_owned();
    let other = if port == "1" { "2" } else { "1" };
    let r = send(
        with_cookie(&app, "/auth/refresh", &token)
            .header("origin", format!("http://localhost:{other}"))
            .header("x-requested-with", "baton"),
    )
    .await;
    assert_csrf_rejected(r).await;
    assert_csrf_rejected(
        send(
            with_cookie(&app, "/auth/refresh", &token)
                .header("origin", format!("http://localhost:{port}")),
        )
        .await,
    )
    .await;
    let r = send(
        with_cookie(&app, "/auth/refresh", &token)
            .header("origin", format!("http://localhost:{port}"))
            .header("x-requested-with", "baton"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}
