//! Wall-clock steps: the server's time never runs backwards, so a clock set back revives no
//! expired session and reopens no grace window, and a session live before the step stays live.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn a_clock_set_back_revives_no_expired_session() {
    let app = TestApp::spawn_with(|s| s.refresh_idle_ttl = Some(Duration::from_secs(60))).await;
    let first = app.user_session("alice").await;
    app.advance(61);
    assert_error(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has expired"),
    )
    .await;
    app.clock.rewind(Duration::from_secs(30));
    assert_error(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has expired"),
    )
    .await;
}

#[tokio::test]
async fn a_clock_set_back_reopens_no_grace_window() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    app.advance(30);
    // The server reads its clock (here, verifying a token) before the wall clock is set back.
    assert_eq!(
        app.get_bearer("/api/me", &second.access).await.status(),
        StatusCode::OK
    );
    app.clock.rewind(Duration::from_secs(25));
    // Five seconds after the spending by the wall clock, thirty by the server's: a reuse.
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
}

#[tokio::test]
async fn a_session_live_before_the_clock_is_set_back_stays_live_and_tokens_go_forward() {
    let app = TestApp::spawn_with(|s| s.refresh_idle_ttl = Some(Duration::from_secs(60))).await;
    let first = app.user_session("alice").await;
    app.advance(50);
    let second = app.refresh_ok(&first.refresh).await;
    let issued = jwt_claims(&second.access)["iat"].as_i64().expect("iat");
    app.clock.rewind(Duration::from_secs(300));
    // The server's time stands still until the wall clock catches up: the session neither ends
    // nor lives longer, and a new token is not dated before the last.
    let third = app.refresh_ok(&second.refresh).await;
    assert!(jwt_claims(&third.access)["iat"].as_i64().expect("iat") >= issued);
    app.advance(300 + 61);
    assert_error(
        app.refresh(&third.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has expired"),
    )
    .await;
}

/// A wall clock stepped a year ahead by mistake and set right again: while it is wrong, the
/// purge deletes only what ended a day before the time the server has lived through, so the
/// live session is there, refreshing, once the clock is right.
#[tokio::test]
async fn a_clock_stepped_ahead_purges_no_live_session() {
    use baton_core::store::NewSession;
    use baton_core::Clock as _;
    let app = TestApp::spawn_with(|s| s.purge_interval = Some(Duration::from_millis(100))).await;
    let alice = app.user_session("alice").await;
    // A session that truly ended days ago, for the purge to show that it runs.
    let user = app
        .store
        .user_by_key("alice")
        .await
        .expect("read")
        .expect("alice");
    let now = app.clock.now();
    let old = baton_core::SessionId::generate();
    app.store
        .create_session(
            &NewSession {
                id: old.clone(),
                user_id: user.id.clone(),
                client_id: "baton".into(),
                created_at: now - time::Duration::days(9),
                idle_expires_at: now - time::Duration::days(2),
                absolute_expires_at: now - time::Duration::days(2),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: user.password_hash.clone(),
                amr: "pwd".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &baton_core::refresh::RefreshToken::generate()
                .expect("rng")
                .hash(),
        )
        .await
        .expect("insert")
        .expect("created");

    const YEAR: u64 = 365 * 86_400;
    app.advance(YEAR);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.store.session(&old).await.expect("read").is_some() {
        assert!(std::time::Instant::now() < deadline, "the purge never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more purges on the wrong clock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.clock.rewind(Duration::from_secs(YEAR));
    app.refresh_ok(&alice.refresh).await;
}
