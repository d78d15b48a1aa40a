//! The form-encoded OAuth 2.0 endpoints: token (RFC 6749 §4.3, §6), revocation (RFC 7009) and
//! introspection (RFC 7662).

use crate::helpers::*;
use baton_core::client::ClientSettings;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

impl TestApp {
    fn form(&self, path: &str, fields: &[(&str, &str)]) -> RequestBuilder {
        self.client.post(self.url(path)).form(fields)
    }

    async fn password_grant(&self, username: &str, password: &str) -> Response {
        self.form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ],
        )
        .send()
        .await
        .expect("request")
    }

    async fn confidential_client(&self, id: &str) -> String {
        let (_, secret) = self
            .state
            .baton
            .add_client(id, true, ClientSettings::legacy())
            .await
            .expect("client");
        secret.expect("a secret")
    }

    async fn introspect(&self, client: (&str, &str), token: &str) -> Response {
        self.form("/oauth/introspect", &[("token", token)])
            .basic_auth(client.0, Some(client.1))
            .send()
            .await
            .expect("request")
    }
}

async fn send(b: RequestBuilder) -> Response {
    b.send().await.expect("request")
}

#[tokio::test]
async fn the_password_grant_answers_per_rfc_6749_section_5_1() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let r = app.password_grant("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let b = body(r).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert!(b["refresh_token"].as_str().is_some_and(|t| !t.is_empty()));
    let claims = jwt_claims(b["access_token"].as_str().expect("token"));
    assert_eq!(claims["client_id"], "baton");
    assert_eq!(claims["preferred_username"], "alice");
    let me = app
        .get_bearer("/api/me", b["access_token"].as_str().expect("token"))
        .await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_is_an_invalid_grant_and_counts_toward_the_login_limit() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    for _ in 0..10 {
        let r = app.password_grant("alice", "wrong password").await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_grant", None).await;
    }
    let r = app.login("alice", PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None).await;
    let r = app.password_grant("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_refresh_grant_rotates_and_detects_reuse() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let grant = |token: &str| {
        send(app.form(
            "/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        ))
    };
    let r = grant(&t.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let next = Tokens::from(body(r).await);
    assert_ne!(next.refresh, t.refresh);
    app.advance(11);
    let r = grant(&t.refresh).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Refresh token reuse detected"),
    )
    .await;
    let r = grant(&next.refresh).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Refresh token has been revoked"),
    )
    .await;
}

#[tokio::test]
async fn a_public_clients_tokens_carry_its_id_and_refresh_only_for_it() {
    let app = TestApp::spawn().await;
    app.state
        .baton
        .add_client("mobile", false, ClientSettings::legacy())
        .await
        .expect("client");
    app.create_user("alice").await;
    let r = send(app.form(
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("client_id", "mobile"),
        ],
    ))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    assert_eq!(jwt_claims(&t.access)["client_id"], "mobile");
    let as_baton = send(app.form(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t.refresh),
        ],
    ))
    .await;
    assert_error(as_baton, StatusCode::BAD_REQUEST, "invalid_grant", None).await;
    let as_mobile = send(app.form(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t.refresh),
            ("client_id", "mobile"),
        ],
    ))
    .await;
    assert_eq!(
        as_mobile.status(),
        StatusCode::OK,
        "the other client's try spent nothing"
    );
    let next = Tokens::from(body(as_mobile).await);
    assert_eq!(jwt_claims(&next.access)["client_id"], "mobile");
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_http_basic() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("billing").await;
    app.create_user("alice").await;
    let fields = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let ok = send(
        app.form("/oauth/token", &fields)
            .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let t = Tokens::from(body(ok).await);
    assert_eq!(jwt_claims(&t.access)["client_id"], "billing");

    let wrong = send(
        app.form("/oauth/token", &fields)
            .basic_auth("billing", Some("nope")),
    )
    .await;
    assert_eq!(wrong.headers()["www-authenticate"], "Basic realm=\"baton\"");
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
    let unknown = send(
        app.form("/oauth/token", &fields)
            .basic_auth("ghost", Some("x")),
    )
    .await;
    assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
    let no_secret = send(app.form(
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("client_id", "billing"),
        ],
    ))
    .await;
    assert_error(no_secret, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
}

#[tokio::test]
async fn unknown_grants_missing_fields_and_json_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let r = send(app.form("/oauth/token", &[("grant_type", "implicit")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type", None).await;
    // A grant baton knows but the first-party client was not given.
    let r = send(app.form("/oauth/token", &[("grant_type", "client_credentials")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "unauthorized_client", None).await;
    let r = send(app.form("/oauth/token", &[("username", "alice")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    let r = send(app.form("/oauth/token", &[("grant_type", "password")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    let r = app
        .post_json(
            "/oauth/token",
            &serde_json::json!({"grant_type": "password"}),
        )
        .await;
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_session() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = send(app.form(
        "/oauth/revoke",
        &[("token", &t.refresh), ("token_type_hint", "refresh_token")],
    ))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_session_whatever_the_hint() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = send(app.form(
        "/oauth/revoke",
        &[("token", &t.access), ("token_type_hint", "refresh_token")],
    ))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;
}

#[tokio::test]
async fn revoking_an_unknown_token_is_still_200_and_a_missing_one_is_400() {
    let app = TestApp::spawn().await;
    let r = send(app.form("/oauth/revoke", &[("token", "never-issued")])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(app.form("/oauth/revoke", &[("token_type_hint", "access_token")])).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
}

#[tokio::test]
async fn a_client_can_revoke_only_its_own_tokens() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("billing").await;
    let t = app.user_session("alice").await;
    let r = send(
        app.form("/oauth/revoke", &[("token", &t.refresh)])
            .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.refresh_ok(&t.refresh).await;
}

#[tokio::test]
async fn introspection_needs_confidential_client_credentials() {
    let app = TestApp::spawn().await;
    app.state
        .baton
        .add_client("mobile", false, ClientSettings::legacy())
        .await
        .expect("client");
    let t = app.user_session("alice").await;
    let none = send(app.form("/oauth/introspect", &[("token", &t.access)])).await;
    assert_error(none, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
    let public = app.introspect(("mobile", ""), &t.access).await;
    assert_error(public, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
    let secret = app.confidential_client("api").await;
    let wrong = app.introspect(("api", "guess"), &t.access).await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client", None).await;
    let ok = app.introspect(("api", &secret), &t.access).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_access_token_is_active_until_its_session_is_revoked() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("api").await;
    let t = app.user_session("alice").await;
    let b: Value = body(app.introspect(("api", &secret), &t.access).await).await;
    let claims = jwt_claims(&t.access);
    assert_eq!(b["active"], true);
    assert_eq!(b["sub"], claims["sub"]);
    assert_eq!(b["username"], "alice");
    assert_eq!(b["client_id"], "baton");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["exp"], claims["exp"]);
    assert_eq!(b["iat"], claims["iat"]);
    assert_eq!(b["iss"], app.base);
    assert_eq!(b["aud"], "baton");
    assert_eq!(b["sid"], claims["sid"]);

    app.post_json(
        "/auth/logout",
        &serde_json::json!({"refresh_token": t.refresh}),
    )
    .await;
    assert_eq!(
        app.get_bearer("/api/me", &t.access).await.status(),
        StatusCode::OK,
        "the token itself is stateless"
    );
    let b = body(app.introspect(("api", &secret), &t.access).await).await;
    assert_eq!(
        b,
        serde_json::json!({"active": false}),
        "but introspection knows at once"
    );
}

#[tokio::test]
async fn expired_forged_and_unknown_tokens_are_inactive() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("api").await;
    let t = app.user_session("alice").await;
    for token in ["garbage", "a.b.c", &format!("{}x", t.access)] {
        let b = body(app.introspect(("api", &secret), token).await).await;
        assert_eq!(b, serde_json::json!({"active": false}), "{token}");
    }
    app.advance(900);
    let b = body(app.introspect(("api", &secret), &t.access).await).await;
    assert_eq!(b["active"], false);
}

#[tokio::test]
async fn a_refresh_token_is_active_until_spent() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("api").await;
    let t = app.user_session("alice").await;
    let b = body(app.introspect(("api", &secret), &t.refresh).await).await;
    assert_eq!(b["active"], true);
    assert_eq!(b["token_type"], "refresh_token");
    assert_eq!(b["username"], "alice");
    app.refresh_ok(&t.refresh).await;
    let b = body(app.introspect(("api", &secret), &t.refresh).await).await;
    assert_eq!(b["active"], false);
}

#[tokio::test]
async fn every_advertised_oauth_endpoint_is_served() {
    let app = TestApp::spawn().await;
    let m = body(
        app.client
            .get(app.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    for field in [
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        let url = m[field].as_str().expect("an endpoint URL");
        let r = app
            .client
            .post(url)
            .form(&[("token", "x"), ("grant_type", "password")])
            .send()
            .await
            .expect("request");
        assert!(
            r.status() != StatusCode::NOT_FOUND && r.status() != StatusCode::METHOD_NOT_ALLOWED,
            "{field} {url} answers {}",
            r.status()
        );
    }
}

#[tokio::test]
async fn public_clients_may_send_an_empty_secret_as_libraries_do() {
    let app = TestApp::spawn().await;
    app.state
        .baton
        .add_client("spa", false, ClientSettings::legacy())
        .await
        .expect("client");
    app.create_user("alice").await;
    let fields = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    for id in ["baton", "spa"] {
        let r = send(app.form("/oauth/token", &fields).basic_auth(id, Some(""))).await;
        assert_eq!(r.status(), StatusCode::OK, "{id}");
        let t = Tokens::from(body(r).await);
        assert_eq!(jwt_claims(&t.access)["client_id"], id);
    }
    let mut with_post = fields.to_vec();
    with_post.extend([("client_id", "spa"), ("client_secret", "")]);
    let r = send(app.form("/oauth/token", &with_post)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failed_client_authentication_has_exactly_the_contracts_body() {
    let app = TestApp::spawn().await;
    app.confidential_client("api").await;
    let r = app.introspect(("api", "wrong"), "token").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body(r).await,
        serde_json::json!({"error": "invalid_client"})
    );
}

#[tokio::test]
async fn another_clients_refresh_token_does_not_refresh_at_auth_refresh() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("billing").await;
    app.create_user("alice").await;
    let r = send(
        app.form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .basic_auth("billing", Some(&secret)),
    )
    .await;
    let t = Tokens::from(body(r).await);
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Invalid refresh token"),
    )
    .await;
    let r = send(
        app.form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the refused try spent nothing");
}

/// Finding 6 (RFC 7009 §2.1): an anonymous revocation cannot end a confidential client's
/// session; only that client, authenticated, can.
#[tokio::test]
async fn finding_06_anonymous_revocation_spares_confidential_clients_tokens() {
    let app = TestApp::spawn().await;
    let secret = app.confidential_client("billing").await;
    app.create_user("alice").await;
    let fields = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let r = send(
        app.form("/oauth/token", &fields)
            .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    for token in [&t.refresh, &t.access] {
        let r = send(app.form("/oauth/revoke", &[("token", token.as_str())])).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let refreshed = send(
        app.form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "an anonymous request revoked it"
    );
    let t = Tokens::from(body(refreshed).await);
    let r = send(
        app.form("/oauth/revoke", &[("token", &t.refresh)])
            .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let refused = send(
        app.form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .basic_auth("billing", Some(&secret)),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

/// Finding 6: an access token past its `exp` revokes nothing.
#[tokio::test]
async fn finding_06_an_expired_access_token_revokes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    app.advance(901);
    let r = send(app.form(
        "/oauth/revoke",
        &[("token", &t.access), ("token_type_hint", "access_token")],
    ))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.refresh_ok(&t.refresh).await;
}
