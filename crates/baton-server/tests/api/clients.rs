//! What a client may do: its grants (RFC 6749 §5.2 `unauthorized_client`), the
//! client-credentials grant with scopes (§4.4), its token lifetimes, and users' roles in
//! access tokens.

use crate::helpers::*;
use baton_core::client::{ClientSettings, Grant};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

const SECRET_CLIENT: &str = "billing-worker";

impl TestApp {
    fn token_form(&self, fields: &[(&str, &str)]) -> RequestBuilder {
        self.client.post(self.url("/oauth/token")).form(fields)
    }

    /// A confidential client with `settings`; its secret.
    async fn add_confidential(&self, id: &str, settings: ClientSettings) -> String {
        let (_, secret) = self
            .state
            .baton
            .add_client(id, true, settings)
            .await
            .expect("client");
        secret.expect("a secret")
    }

    async fn machine_client(&self) -> String {
        self.add_confidential(
            SECRET_CLIENT,
            ClientSettings {
                grants: vec![Grant::ClientCredentials],
                scopes: vec!["billing:read".into(), "billing:write".into()],
                ..ClientSettings::legacy()
            },
        )
        .await
    }

    async fn client_credentials(&self, secret: &str, scope: Option<&str>) -> Response {
        let mut fields = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            fields.push(("scope", scope));
        }
        self.token_form(&fields)
            .basic_auth(SECRET_CLIENT, Some(secret))
            .send()
            .await
            .expect("request")
    }

    async fn introspect_with(&self, client: (&str, &str), token: &str) -> Value {
        let r = self
            .client
            .post(self.url("/oauth/introspect"))
            .form(&[("token", token)])
            .basic_auth(client.0, Some(client.1))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK);
        body(r).await
    }
}

async fn send(b: RequestBuilder) -> Response {
    b.send().await.expect("request")
}

#[tokio::test]
async fn client_credentials_issue_a_scoped_token_without_a_user_or_a_refresh_token() {
    let app = TestApp::spawn().await;
    let secret = app.machine_client().await;
    let r = app.client_credentials(&secret, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let b = body(r).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    // Every API scope the client has, when it names none (RFC 6749 §3.3's default).
    assert_eq!(b["scope"], "billing:read billing:write");
    assert!(b.get("refresh_token").is_none(), "{b}");
    let token = b["access_token"].as_str().expect("token");
    assert_eq!(jwt_header(token)["typ"], "at+jwt");
    let claims = jwt_claims(token);
    assert_eq!(claims["sub"], SECRET_CLIENT);
    assert_eq!(claims["client_id"], SECRET_CLIENT);
    assert_eq!(claims["aud"], "baton");
    assert_eq!(claims["scope"], "billing:read billing:write");
    assert!(claims.get("sid").is_none() && claims.get("preferred_username").is_none());

    // A subset, in any order, duplicates folded.
    let r = app
        .client_credentials(&secret, Some("billing:read billing:read"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["scope"], "billing:read");

    // No user stands behind it: baton's user endpoints refuse it.
    let me = app.get_bearer("/api/me", token).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "invalid_token", None).await;
    let sessions = app.get_bearer("/auth/sessions", token).await;
    assert_eq!(sessions.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_credentials_refuse_other_scopes_other_clients_and_wrong_secrets() {
    let app = TestApp::spawn().await;
    let secret = app.machine_client().await;
    for scope in [
        "billing:read admin",
        "openid",
        "offline_access",
        "bad\"scope",
    ] {
        let r = app.client_credentials(&secret, Some(scope)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{scope}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(body(r).await["error"], "invalid_scope", "{scope}");
    }
    let r = send(
        app.token_form(&[("grant_type", "client_credentials")])
            .basic_auth(SECRET_CLIENT, Some("wrong")),
    )
    .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
    // A confidential client without the grant, a public client, and nobody.
    let other = app
        .add_confidential("introspector", ClientSettings::legacy())
        .await;
    let r = send(
        app.token_form(&[("grant_type", "client_credentials")])
            .basic_auth("introspector", Some(&other)),
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "unauthorized_client", None).await;
    let r = send(app.token_form(&[("grant_type", "client_credentials")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "unauthorized_client", None).await;
    // The machine client may not use the password grant.
    app.create_user("alice").await;
    let r = send(
        app.token_form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .basic_auth(SECRET_CLIENT, Some(&secret)),
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "unauthorized_client", None).await;
}

#[tokio::test]
async fn a_client_credentials_token_is_introspected_active_until_its_client_goes() {
    let app = TestApp::spawn().await;
    let secret = app.machine_client().await;
    let token = body(app.client_credentials(&secret, Some("billing:read")).await).await
        ["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let rs = app
        .add_confidential("resource-server", ClientSettings::legacy())
        .await;
    let answer = app.introspect_with(("resource-server", &rs), &token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["client_id"], SECRET_CLIENT);
    assert_eq!(answer["sub"], SECRET_CLIENT);
    assert_eq!(answer["scope"], "billing:read");
    assert!(answer.get("sid").is_none() && answer.get("username").is_none());
    // It cannot be revoked (RFC 7009 §2.2.1): it has no session, and expires.
    let r = send(
        app.client
            .post(app.url("/oauth/revoke"))
            .form(&[("token", token.as_str())])
            .basic_auth(SECRET_CLIENT, Some(&secret)),
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_token_type", None).await;
    // A second token: its client deleted (grant still given), inactive at once.
    let second = body(app.client_credentials(&secret, None).await).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // Its grant taken away: inactive at once.
    let client = app.state.baton.client(SECRET_CLIENT).await.expect("client");
    let settings = ClientSettings {
        grants: vec![Grant::RefreshToken],
        ..client.settings
    };
    app.state
        .baton
        .update_client(SECRET_CLIENT, settings, false)
        .await
        .expect("update");
    let answer = app.introspect_with(("resource-server", &rs), &token).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    // Given back, then the client deleted.
    let client = app.state.baton.client(SECRET_CLIENT).await.expect("client");
    let settings = ClientSettings {
        grants: vec![Grant::ClientCredentials],
        ..client.settings
    };
    app.state
        .baton
        .update_client(SECRET_CLIENT, settings, false)
        .await
        .expect("update");
    let answer = app.introspect_with(("resource-server", &rs), &second).await;
    assert_eq!(answer["active"], true, "{answer}");
    app.state
        .baton
        .delete_client(SECRET_CLIENT)
        .await
        .expect("delete");
    let answer = app.introspect_with(("resource-server", &rs), &second).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn a_key_rotation_keeps_the_old_key_for_a_clients_longer_token_lifetime() {
    let app = TestApp::spawn().await;
    app.add_confidential(
        SECRET_CLIENT,
        ClientSettings {
            grants: vec![Grant::ClientCredentials],
            scopes: vec!["billing:read".into()],
            access_ttl: Some(6 * 3600),
            ..ClientSettings::legacy()
        },
    )
    .await;
    let kids = |app: &TestApp| -> Vec<String> {
        app.state.baton.jwks()["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    };
    let old_kid = kids(&app)[0].clone();
    app.state
        .baton
        .rotate_signing_key(None)
        .await
        .expect("rotate");
    // Past the server's 15 minutes, within the client's 6 hours: still published.
    app.advance(3600);
    app.state.baton.reload_signing_keys().await.expect("reload");
    let published = kids(&app);
    assert!(published.contains(&old_kid), "{published:?}");
}

#[tokio::test]
async fn introspection_reports_the_users_roles_now() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let user = app.state.baton.user_by_name("alice").await.expect("user");
    app.state
        .baton
        .add_role(&user.id, "admin")
        .await
        .expect("add");
    let t = app.refresh_ok(&t.refresh).await;
    assert_eq!(jwt_claims(&t.access)["roles"], serde_json::json!(["admin"]));
    let rs = app
        .add_confidential("resource-server", ClientSettings::legacy())
        .await;
    let answer = app
        .introspect_with(("resource-server", &rs), &t.access)
        .await;
    assert_eq!(answer["roles"], serde_json::json!(["admin"]));
    app.state
        .baton
        .remove_role(&user.id, "admin")
        .await
        .expect("remove");
    let answer = app
        .introspect_with(("resource-server", &rs), &t.access)
        .await;
    assert_eq!(answer["active"], true);
    assert!(answer.get("roles").is_none(), "{answer}");
}

#[tokio::test]
async fn grants_follow_the_client_and_the_first_party_client_keeps_its_own() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let (_, _) = app
        .state
        .baton
        .add_client(
            "web",
            false,
            ClientSettings {
                grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
                redirect_uris: vec!["https://app.example/cb".into()],
                ..ClientSettings::legacy()
            },
        )
        .await
        .expect("client");
    let password = |client: Option<&'static str>| {
        let mut fields = vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        if let Some(c) = client {
            fields.push(("client_id", c));
        }
        send(app.token_form(&fields))
    };
    let r = password(Some("web")).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        Some("This client may not use this grant type"),
    )
    .await;
    // baton's own client, and a client added as clients always were, keep the password grant.
    assert_eq!(password(None).await.status(), StatusCode::OK);
    app.state
        .baton
        .add_client("legacy", false, ClientSettings::legacy())
        .await
        .expect("client");
    let r = password(Some("legacy")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    // A client given the password grant but not the refresh grant cannot refresh.
    let client = app.state.baton.client("legacy").await.expect("client");
    app.state
        .baton
        .update_client(
            "legacy",
            ClientSettings {
                grants: vec![Grant::Password],
                ..client.settings
            },
            false,
        )
        .await
        .expect("update");
    let r = send(app.token_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &t.refresh),
        ("client_id", "legacy"),
    ]))
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "unauthorized_client", None).await;
    // Unknown grants stay unsupported.
    let r = send(app.token_form(&[("grant_type", "implicit")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type", None).await;
}

#[tokio::test]
async fn a_client_with_its_own_lifetimes_gets_them_on_login_and_refresh() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    app.state
        .baton
        .add_client(
            "kiosk",
            false,
            ClientSettings {
                access_ttl: Some(60),
                refresh_idle_ttl: Some(3600),
                ..ClientSettings::legacy()
            },
        )
        .await
        .expect("client");
    let r = send(app.token_form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
        ("client_id", "kiosk"),
    ]))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    assert_eq!(b["expires_in"], 60);
    assert_eq!(b["refresh_expires_in"], 3600);
    let claims = jwt_claims(b["access_token"].as_str().expect("token"));
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        60
    );
    let t = Tokens::from(b);
    app.advance(1800);
    let r = send(app.token_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &t.refresh),
        ("client_id", "kiosk"),
    ]))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = body(r).await;
    assert_eq!(b["expires_in"], 60);
    let t = Tokens::from(b);
    // The client's idle timeout, not the server's 7 days, ends the session.
    app.advance(3601);
    let r = send(app.token_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &t.refresh),
        ("client_id", "kiosk"),
    ]))
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_grant", None).await;
    // baton's own sessions keep the server's lifetimes.
    let own = app.login_ok("alice").await;
    assert_eq!(own.json["expires_in"], 900);
}

#[tokio::test]
async fn roles_reach_access_tokens_at_the_next_login_or_refresh() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    assert!(jwt_claims(&t.access).get("roles").is_none());
    let user = app.state.baton.user_by_name("alice").await.expect("user");
    let baton = &app.state.baton;
    assert!(baton
        .add_role(&user.id, "billing:admin")
        .await
        .expect("add"));
    assert!(baton.add_role(&user.id, "auditor").await.expect("add"));
    assert!(!baton.add_role(&user.id, "auditor").await.expect("again"));
    assert!(baton.add_role(&user.id, "bad role").await.is_err());
    let t = app.refresh_ok(&t.refresh).await;
    assert_eq!(
        jwt_claims(&t.access)["roles"],
        serde_json::json!(["auditor", "billing:admin"])
    );
    let other = app.login_ok("alice").await;
    assert_eq!(
        jwt_claims(&other.access)["roles"],
        serde_json::json!(["auditor", "billing:admin"])
    );
    assert!(baton
        .remove_role(&user.id, "auditor")
        .await
        .expect("remove"));
    assert!(!baton.remove_role(&user.id, "auditor").await.expect("again"));
    let t = app.refresh_ok(&t.refresh).await;
    assert_eq!(
        jwt_claims(&t.access)["roles"],
        serde_json::json!(["billing:admin"])
    );
}

#[tokio::test]
async fn client_settings_are_checked_before_they_are_stored() {
    let app = TestApp::spawn().await;
    let baton = &app.state.baton;
    let refused = [
        ClientSettings {
            grants: vec![Grant::AuthorizationCode],
            ..ClientSettings::legacy()
        },
        ClientSettings {
            grants: vec![Grant::ClientCredentials],
            ..ClientSettings::legacy()
        },
        ClientSettings {
            redirect_uris: vec!["http://app.example/cb".into()],
            ..ClientSettings::legacy()
        },
    ];
    for settings in refused {
        assert!(baton.add_client("web", false, settings).await.is_err());
    }
    assert!(baton.clients().await.expect("clients").is_empty());
}

/// An Ed25519 key pair for `private_key_jwt`: (its public JWKS with `kid`, a signer of claims).
fn client_key(kid: &'static str) -> (Value, impl Fn(Value) -> String) {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let jwks = serde_json::json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}
    ]});
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let sign = move |claims: Value| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &encoding).expect("sign")
    };
    (jwks, sign)
}

#[tokio::test]
async fn a_client_authenticates_with_a_signed_assertion_each_used_once() {
    let app = TestApp::spawn().await;
    let (jwks, sign) = client_key("k1");
    let (_, secret) = app
        .state
        .baton
        .add_client(
            "signer",
            true,
            ClientSettings {
                grants: vec![Grant::ClientCredentials],
                scopes: vec!["reports:read".into()],
                jwks: Some(jwks),
                ..ClientSettings::legacy()
            },
        )
        .await
        .expect("client");
    assert!(secret.is_none(), "a private_key_jwt client has no secret");
    use baton_core::Clock as _;
    let now = app.clock.now().unix_timestamp();
    let token_endpoint = app.url("/oauth/token");
    let claims = |jti: &str, aud: &str, exp: i64| serde_json::json!({"iss": "signer", "sub": "signer", "aud": aud, "exp": exp, "iat": now, "jti": jti});
    let grant = |assertion: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .expect("request")
        }
    };
    let first = sign(claims("j1", &token_endpoint, now + 60));
    let r = grant(first.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        jwt_claims(body(r).await["access_token"].as_str().expect("at"))["sub"],
        "signer"
    );
    // The issuer as audience is accepted too (OpenID Connect Core §9).
    let r = grant(sign(claims("j2", &app.base, now + 60))).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Replayed, for another audience, expired, too far ahead, by another key: refused.
    let (_, stranger) = client_key("k1");
    for (assertion, why) in [
        (first, "replayed"),
        (
            sign(claims("j3", "https://other.example/token", now + 60)),
            "audience",
        ),
        (sign(claims("j4", &token_endpoint, now - 120)), "expired"),
        (sign(claims("j5", &token_endpoint, now + 7200)), "too long"),
        (
            stranger(claims("j6", &token_endpoint, now + 60)),
            "another key",
        ),
        ("not.a.jwt".to_owned(), "garbage"),
    ] {
        let r = grant(assertion).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(body(r).await["error"], "invalid_client", "{why}");
    }
    // sub must be the client.
    let mut other_sub = claims("j7", &token_endpoint, now + 60);
    other_sub["sub"] = "someone".into();
    assert_eq!(
        grant(sign(other_sub)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A secret is no way in for it, and the wrong assertion type is a bad request.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("signer", Some("anything"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:other"),
            (
                "client_assertion",
                &sign(claims("j8", &token_endpoint, now + 60)),
            ),
        ])
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    // A JWKS with a private key, or none usable, is refused at registration.
    let mut private = client_key("k2").0;
    private["keys"][0]["d"] = "AAAA".into();
    let mut mixed = client_key("k3").0;
    mixed["keys"].as_array_mut().expect("keys").push(
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
    );
    for jwks in [
        private,
        mixed,
        serde_json::json!({"keys": []}),
        serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}),
    ] {
        let r = app
            .state
            .baton
            .add_client(
                "bad",
                true,
                ClientSettings {
                    jwks: Some(jwks),
                    ..ClientSettings::legacy()
                },
            )
            .await;
        assert!(r.is_err());
    }
}
