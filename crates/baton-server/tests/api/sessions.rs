//! `GET /auth/sessions`, `DELETE /auth/sessions/{id}` and `POST /auth/logout-all`: a user sees
//! and ends their own live sessions, and nobody else's.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use baton_core::Clock as _;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn sid(t: &Tokens) -> String {
    jwt_claims(&t.access)["sid"]
        .as_str()
        .expect("sid")
        .to_owned()
}

fn rfc3339(v: &Value) -> OffsetDateTime {
    let s = v.as_str().expect("a timestamp string");
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}

async fn delete_session(app: &TestApp, access: &str, id: &str) -> Response {
    app.client
        .delete(app.url(&format!("/auth/sessions/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .expect("request")
}

async fn logout_all(app: &TestApp, access: &str) -> Response {
    app.client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(access)
        .send()
        .await
        .expect("request")
}

async fn assert_revoked(app: &TestApp, refresh: &str) {
    assert_error(
        app.refresh(refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
}

async fn assert_not_found(r: Response) {
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(body(r).await["error"].is_string(), "a JSON error");
}

#[tokio::test]
async fn the_session_list_shows_every_field_of_the_contract() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let login_at = app.clock.now().replace_nanosecond(0).expect("valid");
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", "baton-tests/1.0")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    let sessions = app.sessions(&t.access).await;
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s["id"], sid(&t).as_str());
    let created = rfc3339(&s["created_at"]);
    let used = rfc3339(&s["last_used_at"]);
    let expires = rfc3339(&s["expires_at"]);
    assert_eq!(created.replace_nanosecond(0).expect("valid"), login_at);
    assert_eq!(used, created);
    assert_eq!(expires - created, time::Duration::days(7));
    assert_eq!(s["user_agent"], "baton-tests/1.0");
    assert_eq!(s["ip"], "127.0.0.1");
    assert_eq!(s["current"], true);
}

#[tokio::test]
async fn a_refresh_moves_last_used_at_and_expires_at() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let before = app.sessions(&t.access).await[0].clone();
    app.advance(60);
    let t = app.refresh_ok(&t.refresh).await;
    let after = app.sessions(&t.access).await[0].clone();
    assert_eq!(after["created_at"], before["created_at"]);
    let moved = rfc3339(&after["last_used_at"]) - rfc3339(&before["last_used_at"]);
    assert_eq!(moved, time::Duration::seconds(60));
    let later = rfc3339(&after["expires_at"]) - rfc3339(&before["expires_at"]);
    assert_eq!(later, time::Duration::seconds(60));
}

#[tokio::test]
async fn current_is_true_only_for_the_calling_session() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.login_ok("alice").await;
    for caller in [&first, &second] {
        let sessions = app.sessions(&caller.access).await;
        assert_eq!(sessions.len(), 2);
        let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1, "{sessions:?}");
        assert_eq!(current[0]["id"], sid(caller).as_str());
        assert!(sessions.iter().all(|s| s["current"].is_boolean()));
    }
}

#[tokio::test]
async fn each_user_sees_only_their_own_sessions() {
    let app = TestApp::spawn().await;
    let alice1 = app.user_session("alice").await;
    let alice2 = app.login_ok("alice").await;
    let bob = app.user_session("bob").await;
    let mut alice_ids: Vec<String> = app
        .sessions(&alice1.access)
        .await
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    alice_ids.sort();
    let mut expected = vec![sid(&alice1), sid(&alice2)];
    expected.sort();
    assert_eq!(alice_ids, expected);
    let bobs = app.sessions(&bob.access).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["id"], sid(&bob).as_str());
}

#[tokio::test]
async fn an_ended_session_is_not_listed() {
    let app =
        TestApp::spawn_with(|s| s.refresh_idle_ttl = Some(std::time::Duration::from_secs(60)))
            .await;
    let old = app.user_session("alice").await;
    app.advance(61);
    let fresh = app.login_ok("alice").await;
    let sessions = app.sessions(&old.access).await;
    assert_eq!(sessions.len(), 1, "live sessions only: {sessions:?}");
    assert_eq!(sessions[0]["id"], sid(&fresh).as_str());
}

#[tokio::test]
async fn deleting_ones_own_session_revokes_it() {
    let app = TestApp::spawn().await;
    let laptop = app.user_session("alice").await;
    let phone = app.login_ok("alice").await;
    let r = delete_session(&app, &laptop.access, &sid(&phone)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_revoked(&app, &phone.refresh).await;
    let left = app.sessions(&laptop.access).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], sid(&laptop).as_str());
    app.refresh_ok(&laptop.refresh).await;
}

#[tokio::test]
async fn deleting_the_calling_session_itself_revokes_it() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = delete_session(&app, &t.access, &sid(&t)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_revoked(&app, &t.refresh).await;
}

#[tokio::test]
async fn deleting_anyone_elses_an_unknown_or_a_revoked_session_is_404() {
    let app = TestApp::spawn().await;
    let alice = app.user_session("alice").await;
    let alice2 = app.login_ok("alice").await;
    let bob = app.user_session("bob").await;
    assert_not_found(delete_session(&app, &alice.access, &sid(&bob)).await).await;
    app.refresh_ok(&bob.refresh).await;
    assert_not_found(delete_session(&app, &alice.access, "no-such-session").await).await;
    let shouted = sid(&alice2).to_uppercase();
    assert_not_found(delete_session(&app, &alice.access, &shouted).await).await;
    let r = delete_session(&app, &alice.access, &sid(&alice2)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_not_found(delete_session(&app, &alice.access, &sid(&alice2)).await).await;
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let rotated = app.refresh_ok(&first.refresh).await;
    let second = app.login_ok("alice").await;
    let third = app.login_ok("alice").await;
    let bob = app.user_session("bob").await;
    let r = logout_all(&app, &second.access).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for token in [&rotated.refresh, &second.refresh, &third.refresh] {
        assert_revoked(&app, token).await;
    }
    assert!(app.sessions(&third.access).await.is_empty());
    app.refresh_ok(&bob.refresh).await;
    assert_eq!(app.sessions(&bob.access).await.len(), 1);
}

#[tokio::test]
async fn the_session_endpoints_need_a_bearer_token() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let requests = [
        app.client.get(app.url("/auth/sessions")),
        app.client
            .delete(app.url(&format!("/auth/sessions/{}", sid(&t)))),
        app.client.post(app.url("/auth/logout-all")),
    ];
    for request in requests {
        let r = request.send().await.expect("request");
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"baton\"");
        assert_error(
            r,
            StatusCode::UNAUTHORIZED,
            "missing_token",
            Some("No token provided"),
        )
        .await;
    }
    app.refresh_ok(&t.refresh).await;
}
