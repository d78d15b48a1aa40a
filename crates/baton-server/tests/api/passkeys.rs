//! Passkeys over the API with a software authenticator (`webauthn-authenticator-rs`'s
//! `SoftPasskey`, which computes real attestations and assertions). It cannot keep resident
//! keys, so these tests cover registration, the second factor and the ceremony rules; signing
//! in with a passkey alone (a discoverable credential) is driven in Chromium with its virtual
//! authenticator (clients/web/e2e/passkeys.test.mjs).

use crate::helpers::*;
use crate::mfa::{bearer_json, code_at, enrol, first_step, now, second_step};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator as _,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// The page origin passkeys are used from: the test server's issuer is a loopback address,
/// so its relying party is `localhost` on the same port.
fn origin(app: &TestApp) -> Url {
    let port = app.base.rsplit(':').next().expect("port");
    Url::parse(&format!("http://localhost:{port}")).expect("origin")
}

fn authenticator() -> SoftPasskey {
    // `true`: the soft key claims user verification, as a platform authenticator with a PIN
    // or a fingerprint would.
    SoftPasskey::new(true)
}

async fn register_start(app: &TestApp, access: &str, body: Value) -> Response {
    bearer_json(
        app,
        Method::POST,
        "/auth/webauthn/register/start",
        access,
        &body,
    )
    .await
}

/// Creates a credential for the options of `start` (a registration's).
fn create(app: &TestApp, key: &mut SoftPasskey, start: &Value) -> Value {
    let mut public_key = start["publicKey"].clone();
    // The soft key keeps no resident keys; the server does not depend on the choice.
    public_key["authenticatorSelection"]["requireResidentKey"] = json!(false);
    public_key["authenticatorSelection"]["residentKey"] = json!("discouraged");
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": public_key })).expect("creation options");
    let credential = key
        .do_registration(origin(app), options)
        .expect("the authenticator creates a credential");
    serde_json::to_value(credential).expect("json")
}

/// Answers the options of `start` (an authentication's).
fn assert_with(app: &TestApp, key: &mut SoftPasskey, start: &Value) -> Value {
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": start["publicKey"] })).expect("options");
    let assertion = key
        .do_authentication(origin(app), options)
        .expect("the authenticator signs");
    serde_json::to_value(assertion).expect("json")
}

/// Registers a passkey for the signed-in user of `access`: the finish answer.
async fn register(app: &TestApp, access: &str, key: &mut SoftPasskey, name: &str) -> Value {
    let r = register_start(app, access, json!({ "current_password": PASSWORD })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let start = body(r).await;
    let credential = create(app, key, &start);
    let r = bearer_json(
        app,
        Method::POST,
        "/auth/webauthn/register/finish",
        access,
        &json!({"ceremony": start["ceremony"], "credential": credential, "name": name}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    body(r).await
}

/// The second step of a login with the passkey `key`: the answer.
async fn passkey_step(app: &TestApp, mfa_token: &str, key: &mut SoftPasskey) -> Response {
    let r = app
        .post_json(
            "/auth/webauthn/login/start",
            &json!({ "mfa_token": mfa_token }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let start = body(r).await;
    let credential = assert_with(app, key, &start);
    second_step(
        app,
        mfa_token,
        json!({"webauthn": {"ceremony": start["ceremony"], "credential": credential}}),
    )
    .await
}

/// Signs `username` in with the password and the passkey `key`: a session that proved both
/// factors (what adding or removing a factor then needs).
async fn strong_session(app: &TestApp, username: &str, key: &mut SoftPasskey) -> Tokens {
    let token = first_step(app, username).await;
    let r = passkey_step(app, &token, key).await;
    assert_eq!(r.status(), StatusCode::OK);
    Tokens::from(body(r).await)
}

#[tokio::test]
async fn a_registered_passkey_is_listed_asked_for_at_login_and_signs_the_second_step() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = register_start(&app, &t.access, json!({ "current_password": PASSWORD })).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let start = body(r).await;
    let options = &start["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "alice");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert!(start["ceremony"].as_str().is_some_and(|c| c.len() > 40));

    let mut key = authenticator();
    let added = register(&app, &t.access, &mut key, "  Laptop  ").await;
    assert_eq!(added["credential"]["name"], "Laptop");
    assert_eq!(added["credential"]["backup_eligible"], false);
    assert!(added["credential"]["last_used_at"].is_null());
    // The account's first second factor brings recovery codes.
    assert_eq!(added["recovery_codes"].as_array().map(Vec::len), Some(10));

    let list = body(
        app.get_bearer("/auth/webauthn/credentials", &t.access)
            .await,
    )
    .await;
    assert_eq!(list["credentials"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["credentials"][0]["id"], added["credential"]["id"]);
    let status = body(app.get_bearer("/auth/mfa", &t.access).await).await;
    assert_eq!(status["webauthn_credentials"], 1);
    assert_eq!(status["methods"], json!(["webauthn", "recovery_code"]));

    let r = app.login("alice", PASSWORD).await;
    let b = body(r).await;
    assert_eq!(b["error"], "mfa_required");
    assert_eq!(b["methods"], json!(["webauthn", "recovery_code"]));
    let token = b["mfa_token"].as_str().expect("token");
    let r = passkey_step(&app, token, &mut key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let signed = Tokens::from(body(r).await);
    let claims = jwt_claims(&signed.access);
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]));
    let list = body(
        app.get_bearer("/auth/webauthn/credentials", &signed.access)
            .await,
    )
    .await;
    assert!(list["credentials"][0]["last_used_at"].is_string());
}

#[tokio::test]
async fn a_ceremony_finishes_once_for_its_own_user_within_five_minutes() {
    let app = TestApp::spawn().await;
    let alice = app.user_session("alice").await;
    let bob = app.user_session("bob").await;
    let mut key = authenticator();
    register(&app, &alice.access, &mut key, "key").await;
    // Adding a second factor to an account that has one takes a sign-in with it.
    assert_error(
        register_start(&app, &alice.access, json!({ "current_password": PASSWORD })).await,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        None,
    )
    .await;
    let alice = strong_session(&app, "alice", &mut key).await;

    // Registration: a ceremony is its user's only.
    let start =
        body(register_start(&app, &alice.access, json!({ "current_password": PASSWORD })).await)
            .await;
    let mut other = authenticator();
    let credential = create(&app, &mut other, &start);
    let finish = |access: String, ceremony: Value, credential: Value| {
        let app = &app;
        async move {
            bearer_json(
                app,
                Method::POST,
                "/auth/webauthn/register/finish",
                &access,
                &json!({"ceremony": ceremony, "credential": credential}),
            )
            .await
        }
    };
    assert_error(
        finish(
            bob.access.clone(),
            start["ceremony"].clone(),
            credential.clone(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("Invalid or expired passkey ceremony; start again"),
    )
    .await;
    let mut tampered = start["ceremony"].as_str().expect("ceremony").to_owned();
    tampered.replace_range(
        20..22,
        if &tampered[20..22] == "AA" {
            "BB"
        } else {
            "AA"
        },
    );
    assert_error(
        finish(alice.access.clone(), json!(tampered), credential.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    let r = finish(
        alice.access.clone(),
        start["ceremony"].clone(),
        credential.clone(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        body(r).await.get("recovery_codes").is_none(),
        "codes only with the first factor"
    );
    assert_error(
        finish(alice.access.clone(), start["ceremony"].clone(), credential).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;

    // The second step: a ceremony started for one login does not finish another, even unused.
    let (a, b) = (
        first_step(&app, "alice").await,
        first_step(&app, "alice").await,
    );
    let start = body(
        app.post_json("/auth/webauthn/login/start", &json!({ "mfa_token": a }))
            .await,
    )
    .await;
    let assertion = assert_with(&app, &mut key, &start);
    let factor = json!({"webauthn": {"ceremony": start["ceremony"], "credential": assertion}});
    assert_error(
        second_step(&app, &b, factor.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    assert_eq!(second_step(&app, &a, factor).await.status(), StatusCode::OK);

    // The second step: an answer to one login's ceremony, replayed for another, is refused.
    let token = first_step(&app, "alice").await;
    let start = body(
        app.post_json("/auth/webauthn/login/start", &json!({ "mfa_token": token }))
            .await,
    )
    .await;
    let assertion = assert_with(&app, &mut key, &start);
    let factor = json!({"webauthn": {"ceremony": start["ceremony"], "credential": assertion}});
    assert_eq!(
        second_step(&app, &token, factor.clone()).await.status(),
        StatusCode::OK
    );
    let again = first_step(&app, "alice").await;
    assert_error(
        second_step(&app, &again, factor).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;

    // A ceremony left for more than five minutes has expired.
    let token = first_step(&app, "alice").await;
    let start = body(
        app.post_json("/auth/webauthn/login/start", &json!({ "mfa_token": token }))
            .await,
    )
    .await;
    let assertion = assert_with(&app, &mut key, &start);
    app.advance(301);
    let fresh = first_step(&app, "alice").await;
    assert_error(
        second_step(
            &app,
            &fresh,
            json!({"webauthn": {"ceremony": start["ceremony"], "credential": assertion}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
}

#[tokio::test]
async fn another_users_passkey_or_a_forged_answer_is_a_wrong_second_factor() {
    let app = TestApp::spawn().await;
    let alice = app.user_session("alice").await;
    let bob = app.user_session("bob").await;
    let mut alices = authenticator();
    let mut bobs = authenticator();
    register(&app, &alice.access, &mut alices, "a").await;
    register(&app, &bob.access, &mut bobs, "b").await;
    let token = first_step(&app, "alice").await;
    let start = body(
        app.post_json("/auth/webauthn/login/start", &json!({ "mfa_token": token }))
            .await,
    )
    .await;
    // Bob's key answering Alice's ceremony: not one of hers.
    let mut forged = assert_with(&app, &mut alices, &start);
    let bobs_answer = {
        let mut s = start.clone();
        s["publicKey"]["allowCredentials"] = json!([]);
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": s["publicKey"] })).expect("options");
        bobs.do_authentication(origin(&app), options)
    };
    if let Ok(answer) = bobs_answer {
        let r = second_step(
            &app,
            &token,
            json!({"webauthn": {"ceremony": start["ceremony"], "credential": answer}}),
        )
        .await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code", None).await;
    }
    // Alice's answer with its signature broken.
    let sig = forged["response"]["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    // The DER signature's last byte changes: the signature no longer verifies.
    let (head, last) = sig.split_at(sig.len() - 2);
    let flipped = format!("{head}{}", if last == "AA" { "BB" } else { "AA" });
    forged["response"]["signature"] = json!(flipped);
    let r = second_step(
        &app,
        &token,
        json!({"webauthn": {"ceremony": start["ceremony"], "credential": forged}}),
    )
    .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code", None).await;
    // Nothing of it was a success: Alice's failures were counted.
    let events = body(app.get_bearer("/auth/events", &alice.access).await).await;
    let wrong = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "login_failed" && e["reason"] == "wrong_code")
        .count();
    assert!(wrong >= 1, "{events}");
    // An account without passkeys gets no passkey options.
    app.create_user("carol").await;
    let carol = app.login_ok("carol").await;
    let (_, _) = enrol(&app, &carol.access).await;
    let token = first_step(&app, "carol").await;
    assert_error(
        app.post_json("/auth/webauthn/login/start", &json!({ "mfa_token": token }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("This account has no passkey"),
    )
    .await;
}

#[tokio::test]
async fn a_passkey_without_a_user_handle_cannot_sign_in_alone() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let mut key = authenticator();
    register(&app, &t.access, &mut key, "key").await;
    let r = app
        .post_json("/auth/webauthn/login/start", &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let start = body(r).await;
    assert_eq!(start["publicKey"]["userVerification"], "required");
    assert_eq!(start["publicKey"]["allowCredentials"], json!([]));
    // The soft key keeps no resident key: it answers without naming its user.
    let mut s = start.clone();
    s["publicKey"]["allowCredentials"] = body(
        app.get_bearer("/auth/webauthn/credentials", &t.access)
            .await,
    )
    .await["credentials"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| json!({"type": "public-key", "id": c["id"]}))
        .collect();
    let answer = assert_with(&app, &mut key, &s);
    let r = app
        .post_json(
            "/auth/webauthn/login/finish",
            &json!({"ceremony": start["ceremony"], "credential": answer}),
        )
        .await;
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        Some("Passkey not accepted"),
    )
    .await;
    for bad in [
        json!({"ceremony": "x", "credential": {}}),
        json!({"credential": {}}),
    ] {
        let r = app.post_json("/auth/webauthn/login/finish", &bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn adding_or_removing_a_passkey_needs_a_recent_sign_in_or_a_fresh_proof() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    // A passkey signs in alone: even a fresh access token adds none without the password.
    assert_error(
        register_start(&app, &t.access, json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("current_password is required to add a passkey"),
    )
    .await;
    app.advance(601);
    let stale = app.refresh_ok(&t.refresh).await;
    assert_error(
        register_start(
            &app,
            &stale.access,
            json!({"current_password": "wrong password"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    )
    .await;
    let r = register_start(&app, &stale.access, json!({"current_password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::OK);

    // With a second factor, a stale sign-in needs a code; the password alone is not enough.
    let fresh = app.login_ok("alice").await;
    let (secret, _) = enrol(&app, &fresh.access).await;
    let mut key = authenticator();
    let token = first_step(&app, "alice").await;
    let r = second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await;
    let strong = Tokens::from(body(r).await);
    let added = register(&app, &strong.access, &mut key, "key").await;
    let id = added["credential"]["id"].as_str().expect("id").to_owned();
    app.advance(601);
    let stale = app.refresh_ok(&strong.refresh).await;
    assert_error(
        register_start(&app, &stale.access, json!({"current_password": PASSWORD})).await,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        None,
    )
    .await;
    let remove = |body: Value| {
        let (app, access, path) = (
            &app,
            stale.access.clone(),
            format!("/auth/webauthn/credentials/{id}"),
        );
        async move { bearer_json(app, Method::DELETE, &path, &access, &body).await }
    };
    assert_error(
        remove(json!({"current_password": PASSWORD})).await,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        None,
    )
    .await;
    let r = remove(json!({"code": code_at(&secret, now(&app))})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = remove(json!({"code": code_at(&secret, now(&app) + 30)})).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = bearer_json(
        &app,
        Method::DELETE,
        "/auth/webauthn/credentials/not%20an%20id",
        &stale.access,
        &json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // TOTP remains: the recovery codes stay.
    let status = body(app.get_bearer("/auth/mfa", &stale.access).await).await;
    assert_eq!(status["webauthn_credentials"], 0);
    assert_eq!(status["recovery_codes_left"], 10);
}

#[tokio::test]
async fn passkey_names_are_checked_and_the_same_key_is_not_registered_twice() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let mut key = authenticator();
    register(&app, &first.access, &mut key, "first").await;
    let t = strong_session(&app, "alice", &mut key).await;
    let start =
        body(register_start(&app, &t.access, json!({ "current_password": PASSWORD })).await).await;
    let ids: Vec<&str> = start["publicKey"]["excludeCredentials"]
        .as_array()
        .expect("excluded")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 1, "the existing passkey is excluded");
    let credential = create(&app, &mut authenticator(), &start);
    let r = bearer_json(
        &app,
        Method::POST,
        "/auth/webauthn/register/finish",
        &t.access,
        &json!({"ceremony": start["ceremony"], "credential": credential, "name": "x".repeat(65)}),
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    let r = bearer_json(
        &app,
        Method::POST,
        "/auth/webauthn/register/finish",
        &t.access,
        &json!({"ceremony": start["ceremony"], "credential": {"id": "garbage"}}),
    )
    .await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some("Passkey not accepted"),
    )
    .await;
}

#[tokio::test]
async fn an_account_keeps_at_most_ten_passkeys() {
    let app = TestApp::spawn().await;
    let first = app.user_session("alice").await;
    let mut key = authenticator();
    register(&app, &first.access, &mut key, "key 0").await;
    let t = strong_session(&app, "alice", &mut key).await;
    for i in 1..10 {
        register(&app, &t.access, &mut authenticator(), &format!("key {i}")).await;
    }
    assert_error(
        register_start(&app, &t.access, json!({ "current_password": PASSWORD })).await,
        StatusCode::CONFLICT,
        "too_many_passkeys",
        None,
    )
    .await;
}

/// Checks the API answers with a 4xx JSON error for every malformed passkey request.
#[tokio::test]
async fn malformed_passkey_requests_get_a_json_400() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    for (path, body) in [
        (
            "/auth/webauthn/register/finish",
            json!({"ceremony": 1, "credential": {}}),
        ),
        ("/auth/webauthn/register/finish", json!({"credential": {}})),
        (
            "/auth/webauthn/login/finish",
            json!({"ceremony": "x", "credential": {}, "delivery": "pigeon"}),
        ),
        ("/auth/webauthn/login/start", json!({"mfa_token": 5})),
    ] {
        let r = bearer_json(&app, Method::POST, path, &t.access, &body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        assert!(body_of(r).await.get("error").is_some());
    }
    let r = app
        .post_json(
            "/auth/webauthn/login/start",
            &json!({"mfa_token": "unknown"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token", None).await;
}

async fn body_of(r: Response) -> Value {
    body(r).await
}

#[tokio::test]
async fn a_code_from_an_account_without_an_app_asks_for_a_new_sign_in_and_counts_nothing() {
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(1)).await;
    let t = app.user_session("alice").await;
    let mut key = authenticator();
    let added = register(&app, &t.access, &mut key, "key").await;
    let id = added["credential"]["id"].as_str().expect("id").to_owned();
    app.advance(601);
    let stale = strong_session(&app, "alice", &mut key).await;
    app.advance(601);
    let stale = app.refresh_ok(&stale.refresh).await;
    let r = bearer_json(
        &app,
        Method::DELETE,
        &format!("/auth/webauthn/credentials/{id}"),
        &stale.access,
        &json!({"code": "123456"}),
    )
    .await;
    assert_error(
        r,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        None,
    )
    .await;
    // Nothing was counted: the one allowed failure is still there for a real login.
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "mfa_required, not 429"
    );
}

/// The sign-in pages offer passkeys through their script; without it (as here) the forms do
/// what the script does: the second step takes a passkey's answer, a forged or incomplete one
/// is refused on the page, and signing in with a passkey alone refuses a forged answer.
#[tokio::test]
async fn the_sign_in_pages_take_a_passkey_for_the_second_step() {
    use crate::oidc::{input, param, pkce, redirect_params, sso_cookie, Rp, CB};
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let mut key = authenticator();
    register(&app, &t.access, &mut key, "Laptop").await;
    let rp = Rp::first_party(&app).await;
    let (verifier, challenge) = pkce();

    let script = app
        .client
        .get(app.url("/assets/pages.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script
        .text()
        .await
        .expect("js")
        .contains("/auth/webauthn/login/start"));

    let page = rp.authorize(&challenge, &[], None).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<script src="/assets/pages.js" defer></script>"#));
    assert!(html.contains(r#"action="/oauth/authorize/passkey""#));

    // Signing in with a passkey alone: a forged answer is refused on the page.
    let forged = app
        .client
        .post(app.url("/oauth/authorize/passkey"))
        .header("origin", &app.base)
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("ceremony", "not-a-ceremony"),
            ("credential", r#"{"id":"x"}"#),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(sso_cookie(&forged).is_none());
    assert!(forged
        .text()
        .await
        .expect("html")
        .contains("This passkey was not accepted."));

    // From another site: refused before anything is looked at.
    let r = app
        .client
        .post(app.url("/oauth/authorize/passkey"))
        .header("origin", "https://evil.example")
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("ceremony", "c"),
            ("credential", "{}"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The password, then the second step with the passkey.
    let step = rp.sign_in(&html, "alice", PASSWORD).await;
    assert_eq!(step.status(), StatusCode::OK);
    let step = step.text().await.expect("html");
    assert!(step.contains("Use your passkey, or enter one of your recovery codes."));
    assert!(step.contains(r#"id="passkey-button""#));
    assert_eq!(input(&step, "methods"), "recovery_code webauthn");
    let mfa_token = input(&step, "mfa_token");
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth/authorize/mfa"))
                .header("origin", &app.base)
                .form(&fields)
                .send()
                .await
                .expect("request")
        }
    };
    let base = |page: &str| {
        vec![
            ("request", input(page, "request")),
            ("mfa_token", input(page, "mfa_token")),
            ("methods", input(page, "methods")),
        ]
    };
    // A ceremony without an answer: the page again, asking to try again.
    let mut incomplete = base(&step);
    incomplete.push(("ceremony", "c".into()));
    let r = post(incomplete).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let again = r.text().await.expect("html");
    assert!(again.contains("The answer from the passkey was incomplete."));
    assert!(again.contains(r#"id="passkey-button""#), "still offered");
    // A forged answer to a real ceremony (the signature altered): refused, the page again.
    let start = |token: String| {
        let app = &app;
        async move {
            let r = app
                .post_json("/auth/webauthn/login/start", &json!({ "mfa_token": token }))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            body(r).await
        }
    };
    let options = start(mfa_token.clone()).await;
    let mut forged = assert_with(&app, &mut key, &options);
    let signature = forged["response"]["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    // The last character of the DER signature's base64url: its value, not its structure.
    let (head, last) = signature.split_at(signature.len() - 1);
    let flipped = if last == "A" { "B" } else { "A" };
    forged["response"]["signature"] = json!(format!("{head}{flipped}"));
    let mut wrong = base(&again);
    wrong.push(("ceremony", options["ceremony"].as_str().expect("c").into()));
    wrong.push(("credential", forged.to_string()));
    let r = post(wrong).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let again = r.text().await.expect("html");
    assert!(again.contains("This passkey was not accepted."));
    // A ceremony of a sign-in with a passkey alone is not this login's second step.
    let alone = body(
        app.post_json("/auth/webauthn/login/start", &json!({}))
            .await,
    )
    .await;
    let mut other = base(&again);
    other.push(("ceremony", alone["ceremony"].as_str().expect("c").into()));
    other.push((
        "credential",
        assert_with(&app, &mut key, &options).to_string(),
    ));
    let r = post(other).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let again = r.text().await.expect("html");
    assert!(again.contains("This passkey was not accepted."));
    // The user's own passkey signs the second step.
    let options = start(mfa_token).await;
    let mut right = base(&again);
    right.push(("ceremony", options["ceremony"].as_str().expect("c").into()));
    right.push((
        "credential",
        assert_with(&app, &mut key, &options).to_string(),
    ));
    let r = post(right).await;
    assert!(sso_cookie(&r).is_some());
    let code = param(&redirect_params(&r), "code").expect("code");
    let tokens = body(rp.exchange(&code, &verifier, CB).await).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["amr"], json!(["pwd", "hwk", "user", "mfa"]));
}
