//! baton-verify against a real `baton serve`: what it accepts and refuses, key rotation without
//! a restart, one JWKS fetch for a thousand concurrent verifications, and the example resource
//! server answering exactly like baton's own `/api/me`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use baton_verify::{Verifier, VerifierOptions, VerifyError};
use common::Server;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// A running baton with a user `alice`; returns the server and a fresh access token.
async fn baton_with_alice(dir: &Path, extra: &[(&str, &str)]) -> (Server, String) {
    let server = Server::start(dir, extra);
    common::register_alice(&server.base).await;
    let token = login(&server).await;
    (server, token)
}

async fn login(server: &Server) -> String {
    let body = common::login_alice(&server.base).await;
    body["access_token"].as_str().expect("token").to_owned()
}

fn strict(options: VerifierOptions) -> VerifierOptions {
    VerifierOptions {
        leeway: Duration::ZERO,
        ..options
    }
}

fn reheader(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let (head, rest) = token.split_once('.').expect("jwt");
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).expect("b64")).expect("json");
    edit(&mut header);
    let head = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json"));
    format!("{head}.{rest}")
}

#[tokio::test]
async fn valid_tokens_are_accepted_and_forged_or_misdirected_ones_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, token) = baton_with_alice(dir.path(), &[]).await;
    let verifier = Verifier::with_options(&server.base, "baton", strict(Default::default()));
    let claims = verifier.verify(&token).await.expect("valid");
    assert_eq!(claims.preferred_username, "alice");
    assert_eq!(claims.iss, server.base);

    // Another user id under the same signature.
    let (head, rest) = token.split_once('.').expect("jwt");
    let (payload, sig) = rest.split_once('.').expect("jwt");
    let mut body: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    body["sub"] = json!("someone-else");
    let forged = format!(
        "{head}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).expect("json"))
    );
    assert_eq!(verifier.verify(&forged).await, Err(VerifyError::Invalid));
    let none = reheader(&token, |h| h["alg"] = json!("none"));
    assert_eq!(verifier.verify(&none).await, Err(VerifyError::Invalid));
    let untyped = reheader(&token, |h| h["typ"] = json!("JWT"));
    assert_eq!(verifier.verify(&untyped).await, Err(VerifyError::Invalid));

    let elsewhere = Verifier::with_options(&server.base, "billing", strict(Default::default()));
    assert_eq!(elsewhere.verify(&token).await, Err(VerifyError::Invalid));
    let impostor = Verifier::new("http://127.0.0.1:1", "baton");
    assert_eq!(
        impostor.verify(&token).await,
        Err(VerifyError::KeysUnavailable)
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, token) = baton_with_alice(dir.path(), &[("BATON_ACCESS_TTL", "1")]).await;
    let verifier = Verifier::with_options(&server.base, "baton", strict(Default::default()));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(verifier.verify(&token).await, Err(VerifyError::Expired));
    let lenient = Verifier::with_options(
        &server.base,
        "baton",
        VerifierOptions {
            leeway: Duration::from_secs(30),
            ..Default::default()
        },
    );
    assert!(lenient.verify(&token).await.is_ok(), "within the leeway");
}

#[tokio::test]
async fn unknown_kids_are_refused_and_refetch_at_most_once_per_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, token) = baton_with_alice(dir.path(), &[]).await;
    let verifier = Verifier::with_options(&server.base, "baton", strict(Default::default()));
    verifier.verify(&token).await.expect("valid");
    assert_eq!(verifier.jwks_fetches(), 1);
    for i in 0..50 {
        let forged = reheader(&token, |h| h["kid"] = json!(format!("forged-{i}")));
        assert_eq!(verifier.verify(&forged).await, Err(VerifyError::Invalid));
    }
    assert!(
        verifier.jwks_fetches() <= 2,
        "50 forged kids caused {} fetches",
        verifier.jwks_fetches()
    );
}

#[tokio::test]
async fn a_key_rotation_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, old) = baton_with_alice(dir.path(), &[("BATON_KEY_RELOAD_INTERVAL", "1s")]).await;
    let verifier = Verifier::with_options(
        &server.base,
        "baton",
        strict(VerifierOptions {
            min_refetch_interval: Duration::ZERO,
            ..Default::default()
        }),
    );
    verifier.verify(&old).await.expect("valid");
    let out = common::baton(dir.path())
        .args(["keys", "rotate"])
        .output()
        .expect("rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server picks up the new key within its reload interval.
    let new = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let token = login(&server).await;
        let kid = |t: &str| {
            let head = t.split('.').next().expect("jwt");
            let h: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).expect("b64")).expect("json");
            h["kid"].clone()
        };
        if kid(&token) != kid(&old) {
            break token;
        }
    };
    let claims = verifier.verify(&new).await.expect("the new key is fetched");
    assert_eq!(claims.preferred_username, "alice");
    verifier
        .verify(&old)
        .await
        .expect("the old key stays published");
    assert_eq!(verifier.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_verifications_fetch_the_jwks_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, token) = baton_with_alice(dir.path(), &[]).await;
    let verifier = Verifier::new(&server.base, "baton");
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await.is_ok() })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        assert!(t.expect("join"));
    }
    assert_eq!(verifier.jwks_fetches(), 1);
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("baton_http_requests_total") && l.contains("jwks.json"))
        .expect("a JWKS request was counted");
    assert!(line.ends_with(" 1"), "baton saw: {line}");
}

/// The example API behind baton-verify answers exactly as baton's own `/api/me` does.
#[tokio::test]
async fn the_example_resource_server_answers_like_baton() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Two seconds: `iat` is whole seconds, so the token surely lives for more than one.
    let (server, token) = baton_with_alice(dir.path(), &[("BATON_ACCESS_TTL", "2")]).await;
    let verifier = Verifier::with_options(&server.base, "baton", strict(Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, resource_server::app(verifier))
            .await
            .expect("serve");
    });
    let http = reqwest::Client::new();
    let get = |url: String, token: Option<String>| {
        let mut req = http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.expect("request");
            let status = r.status();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let body = r.text().await.expect("body");
            (status, challenge, body)
        }
    };

    let hello = get(format!("{api}/hello"), Some(token.clone())).await;
    assert_eq!((hello.0.as_u16(), hello.2.as_str()), (200, "Hello, alice!"));
    let orders = get(format!("{api}/orders"), Some(token.clone())).await;
    assert_eq!(orders.0, 200);
    let orders: Value = serde_json::from_str(&orders.2).expect("json");
    assert_eq!(orders["orders"], json!([]));

    for path in ["/hello", "/orders"] {
        let ours = get(format!("{api}{path}"), None).await;
        let batons = get(format!("{}/api/me", server.base), None).await;
        assert_eq!(ours, batons, "no token, {path}");
        let ours = get(format!("{api}{path}"), Some("garbage".into())).await;
        let batons = get(format!("{}/api/me", server.base), Some("garbage".into())).await;
        assert_eq!(ours, batons, "a bad token, {path}");
    }
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let ours = get(format!("{api}/hello"), Some(token.clone())).await;
    let batons = get(format!("{}/api/me", server.base), Some(token)).await;
    assert_eq!(ours, batons, "an expired token");
    assert_eq!(
        ours.1.as_deref(),
        Some(
            r#"Bearer realm="baton", error="invalid_token", error_description="Token has expired""#
        )
    );
}

#[tokio::test]
async fn revocation_sensitive_routes_can_ask_the_introspection_endpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = common::baton(dir.path())
        .args(["client", "add", "orders-api", "--confidential"])
        .output()
        .expect("client add");
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("a secret")
        .to_owned();
    let server = Server::start(dir.path(), &[]);
    common::register_alice(&server.base).await;
    let login = common::login_alice(&server.base).await;
    let access = login["access_token"].as_str().expect("token");
    let verifier = Verifier::new(&server.base, "baton");
    assert_eq!(
        verifier.introspect(access, "orders-api", &secret).await,
        Ok(true)
    );
    reqwest::Client::new()
        .post(format!("{}/auth/logout", server.base))
        .json(&json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .expect("logout");
    assert!(
        verifier.verify(access).await.is_ok(),
        "the token itself is still valid"
    );
    assert_eq!(
        verifier.introspect(access, "orders-api", &secret).await,
        Ok(false),
        "but the issuer knows the session is over"
    );
    assert!(verifier
        .introspect(access, "orders-api", "wrong")
        .await
        .is_err());
}

/// The code of `secret` (base32) now, by an implementation independent of baton's.
fn totp_now(secret: &str) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32");
    let now = std::time::UNIX_EPOCH.elapsed().expect("clock").as_secs();
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, now)
}

/// A route behind `RequireMfa` refuses a password-only token with RFC 9470's error, and takes
/// the token of a sign-in with a second factor.
#[tokio::test]
async fn routes_that_require_a_second_factor_send_password_only_tokens_to_step_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, token) = baton_with_alice(dir.path(), &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let verifier = Verifier::with_options(
        &server.base,
        "baton",
        strict(VerifierOptions {
            external_url: Some(api.clone()),
            ..Default::default()
        }),
    );
    tokio::spawn(async move {
        axum::serve(listener, resource_server::app(verifier))
            .await
            .expect("serve");
    });
    let http = reqwest::Client::new();

    // A password-only token: the RFC 9470 challenge, on the extractor and on the layer.
    for (method, path) in [("GET", "/account"), ("POST", "/transfers")] {
        let r = http
            .request(method.parse().expect("method"), format!("{api}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{path}");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            challenge
                .starts_with(r#"Bearer realm="baton", error="insufficient_user_authentication""#),
            "{challenge}"
        );
        assert_eq!(
            challenge.ends_with("max_age=600"),
            path == "/transfers",
            "{challenge}"
        );
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], "insufficient_user_authentication");
    }
    // No token at all is still RFC 6750's answer.
    let r = http
        .get(format!("{api}/account"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="baton""#);

    // Alice adds an authenticator app and signs in again with her second factor.
    let setup: Value = http
        .post(format!("{}/auth/mfa/totp/setup", server.base))
        .bearer_auth(&token)
        .json(&json!({"current_password": common::PASSWORD}))
        .send()
        .await
        .expect("setup")
        .json()
        .await
        .expect("json");
    let secret = setup["secret"].as_str().expect("secret");
    let confirmed: Value = http
        .post(format!("{}/auth/mfa/totp/confirm", server.base))
        .bearer_auth(&token)
        .json(&json!({"code": totp_now(secret)}))
        .send()
        .await
        .expect("confirm")
        .json()
        .await
        .expect("json");
    let recovery = confirmed["recovery_codes"][0].as_str().expect("code");
    let recovery_dpop = confirmed["recovery_codes"][1].as_str().expect("code");
    let r = http
        .post(format!("{}/auth/login", server.base))
        .json(&json!({"username": "alice", "password": common::PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
    let first: Value = r.json().await.expect("json");
    assert_eq!(first["error"], "mfa_required");
    // This step's code went to the confirmation; a recovery code needs no wait.
    let second: Value = http
        .post(format!("{}/auth/login/mfa", server.base))
        .json(&json!({"mfa_token": first["mfa_token"], "recovery_code": recovery}))
        .send()
        .await
        .expect("second step")
        .json()
        .await
        .expect("json");
    let strong = second["access_token"].as_str().expect("token");
    for (method, path) in [("GET", "/account"), ("POST", "/transfers")] {
        let r = http
            .request(method.parse().expect("method"), format!("{api}{path}"))
            .bearer_auth(strong)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
    }
    let account: Value = http
        .get(format!("{api}/account"))
        .bearer_auth(strong)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(account["amr"], json!(["pwd", "otp", "mfa"]));

    // The same with a DPoP-bound token: the second factor's token goes with its proof, and a
    // refusal's challenge names the DPoP scheme.
    let key = DpopKey::new();
    let first = key.login_alice(&server).await;
    let mfa_url = format!("{}/auth/login/mfa", server.base);
    let second: Value = http
        .post(&mfa_url)
        .header("DPoP", key.proof("POST", &mfa_url, None))
        .json(&json!({"mfa_token": first["mfa_token"], "recovery_code": recovery_dpop}))
        .send()
        .await
        .expect("second step")
        .json()
        .await
        .expect("json");
    assert_eq!(second["token_type"], "DPoP");
    let bound = second["access_token"].as_str().expect("token");
    for (method, path) in [("GET", "/account"), ("POST", "/transfers")] {
        let url = format!("{api}{path}");
        let r = http
            .request(method.parse().expect("method"), &url)
            .header("Authorization", format!("DPoP {bound}"))
            .header("DPoP", key.proof(method, &url, Some(bound)))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        // As a bearer token, or with another key's proof: refused.
        let r = http
            .request(method.parse().expect("method"), &url)
            .bearer_auth(bound)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{path}");
        let r = http
            .request(method.parse().expect("method"), &url)
            .header("Authorization", format!("DPoP {bound}"))
            .header("DPoP", DpopKey::new().proof(method, &url, Some(bound)))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{path}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .expect("ascii")
                .starts_with("DPoP realm"),
            "{path}"
        );
    }
}

/// A client's ES256 DPoP key, signing proofs by the real clock.
struct DpopKey {
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
}

impl DpopKey {
    fn new() -> Self {
        use baton_core::keys::{KeyRing, SigningAlg, StoredKey};
        let at = time::macros::datetime!(2026-01-01 0:00 UTC);
        let stored = StoredKey::generate(SigningAlg::ES256, at).expect("key");
        let ring = KeyRing::build(
            &stored,
            std::slice::from_ref(&stored),
            at,
            time::Duration::ZERO,
        )
        .expect("ring");
        let mut jwk = ring.jwks()["keys"][0].clone();
        for member in ["kid", "use", "alg"] {
            jwk.as_object_mut().expect("object").remove(member);
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&stored.pkcs8);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        Self {
            encoding: jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("pem"),
            jwk,
        }
    }

    /// `alice`'s login with a proof by this key: the answer's body.
    async fn login_alice(&self, server: &Server) -> Value {
        let url = format!("{}/auth/login", server.base);
        reqwest::Client::new()
            .post(&url)
            .header("DPoP", self.proof("POST", &url, None))
            .json(&json!({"username": "alice", "password": common::PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json")
    }

    /// A proof for `method` `url`, for the access token `token` when given.
    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        #[allow(clippy::disallowed_methods)] // the servers run on the real clock
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let mut claims = json!({
            "jti": format!("verify-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            "htm": method,
            "htu": url,
            "iat": now,
        });
        if let Some(token) = token {
            let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(hash.as_ref()));
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("jwk"));
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign")
    }
}

#[tokio::test]
async fn dpop_bound_tokens_work_at_a_resource_server_only_with_a_proof_by_their_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]);
    common::register_alice(&server.base).await;
    let http = reqwest::Client::new();
    let key = DpopKey::new();
    let login = key.login_alice(&server).await;
    assert_eq!(login["token_type"], "DPoP");
    let bound = login["access_token"].as_str().expect("token").to_owned();
    let plain = login_alice_plain(&server).await;
    // Verifying a bound token as a bearer token is refused by the verifier itself.
    let bearer_only = Verifier::new(&server.base, "baton");
    assert_eq!(
        bearer_only.verify(&bound).await,
        Err(VerifyError::DpopBound)
    );
    assert!(bearer_only.verify(&plain).await.is_ok());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let verifier = Verifier::with_options(
        &server.base,
        "baton",
        VerifierOptions {
            external_url: Some(api.clone()),
            ..VerifierOptions::default()
        },
    );
    tokio::spawn(async move {
        axum::serve(listener, resource_server::app(verifier))
            .await
            .expect("serve");
    });
    let call =
        |method: reqwest::Method, path: &str, scheme: &str, token: &str, proof: Option<String>| {
            let mut req = http
                .request(method, format!("{api}{path}"))
                .header("Authorization", format!("{scheme} {token}"));
            if let Some(proof) = proof {
                req = req.header("DPoP", proof);
            }
            async move {
                let r = req.send().await.expect("request");
                let status = r.status().as_u16();
                let challenge = r
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().expect("ascii").to_owned())
                    .unwrap_or_default();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                (status, challenge, body)
            }
        };
    let profile = format!("{api}/profile");

    // The bound token with a proof by its key: taken, once per proof.
    let proof = key.proof("GET", &profile, Some(&bound));
    let (status, _, body) = call(
        reqwest::Method::GET,
        "/profile",
        "DPoP",
        &bound,
        Some(proof.clone()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["jkt"], json!(jwt_claims(&bound)["cnf"]["jkt"]));
    let (status, challenge, body) = call(
        reqwest::Method::GET,
        "/profile",
        "DPoP",
        &bound,
        Some(proof),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    assert!(
        challenge.starts_with("DPoP realm=\"baton\", error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    // Through the layer, for its own method and path.
    let payments = format!("{api}/payments");
    let (status, _, body) = call(
        reqwest::Method::POST,
        "/payments",
        "DPoP",
        &bound,
        Some(key.proof("POST", &payments, Some(&bound))),
    )
    .await;
    assert_eq!((status, body["accepted"].as_bool()), (200, Some(true)));
    let (status, _, body) = call(
        reqwest::Method::POST,
        "/payments",
        "DPoP",
        &bound,
        Some(key.proof("POST", &profile, Some(&bound))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "htu"
    );
    // Another key, no proof, a proof without ath: refused.
    let thief = DpopKey::new();
    let (status, _, body) = call(
        reqwest::Method::GET,
        "/profile",
        "DPoP",
        &bound,
        Some(thief.proof("GET", &profile, Some(&bound))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, _, body) = call(reqwest::Method::GET, "/profile", "DPoP", &bound, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    let (status, _, body) = call(
        reqwest::Method::GET,
        "/profile",
        "DPoP",
        &bound,
        Some(key.proof("GET", &profile, None)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_dpop_proof")),
        "ath"
    );
    // The bound token as a bearer token: refused everywhere, with a DPoP challenge too.
    for path in ["/hello", "/profile", "/orders"] {
        let (status, challenge, body) =
            call(reqwest::Method::GET, path, "Bearer", &bound, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token")),
            "{path}"
        );
        assert!(challenge.starts_with("Bearer realm"), "{path}: {challenge}");
    }
    // An unbound token goes as a bearer token where DPoP is taken, but not with the DPoP scheme.
    let (status, _, body) = call(reqwest::Method::GET, "/profile", "Bearer", &plain, None).await;
    assert_eq!((status, body["jkt"].clone()), (200, Value::Null));
    let (status, _, body) = call(
        reqwest::Method::GET,
        "/profile",
        "DPoP",
        &plain,
        Some(key.proof("GET", &profile, Some(&plain))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    // A route that needs a second factor: a password-only bound token is sent to step up
    // with a DPoP challenge, on the extractor and on the layer.
    for (method, path) in [
        (reqwest::Method::GET, "/account"),
        (reqwest::Method::POST, "/transfers"),
    ] {
        let url = format!("{api}{path}");
        let proof = key.proof(method.as_str(), &url, Some(&bound));
        let (status, challenge, body) = call(method, path, "DPoP", &bound, Some(proof)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("insufficient_user_authentication")),
            "{path}"
        );
        assert!(
            challenge
                .starts_with("DPoP realm=\"baton\", error=\"insufficient_user_authentication\""),
            "{path}: {challenge}"
        );
    }
}

/// A bearer token of `alice`, without DPoP.
async fn login_alice_plain(server: &Server) -> String {
    login(server).await
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}
