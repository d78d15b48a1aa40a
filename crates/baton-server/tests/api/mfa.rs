//! Second factors: TOTP enrolment, the login's second step, recovery codes, step-up. Codes come
//! from `totp-lite`, an implementation independent of the server's `totp-rs`.

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// A password the default rule (score 2) accepts.
const NEW: &str = "violet tortoise sails at dawn";

/// The RFC 6238 code of `secret` (base32) at `unix` seconds, by an independent implementation.
pub fn code_at(secret: &str, unix: i64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32 secret");
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, u64::try_from(unix).expect("time"))
}

/// The server clock's time in seconds.
pub fn now(app: &TestApp) -> i64 {
    use baton_core::Clock as _;
    app.clock.now().unix_timestamp()
}

pub async fn bearer_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    access: &str,
    body: &Value,
) -> Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(access)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Enrols TOTP for the signed-in user of `access`: its secret and recovery codes.
pub async fn enrol(app: &TestApp, access: &str) -> (String, Vec<String>) {
    let r = bearer_json(
        app,
        reqwest::Method::POST,
        "/auth/mfa/totp/setup",
        access,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let setup = body(r).await;
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    let code = code_at(&secret, now(app));
    let r = bearer_json(
        app,
        reqwest::Method::POST,
        "/auth/mfa/totp/confirm",
        access,
        &json!({ "code": code }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes = body(r).await["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    // The enrolment used this step's code: the next login needs the next step's.
    app.advance(30);
    (secret, codes)
}

/// Logs in with the password and expects `mfa_required`: its token.
pub async fn first_step(app: &TestApp, username: &str) -> String {
    let r = app.login(username, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b = body(r).await;
    assert_eq!(b["error"], "mfa_required", "{b}");
    b["mfa_token"].as_str().expect("mfa_token").to_owned()
}

pub async fn second_step(app: &TestApp, mfa_token: &str, factor: Value) -> Response {
    let mut req = json!({ "mfa_token": mfa_token });
    for (k, v) in factor.as_object().expect("factor") {
        req[k] = v.clone();
    }
    app.post_json("/auth/login/mfa", &req).await
}

/// A user with TOTP enrolled, signed in with both factors: (secret, recovery codes, tokens).
pub async fn mfa_user(app: &TestApp, username: &str) -> (String, Vec<String>, Tokens) {
    let first = app.user_session(username).await;
    let (secret, codes) = enrol(app, &first.access).await;
    let token = first_step(app, username).await;
    let r = second_step(app, &token, json!({"code": code_at(&secret, now(app))})).await;
    assert_eq!(r.status(), StatusCode::OK);
    (secret, codes, Tokens::from(body(r).await))
}

#[tokio::test]
async fn enrolling_totp_gives_a_secret_its_uri_and_qr_code_then_ten_recovery_codes() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let setup = |password: &'static str| {
        let (app, access) = (&app, t.access.clone());
        async move {
            let req = json!({ "current_password": password });
            bearer_json(
                app,
                reqwest::Method::POST,
                "/auth/mfa/totp/setup",
                &access,
                &req,
            )
            .await
        }
    };
    assert_error(
        setup("not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    )
    .await;
    let r = setup(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let b = body(r).await;
    let secret = b["secret"].as_str().expect("secret");
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = b["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/127.0.0.1:alice?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=127.0.0.1"), "{uri}");
    assert!(b["qr_svg"].as_str().expect("svg").contains("<svg"), "{b}");

    // Nothing is on until a code confirms it.
    let status = body(app.get_bearer("/auth/mfa", &t.access).await).await;
    assert_eq!(status["totp"], false);
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);

    let confirm = |code: String| {
        let (app, access) = (&app, t.access.clone());
        async move {
            let req = json!({ "code": code });
            bearer_json(
                app,
                reqwest::Method::POST,
                "/auth/mfa/totp/confirm",
                &access,
                &req,
            )
            .await
        }
    };
    let wrong = if code_at(secret, now(&app)) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_error(
        confirm(wrong.into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_code",
        None,
    )
    .await;
    let r = confirm(code_at(secret, now(&app))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes = body(r).await["recovery_codes"]
        .as_array()
        .expect("codes")
        .clone();
    assert_eq!(codes.len(), 10);
    let mut unique: Vec<_> = codes.iter().map(|c| c.as_str().expect("code")).collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    assert!(unique
        .iter()
        .all(|c| c.len() == 19 && c.matches('-').count() == 3));

    let status = body(app.get_bearer("/auth/mfa", &t.access).await).await;
    assert_eq!(
        status,
        json!({"totp": true, "recovery_codes_left": 10, "webauthn_credentials": 0,
               "methods": ["totp", "recovery_code"]})
    );
    // A second setup is refused while this one stands.
    assert_error(
        setup(PASSWORD).await,
        StatusCode::CONFLICT,
        "mfa_already_enabled",
        None,
    )
    .await;
}

#[tokio::test]
async fn a_login_with_totp_asks_for_the_code_then_issues_tokens_saying_both_factors() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let password_claims = jwt_claims(&first.access);
    assert_eq!(password_claims["amr"], json!(["pwd"]));
    assert!(password_claims["auth_time"].is_i64());
    let (secret, _) = enrol(&app, &first.access).await;

    let r = app.login("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let b = body(r).await;
    assert_eq!(b["error"], "mfa_required");
    assert_eq!(b["methods"], json!(["totp", "recovery_code"]));
    assert!(b.get("access_token").is_none());
    let token = b["mfa_token"].as_str().expect("token");

    let login_time = now(&app);
    let r = second_step(&app, token, json!({"code": code_at(&secret, login_time)})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t = Tokens::from(body(r).await);
    let claims = jwt_claims(&t.access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["auth_time"], login_time);
    assert_eq!(
        app.get_bearer("/api/me", &t.access).await.status(),
        StatusCode::OK
    );

    // A refresh keeps how and when the user signed in.
    app.advance(120);
    let later = app.refresh_ok(&t.refresh).await;
    let claims = jwt_claims(&later.access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["auth_time"], login_time);
    assert!(claims["iat"].as_i64() > Some(login_time));

    // The token was used up.
    assert_error(
        second_step(&app, token, json!({"code": code_at(&secret, now(&app))})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Invalid or expired MFA token"),
    )
    .await;
}

#[tokio::test]
async fn one_step_of_drift_is_accepted_each_way_and_two_are_not() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let (secret, _) = enrol(&app, &first.access).await;
    // One more step, so that the step before this one was never used (the enrolment's was).
    app.advance(30);
    let t = now(&app);
    let far = [code_at(&secret, t - 60), code_at(&secret, t + 60)];
    let near = [
        code_at(&secret, t - 30),
        code_at(&secret, t),
        code_at(&secret, t + 30),
    ];
    for code in far.iter().filter(|c| !near.contains(c)) {
        let token = first_step(&app, "alice").await;
        assert_error(
            second_step(&app, &token, json!({ "code": code })).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            None,
        )
        .await;
    }
    // Each near code once, oldest first (a code of a step before one accepted is refused).
    for code in &near {
        let token = first_step(&app, "alice").await;
        let r = second_step(&app, &token, json!({ "code": code })).await;
        assert_eq!(r.status(), StatusCode::OK, "{code}");
    }
}

#[tokio::test]
async fn a_code_is_accepted_once_and_no_older_code_after_it() {
    let app = TestApp::spawn().await;
    let (secret, _, _) = mfa_user(&app, "alice").await;
    let t = now(&app);
    // The login in mfa_user used this step's code.
    let token = first_step(&app, "alice").await;
    assert_error(
        second_step(&app, &token, json!({"code": code_at(&secret, t)})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        Some("Invalid or already used code"),
    )
    .await;
    let older = code_at(&secret, t - 30);
    if older != code_at(&secret, t) {
        assert_error(
            second_step(&app, &token, json!({ "code": older })).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            None,
        )
        .await;
    }
    app.advance(30);
    let r = second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn recovery_codes_work_once_each_however_they_are_typed() {
    let app = TestApp::spawn().await;
    let (_, codes, t) = mfa_user(&app, "alice").await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let token = first_step(&app, "alice").await;
    let r = second_step(&app, &token, json!({ "recovery_code": typed })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let claims = jwt_claims(&Tokens::from(body(r).await).access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));

    let token = first_step(&app, "alice").await;
    assert_error(
        second_step(&app, &token, json!({ "recovery_code": codes[0] })).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        None,
    )
    .await;
    let r = second_step(&app, &token, json!({ "recovery_code": codes[1] })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let status = body(app.get_bearer("/auth/mfa", &t.access).await).await;
    assert_eq!(status["recovery_codes_left"], 8);
    let events = body(app.get_bearer("/auth/events", &t.access).await).await;
    let used = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "recovery_code_used")
        .count();
    assert_eq!(used, 2);

    // Neither both factors at once nor none.
    let token = first_step(&app, "alice").await;
    for factor in [
        json!({"code": "123456", "recovery_code": codes[2]}),
        json!({}),
    ] {
        assert_error(
            second_step(&app, &token, factor).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_codes_count_as_failed_logins_and_the_right_password_does_not_clear_them() {
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(4)).await;
    let (secret, _, _) = mfa_user(&app, "alice").await;
    app.advance(30);
    let wrong = |t: i64| {
        let right = code_at(&secret, t);
        if right == "000000" {
            "111111"
        } else {
            "000000"
        }
        .to_owned()
    };
    for _ in 0..4 {
        // A fresh first step each time: the right password must not reset the count.
        let token = first_step(&app, "alice").await;
        assert_error(
            second_step(&app, &token, json!({"code": wrong(now(&app))})).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            None,
        )
        .await;
    }
    let r = app.login("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_mfa_token_takes_five_wrong_codes_and_lives_five_minutes() {
    let app = TestApp::spawn().await;
    let (secret, _, _) = mfa_user(&app, "alice").await;
    app.advance(30);
    let token = first_step(&app, "alice").await;
    let right = code_at(&secret, now(&app));
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        assert_error(
            second_step(&app, &token, json!({ "code": wrong })).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            None,
        )
        .await;
    }
    assert_error(
        second_step(&app, &token, json!({ "code": right })).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        None,
    )
    .await;

    let token = first_step(&app, "alice").await;
    app.advance(301);
    assert_error(
        second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        None,
    )
    .await;
    for bad in ["", "not a token"] {
        assert_error(
            second_step(&app, bad, json!({"code": "123456"})).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            None,
        )
        .await;
    }
}

#[tokio::test]
async fn a_cookie_login_gets_its_cookie_at_the_second_step() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let (secret, _) = enrol(&app, &first.access).await;
    let r = app
        .post_json(
            "/auth/login",
            &json!({"username": "alice", "password": PASSWORD, "delivery": "cookie"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.headers().contains_key("set-cookie"));
    let token = body(r).await["mfa_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(cookie.starts_with("baton_refresh="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/auth"),
        "{cookie}"
    );
    assert!(body(r).await.get("refresh_token").is_none());
}

#[tokio::test]
async fn the_password_grant_answers_mfa_required_and_finishes_for_its_client() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let (secret, _) = enrol(&app, &first.access).await;
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
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b = body(r).await;
    assert_eq!(b["error"], "mfa_required");
    let token = b["mfa_token"].as_str().expect("token");
    let r = second_step(&app, token, json!({"code": code_at(&secret, now(&app))})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    assert!(!t.refresh.is_empty());
    assert_eq!(jwt_claims(&t.access)["client_id"], "baton");
}

#[tokio::test]
async fn sensitive_changes_need_a_recent_sign_in_with_both_factors_or_a_code() {
    let app = TestApp::spawn().await;
    let before = app.user_session("alice").await;
    let (secret, _) = enrol(&app, &before.access).await;
    let change = |access: String, code: Option<String>| {
        let app = &app;
        async move {
            let mut req = json!({"current_password": PASSWORD, "new_password": NEW});
            if let Some(code) = code {
                req["code"] = json!(code);
            }
            bearer_json(app, reqwest::Method::POST, "/auth/password", &access, &req).await
        }
    };
    // A session opened with the password alone, before the factor was added, is not enough.
    let r = change(before.access.clone(), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"baton\", error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.ends_with("max_age=600"), "{challenge}");
    assert_eq!(body(r).await["error"], "insufficient_user_authentication");

    // A sign-in with both factors is, for ten minutes.
    let token = first_step(&app, "alice").await;
    let r = second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await;
    let fresh = Tokens::from(body(r).await);
    app.advance(601);
    let refreshed = app.refresh_ok(&fresh.refresh).await;
    assert_error(
        change(refreshed.access.clone(), None).await,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        None,
    )
    .await;
    // Or a code in the request (a wrong one counts and is refused).
    let right = code_at(&secret, now(&app));
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_error(
        change(refreshed.access.clone(), Some(wrong.into())).await,
        StatusCode::BAD_REQUEST,
        "invalid_code",
        None,
    )
    .await;
    let r = change(refreshed.access.clone(), Some(right)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // The same rule holds for the e-mail address.
    let r = bearer_json(
        &app,
        reqwest::Method::PUT,
        "/auth/email",
        &refreshed.access,
        &json!({"email": "alice@example.com", "current_password": NEW}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_second_factor_the_current_password_is_the_fresh_proof() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    app.advance(3600);
    let t = app.refresh_ok(&t.refresh).await;
    let r = bearer_json(
        &app,
        reqwest::Method::POST,
        "/auth/password",
        &t.access,
        &json!({"current_password": PASSWORD, "new_password": NEW}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Setting up TOTP an hour after signing in: the current password in the request is the
    // fresh proof for an account without a second factor.
    let r = bearer_json(
        &app,
        reqwest::Method::POST,
        "/auth/mfa/totp/setup",
        &t.access,
        &json!({"current_password": NEW}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn removing_totp_takes_a_code_or_the_password_with_a_recent_sign_in() {
    let app = TestApp::spawn().await;
    let (secret, _, t) = mfa_user(&app, "alice").await;
    let remove = |access: String, body: Value| {
        let app = &app;
        async move {
            bearer_json(
                app,
                reqwest::Method::DELETE,
                "/auth/mfa/totp",
                &access,
                &body,
            )
            .await
        }
    };
    assert_error(
        remove(t.access.clone(), json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    app.advance(601);
    let stale = app.refresh_ok(&t.refresh).await;
    assert_error(
        remove(stale.access.clone(), json!({"current_password": PASSWORD})).await,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        None,
    )
    .await;
    let r = remove(
        stale.access.clone(),
        json!({"code": code_at(&secret, now(&app))}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
    let status = body(app.get_bearer("/auth/mfa", &stale.access).await).await;
    assert_eq!(status["totp"], false);
    assert_eq!(status["recovery_codes_left"], 0);
    assert_error(
        remove(stale.access.clone(), json!({"current_password": PASSWORD})).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let app = TestApp::spawn().await;
    let (secret, old, t) = mfa_user(&app, "alice").await;
    app.advance(30);
    let r = bearer_json(
        &app,
        reqwest::Method::POST,
        "/auth/mfa/recovery-codes",
        &t.access,
        &json!({"code": code_at(&secret, now(&app))}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let new: Vec<String> = body(r).await["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    let token = first_step(&app, "alice").await;
    assert_error(
        second_step(&app, &token, json!({"recovery_code": old[0]})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        None,
    )
    .await;
    let r = second_step(&app, &token, json!({"recovery_code": new[0]})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn neither_the_secret_nor_the_recovery_codes_are_stored_in_plain_text() {
    let app = TestApp::spawn().await;
    let (secret, codes, _) = mfa_user(&app, "alice").await;
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32");
    let dump = app.stop_and_dump().await;
    let contains = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(secret.as_bytes()));
    assert!(!contains(&key));
    for code in &codes {
        assert!(!contains(code.as_bytes()));
        assert!(!contains(code.replace('-', "").as_bytes()));
    }
}

/// The Python with pyotp (`BATON_INTEROP_PYTHON`); `None` skips, unless the test command
/// requires the interop stacks.
fn python() -> Option<std::path::PathBuf> {
    match std::env::var_os("BATON_INTEROP_PYTHON") {
        Some(python) => Some(python.into()),
        None => {
            assert!(
                std::env::var_os("BATON_REQUIRE_INTEROP").is_none(),
                "BATON_REQUIRE_INTEROP is set but BATON_INTEROP_PYTHON is not"
            );
            eprintln!("no BATON_INTEROP_PYTHON (pyotp); skipping");
            None
        }
    }
}

/// pyotp's reading of `uri` and its codes at `times`.
fn pyotp(python: &std::path::Path, uri: &str, times: &[i64]) -> Value {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/totp.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(uri)
        .args(times.iter().map(ToString::to_string))
        .output()
        .expect("run pyotp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The whole flow driven by pyotp from the `otpauth://` URI alone, as an app scanning the QR
/// code would: enrolment, drift of a step each way, a code refused the second time.
#[tokio::test]
async fn an_app_reading_the_otpauth_uri_with_pyotp_enrols_and_signs_in() {
    let Some(python) = python() else { return };
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = bearer_json(
        &app,
        reqwest::Method::POST,
        "/auth/mfa/totp/setup",
        &t.access,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    let uri = body(r).await["otpauth_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    let start = now(&app);
    let read = pyotp(&python, &uri, &[start]);
    assert_eq!(read["issuer"], "127.0.0.1");
    assert_eq!(read["name"], "alice");
    assert_eq!(read["digits"], 6);
    assert_eq!(read["interval"], 30);
    assert_eq!(read["algorithm"], "sha1");
    let r = bearer_json(
        &app,
        reqwest::Method::POST,
        "/auth/mfa/totp/confirm",
        &t.access,
        &json!({"code": read["codes"][0]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Two steps later: the app's clock a step behind, then a step ahead, each accepted once.
    app.advance(60);
    let t = now(&app);
    let codes = pyotp(&python, &uri, &[t - 30, t + 30, t - 60, t + 60]);
    let code = |i: usize| codes["codes"][i].as_str().expect("code").to_owned();
    for (i, expected) in [(2, StatusCode::UNAUTHORIZED), (3, StatusCode::UNAUTHORIZED)] {
        if [code(0), code(1)].contains(&code(i)) {
            continue;
        }
        let token = first_step(&app, "alice").await;
        let r = second_step(&app, &token, json!({ "code": code(i) })).await;
        assert_eq!(r.status(), expected, "two steps off");
    }
    for i in [0, 1] {
        let token = first_step(&app, "alice").await;
        let r = second_step(&app, &token, json!({ "code": code(i) })).await;
        assert_eq!(r.status(), StatusCode::OK, "one step off");
        let again = first_step(&app, "alice").await;
        assert_error(
            second_step(&app, &again, json!({ "code": code(i) })).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            None,
        )
        .await;
    }
}

#[tokio::test]
async fn enrolling_a_factor_ends_the_other_password_only_sessions() {
    let app = TestApp::spawn().await;
    let here = app.user_session("alice").await;
    let stolen = app.login_ok("alice").await;
    enrol(&app, &here.access).await;
    assert_error(
        app.refresh(&stolen.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
    app.refresh_ok(&here.refresh).await;
}

#[tokio::test]
async fn wrong_confirmation_codes_count_and_a_setup_waits_ten_minutes() {
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(3)).await;
    let t = app.user_session("alice").await;
    let setup = |password: &'static str| {
        let (app, access) = (&app, t.access.clone());
        async move {
            let req = json!({ "current_password": password });
            bearer_json(
                app,
                reqwest::Method::POST,
                "/auth/mfa/totp/setup",
                &access,
                &req,
            )
            .await
        }
    };
    let secret = body(setup(PASSWORD).await).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let confirm = |code: String| {
        let (app, access) = (&app, t.access.clone());
        async move {
            let req = json!({ "code": code });
            bearer_json(
                app,
                reqwest::Method::POST,
                "/auth/mfa/totp/confirm",
                &access,
                &req,
            )
            .await
        }
    };
    let right = code_at(&secret, now(&app));
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..3 {
        assert_error(
            confirm(wrong.into()).await,
            StatusCode::BAD_REQUEST,
            "invalid_code",
            None,
        )
        .await;
    }
    // The limit holds now, for the right code too (and for logins).
    assert_eq!(
        confirm(right.clone()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.advance(301);
    // A setup left more than ten minutes is gone.
    app.advance(300);
    assert_error(
        confirm(code_at(&secret, now(&app))).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    // Removing TOTP while only a setup waits finds none.
    let r = bearer_json(
        &app,
        reqwest::Method::DELETE,
        "/auth/mfa/totp",
        &app.login_ok("alice").await.access,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_day_of_wrong_codes_refuses_codes_but_not_recovery_codes() {
    // Higher login limits than the daily cap, to reach it within the test.
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(100)).await;
    let (secret, codes, _) = mfa_user(&app, "alice").await;
    for _ in 0..4 {
        let token = first_step(&app, "alice").await;
        for _ in 0..5 {
            let right = code_at(&secret, now(&app));
            let wrong = if right == "000000" {
                "111111"
            } else {
                "000000"
            };
            let r = second_step(&app, &token, json!({ "code": wrong })).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    app.advance(30);
    let token = first_step(&app, "alice").await;
    let r = second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let r = second_step(&app, &token, json!({ "recovery_code": codes[0] })).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A day later the codes work again.
    app.advance(86_400);
    let token = first_step(&app, "alice").await;
    let r = second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await;
    assert_eq!(r.status(), StatusCode::OK);
}
