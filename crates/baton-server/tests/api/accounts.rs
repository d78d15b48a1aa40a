//! Accounts people keep: `POST /auth/password`, the password rule, disabled users.

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// A password the default rule (score 2) accepts.
const NEW: &str = "violet tortoise sails at dawn";

async fn change(app: &TestApp, access: &str, current: &str, new: &str) -> Response {
    app.client
        .post(app.url("/auth/password"))
        .bearer_auth(access)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .expect("request")
}

async fn event_types(app: &TestApp, access: &str) -> Vec<String> {
    let r = app.get_bearer("/auth/events", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_password_change_keeps_the_calling_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let here = app.user_session("alice").await;
    let elsewhere = app.login_ok("alice").await;
    let bob = app.user_session("bob").await;

    let r = change(&app, &here.access, PASSWORD, NEW).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["cache-control"], "no-store");

    let here = app.refresh_ok(&here.refresh).await;
    assert_error(
        app.refresh(&elsewhere.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
    app.refresh_ok(&bob.refresh).await;
    assert_error(
        app.login("alice", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    )
    .await;
    assert_eq!(app.login("alice", NEW).await.status(), StatusCode::OK);
    assert_eq!(app.sessions(&here.access).await.len(), 2);
    assert!(event_types(&app, &here.access)
        .await
        .contains(&"password_changed".to_owned()));
}

#[tokio::test]
async fn a_wrong_current_password_is_a_failed_login_and_counts_toward_the_limit() {
    let app = TestApp::spawn().await;
    let alice = app.user_session("alice").await;
    for _ in 0..10 {
        assert_error(
            change(&app, &alice.access, "not my password", NEW).await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            Some("Invalid username or password"),
        )
        .await;
    }
    // The account is now locked, for a change as for a login, whatever password comes.
    let r = change(&app, &alice.access, PASSWORD, NEW).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None).await;
    let r = app.login("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.advance(300);
    app.refresh_ok(&alice.refresh).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
    let types = event_types(&app, &alice.access).await;
    assert!(types.iter().any(|t| t == "login_failed"), "{types:?}");
    assert!(!types.iter().any(|t| t == "password_changed"), "{types:?}");
}

#[tokio::test]
async fn a_new_password_the_rule_refuses_is_a_400_that_says_why_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user_session("alice").await;
    for (new, says) in [
        (
            "password123",
            "too easy to guess (strength 0 of 4, at least 2 needed)",
        ),
        ("alice-in-wonderland-1865", "must not contain the username"),
        ("short", "at least 8 characters"),
    ] {
        let r = change(&app, &alice.access, PASSWORD, new).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{new}");
        let b = body(r).await;
        assert_eq!(b["error"], "invalid_request");
        let description = b["error_description"].as_str().expect("description");
        assert!(description.contains(says), "{new}: {description}");
    }
    let r = change(&app, &alice.access, PASSWORD, &"x".repeat(1025)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing changed, and the right current password cleared no count nor added one.
    app.refresh_ok(&alice.refresh).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn registration_takes_any_password_of_the_allowed_length_unless_told_otherwise() {
    // The HTTP contract: 8 to 1024 characters at registration.
    let app = TestApp::spawn().await;
    assert_eq!(
        app.register("alice", "password").await.status(),
        StatusCode::CREATED
    );
    let app = TestApp::spawn_with(|s| s.register_min_score = Some(2)).await;
    let r = app.register("alice", "password").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b = body(r).await;
    assert!(
        b["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("too easy to guess")),
        "{b}"
    );
    assert_eq!(
        app.register("alice", NEW).await.status(),
        StatusCode::CREATED
    );
    // A score of 0 for changes too: length alone.
    let app = TestApp::spawn_with(|s| s.password_min_score = Some(0)).await;
    let alice = app.user_session("alice").await;
    let r = change(&app, &alice.access, PASSWORD, "password").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_password_change_needs_a_bearer_token_and_a_well_formed_body() {
    let app = TestApp::spawn().await;
    let alice = app.user_session("alice").await;
    let r = app
        .post_json(
            "/auth/password",
            &json!({"current_password": PASSWORD, "new_password": NEW}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "missing_token", None).await;
    for bad in [
        json!({"current_password": PASSWORD}),
        json!({"new_password": NEW}),
        json!({"current_password": 5, "new_password": NEW}),
        json!([PASSWORD, NEW]),
    ] {
        let r = app
            .client
            .post(app.url("/auth/password"))
            .bearer_auth(&alice.access)
            .json(&bad)
            .send()
            .await
            .expect("request");
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    }
    let r = app
        .client
        .post(app.url("/auth/password"))
        .bearer_auth(&alice.access)
        .body("current_password=x")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = app.get_bearer("/auth/password", &alice.access).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Malformed requests changed nothing and counted nothing.
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_refresh_or_change_the_password() {
    let app = TestApp::spawn().await;
    let id = app.create_user("alice").await;
    let alice = app.login_ok("alice").await;
    let user = baton_core::UserId::from_trusted(id);
    app.state
        .baton
        .set_disabled(&user, true)
        .await
        .expect("disable");

    assert_error(
        app.refresh(&alice.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
    assert_error(
        app.login("alice", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
        Some("This account is disabled"),
    )
    .await;
    // Only the right password learns that the account is disabled.
    assert_error(
        app.login("alice", "some other password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    )
    .await;
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("request");
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("This account is disabled"),
    )
    .await;
    // An access token issued before still verifies until it expires, but changes nothing.
    assert_error(
        change(&app, &alice.access, PASSWORD, NEW).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
        None,
    )
    .await;

    app.state
        .baton
        .set_disabled(&user, false)
        .await
        .expect("enable");
    let again = app.login_ok("alice").await;
    let reasons: Vec<Value> = {
        let r = app.get_bearer("/auth/events", &again.access).await;
        body(r).await["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["reason"].clone())
            .collect()
    };
    assert!(reasons.contains(&json!("account_disabled")), "{reasons:?}");
}
