//! Refresh-token rotation: every rule of the contract's "Rotation rules".

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_refresh_rotates_the_token_and_spends_the_old_one() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.json["token_type"], "Bearer");
    assert_eq!(second.json["expires_in"], 900);
    let third = app.refresh_ok(&second.refresh).await;
    assert_ne!(third.refresh, second.refresh);
    assert_eq!(
        jwt_claims(&third.access)["sid"],
        jwt_claims(&first.access)["sid"],
        "a refresh stays in the same session"
    );
}

#[tokio::test]
async fn a_refresh_answer_is_never_cached() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app.refresh(&t.refresh).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_session_and_its_successor() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    app.advance(11);
    assert_error(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token reuse detected"),
    )
    .await;
    assert_error(
        app.refresh(&second.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
    assert!(app.sessions(&second.access).await.is_empty());
}

#[tokio::test]
async fn within_the_grace_window_a_spent_token_returns_the_same_successor() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    app.advance(10);
    let again = app.refresh_ok(&first.refresh).await;
    assert_eq!(again.refresh, second.refresh);
    let third = app.refresh_ok(&second.refresh).await;
    assert_eq!(
        app.sessions(&third.access).await.len(),
        1,
        "session stays alive"
    );
}

#[tokio::test]
async fn finding_08_a_grace_replay_whose_successor_is_spent_gets_nothing_and_the_session_lives_on()
{
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    let third = app.refresh_ok(&second.refresh).await;
    let r = app.refresh(&first.refresh).await;
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Invalid refresh token"),
    )
    .await;
    let fourth = app.refresh_ok(&third.refresh).await;
    assert_eq!(app.sessions(&fourth.access).await.len(), 1);
}

#[tokio::test]
async fn finding_08_replays_of_one_spent_token_are_capped_at_twenty_and_counted() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    for _ in 0..20 {
        assert_eq!(app.refresh_ok(&first.refresh).await.refresh, second.refresh);
    }
    let r = app.refresh(&first.refresh).await;
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Invalid refresh token"),
    )
    .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("outcome=\"replayed\"} 20"),
        "replays are counted apart from rotations:\n{metrics}"
    );
    let next = app.refresh_ok(&second.refresh).await;
    assert_eq!(
        app.sessions(&next.access).await.len(),
        1,
        "the session lives on"
    );
}

#[tokio::test]
async fn twenty_concurrent_refreshes_of_one_token_get_one_identical_successor() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let calls = (0..20).map(|_| app.refresh(&first.refresh));
    let responses = futures::future::join_all(calls).await;
    let mut successors = std::collections::HashSet::new();
    for r in responses {
        assert_eq!(r.status(), StatusCode::OK);
        successors.insert(Tokens::from(body(r).await).refresh);
    }
    assert_eq!(successors.len(), 1, "one successor for all: {successors:?}");
    let next = successors.into_iter().next().expect("one");
    let t = app.refresh_ok(&next).await;
    assert_eq!(app.sessions(&t.access).await.len(), 1);
}

#[tokio::test]
async fn a_zero_grace_window_makes_any_replay_a_reuse() {
    let app =
        TestApp::spawn_with(|s| s.refresh_grace = Some(std::time::Duration::from_secs(0))).await;
    let first = app.user_session("alice").await;
    app.refresh_ok(&first.refresh).await;
    assert_error(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token reuse detected"),
    )
    .await;
}

#[tokio::test]
async fn an_unknown_token_is_invalid_and_a_missing_one_is_an_invalid_request() {
    let app = TestApp::spawn().await;
    assert_error(
        app.refresh("not-a-token-baton-issued").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Invalid refresh token"),
    )
    .await;
    assert_error(
        app.post_json("/auth/refresh", &serde_json::json!({})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_request",
        Some("No refresh token"),
    )
    .await;
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .send()
        .await
        .expect("request");
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_request",
        Some("No refresh token"),
    )
    .await;
}

#[tokio::test]
async fn an_idle_session_expires_and_activity_keeps_it_alive() {
    let app =
        TestApp::spawn_with(|s| s.refresh_idle_ttl = Some(std::time::Duration::from_secs(60)))
            .await;
    let t = app.user_session("alice").await;
    assert_eq!(t.json["refresh_expires_in"], 60);
    app.advance(50);
    let t = app.refresh_ok(&t.refresh).await;
    assert_eq!(
        t.json["refresh_expires_in"], 60,
        "a refresh restarts the idle timer"
    );
    app.advance(59);
    let t = app.refresh_ok(&t.refresh).await;
    app.advance(60);
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has expired"),
    )
    .await;
}

/// Each session keeps the idle timeout it was opened with until the server starts with another:
/// a shorter setting then reaches the sessions already open.
#[tokio::test]
async fn a_changed_idle_timeout_reaches_open_sessions_at_the_next_start() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |s| {
        s.refresh_idle_ttl = Some(std::time::Duration::from_secs(60))
    })
    .await;
    let t = app.refresh_ok(&t.refresh).await;
    assert_eq!(t.json["refresh_expires_in"], 60);
    app.advance(61);
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has expired"),
    )
    .await;
}

#[tokio::test]
async fn the_absolute_lifetime_ends_even_an_active_session() {
    let app = TestApp::spawn_with(|s| {
        s.refresh_idle_ttl = Some(std::time::Duration::from_secs(60));
        s.refresh_absolute_ttl = Some(std::time::Duration::from_secs(100));
    })
    .await;
    let t = app.user_session("alice").await;
    app.advance(50);
    let t = app.refresh_ok(&t.refresh).await;
    assert_eq!(
        t.json["refresh_expires_in"], 50,
        "the nearer of idle and absolute end"
    );
    app.advance(50);
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has expired"),
    )
    .await;
}

#[tokio::test]
async fn a_logged_out_session_refuses_every_token_as_revoked() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    let r = app
        .post_json(
            "/auth/logout",
            &serde_json::json!({"refresh_token": first.refresh}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for token in [&first.refresh, &second.refresh] {
        assert_error(
            app.refresh(token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some("Refresh token has been revoked"),
        )
        .await;
    }
}

#[tokio::test]
async fn reuse_in_one_session_leaves_the_users_other_sessions_alone() {
    let app = TestApp::spawn().await;
    let phone = app.user_session("alice").await;
    let laptop = app.login_ok("alice").await;
    app.refresh_ok(&phone.refresh).await;
    app.advance(30);
    app.refresh(&phone.refresh).await;
    let laptop2 = app.refresh_ok(&laptop.refresh).await;
    assert_eq!(app.sessions(&laptop2.access).await.len(), 1);
}
