//! DPoP (RFC 9449): tokens bound to the key of the proof they were asked with, refused
//! without a proof by that key, at baton's token endpoints and its own protected routes.

use crate::helpers::*;
use baton_core::client::{ClientSettings, Grant};
use baton_core::clock::Clock as _;
use baton_core::keys::{KeyRing, SigningAlg, StoredKey};
use baton_server::config::Dpop;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// A client's DPoP key pair.
struct ClientKey {
    alg: SigningAlg,
    encoding: EncodingKey,
    jwk: Value,
}

impl ClientKey {
    fn new(alg: SigningAlg) -> Self {
        let now = time::macros::datetime!(2026-01-01 0:00 UTC);
        let stored = StoredKey::generate(alg, now).expect("generate");
        let ring = KeyRing::build(
            &stored,
            std::slice::from_ref(&stored),
            now,
            time::Duration::ZERO,
        )
        .expect("ring");
        let mut jwk = ring.jwks()["keys"][0].clone();
        for member in ["kid", "use", "alg"] {
            jwk.as_object_mut().expect("object").remove(member);
        }
        Self {
            alg,
            encoding: encoding_key(&stored),
            jwk,
        }
    }

    fn jkt(&self) -> String {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(self.jwk.clone()).expect("jwk");
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
    }

    /// A proof for `method` `path` at `app`, now by the server's clock, with `extra` claims.
    fn proof(&self, app: &TestApp, method: &str, path: &str, extra: Value) -> String {
        let mut claims = json!({
            "jti": unique(),
            "htm": method,
            "htu": format!("{}{path}", app.state.issuer),
            "iat": app.clock.now().unix_timestamp(),
        });
        for (k, v) in extra.as_object().expect("object") {
            claims[k] = v.clone();
        }
        let mut header = Header::new(self.alg.jwt());
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("jwk"));
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign")
    }

    /// A proof for a request to `path` with the access token `token` (`ath`).
    fn resource_proof(&self, app: &TestApp, method: &str, path: &str, token: &str) -> String {
        self.proof(app, method, path, json!({ "ath": ath(token) }))
    }
}

/// The private half of `stored` for jsonwebtoken (PKCS#8 PEM).
fn encoding_key(stored: &StoredKey) -> EncodingKey {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&stored.pkcs8);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    match stored.alg {
        SigningAlg::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        SigningAlg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        SigningAlg::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("key")
}

/// A `jti` never used before in this process.
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "jti-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn ath(token: &str) -> String {
    use base64::Engine as _;
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.as_ref())
}

impl TestApp {
    async fn login_with(&self, username: &str, proof: Option<&str>) -> Response {
        let mut r = self
            .client
            .post(self.url("/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}));
        if let Some(proof) = proof {
            r = r.header("DPoP", proof);
        }
        r.send().await.expect("request")
    }

    async fn refresh_with(&self, refresh: &str, proof: Option<&str>) -> Response {
        let mut r = self
            .client
            .post(self.url("/auth/refresh"))
            .json(&json!({ "refresh_token": refresh }));
        if let Some(proof) = proof {
            r = r.header("DPoP", proof);
        }
        r.send().await.expect("request")
    }

    async fn me_dpop(&self, token: &str, proof: Option<&str>) -> Response {
        let mut r = self
            .client
            .get(self.url("/api/me"))
            .header("Authorization", format!("DPoP {token}"));
        if let Some(proof) = proof {
            r = r.header("DPoP", proof);
        }
        r.send().await.expect("request")
    }

    /// A DPoP login of a new user `name` with `key`.
    async fn dpop_session(&self, name: &str, key: &ClientKey) -> Tokens {
        self.create_user(name).await;
        let r = self
            .login_with(
                name,
                Some(&key.proof(self, "POST", "/auth/login", json!({}))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        Tokens::from(body(r).await)
    }
}

#[tokio::test]
async fn a_proof_at_login_binds_both_tokens_to_its_key_for_every_algorithm() {
    let app = TestApp::spawn().await;
    for (i, alg) in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256]
        .into_iter()
        .enumerate()
    {
        let key = ClientKey::new(alg);
        let t = app.dpop_session(&format!("user{i}"), &key).await;
        assert_eq!(t.json["token_type"], "DPoP", "{alg}");
        assert_eq!(jwt_claims(&t.access)["cnf"]["jkt"], key.jkt(), "{alg}");
        let proof = key.resource_proof(&app, "GET", "/api/me", &t.access);
        let r = app.me_dpop(&t.access, Some(&proof)).await;
        assert_eq!(r.status(), StatusCode::OK, "{alg}");
        assert_eq!(body(r).await["username"], format!("user{i}"));
        // Refreshed with the key: bound again, to the same key.
        let proof = key.proof(&app, "POST", "/auth/refresh", json!({}));
        let r = app.refresh_with(&t.refresh, Some(&proof)).await;
        assert_eq!(r.status(), StatusCode::OK, "{alg}");
        let next = Tokens::from(body(r).await);
        assert_eq!(next.json["token_type"], "DPoP");
        assert_eq!(jwt_claims(&next.access)["cnf"]["jkt"], key.jkt());
    }
    // Without a proof nothing changes: bearer tokens as before.
    app.create_user("plain").await;
    let t = Tokens::from(body(app.login_with("plain", None).await).await);
    assert_eq!(t.json["token_type"], "Bearer");
    assert!(jwt_claims(&t.access).get("cnf").is_none());
    let r = app.get_bearer("/api/me", &t.access).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bound_refresh_token_without_its_key_is_refused_and_not_spent() {
    let app = TestApp::spawn().await;
    let key = ClientKey::new(SigningAlg::ES256);
    let t = app.dpop_session("alice", &key).await;
    let thief = ClientKey::new(SigningAlg::ES256);
    for proof in [
        None,
        None,
        Some(thief.proof(&app, "POST", "/auth/refresh", json!({}))),
    ] {
        assert_error(
            app.refresh_with(&t.refresh, proof.as_deref()).await,
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            Some("The refresh token is bound to a DPoP key this request did not prove"),
        )
        .await;
    }
    // The owner's refresh still works: the token was not spent.
    let next = Tokens::from(
        body(
            app.refresh_with(
                &t.refresh,
                Some(&key.proof(&app, "POST", "/auth/refresh", json!({}))),
            )
            .await,
        )
        .await,
    );
    assert!(!next.refresh.is_empty());
    // Each refusal is filed under the session, saying whether a proof came at all; once per
    // session and reason per ten minutes (the token is not spent and can come back at will).
    let refused: Vec<_> = app
        .state
        .baton
        .events(&baton_core::audit::EventQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.kind.as_str() == "dpop_key_refused")
        .collect();
    let reasons: Vec<_> = refused.iter().rev().map(|e| e.reason.as_deref()).collect();
    assert_eq!(reasons, [Some("no_proof"), Some("another_key")]);
    assert!(refused
        .iter()
        .all(|e| e.session_id.is_some() && e.user_id.is_some()));
    // Long after, the spent token without the key still changes nothing: no reuse detection
    // is triggered by someone who cannot use the token anyway.
    app.advance(60);
    assert_error(
        app.refresh_with(&t.refresh, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        None,
    )
    .await;
    let r = app
        .refresh_with(
            &next.refresh,
            Some(&key.proof(&app, "POST", "/auth/refresh", json!({}))),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the session lives on");
    // At the OAuth token endpoint the same.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &Tokens::from(body(r).await).refresh),
        ])
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof", None).await;
}

#[tokio::test]
async fn protected_routes_take_a_bound_token_only_with_a_fitting_proof() {
    let app = TestApp::spawn().await;
    let key = ClientKey::new(SigningAlg::ES256);
    let t = app.dpop_session("alice", &key).await;
    let www = |r: &Response| {
        r.headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().expect("text").to_owned())
            .collect::<Vec<_>>()
    };
    // As a bearer token: refused, and told which scheme to use.
    let r = app.get_bearer("/api/me", &t.access).await;
    let challenges = www(&r);
    assert!(
        challenges.iter().any(|c| c.starts_with("DPoP ")),
        "{challenges:?}"
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token", None).await;
    let r = app.get_bearer("/auth/sessions", &t.access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Each wrong proof, and the error it gets.
    let other = ClientKey::new(SigningAlg::ES256);
    let now = app.clock.now().unix_timestamp();
    let cases = [
        ("no proof", None, "invalid_dpop_proof"),
        (
            "another key",
            Some(other.resource_proof(&app, "GET", "/api/me", &t.access)),
            "invalid_token",
        ),
        (
            "no ath",
            Some(key.proof(&app, "GET", "/api/me", json!({}))),
            "invalid_dpop_proof",
        ),
        (
            "another token's ath",
            Some(key.resource_proof(&app, "GET", "/api/me", "another")),
            "invalid_dpop_proof",
        ),
        (
            "another method",
            Some(key.resource_proof(&app, "POST", "/api/me", &t.access)),
            "invalid_dpop_proof",
        ),
        (
            "another URI",
            Some(key.resource_proof(&app, "GET", "/auth/sessions", &t.access)),
            "invalid_dpop_proof",
        ),
        (
            "stale",
            Some(key.proof(
                &app,
                "GET",
                "/api/me",
                json!({"ath": ath(&t.access), "iat": now - 61}),
            )),
            "invalid_dpop_proof",
        ),
        (
            "from the future",
            Some(key.proof(
                &app,
                "GET",
                "/api/me",
                json!({"ath": ath(&t.access), "iat": now + 30}),
            )),
            "invalid_dpop_proof",
        ),
    ];
    for (what, proof, error) in cases {
        let r = app.me_dpop(&t.access, proof.as_deref()).await;
        let challenges = www(&r);
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains(&format!("error=\"{error}\""))),
            "{what}: {challenges:?}"
        );
        assert_error(r, StatusCode::UNAUTHORIZED, error, None).await;
    }
    // A good proof works once.
    let proof = key.resource_proof(&app, "GET", "/api/me", &t.access);
    assert_eq!(
        app.me_dpop(&t.access, Some(&proof)).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.me_dpop(&t.access, Some(&proof)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_dpop_proof",
        Some("The DPoP proof was used before"),
    )
    .await;
    // Two DPoP headers are one too many.
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("Authorization", format!("DPoP {}", t.access))
        .header(
            "DPoP",
            key.resource_proof(&app, "GET", "/api/me", &t.access),
        )
        .header(
            "DPoP",
            key.resource_proof(&app, "GET", "/api/me", &t.access),
        )
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", None).await;
    // A bearer token with the DPoP scheme is not bound: refused.
    app.create_user("bob").await;
    let plain = Tokens::from(body(app.login_with("bob", None).await).await);
    let proof = key.resource_proof(&app, "GET", "/api/me", &plain.access);
    assert_error(
        app.me_dpop(&plain.access, Some(&proof)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("The access token is not bound to a DPoP key"),
    )
    .await;
    // The account endpoints take the DPoP scheme too.
    let proof = key.resource_proof(&app, "GET", "/auth/sessions", &t.access);
    let r = app
        .client
        .get(app.url("/auth/sessions"))
        .header("Authorization", format!("dpop {}", t.access))
        .header("DPoP", proof)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn clients_that_require_dpop_get_only_bound_tokens_and_introspection_names_the_key() {
    let app = TestApp::spawn().await;
    let (_, secret) = app
        .state
        .baton
        .add_client(
            "worker",
            true,
            ClientSettings {
                grants: vec![Grant::ClientCredentials],
                require_dpop: true,
                ..ClientSettings::legacy()
            },
        )
        .await
        .expect("client");
    let secret = secret.expect("secret");
    let token = |proof: Option<String>| {
        let mut r = app
            .client
            .post(app.url("/oauth/token"))
            .form(&[("grant_type", "client_credentials")])
            .basic_auth("worker", Some(&secret));
        if let Some(proof) = proof {
            r = r.header("DPoP", proof);
        }
        r.send()
    };
    assert_error(
        token(None).await.expect("request"),
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        Some("This client must send a DPoP proof"),
    )
    .await;
    let key = ClientKey::new(SigningAlg::EdDSA);
    let r = token(Some(key.proof(&app, "POST", "/oauth/token", json!({}))))
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let issued = body(r).await;
    assert_eq!(issued["token_type"], "DPoP");
    let access = issued["access_token"].as_str().expect("token");
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", access)])
        .basic_auth("worker", Some(&secret))
        .send()
        .await
        .expect("request");
    let seen = body(r).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["token_type"], "DPoP");
    assert_eq!(seen["cnf"]["jkt"], key.jkt());
    // A proof for another endpoint is no proof for this one.
    let r = token(Some(key.proof(&app, "POST", "/auth/login", json!({}))))
        .await
        .expect("request");
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof", None).await;
}

#[tokio::test]
async fn nonces_are_asked_for_and_taken_when_required() {
    let app = TestApp::spawn_with(|s| s.dpop_nonce = Some(true)).await;
    app.create_user("alice").await;
    let key = ClientKey::new(SigningAlg::ES256);
    let r = app
        .login_with(
            "alice",
            Some(&key.proof(&app, "POST", "/auth/login", json!({}))),
        )
        .await;
    let nonce = r
        .headers()
        .get("dpop-nonce")
        .expect("a nonce")
        .to_str()
        .expect("text")
        .to_owned();
    assert_error(r, StatusCode::BAD_REQUEST, "use_dpop_nonce", None).await;
    let r = app
        .login_with(
            "alice",
            Some(&key.proof(&app, "POST", "/auth/login", json!({ "nonce": nonce }))),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    // At a protected route: a 401 with the nonce, then the retry with it.
    let r = app
        .me_dpop(
            &t.access,
            Some(&key.resource_proof(&app, "GET", "/api/me", &t.access)),
        )
        .await;
    assert!(r.headers().contains_key("dpop-nonce"));
    assert_error(r, StatusCode::UNAUTHORIZED, "use_dpop_nonce", None).await;
    let proof = key.proof(
        &app,
        "GET",
        "/api/me",
        json!({ "ath": ath(&t.access), "nonce": nonce }),
    );
    assert_eq!(
        app.me_dpop(&t.access, Some(&proof)).await.status(),
        StatusCode::OK
    );
    // A nonce stays good for one to two minutes.
    app.advance(150);
    let proof = key.proof(
        &app,
        "GET",
        "/api/me",
        json!({ "ath": ath(&t.access), "nonce": nonce }),
    );
    assert_error(
        app.me_dpop(&t.access, Some(&proof)).await,
        StatusCode::UNAUTHORIZED,
        "use_dpop_nonce",
        None,
    )
    .await;
}

/// Whichever layer refuses a request with a proof, the answer carries the nonce; a refusal for
/// scope to a request of the DPoP scheme challenges with that scheme.
#[tokio::test]
async fn every_answer_to_a_proof_carries_the_nonce_and_scope_refusals_name_dpop() {
    let app = TestApp::spawn_with(|s| s.dpop_nonce = Some(true)).await;
    app.create_user("alice").await;
    let key = ClientKey::new(SigningAlg::ES256);
    // A body over the limit is refused before any route: the nonce is there all the same.
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("DPoP", key.proof(&app, "POST", "/auth/login", json!({})))
        .header("content-type", "application/json")
        .body(vec![b' '; 1 << 20])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.headers().contains_key("dpop-nonce"), "{:?}", r.headers());
    let nonce = r.headers()["dpop-nonce"].to_str().expect("text").to_owned();
    let r = app
        .login_with(
            "alice",
            Some(&key.proof(&app, "POST", "/auth/login", json!({ "nonce": nonce }))),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    // userinfo needs the openid scope, which a first-party sign-in's token has not.
    let proof = key.proof(
        &app,
        "GET",
        "/oauth/userinfo",
        json!({ "ath": ath(&t.access), "nonce": nonce }),
    );
    let r = app
        .client
        .get(app.url("/oauth/userinfo"))
        .header("Authorization", format!("DPoP {}", t.access))
        .header("DPoP", proof)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().contains_key("dpop-nonce"));
    let challenge = r.headers()["www-authenticate"].to_str().expect("text");
    assert!(
        challenge.starts_with("DPoP realm=\"baton\", error=\"insufficient_scope\"")
            && challenge.ends_with("algs=\"ES256 EdDSA RS256\""),
        "{challenge}"
    );
    // A bearer token gets the Bearer challenge as before.
    let plain = Tokens::from(body(app.login("alice", PASSWORD).await).await);
    let r = app.get_bearer("/oauth/userinfo", &plain.access).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .starts_with("Bearer realm"));
}

#[tokio::test]
async fn dpop_can_be_required_for_baton_s_own_client_or_turned_off() {
    let required = TestApp::spawn_with(|s| s.dpop = Some(Dpop::Required)).await;
    required.create_user("alice").await;
    assert_error(
        required.login_with("alice", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        None,
    )
    .await;
    let meta = body(
        required
            .client
            .get(required.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256"])
    );

    let off = TestApp::spawn_with(|s| s.dpop = Some(Dpop::Off)).await;
    let key = ClientKey::new(SigningAlg::ES256);
    off.create_user("alice").await;
    let r = off
        .login_with(
            "alice",
            Some(&key.proof(&off, "POST", "/auth/login", json!({}))),
        )
        .await;
    let t = Tokens::from(body(r).await);
    assert_eq!(t.json["token_type"], "Bearer", "the header is ignored");
    let proof = key.resource_proof(&off, "GET", "/api/me", &t.access);
    assert_error(
        off.me_dpop(&t.access, Some(&proof)).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
        None,
    )
    .await;
    let meta = body(
        off.client
            .get(off.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert!(meta.get("dpop_signing_alg_values_supported").is_none());
}

#[tokio::test]
async fn a_proof_works_once_at_token_endpoints_too() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let key = ClientKey::new(SigningAlg::ES256);
    let proof = key.proof(&app, "POST", "/auth/login", json!({}));
    assert_eq!(
        app.login_with("alice", Some(&proof)).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.login_with("alice", Some(&proof)).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        Some("The DPoP proof was used before"),
    )
    .await;
    // Made for the login, it is no proof for a refresh.
    let t = Tokens::from(
        body(
            app.login_with(
                "alice",
                Some(&key.proof(&app, "POST", "/auth/login", json!({}))),
            )
            .await,
        )
        .await,
    );
    let r = app
        .refresh_with(
            &t.refresh,
            Some(&key.proof(&app, "POST", "/auth/login", json!({}))),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof", None).await;
}

#[tokio::test]
async fn a_session_opened_without_a_key_is_bound_by_its_first_refresh_with_one() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let t = Tokens::from(body(app.login_with("alice", None).await).await);
    let key = ClientKey::new(SigningAlg::ES256);
    let r = app
        .refresh_with(
            &t.refresh,
            Some(&key.proof(&app, "POST", "/auth/refresh", json!({}))),
        )
        .await;
    let next = Tokens::from(body(r).await);
    assert_eq!(next.json["token_type"], "DPoP");
    assert_error(
        app.refresh_with(&next.refresh, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        None,
    )
    .await;
    // Had a thief bound it with a stolen token, the owner's copy coming back past the grace
    // window is reuse all the same: the session ends.
    app.advance(60);
    assert_error(
        app.refresh_with(&t.refresh, None).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token reuse detected"),
    )
    .await;
    let r = app
        .refresh_with(
            &next.refresh,
            Some(&key.proof(&app, "POST", "/auth/refresh", json!({}))),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token", None).await;
}

#[tokio::test]
async fn a_cookie_refresh_without_the_key_keeps_the_cookie() {
    let app = TestApp::spawn_with(|s| s.cookie_secure = Some(false)).await;
    app.create_user("alice").await;
    let key = ClientKey::new(SigningAlg::ES256);
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("DPoP", key.proof(&app, "POST", "/auth/login", json!({})))
        .json(&json!({"username": "alice", "password": PASSWORD, "delivery": "cookie"}))
        .send()
        .await
        .expect("request");
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .expect("text")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let refresh = |proof: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/auth/refresh"))
            .header("cookie", cookie.clone())
            .header("x-requested-with", "baton");
        if let Some(proof) = proof {
            req = req.header("DPoP", proof);
        }
        req.send()
    };
    let r = refresh(None).await.expect("request");
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the cookie is kept"
    );
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof", None).await;
    let r = refresh(Some(key.proof(&app, "POST", "/auth/refresh", json!({}))))
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_second_step_of_a_login_must_carry_a_proof_when_its_client_must() {
    use crate::mfa::{code_at, enrol, now, second_step};
    let app = TestApp::spawn().await;
    app.state
        .baton
        .add_client(
            "phone",
            false,
            ClientSettings {
                require_dpop: true,
                ..ClientSettings::legacy()
            },
        )
        .await
        .expect("client");
    let first = app.user_session("alice").await;
    let (secret, _) = enrol(&app, &first.access).await;
    let key = ClientKey::new(SigningAlg::ES256);
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("DPoP", key.proof(&app, "POST", "/oauth/token", json!({})))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("client_id", "phone"),
        ])
        .send()
        .await
        .expect("request");
    let token = body(r).await["mfa_token"]
        .as_str()
        .expect("mfa_required")
        .to_owned();
    // Without a proof the second step gives the client nothing.
    assert_error(
        second_step(&app, &token, json!({"code": code_at(&secret, now(&app))})).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        Some("This client must send a DPoP proof"),
    )
    .await;
    let r = app
        .client
        .post(app.url("/auth/login/mfa"))
        .header(
            "DPoP",
            key.proof(&app, "POST", "/auth/login/mfa", json!({})),
        )
        .json(&json!({"mfa_token": token, "code": code_at(&secret, now(&app))}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    assert_eq!(t.json["token_type"], "DPoP");
    assert_eq!(jwt_claims(&t.access)["cnf"]["jkt"], key.jkt());
    assert_eq!(jwt_claims(&t.access)["client_id"], "phone");
}

/// RFC 9449 §10: a code asked for with `dpop_jkt`, or pushed with a proof, is exchanged only
/// with a proof by that key; a malformed thumbprint, or one that is not the pushed proof's key,
/// is refused.
#[tokio::test]
async fn an_authorization_code_bound_to_a_key_is_exchanged_only_with_it() {
    use crate::oidc::{param, pkce, redirect_params, Rp, CB};
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let key = ClientKey::new(SigningAlg::ES256);
    let thief = ClientKey::new(SigningAlg::ES256);
    let jkt = key.jkt();
    let exchange = |code: String, verifier: String, proof: Option<String>| {
        let app = &app;
        let secret = rp.secret.clone();
        async move {
            let mut req = app
                .client
                .post(app.url("/oauth/token"))
                .basic_auth("web", secret)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", CB),
                    ("code_verifier", verifier.as_str()),
                ]);
            if let Some(proof) = proof {
                req = req.header("DPoP", proof);
            }
            req.send().await.expect("request")
        }
    };
    let token_proof = |k: &ClientKey| k.proof(&app, "POST", "/oauth/token", json!({}));
    for presented in [None, Some(&thief)] {
        let (verifier, challenge) = pkce();
        let (code, _) = rp
            .code_for("alice", &challenge, &[("dpop_jkt", jkt.as_str())])
            .await;
        let r = exchange(code, verifier, presented.map(token_proof)).await;
        assert_error(
            r,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("The authorization code is bound to a DPoP key this request did not prove"),
        )
        .await;
    }
    let (verifier, challenge) = pkce();
    let (code, _) = rp
        .code_for("alice", &challenge, &[("dpop_jkt", jkt.as_str())])
        .await;
    let r = exchange(code, verifier, Some(token_proof(&key))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = body(r).await;
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().expect("token"))["cnf"]["jkt"],
        jkt
    );

    // A malformed thumbprint goes back to the client as invalid_request.
    let (_, challenge) = pkce();
    let r = rp
        .authorize(&challenge, &[("dpop_jkt", "not-a-thumbprint")], None)
        .await;
    assert_eq!(
        param(&redirect_params(&r), "error").as_deref(),
        Some("invalid_request")
    );

    // Pushed with a proof: the code is bound to the proof's key.
    let push = |challenge: String, proof: Option<String>, dpop_jkt: Option<String>| {
        let app = &app;
        let secret = rp.secret.clone();
        async move {
            let mut fields = vec![
                ("response_type", "code".to_owned()),
                ("redirect_uri", CB.to_owned()),
                ("scope", "openid".to_owned()),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256".to_owned()),
            ];
            if let Some(j) = dpop_jkt {
                fields.push(("dpop_jkt", j));
            }
            let mut req = app
                .client
                .post(app.url("/oauth/par"))
                .basic_auth("web", secret)
                .form(&fields);
            if let Some(proof) = proof {
                req = req.header("DPoP", proof);
            }
            req.send().await.expect("request")
        }
    };
    let par_proof = |k: &ClientKey| k.proof(&app, "POST", "/oauth/par", json!({}));
    let r = push(pkce().1, Some(par_proof(&key)), Some(thief.jkt())).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        Some("dpop_jkt is not the thumbprint of the DPoP proof's key"),
    )
    .await;
    for (presented, ok) in [(&thief, false), (&key, true)] {
        let (verifier, challenge) = pkce();
        let r = push(challenge.clone(), Some(par_proof(&key)), None).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let uri = body(r).await["request_uri"]
            .as_str()
            .expect("request_uri")
            .to_owned();
        let (code, _) = rp
            .code_for(
                "alice",
                &challenge,
                &[
                    ("request_uri", uri.as_str()),
                    ("response_type", ""),
                    ("redirect_uri", ""),
                    ("scope", ""),
                    ("state", ""),
                    ("nonce", ""),
                    ("code_challenge", ""),
                    ("code_challenge_method", ""),
                ],
            )
            .await;
        let r = exchange(code, verifier, Some(token_proof(presented))).await;
        assert_eq!(r.status().is_success(), ok, "{}", r.status());
    }
}

/// With DPoP off nothing can prove a key at the exchange, so `dpop_jkt` binds nothing.
#[tokio::test]
async fn dpop_jkt_binds_nothing_while_dpop_is_off() {
    use crate::oidc::{pkce, Rp, CB};
    let app = TestApp::spawn_with(|s| s.dpop = Some(Dpop::Off)).await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let jkt = ClientKey::new(SigningAlg::ES256).jkt();
    let (verifier, challenge) = pkce();
    let (code, _) = rp
        .code_for("alice", &challenge, &[("dpop_jkt", jkt.as_str())])
        .await;
    let r = rp.exchange(&code, &verifier, CB).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["token_type"], "Bearer");
}
