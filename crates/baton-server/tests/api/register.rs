//! `POST /auth/register`: the answer's shape, how usernames are normalised and compared, the
//! length and character rules for usernames and passwords, and closed registration.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

/// Registers and returns the answer body, asserting `201`.
async fn register_ok(app: &TestApp, username: &str, password: &str) -> serde_json::Value {
    let r = app.register(username, password).await;
    assert_eq!(r.status(), StatusCode::CREATED, "registering {username:?}");
    body(r).await
}

async fn assert_invalid_request(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b = body(r).await;
    assert_eq!(b["error"], "invalid_request", "in {b}");
    assert!(b["error_description"].is_string(), "a description in {b}");
}

#[tokio::test]
async fn registering_answers_201_with_the_new_users_id_and_username() {
    let app = TestApp::spawn().await;
    let r = app.register("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let b = body(r).await;
    let id = b["id"].as_str().expect("id is a string");
    assert!(!id.is_empty());
    assert_eq!(b["username"], "alice");
    let other = register_ok(&app, "bob", PASSWORD).await;
    assert_ne!(other["id"], b["id"], "every user has their own id");
}

#[tokio::test]
async fn a_username_is_stored_and_returned_nfkc_normalised_and_trimmed_with_its_case_kept() {
    let app = TestApp::spawn().await;
    // Fullwidth "Ｂ" is NFKC "B"; the "ﬁ" ligature is NFKC "fi"; the ideographic space is NFKC " ".
    let b = register_ok(&app, "  Ｂob\u{FB01}sh \u{3000}", PASSWORD).await;
    assert_eq!(b["username"], "Bobfish");
    let t = app.login_ok("Bobfish").await;
    assert_eq!(jwt_claims(&t.access)["preferred_username"], "Bobfish");
    let me = body(app.get_bearer("/api/me", &t.access).await).await;
    assert_eq!(me["username"], "Bobfish");
}

#[tokio::test]
async fn a_decomposed_username_is_stored_composed() {
    let app = TestApp::spawn().await;
    let b = register_ok(&app, "A\u{308}rger", PASSWORD).await;
    assert_eq!(b["username"], "\u{C4}rger");
}

#[tokio::test]
async fn usernames_equal_after_case_folding_are_taken() {
    let app = TestApp::spawn().await;
    register_ok(&app, "Straße", PASSWORD).await;
    register_ok(&app, "Ärger", PASSWORD).await;
    register_ok(&app, "alice", PASSWORD).await;
    for taken in [
        "STRASSE",
        "strasse",
        "ärger",
        "a\u{308}rger",
        "ALICE",
        " Alice ",
    ] {
        let r = app.register(taken, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{taken:?}");
        assert_eq!(
            body(r).await,
            json!({"error": "username_taken"}),
            "{taken:?}"
        );
    }
    let users = app.state.baton.users().await.expect("users");
    assert_eq!(users.len(), 3, "no duplicate was stored");
}

#[tokio::test]
async fn a_username_may_have_64_characters_but_not_65() {
    let app = TestApp::spawn().await;
    assert_invalid_request(app.register(&"a".repeat(65), PASSWORD).await).await;
    assert_invalid_request(app.register(&"é".repeat(65), PASSWORD).await).await;
    let b = register_ok(&app, &"a".repeat(64), PASSWORD).await;
    assert_eq!(b["username"], "a".repeat(64));
    let b = register_ok(&app, &"é".repeat(64), PASSWORD).await;
    assert_eq!(b["username"], "é".repeat(64), "64 two-byte characters fit");
    register_ok(&app, &"🦀".repeat(64), PASSWORD).await;
    register_ok(&app, &format!("  {}  ", "b".repeat(64)), PASSWORD).await;
}

#[tokio::test]
async fn a_username_is_measured_after_normalisation() {
    let app = TestApp::spawn().await;
    // 40 ligatures are 80 characters once NFKC splits them.
    assert_invalid_request(app.register(&"\u{FB01}".repeat(40), PASSWORD).await).await;
}

#[tokio::test]
async fn an_empty_or_blank_username_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    for name in ["", "   ", "\u{3000}"] {
        assert_invalid_request(app.register(name, PASSWORD).await).await;
    }
}

#[tokio::test]
async fn nul_and_control_characters_in_a_username_are_invalid_requests() {
    let app = TestApp::spawn().await;
    for name in [
        "al\u{0}ice",
        "al\u{7}ice",
        "al\nice",
        "al\tice",
        "al\u{1b}ice",
        "al\u{7f}ice",
        "al\u{9f}ice",
        "alice\n",
        "\talice",
        "alice\u{85}",
    ] {
        assert_invalid_request(app.register(name, PASSWORD).await).await;
    }
    assert!(app.state.baton.users().await.expect("users").is_empty());
}

#[tokio::test]
async fn a_password_needs_eight_characters_counted_as_code_points() {
    let app = TestApp::spawn().await;
    assert_invalid_request(app.register("alice", "1234567").await).await;
    assert_invalid_request(app.register("alice", "").await).await;
    // Seven two-byte characters are fourteen bytes but still seven characters.
    assert_invalid_request(app.register("alice", &"ö".repeat(7)).await).await;
    register_ok(&app, "alice", "12345678").await;
    register_ok(&app, "bob", &"ö".repeat(8)).await;
    let r = app.login("bob", &"ö".repeat(8)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_minimum_password_length_is_configurable() {
    let app = TestApp::spawn_with(|s| s.password_min_length = Some(12)).await;
    assert_invalid_request(app.register("alice", "12345678901").await).await;
    register_ok(&app, "alice", "123456789012").await;
}

#[tokio::test]
async fn a_password_may_have_1024_characters_but_not_1025() {
    let app = TestApp::spawn().await;
    assert_invalid_request(app.register("alice", &"a".repeat(1025)).await).await;
    assert_invalid_request(app.register("alice", &"é".repeat(1025)).await).await;
    let long = "é".repeat(1024);
    register_ok(&app, "alice", &long).await;
    assert_eq!(app.login("alice", &long).await.status(), StatusCode::OK);
    register_ok(&app, "bob", &"a".repeat(1024)).await;
}

#[tokio::test]
async fn a_long_password_is_never_truncated() {
    let app = TestApp::spawn().await;
    let long = format!("{}b", "a".repeat(1023));
    register_ok(&app, "alice", &long).await;
    let almost = format!("{}c", "a".repeat(1023));
    assert_error(
        app.login("alice", &almost).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        Some("Invalid username or password"),
    )
    .await;
    // bcrypt's 72-byte limit is the classic truncation.
    let seventy_three = format!("{}1", "x".repeat(72));
    register_ok(&app, "bob", &seventy_three).await;
    let other = format!("{}2", "x".repeat(72));
    assert_eq!(
        app.login("bob", &other).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login("alice", &long).await.status(), StatusCode::OK);
    assert_eq!(
        app.login("bob", &seventy_three).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_extra_fields_are_ignored() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/auth/register",
            &json!({
                "username": "alice",
                "password": PASSWORD,
                "email": "alice@example.com",
                "admin": true,
                "roles": ["root"],
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(body(r).await["username"], "alice");
    app.login_ok("alice").await;
}

#[tokio::test]
async fn closed_registration_refuses_with_403_and_stores_nothing() {
    let app =
        TestApp::spawn_with(|s| s.registration = Some(baton_server::config::Registration::Closed))
            .await;
    let r = app.register("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await, json!({"error": "registration_closed"}));
    assert!(app.state.baton.users().await.expect("users").is_empty());
}
