//! Operations: liveness, readiness and the Prometheus metrics operators watch.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use reqwest::StatusCode;

async fn metrics(app: &TestApp) -> String {
    let r = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ct.starts_with("text/plain"), "Prometheus text format: {ct}");
    r.text().await.expect("body")
}

/// The value of the first sample whose line starts with `name` and contains every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let r = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.user_session("alice").await;
    app.login("alice", "not the password").await;
    app.refresh("never-issued").await;
    let text = metrics(&app).await;
    let login_ok = sample(
        &text,
        "baton_http_requests_total",
        &["route=\"/auth/login\"", "status=\"200\""],
    );
    assert_eq!(login_ok, Some(1.0), "{text}");
    let login_401 = sample(
        &text,
        "baton_http_requests_total",
        &["route=\"/auth/login\"", "status=\"401\""],
    );
    assert_eq!(login_401, Some(1.0), "{text}");
    let register = sample(
        &text,
        "baton_http_requests_total",
        &["route=\"/auth/register\"", "status=\"201\""],
    );
    assert_eq!(register, Some(1.0), "{text}");
}

#[tokio::test]
async fn metrics_label_requests_by_route_template_not_raw_path() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app
        .client
        .delete(app.url("/auth/sessions/some-raw-session-id"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let text = metrics(&app).await;
    assert!(!text.contains("some-raw-session-id"), "{text}");
    let deletes = sample(
        &text,
        "baton_http_requests_total",
        &["route=\"/auth/sessions/{id}\"", "status=\"404\""],
    );
    assert_eq!(deletes, Some(1.0), "{text}");
}

#[tokio::test]
async fn metrics_count_logins_refreshes_and_reuse() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    app.login("alice", "not the password").await;
    app.refresh_ok(&first.refresh).await;
    app.advance(11);
    let r = app.refresh(&first.refresh).await;
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token reuse detected"),
    )
    .await;
    let text = metrics(&app).await;
    assert!(text.contains("baton_logins_total"), "{text}");
    assert!(text.contains("baton_refreshes_total"), "{text}");
    assert_eq!(
        sample(&text, "baton_refresh_reuse_detected_total", &[]),
        Some(1.0),
        "{text}"
    );
    let logins: f64 = text
        .lines()
        .filter(|l| l.starts_with("baton_logins_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(logins, 2.0, "one success and one failure: {text}");
    let refreshes: f64 = text
        .lines()
        .filter(|l| l.starts_with("baton_refreshes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(refreshes, 2.0, "one rotation and one reuse: {text}");
}
