//! Failed-login limits: per username and per client IP, over a five-minute window.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn ten_failures_lock_the_username_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    for _ in 0..10 {
        assert_eq!(
            app.login("alice", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("ALICE", PASSWORD).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None).await;
    app.create_user("bob").await;
    app.login_ok("bob").await;
    app.advance(300);
    app.login_ok("alice").await;
}

#[tokio::test]
async fn a_success_resets_the_username_count() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    for _ in 0..9 {
        app.login("alice", "wrong password").await;
    }
    app.login_ok("alice").await;
    for _ in 0..9 {
        assert_eq!(
            app.login("alice", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    app.login_ok("alice").await;
}

#[tokio::test]
async fn unknown_users_count_against_the_client_ip() {
    let app = TestApp::spawn_with(|s| s.login_limit_ip = Some(5)).await;
    app.create_user("alice").await;
    for i in 0..5 {
        let r = app.login(&format!("ghost{i}"), "whatever password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login("alice", PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None).await;
}

#[tokio::test]
async fn malformed_requests_do_not_count() {
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(2)).await;
    app.create_user("alice").await;
    for _ in 0..5 {
        let r = app
            .post_json("/auth/login", &serde_json::json!({"username": "alice"}))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    app.login_ok("alice").await;
}

#[tokio::test]
async fn trusted_proxies_name_the_client_ip() {
    let app = TestApp::spawn_with(|s| {
        s.login_limit_ip = Some(2);
        s.trusted_proxies = Some("127.0.0.1, 10.0.0.0/8".parse().expect("a list"));
    })
    .await;
    app.create_user("alice").await;
    let attempt = |ip: &'static str, password: &'static str| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({"username": "alice", "password": password}))
            .send()
    };
    attempt("203.0.113.7", "wrong one").await.expect("request");
    attempt("203.0.113.7, 10.0.0.1", "wrong two")
        .await
        .expect("request");
    let blocked = attempt("203.0.113.7", PASSWORD).await.expect("request");
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = attempt("198.51.100.1", PASSWORD).await.expect("request");
    assert_eq!(other.status(), StatusCode::OK);
    let t = Tokens::from(body(other).await);
    assert_eq!(app.sessions(&t.access).await[0]["ip"], "198.51.100.1");
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_slip_past_the_limit() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let attempts = (0..20).map(|_| app.login("alice", "wrong password"));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((refused, limited), (10, 10), "{statuses:?}");
}

#[tokio::test]
async fn sixty_four_concurrent_correct_logins_of_one_user_all_succeed() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let attempts = (0..64).map(|_| app.login("alice", PASSWORD));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "in-flight logins are not failures: {statuses:?}"
    );
}

#[tokio::test]
async fn sixty_four_concurrent_wrong_passwords_reach_the_password_check_at_most_ten_times() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let attempts = (0..64).map(|_| app.login("alice", "wrong password"));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (10, 54), "{statuses:?}");
    let r = app.login("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the limit holds");
}

/// Attempts waiting for a username's turn go in the order they arrived, on either backend: one
/// arriving just as room frees up does not overtake one already waiting. (On PostgreSQL the
/// waiting attempts used to poll the database, and every newcomer beat them to the free room:
/// clients looping logins of one user kept it among themselves and starved the others into
/// `503` after ten seconds.)
#[tokio::test]
async fn a_newcomer_does_not_overtake_an_attempt_already_waiting() {
    newcomer_waits_its_turn(0).await;
}

/// The same when failures already take part of the room, so fewer attempts may be in flight
/// than the limit.
#[tokio::test]
async fn a_newcomer_does_not_overtake_a_waiting_attempt_after_failures() {
    newcomer_waits_its_turn(1).await;
}

/// With `failures` recorded and the rest of a limit of `failures + 2` in flight, an attempt
/// starts waiting; when room frees up, a newcomer must come after it.
async fn newcomer_waits_its_turn(failures: u32) {
    let limit = failures + 2;
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(limit)).await;
    let limits = std::sync::Arc::clone(&app.state.limiter);
    for _ in 0..failures {
        limits
            .begin("alice", None)
            .await
            .expect("room")
            .failed()
            .await;
    }
    let first = limits.begin("alice", None).await.expect("room");
    let second = limits.begin("alice", None).await.expect("room");
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let waiting = {
        let (limits, order) = (
            std::sync::Arc::clone(&limits),
            std::sync::Arc::clone(&order),
        );
        tokio::spawn(async move {
            let ticket = limits.begin("alice", None).await.expect("its turn comes");
            order.lock().expect("order").push("waiting");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            ticket.abandoned().await;
        })
    };
    // Long enough for the waiting attempt to be waiting (between two polls, on PostgreSQL).
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    first.abandoned().await;
    let newcomer = limits.begin("alice", None).await.expect("its turn comes");
    order.lock().expect("order").push("newcomer");
    newcomer.abandoned().await;
    waiting.await.expect("the waiting attempt");
    second.abandoned().await;
    assert_eq!(*order.lock().expect("order"), ["waiting", "newcomer"]);
}
