//! Bad input, everywhere: malformed, mistyped, oversized or mislabelled bodies get a JSON error
//! with the contract's status, never a 5xx, and store nothing.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const POST_ENDPOINTS: [&str; 3] = ["/auth/register", "/auth/login", "/auth/refresh"];

/// One bad request: a raw body with a content type, and what it must get.
struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    error: &'static str,
}

fn json_case(name: &'static str, path: &'static str, body: Value) -> Case {
    Case {
        name,
        path,
        content_type: "application/json",
        body: body.to_string().into_bytes(),
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
    }
}

/// The table: every malformed shape against every POST endpoint, plus per-endpoint cases.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for path in POST_ENDPOINTS {
        let raw = |name, body: &[u8]| Case {
            name,
            path,
            content_type: "application/json",
            body: body.to_vec(),
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
        };
        cases.push(raw("truncated JSON", br#"{"username": "mallory","#));
        cases.push(raw("not JSON at all", b"username=mallory&password=x"));
        cases.push(raw("trailing garbage", br#"{"username": "mallory"} xyz"#));
        cases.push(raw(
            "invalid UTF-8",
            b"{\"username\": \"mal\xff\xfelory\", \"password\": \"correct horse battery\", \"refresh_token\": \"\xc3\x28\"}",
        ));
        cases.push(json_case("top-level array", path, json!([])));
        cases.push(json_case(
            "top-level array of values",
            path,
            json!(["mallory", PASSWORD]),
        ));
        cases.push(json_case("top-level null", path, Value::Null));
        cases.push(json_case("top-level string", path, json!("mallory")));
        cases.push(json_case("top-level number", path, json!(42)));
        cases.push(Case {
            name: "text/plain",
            path,
            content_type: "text/plain",
            body: json!({"username": "mallory", "password": PASSWORD, "refresh_token": "x"})
                .to_string()
                .into_bytes(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "unsupported_media_type",
        });
        cases.push(Case {
            name: "form-encoded",
            path,
            content_type: "application/x-www-form-urlencoded",
            body: b"username=mallory&password=correct+horse+battery&refresh_token=x".to_vec(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "unsupported_media_type",
        });
        let huge = "x".repeat(70 * 1024);
        cases.push(Case {
            name: "body over 64 KiB",
            path,
            content_type: "application/json",
            body: json!({"username": "mallory", "password": huge, "refresh_token": huge})
                .to_string()
                .into_bytes(),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: "payload_too_large",
        });
    }
    for path in ["/auth/register", "/auth/login"] {
        cases.push(json_case(
            "username of the wrong type",
            path,
            json!({"username": 5, "password": PASSWORD}),
        ));
        cases.push(json_case(
            "password of the wrong type",
            path,
            json!({"username": "mallory", "password": ["correct horse battery"]}),
        ));
        cases.push(json_case(
            "null username",
            path,
            json!({"username": null, "password": PASSWORD}),
        ));
        cases.push(json_case(
            "missing password",
            path,
            json!({"username": "mallory"}),
        ));
        cases.push(json_case(
            "missing username",
            path,
            json!({"password": PASSWORD}),
        ));
        cases.push(json_case("empty object", path, json!({})));
    }
    cases.push(json_case(
        "refresh_token of the wrong type",
        "/auth/refresh",
        json!({"refresh_token": 5}),
    ));
    cases.push(json_case(
        "refresh_token an object",
        "/auth/refresh",
        json!({"refresh_token": {"token": "x"}}),
    ));
    cases.push(json_case(
        "unknown delivery",
        "/auth/login",
        json!({"username": "mallory", "password": PASSWORD, "delivery": "pigeon"}),
    ));
    cases.push(json_case(
        "delivery of the wrong type",
        "/auth/login",
        json!({"username": "mallory", "password": PASSWORD, "delivery": 1}),
    ));
    cases
}

async fn send_case(app: &TestApp, case: &Case) -> Response {
    app.client
        .post(app.url(case.path))
        .header("content-type", case.content_type)
        .body(case.body.clone())
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn every_bad_body_gets_its_json_error_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let mut failures = Vec::new();
    for case in cases() {
        let r = send_case(&app, &case).await;
        let status = r.status();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = r.text().await.expect("body");
        let b: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let ok = status == case.status
            && b["error"] == case.error
            && content_type.starts_with("application/json");
        if !ok {
            failures.push(format!(
                "POST {} with {}: expected {} {}, got {status} {content_type:?} {}",
                case.path,
                case.name,
                case.status,
                case.error,
                text.chars().take(160).collect::<String>()
            ));
        }
    }
    let users = app.state.baton.users().await.expect("users");
    if !users.is_empty() {
        let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
        failures.push(format!("users were stored: {names:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.login("mallory", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_fixed_error_bodies_are_exactly_the_contracts() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "text/plain")
        .body(json!({"username": "mallory", "password": PASSWORD}).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body(r).await, json!({"error": "unsupported_media_type"}));
    let huge = "x".repeat(65 * 1024 + 1);
    let r = app
        .post_json(
            "/auth/register",
            &json!({"username": "mallory", "password": PASSWORD, "pad": huge}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body(r).await, json!({"error": "payload_too_large"}));
    assert!(app.state.baton.users().await.expect("users").is_empty());
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_accepted() {
    let app = TestApp::spawn().await;
    let mut v = json!({"username": "alice", "password": PASSWORD, "pad": ""});
    let overhead = v.to_string().len();
    v["pad"] = json!("x".repeat(64 * 1024 - overhead));
    let bytes = v.to_string();
    assert_eq!(bytes.len(), 64 * 1024);
    let r = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_json_content_type_with_a_charset_is_json() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"username": "alice", "password": PASSWORD}).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/auth/nope"),
        (Method::GET, "/api/me/extra"),
    ] {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert!(body(r).await["error"].is_string(), "{method} {path}");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/auth/login"),
        (Method::GET, "/auth/register"),
        (Method::PUT, "/auth/refresh"),
        (Method::DELETE, "/auth/logout"),
        (Method::POST, "/api/me"),
        (Method::POST, "/.well-known/jwks.json"),
        (Method::PATCH, "/auth/sessions"),
    ] {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(body(r).await["error"].is_string(), "{method} {path}");
    }
}

#[tokio::test]
async fn an_oversized_header_gets_a_4xx() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-oversized", "a".repeat(512 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => {
            assert!(r.status().is_client_error(), "{}", r.status());
            assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(e) => panic!("no answer to an oversized header: {e}"),
    }
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK, "the server still serves");
}

#[tokio::test]
async fn logout_without_a_token_or_with_an_unknown_one_is_204() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.post_json("/auth/logout", &json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .post_json("/auth/logout", &json!({"refresh_token": "never-issued"}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn logout_with_a_spent_token_is_204_and_revokes_its_session() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    app.advance(60);
    let r = app
        .post_json("/auth/logout", &json!({"refresh_token": first.refresh}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(&second.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
    let again = app
        .post_json("/auth/logout", &json!({"refresh_token": second.refresh}))
        .await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT, "idempotent");
}

#[tokio::test]
async fn json_answers_are_declared_as_utf8_json() {
    let app = TestApp::spawn().await;
    let ok = app.register("alice", PASSWORD).await;
    let err = app.register("alice", PASSWORD).await;
    let missing = app
        .client
        .get(app.url("/nope"))
        .send()
        .await
        .expect("request");
    for r in [ok, err, missing] {
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_ascii_lowercase()
            .replace(' ', "");
        assert_eq!(
            ct,
            "application/json;charset=utf-8",
            "{} answer",
            r.status()
        );
    }
}

#[tokio::test]
async fn a_large_head_is_refused_with_431_and_json() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "a".repeat(40 * 1024))
        .send()
        .await
        .expect("request");
    assert_error(
        r,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request_header_fields_too_large",
        None,
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_even_where_no_body_is_read() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(&t.access)
        .header("content-type", "application/json")
        .body(vec![b' '; 65 * 1024])
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None).await;
    assert_eq!(app.sessions(&t.access).await.len(), 1, "nothing was done");
}

#[tokio::test]
async fn a_null_delivery_means_body() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let r = app
        .post_json(
            "/auth/login",
            &serde_json::json!({"username": "alice", "password": PASSWORD, "delivery": null}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(body(r).await["refresh_token"].is_string());
}
