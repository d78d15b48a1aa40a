//! What reaches the database: only hashes of refresh tokens and passwords, never a token or a
//! password in the clear; and deleting a user ends their sessions.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;

/// Whether `needle` occurs anywhere in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn keep(t: &Tokens, refresh: &mut Vec<String>, access: &mut Vec<String>) {
    if !t.refresh.is_empty() {
        refresh.push(t.refresh.clone());
    }
    access.push(t.access.clone());
}

#[tokio::test]
async fn no_token_or_password_ever_reaches_the_database_in_the_clear() {
    let app = TestApp::spawn().await;
    let alice_pw = "alice-Unique-Passw0rd-7391";
    let bob_pw = "bob-Unique-Passw0rd-0426";
    let wrong_pw = "wrong-Unique-Passw0rd-5555";
    let mut passwords = vec![alice_pw, bob_pw, wrong_pw];
    let mut refresh = Vec::new();
    let mut access = Vec::new();

    assert_eq!(
        app.register("alice", alice_pw).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.register("bob", bob_pw).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.login("alice", wrong_pw).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut sessions = Vec::new();
    for (user, pw) in [("alice", alice_pw), ("alice", alice_pw), ("bob", bob_pw)] {
        let r = app.login(user, pw).await;
        assert_eq!(r.status(), StatusCode::OK);
        let t = Tokens::from(body(r).await);
        keep(&t, &mut refresh, &mut access);
        sessions.push(t);
    }
    // A cookie-mode login, whose refresh token comes in Set-Cookie.
    let r = app
        .post_json(
            "/auth/login",
            &json!({"username": "alice", "password": alice_pw, "delivery": "cookie"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let cookie_token = cookie
        .strip_prefix("baton_refresh=")
        .and_then(|rest| rest.split(';').next())
        .expect("cookie token")
        .to_owned();
    refresh.push(cookie_token);
    access.push(Tokens::from(body(r).await).access);

    // A rotation chain, a grace-window replay and a reuse.
    let first = sessions[0].clone();
    let second = app.refresh_ok(&first.refresh).await;
    keep(&second, &mut refresh, &mut access);
    let replay = app.refresh_ok(&first.refresh).await;
    keep(&replay, &mut refresh, &mut access);
    let third = app.refresh_ok(&second.refresh).await;
    keep(&third, &mut refresh, &mut access);
    app.advance(11);
    assert_eq!(
        app.refresh(&first.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another session rotates and then logs out.
    let other = app.refresh_ok(&sessions[1].refresh).await;
    keep(&other, &mut refresh, &mut access);
    let r = app
        .post_json("/auth/logout", &json!({"refresh_token": other.refresh}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    passwords.push(PASSWORD);
    app.create_user("carol").await;

    let db = app.stop_and_dump().await;
    assert!(!db.is_empty(), "the database holds data");
    for token in &refresh {
        assert!(
            !contains(&db, token.as_bytes()),
            "refresh token {token} stored"
        );
        if let Ok(raw) = URL_SAFE_NO_PAD.decode(token) {
            assert!(
                !contains(&db, &raw),
                "refresh token {token}'s raw bytes stored"
            );
        }
    }
    for token in &access {
        assert!(!contains(&db, token.as_bytes()), "access token stored");
        let signature = token.rsplit('.').next().expect("signature");
        assert!(
            !contains(&db, signature.as_bytes()),
            "access token signature stored"
        );
    }
    for pw in &passwords {
        assert!(!contains(&db, pw.as_bytes()), "password {pw:?} stored");
    }
    assert!(
        contains(&db, b"$argon2id$v=19$m=19456,t=2,p=1$"),
        "passwords are Argon2id PHC strings with OWASP's parameters"
    );
}

#[tokio::test]
async fn a_deleted_user_cannot_log_in_and_their_sessions_are_revoked() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.login_ok("alice").await;
    let rotated = app.refresh_ok(&second.refresh).await;
    let bob = app.user_session("bob").await;
    app.state
        .baton
        .delete_user("alice")
        .await
        .expect("alice deleted");
    assert_error(
        app.login("alice", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        Some("Invalid username or password"),
    )
    .await;
    for token in [&first.refresh, &rotated.refresh] {
        assert_error(
            app.refresh(token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some("Refresh token has been revoked"),
        )
        .await;
    }
    app.refresh_ok(&bob.refresh).await;
}
