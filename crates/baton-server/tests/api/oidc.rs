//! The OpenID Connect authorization code flow through baton's own pages: PKCE, single sign-on,
//! consent, the code exchange with its ID token, userinfo, and the refusals the flow owes
//! (RFC 6749 §4.1, RFC 7636, RFC 9207, OpenID Connect Core §3.1).

use crate::helpers::*;
use crate::mfa::{code_at, enrol, now};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use baton_core::client::{ClientSettings, Grant};
use reqwest::{Response, StatusCode};
use serde_json::Value;

pub(crate) const CB: &str = "https://app.example/cb";

/// A PKCE pair: (verifier, S256 challenge).
pub(crate) fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("rng");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    (verifier, challenge)
}

/// The value of the hidden or text input `name` in a page.
pub(crate) fn input(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no input {name} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("value") + 7;
    let end = rest[v..].find('"').expect("end");
    rest[v..v + end].replace("&amp;", "&")
}

/// The query parameters of a redirect's `Location`.
pub(crate) fn redirect_params(r: &Response) -> Vec<(String, String)> {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "not a redirect");
    let location = r.headers()["location"].to_str().expect("location");
    let url = url::Url::parse(location).expect("absolute location");
    assert!(location.starts_with(CB), "{location}");
    url.query_pairs().into_owned().collect()
}

pub(crate) fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The browser-session cookie a response sets (`name=value`).
pub(crate) fn sso_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("baton_sso="))
        .map(|v| v.split(';').next().expect("pair").to_owned())
}

pub(crate) struct Rp<'a> {
    app: &'a TestApp,
    id: &'static str,
    pub(crate) secret: Option<String>,
}

impl<'a> Rp<'a> {
    pub(crate) async fn add(app: &'a TestApp, id: &'static str, settings: ClientSettings) -> Self {
        let (_, secret) = app
            .state
            .baton
            .add_client(id, true, settings)
            .await
            .expect("client");
        Self { app, id, secret }
    }

    pub(crate) async fn first_party(app: &'a TestApp) -> Self {
        Self::add(
            app,
            "web",
            ClientSettings {
                first_party: true,
                grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
                redirect_uris: vec![CB.into()],
                scopes: ["openid", "profile", "email", "offline_access", "roles"]
                    .map(String::from)
                    .to_vec(),
                ..ClientSettings::legacy()
            },
        )
        .await
    }

    async fn third_party(app: &'a TestApp) -> Self {
        Self::add(
            app,
            "partner",
            ClientSettings {
                display_name: Some("Partner App".into()),
                grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
                redirect_uris: vec![CB.into()],
                scopes: ["openid", "profile", "offline_access"]
                    .map(String::from)
                    .to_vec(),
                ..ClientSettings::legacy()
            },
        )
        .await
    }

    /// `GET /oauth/authorize` with the usual parameters, `extra` overriding or adding.
    pub(crate) async fn authorize(
        &self,
        challenge: &str,
        extra: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Response {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", self.id),
            ("redirect_uri", CB),
            ("scope", "openid profile"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let mut req = self
            .app
            .client
            .get(self.app.url("/oauth/authorize"))
            .query(&params);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        req.send().await.expect("request")
    }

    /// Posts the sign-in form of `page`.
    pub(crate) async fn sign_in(&self, page: &str, username: &str, password: &str) -> Response {
        self.app
            .client
            .post(self.app.url("/oauth/authorize/login"))
            .header("origin", &self.app.base)
            .form(&[
                ("request", input(page, "request").as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("request")
    }

    /// `POST /oauth/introspect` of `token`, as this client: the answer.
    pub(crate) async fn introspect(&self, token: &str) -> Value {
        let r = self
            .app
            .client
            .post(self.app.url("/oauth/introspect"))
            .basic_auth(self.id, self.secret.as_deref())
            .form(&[("token", token)])
            .send()
            .await
            .expect("request");
        body(r).await
    }

    /// `POST /oauth/token` with the code.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Response {
        let mut req = self.app.client.post(self.app.url("/oauth/token")).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]);
        req = match &self.secret {
            Some(secret) => req.basic_auth(self.id, Some(secret)),
            None => req,
        };
        req.send().await.expect("request")
    }

    /// Signs `username` in from scratch: (code, browser-session cookie).
    pub(crate) async fn code_for(
        &self,
        username: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> (String, String) {
        let page = self.authorize(challenge, extra, None).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("html");
        let r = self.sign_in(&html, username, PASSWORD).await;
        let cookie = sso_cookie(&r).expect("a browser-session cookie");
        let params = redirect_params(&r);
        (param(&params, "code").expect("code"), cookie)
    }
}

#[tokio::test]
async fn a_first_party_client_signs_a_user_in_with_pkce_and_gets_an_id_token() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (verifier, challenge) = pkce();

    let page = rp
        .authorize(&challenge, &[("login_hint", "alice")], None)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "baton's own script only: {csp}"
    );
    let html = page.text().await.expect("html");
    assert_eq!(
        html.matches("<script").count(),
        1,
        "one script, for passkeys"
    );
    assert!(html.contains(r#"<script src="/assets/pages.js" defer></script>"#));
    assert_eq!(input(&html, "username"), "alice", "login_hint prefills");

    let wrong = rp.sign_in(&html, "alice", "wrong password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong
        .text()
        .await
        .expect("html")
        .contains("Wrong username or password."));

    let r = rp.sign_in(&html, "alice", PASSWORD).await;
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    let cookie = sso_cookie(&r).expect("cookie");
    let params = redirect_params(&r);
    assert_eq!(param(&params, "state").as_deref(), Some("st-123"));
    assert_eq!(
        param(&params, "iss").as_deref(),
        Some(app.base.as_str()),
        "RFC 9207"
    );
    let code = param(&params, "code").expect("code");

    let r = rp.exchange(&code, &verifier, CB).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let tokens = body(r).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile");
    assert!(
        tokens["refresh_token"].is_string(),
        "a first-party client gets one: {tokens}"
    );
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let header = jwt_header(id_token);
    assert_eq!(header["typ"], "JWT");
    let id = jwt_claims(id_token);
    let user = app.state.baton.user_by_name("alice").await.expect("user");
    assert_eq!(id["iss"], app.base.as_str());
    assert_eq!(id["sub"], user.id.to_string());
    assert_eq!(id["aud"], "web");
    assert_eq!(id["azp"], "web");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["preferred_username"], "alice");
    assert!(id.get("email").is_none(), "no email scope");
    assert!(id["auth_time"].as_i64().is_some() && id["sid"].is_string());
    let access = tokens["access_token"].as_str().expect("access");
    let claims = jwt_claims(access);
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "openid profile");
    assert_eq!(claims["auth_time"], id["auth_time"]);

    // userinfo, by GET and POST.
    let info = app.get_bearer("/oauth/userinfo", access).await;
    assert_eq!(info.status(), StatusCode::OK);
    let info = body(info).await;
    assert_eq!(info["sub"], user.id.to_string());
    assert_eq!(info["preferred_username"], "alice");
    // It speaks for alice to applications (and the example resource), not to baton's own
    // account endpoints.
    assert_eq!(
        app.get_bearer("/api/me", access).await.status(),
        StatusCode::OK
    );
    let r = app.get_bearer("/auth/sessions", access).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["error"], "insufficient_scope");
    let r = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(access)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let posted = app
        .client
        .post(app.url("/oauth/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("request");
    assert_eq!(posted.status(), StatusCode::OK);

    // The refresh token rotates for its client, keeping the scope.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("web", rp.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let next = body(r).await;
    assert_ne!(next["refresh_token"], tokens["refresh_token"]);
    assert_eq!(
        jwt_claims(next["access_token"].as_str().expect("at"))["scope"],
        "openid profile"
    );

    // Single sign-on: the browser session answers the next request at once.
    let (verifier2, challenge2) = pkce();
    let r = rp.authorize(&challenge2, &[], Some(&cookie)).await;
    let params = redirect_params(&r);
    let code2 = param(&params, "code").expect("code without a page");
    let r = rp.exchange(&code2, &verifier2, CB).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = jwt_claims(body(r).await["id_token"].as_str().expect("id"));
    assert_eq!(again["sid"], id["sid"], "one browser session");
    assert_eq!(again["auth_time"], id["auth_time"]);

    // prompt=login and an exceeded max_age ask for the password again.
    let r = rp
        .authorize(&challenge2, &[("prompt", "login")], Some(&cookie))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.advance(120);
    let r = rp
        .authorize(&challenge2, &[("max_age", "60")], Some(&cookie))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = rp
        .authorize(&challenge2, &[("max_age", "3600")], Some(&cookie))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_code_works_once_with_its_verifier_redirect_uri_and_client() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (verifier, challenge) = pkce();

    // A reused code fails, and revokes what its first use issued (RFC 6749 §4.1.2).
    let (code, _) = rp.code_for("alice", &challenge, &[]).await;
    let first = body(rp.exchange(&code, &verifier, CB).await).await;
    let r = rp.exchange(&code, &verifier, CB).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Authorization code was already used"),
    )
    .await;
    let refresh = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("web", rp.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                first["refresh_token"].as_str().expect("rt"),
            ),
        ])
        .send()
        .await
        .expect("request");
    assert_error(
        refresh,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Refresh token has been revoked"),
    )
    .await;

    // A missing or wrong verifier, another redirect URI, another client: refused (and the
    // code is spent by the attempt).
    let (code, cookie) = rp.code_for("alice", &challenge, &[]).await;
    let r = rp.exchange(&code, "", CB).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("PKCE verification failed"),
    )
    .await;
    let r = rp.exchange(&code, &verifier, CB).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_grant", None).await;
    let code_of = |r: Response| param(&redirect_params(&r), "code").expect("code");
    let code = code_of(rp.authorize(&challenge, &[], Some(&cookie)).await);
    let (other_verifier, _) = pkce();
    let r = rp.exchange(&code, &other_verifier, CB).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("PKCE verification failed"),
    )
    .await;
    let code = code_of(rp.authorize(&challenge, &[], Some(&cookie)).await);
    let r = rp
        .exchange(&code, &verifier, "https://app.example/other")
        .await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("redirect_uri does not match the authorization request"),
    )
    .await;
    let other = Rp::add(
        &app,
        "other",
        ClientSettings {
            first_party: true,
            grants: vec![Grant::AuthorizationCode],
            redirect_uris: vec![CB.into()],
            scopes: vec!["openid".into()],
            ..ClientSettings::legacy()
        },
    )
    .await;
    let code = code_of(rp.authorize(&challenge, &[], Some(&cookie)).await);
    let r = other.exchange(&code, &verifier, CB).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Invalid or expired authorization code"),
    )
    .await;
    // A code lives 60 seconds.
    let code = code_of(rp.authorize(&challenge, &[], Some(&cookie)).await);
    app.advance(61);
    let r = rp.exchange(&code, &verifier, CB).await;
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Invalid or expired authorization code"),
    )
    .await;
}

#[tokio::test]
async fn requests_that_cannot_go_back_to_the_client_stay_on_a_page() {
    let app = TestApp::spawn().await;
    let rp = Rp::first_party(&app).await;
    let (_, challenge) = pkce();
    for (k, v) in [
        ("redirect_uri", "https://app.example/cb/evil"),
        ("redirect_uri", "https://app.example/c"),
        ("redirect_uri", "https://evil.example/cb"),
        ("redirect_uri", ""),
        ("client_id", "nobody"),
        ("client_id", ""),
    ] {
        let r = rp.authorize(&challenge, &[(k, v)], None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{k}={v}");
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    }
}

#[tokio::test]
async fn other_errors_go_back_with_state_and_iss() {
    let app = TestApp::spawn().await;
    let rp = Rp::first_party(&app).await;
    let partner = Rp::third_party(&app).await;
    let (_, challenge) = pkce();
    let error_of = |r: Response| {
        let params = redirect_params(&r);
        assert_eq!(param(&params, "state").as_deref(), Some("st-123"));
        assert_eq!(param(&params, "iss").as_deref(), Some(app.base.as_str()));
        param(&params, "error").expect("error")
    };
    let long_hint = "x".repeat(300);
    let hint_case = [("login_hint", long_hint.as_str())];
    let cases: Vec<(&[(&str, &str)], &str)> = vec![
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge", "")], "invalid_request"),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("prompt", "none")], "login_required"),
        (&hint_case, "invalid_request"),
    ];
    for (extra, error) in cases {
        assert_eq!(
            error_of(rp.authorize(&challenge, extra, None).await),
            error,
            "{extra:?}"
        );
    }
    // A third-party client asking for a scope it was not registered for.
    let r = partner
        .authorize(&challenge, &[("scope", "openid email")], None)
        .await;
    assert_eq!(error_of(r), "invalid_scope");
}

#[tokio::test]
async fn a_third_party_client_needs_consent_and_offline_access_for_a_refresh_token() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let partner = Rp::third_party(&app).await;
    let (verifier, challenge) = pkce();
    let page = partner.authorize(&challenge, &[], None).await;
    let html = page.text().await.expect("html");
    let r = partner.sign_in(&html, "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let cookie = sso_cookie(&r).expect("cookie");
    let consent = r.text().await.expect("html");
    assert!(
        consent.contains("Partner App") && consent.contains("see your username"),
        "{consent}"
    );
    let post = |decision: &'static str, html: String, cookie: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth/authorize/consent"))
                .header("origin", &app.base)
                .header("cookie", cookie)
                .form(&[
                    ("request", input(&html, "request").as_str()),
                    ("decision", decision),
                ])
                .send()
                .await
                .expect("request")
        }
    };
    // prompt=none cannot ask.
    let r = partner
        .authorize(&challenge, &[("prompt", "none")], Some(&cookie))
        .await;
    assert_eq!(
        param(&redirect_params(&r), "error").as_deref(),
        Some("consent_required")
    );
    let denied = post("deny", consent.clone(), cookie.clone()).await;
    assert_eq!(
        param(&redirect_params(&denied), "error").as_deref(),
        Some("access_denied")
    );
    let allowed = post("allow", consent.clone(), cookie.clone()).await;
    let code = param(&redirect_params(&allowed), "code").expect("code");
    let tokens = body(partner.exchange(&code, &verifier, CB).await).await;
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access: {tokens}"
    );
    assert!(tokens["id_token"].is_string());
    // With offline_access, a refresh token.
    let r = partner
        .authorize(
            &challenge,
            &[("scope", "openid offline_access")],
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "consent is asked again");
    let html = r.text().await.expect("html");
    let code = param(
        &redirect_params(&post("allow", html, cookie.clone()).await),
        "code",
    )
    .expect("code");
    let tokens = body(partner.exchange(&code, &verifier, CB).await).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    // The consent is remembered (the union of what was allowed): no page, even for
    // prompt=none, until prompt=consent asks again.
    let r = partner
        .authorize(
            &challenge,
            &[
                ("prompt", "none"),
                ("scope", "openid profile offline_access"),
            ],
            Some(&cookie),
        )
        .await;
    assert!(param(&redirect_params(&r), "code").is_some());
    // A consent posted from another site is refused.
    let html = partner
        .authorize(&challenge, &[("prompt", "consent")], Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    let r = app
        .client
        .post(app.url("/oauth/authorize/consent"))
        .header("origin", "https://evil.example")
        .header("cookie", &cookie)
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn the_sign_in_form_refuses_other_sites_and_altered_requests() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (_, challenge) = pkce();
    let html = rp
        .authorize(&challenge, &[], None)
        .await
        .text()
        .await
        .expect("html");
    let post = |origin: &'static str, request: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth/authorize/login"))
                .header("origin", origin)
                .form(&[
                    ("request", request.as_str()),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .expect("request")
        }
    };
    let r = post("https://evil.example", input(&html, "request")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(sso_cookie(&r).is_none());
    let mut altered = input(&html, "request");
    altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
    let r = post("null", altered).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "Origin: null is another site"
    );
    let mut altered = input(&html, "request");
    altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
    let own: &'static str = Box::leak(app.base.clone().into_boxed_str());
    let r = post(own, altered).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The page's request expires after 10 minutes.
    app.advance(601);
    let r = post(own, input(&html, "request")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_account_with_a_second_factor_gets_the_second_step_on_the_page() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let (secret, _) = enrol(&app, &t.access).await;
    let rp = Rp::first_party(&app).await;
    let (verifier, challenge) = pkce();
    let html = rp
        .authorize(&challenge, &[], None)
        .await
        .text()
        .await
        .expect("html");
    let r = rp.sign_in(&html, "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        sso_cookie(&r).is_none(),
        "no session before the second step"
    );
    let step = r.text().await.expect("html");
    let send = |code: String, step: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth/authorize/mfa"))
                .header("origin", &app.base)
                .form(&[
                    ("request", input(&step, "request").as_str()),
                    ("mfa_token", input(&step, "mfa_token").as_str()),
                    ("code", code.as_str()),
                ])
                .send()
                .await
                .expect("request")
        }
    };
    let wrong = send("000000".into(), step.clone()).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let retry = wrong.text().await.expect("html");
    assert!(retry.contains("Wrong or already used code."));
    let r = send(code_at(&secret, now(&app)), retry).await;
    assert!(sso_cookie(&r).is_some());
    let code = param(&redirect_params(&r), "code").expect("code");
    let tokens = body(rp.exchange(&code, &verifier, CB).await).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn userinfo_needs_the_openid_scope_and_discovery_lists_the_provider() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app.get_bearer("/oauth/userinfo", &t.access).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(body(r).await["error"], "insufficient_scope");
    let r = app
        .client
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = r.json().await.expect("json");
    assert_eq!(m["issuer"], app.base.as_str());
    // Every endpoint listed is there and answers its method.
    for (field, method) in [
        ("authorization_endpoint", reqwest::Method::GET),
        ("token_endpoint", reqwest::Method::POST),
        ("userinfo_endpoint", reqwest::Method::GET),
        ("jwks_uri", reqwest::Method::GET),
        ("revocation_endpoint", reqwest::Method::POST),
        ("introspection_endpoint", reqwest::Method::POST),
        (
            "pushed_authorization_request_endpoint",
            reqwest::Method::POST,
        ),
        ("end_session_endpoint", reqwest::Method::GET),
    ] {
        let url = m[field].as_str().unwrap_or_default();
        assert!(url.starts_with(&app.base), "{field}: {url}");
        let r = app
            .client
            .request(method, url)
            .send()
            .await
            .expect("request");
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status()),
            "{field}: {}",
            r.status()
        );
    }
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password"
        ])
    );
    for field in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        for method in ["client_secret_basic", "private_key_jwt", "none"] {
            assert!(
                m[field].as_array().expect(field).contains(&method.into()),
                "{field} {method}"
            );
        }
    }
    assert_eq!(
        m["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic"])
    );
    for field in [
        "token_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
    ] {
        assert_eq!(
            m[field],
            serde_json::json!(["EdDSA", "ES256", "RS256"]),
            "{field}"
        );
    }
    for scope in ["openid", "profile", "email", "offline_access", "roles"] {
        assert!(
            m["scopes_supported"]
                .as_array()
                .expect("scopes")
                .contains(&scope.into()),
            "{scope}"
        );
    }
    assert_eq!(m["backchannel_logout_supported"], true);
    assert_eq!(
        m["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent"])
    );
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(m["subject_types_supported"], serde_json::json!(["public"]));
    assert_eq!(
        m["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
}

#[tokio::test]
async fn consent_answers_for_the_session_it_was_shown_to_and_keeps_max_age_to_the_request() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let partner = Rp::third_party(&app).await;
    let (verifier, challenge) = pkce();
    let consent = |html: String, cookie: Option<String>| {
        let app = &app;
        async move {
            let mut req = app
                .client
                .post(app.url("/oauth/authorize/consent"))
                .header("origin", &app.base)
                .form(&[
                    ("request", input(&html, "request").as_str()),
                    ("decision", "allow"),
                ]);
            if let Some(cookie) = cookie {
                req = req.header("cookie", cookie);
            }
            req.send().await.expect("request")
        }
    };
    // max_age=0: the sign-in right after the request satisfies it, however long the consent
    // takes.
    let html = partner
        .authorize(&challenge, &[("max_age", "0")], None)
        .await
        .text()
        .await
        .expect("html");
    let r = partner.sign_in(&html, "alice", PASSWORD).await;
    let cookie = sso_cookie(&r).expect("cookie");
    let page = r.text().await.expect("html");
    app.advance(30);
    let r = consent(page.clone(), Some(cookie.clone())).await;
    let code = param(&redirect_params(&r), "code").expect("code");
    assert_eq!(
        partner.exchange(&code, &verifier, CB).await.status(),
        StatusCode::OK
    );
    // The consent of a page shown to a session counts only from that session.
    let r = consent(page.clone(), None).await;
    assert_eq!(r.status(), StatusCode::OK, "the sign-in page again");
    assert!(r
        .text()
        .await
        .expect("html")
        .contains("/oauth/authorize/login"));
    // A sign-in page's request (prompt=login) is no consent page: posting it as consent with
    // the old session signs nobody in.
    let login_page = partner
        .authorize(&challenge, &[("prompt", "login")], Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    assert!(login_page.contains("/oauth/authorize/login"));
    let r = consent(login_page, Some(cookie.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn signing_out_or_in_again_ends_the_browser_session() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (_, challenge) = pkce();
    let (_, cookie) = rp.code_for("alice", &challenge, &[]).await;
    // Signing in again (prompt=login) replaces the browser session: the old cookie is dead.
    let html = rp
        .authorize(&challenge, &[("prompt", "login")], Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    let r = app
        .client
        .post(app.url("/oauth/authorize/login"))
        .header("origin", &app.base)
        .header("cookie", &cookie)
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("request");
    let fresh = sso_cookie(&r).expect("a new cookie");
    assert_ne!(fresh, cookie);
    let r = rp.authorize(&challenge, &[], Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK, "the old cookie signs nobody in");
    // /auth/logout with the cookie ends single sign-on and clears it.
    let r = rp.authorize(&challenge, &[], Some(&fresh)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &fresh)
        .header("x-requested-with", "baton")
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.contains("baton_sso=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let r = rp.authorize(&challenge, &[], Some(&fresh)).await;
    assert_eq!(r.status(), StatusCode::OK, "signed out: the sign-in page");
}

#[tokio::test]
async fn a_page_sent_before_the_client_changed_is_checked_again() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (_, challenge) = pkce();
    let html = rp
        .authorize(&challenge, &[], None)
        .await
        .text()
        .await
        .expect("html");
    let client = app.state.baton.client("web").await.expect("client");
    app.state
        .baton
        .update_client(
            "web",
            ClientSettings {
                redirect_uris: vec!["https://app.example/new".into()],
                ..client.settings
            },
            false,
        )
        .await
        .expect("update");
    let r = rp.sign_in(&html, "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(sso_cookie(&r).is_none());
}

#[tokio::test]
async fn roles_go_to_code_flow_tokens_only_with_the_roles_scope() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let user = app.state.baton.user_by_name("alice").await.expect("user");
    app.state
        .baton
        .add_role(&user.id, "admin")
        .await
        .expect("role");
    let rp = Rp::first_party(&app).await;
    let (verifier, challenge) = pkce();
    let (code, cookie) = rp.code_for("alice", &challenge, &[]).await;
    let tokens = body(rp.exchange(&code, &verifier, CB).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().expect("at"));
    assert!(access.get("roles").is_none(), "{access}");
    assert!(jwt_claims(tokens["id_token"].as_str().expect("id"))
        .get("roles")
        .is_none());
    // Introspection releases no more than the token does.
    let seen = rp
        .introspect(tokens["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(seen["active"], true);
    assert!(seen.get("roles").is_none(), "{seen}");
    let r = rp
        .authorize(&challenge, &[("scope", "openid roles")], Some(&cookie))
        .await;
    let code = param(&redirect_params(&r), "code").expect("code");
    let tokens = body(rp.exchange(&code, &verifier, CB).await).await;
    let access = jwt_claims(tokens["access_token"].as_str().expect("at"));
    assert_eq!(access["roles"], serde_json::json!(["admin"]));
    let id = jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(id["roles"], serde_json::json!(["admin"]));
    let seen = rp
        .introspect(tokens["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(seen["roles"], serde_json::json!(["admin"]));
    let info = body(
        app.get_bearer(
            "/oauth/userinfo",
            tokens["access_token"].as_str().expect("at"),
        )
        .await,
    )
    .await;
    assert_eq!(info["roles"], serde_json::json!(["admin"]));
}

#[tokio::test]
async fn authorize_takes_post_and_refuses_what_browsers_say_is_cross_site() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (_, challenge) = pkce();
    let hint = "al\"ice<";
    let r = app
        .client
        .post(app.url("/oauth/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", hint),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(
        html.contains("value=\"al&#34;ice&lt;\"") || html.contains("value=\"al&quot;ice&lt;\""),
        "{html}"
    );
    // Sec-Fetch-Site: cross-site without Origin is refused too.
    let r = app
        .client
        .post(app.url("/oauth/authorize/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A malformed form is a page, not JSON.
    let r = app
        .client
        .post(app.url("/oauth/authorize/login"))
        .header("origin", &app.base)
        .form(&[("username", "alice")])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    // No code_verifier at all.
    let r = rp.sign_in(&html, "alice", PASSWORD).await;
    let code = param(&redirect_params(&r), "code").expect("code");
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("web", rp.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .expect("request");
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("PKCE verification failed"),
    )
    .await;
}

#[tokio::test]
async fn connected_apps_are_listed_and_disconnecting_one_ends_its_sessions() {
    let app = TestApp::spawn().await;
    let own = app.user_session("alice").await;
    let partner = Rp::third_party(&app).await;
    let (verifier, challenge) = pkce();
    let html = partner
        .authorize(&challenge, &[("scope", "openid offline_access")], None)
        .await
        .text()
        .await
        .expect("html");
    let r = partner.sign_in(&html, "alice", PASSWORD).await;
    let cookie = sso_cookie(&r).expect("cookie");
    let consent = r.text().await.expect("html");
    let allowed = app
        .client
        .post(app.url("/oauth/authorize/consent"))
        .header("origin", &app.base)
        .header("cookie", &cookie)
        .form(&[
            ("request", input(&consent, "request").as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("request");
    let code = param(&redirect_params(&allowed), "code").expect("code");
    let tokens = body(partner.exchange(&code, &verifier, CB).await).await;
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();

    let r = app.get_bearer("/auth/connected-apps", &own.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let list = body(r).await;
    assert_eq!(list["apps"][0]["client_id"], "partner");
    assert_eq!(list["apps"][0]["name"], "Partner App");
    assert_eq!(
        list["apps"][0]["scopes"],
        serde_json::json!(["offline_access", "openid"])
    );
    // The application's own token cannot see or change them.
    let r = app
        .get_bearer(
            "/auth/connected-apps",
            tokens["access_token"].as_str().expect("at"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let delete = |id: &'static str| {
        let app = &app;
        let access = own.access.clone();
        async move {
            app.client
                .delete(app.url(&format!("/auth/connected-apps/{id}")))
                .bearer_auth(access)
                .send()
                .await
                .expect("request")
        }
    };
    // A code issued just before the disconnection cannot open a session after it.
    let r = partner
        .authorize(
            &challenge,
            &[("scope", "openid offline_access")],
            Some(&cookie),
        )
        .await;
    let late_code = param(&redirect_params(&r), "code").expect("code");
    assert_eq!(delete("partner").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        partner.exchange(&late_code, &verifier, CB).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(delete("partner").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(delete("nobody").await.status(), StatusCode::NOT_FOUND);
    let list = body(app.get_bearer("/auth/connected-apps", &own.access).await).await;
    assert_eq!(list["apps"], serde_json::json!([]));
    // Its refresh token is revoked at once, and the next sign-in asks again.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("partner", partner.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Refresh token has been revoked"),
    )
    .await;
    let r = partner
        .authorize(
            &challenge,
            &[("scope", "openid offline_access")],
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page again");
    // baton's own session is untouched; both steps are in the user's activity.
    assert_eq!(
        app.get_bearer("/api/me", &own.access).await.status(),
        StatusCode::OK
    );
    let events = body(app.get_bearer("/auth/events", &own.access).await).await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"consent_granted") && kinds.contains(&"app_disconnected"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn pushed_requests_are_checked_used_once_and_can_be_required() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::add(
        &app,
        "pushy",
        ClientSettings {
            first_party: true,
            require_par: true,
            grants: vec![Grant::AuthorizationCode],
            redirect_uris: vec![CB.into()],
            scopes: vec!["openid".into(), "profile".into()],
            ..ClientSettings::legacy()
        },
    )
    .await;
    let (verifier, challenge) = pkce();
    let push = |fields: Vec<(&'static str, String)>, secret: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.client.post(app.url("/oauth/par")).form(&fields);
            if let Some(secret) = secret {
                req = req.basic_auth("pushy", Some(secret));
            }
            req.send().await.expect("request")
        }
    };
    let base = |challenge: &str| {
        vec![
            ("response_type", "code".to_owned()),
            ("redirect_uri", CB.to_owned()),
            ("scope", "openid profile".to_owned()),
            ("state", "st-123".to_owned()),
            ("nonce", "n-456".to_owned()),
            ("code_challenge", challenge.to_owned()),
            ("code_challenge_method", "S256".to_owned()),
        ]
    };
    // A client that must push cannot send the request directly.
    let r = rp.authorize(&challenge, &[], None).await;
    assert_eq!(
        param(&redirect_params(&r), "error").as_deref(),
        Some("invalid_request")
    );

    let r = push(base(&challenge), rp.secret.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pushed = body(r).await;
    assert_eq!(pushed["expires_in"], 60);
    let request_uri = pushed["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let by_uri = |uri: String, extra: Option<(&'static str, &'static str)>| {
        let app = &app;
        async move {
            let mut q = vec![("client_id", "pushy".to_owned()), ("request_uri", uri)];
            if let Some((k, v)) = extra {
                q.push((k, v.to_owned()));
            }
            app.client
                .get(app.url("/oauth/authorize"))
                .query(&q)
                .send()
                .await
                .expect("request")
        }
    };
    // Parameters beside request_uri do not count (RFC 9126 §4).
    let page = by_uri(
        request_uri.clone(),
        Some(("redirect_uri", "https://evil.example/cb")),
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    let r = rp.sign_in(&html, "alice", PASSWORD).await;
    let params = redirect_params(&r);
    assert_eq!(param(&params, "state").as_deref(), Some("st-123"));
    let code = param(&params, "code").expect("code");
    assert_eq!(
        rp.exchange(&code, &verifier, CB).await.status(),
        StatusCode::OK
    );
    // Used once.
    let r = by_uri(request_uri.clone(), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // Another client's, or expired after 60 seconds.
    let r = push(base(&challenge), rp.secret.clone()).await;
    let uri = body(r).await["request_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    Rp::first_party(&app).await;
    let r = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(&[("client_id", "web"), ("request_uri", uri.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Another client's attempt does not spend it.
    assert_eq!(by_uri(uri, None).await.status(), StatusCode::OK);
    let r = push(base(&challenge), rp.secret.clone()).await;
    let uri = body(r).await["request_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    app.advance(61);
    assert_eq!(by_uri(uri, None).await.status(), StatusCode::BAD_REQUEST);
    // Refusals are JSON at the push.
    let mut bad = base(&challenge);
    bad.retain(|(k, _)| *k != "redirect_uri");
    bad.push(("redirect_uri", "https://evil.example/cb".into()));
    assert_error(
        push(bad, rp.secret.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    let mut bad = base(&challenge);
    bad.retain(|(k, _)| *k != "scope");
    bad.push(("scope", "openid admin".into()));
    assert_error(
        push(bad, rp.secret.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        None,
    )
    .await;
    let mut bad = base(&challenge);
    bad.retain(|(k, _)| *k != "code_challenge_method");
    bad.push(("code_challenge_method", "plain".into()));
    assert_error(
        push(bad, rp.secret.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    assert_error(
        push(base(&challenge), Some("wrong".into())).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        None,
    )
    .await;
    assert_error(
        push(base(&challenge), None).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        None,
    )
    .await;
    // Discovery lists the endpoint.
    let m: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        m["pushed_authorization_request_endpoint"],
        format!("{}/oauth/par", app.base)
    );
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_browser_session_and_the_apps_online_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::add(
        &app,
        "web",
        ClientSettings {
            first_party: true,
            grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
            redirect_uris: vec![CB.into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            scopes: ["openid", "profile", "offline_access"]
                .map(String::from)
                .to_vec(),
            ..ClientSettings::legacy()
        },
    )
    .await;
    let (verifier, challenge) = pkce();
    let (code, cookie) = rp.code_for("alice", &challenge, &[]).await;
    let online = body(rp.exchange(&code, &verifier, CB).await).await;
    let id_token = online["id_token"].as_str().expect("id").to_owned();
    let r = rp
        .authorize(
            &challenge,
            &[("scope", "openid offline_access")],
            Some(&cookie),
        )
        .await;
    let code = param(&redirect_params(&r), "code").expect("code");
    let offline = body(rp.exchange(&code, &verifier, CB).await).await;
    let logout = |query: Vec<(&'static str, String)>, cookie: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.client.get(app.url("/oauth/logout")).query(&query);
            if let Some(cookie) = cookie {
                req = req.header("cookie", cookie);
            }
            req.send().await.expect("request")
        }
    };
    // An unregistered post_logout_redirect_uri, a forged hint: a page, nothing ended.
    let r = logout(
        vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", "https://evil.example/".into()),
        ],
        Some(cookie.clone()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let mut forged = id_token.clone();
    forged.push('x');
    let r = logout(vec![("id_token_hint", forged)], Some(cookie.clone())).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Without a hint: the user confirms first.
    let r = logout(vec![("client_id", "web".into())], Some(cookie.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .expect("html")
        .contains("/oauth/logout/confirm"));
    assert_eq!(
        rp.authorize(&challenge, &[], Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER,
        "still signed in"
    );
    // With the hint of this browser session: signed out at once, back to the app with state.
    let r = logout(
        vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", "https://app.example/bye".into()),
            ("state", "s-1".into()),
        ],
        Some(cookie.clone()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://app.example/bye?state=s-1");
    let cleared = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cleared.contains("baton_sso=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        rp.authorize(&challenge, &[], Some(&cookie)).await.status(),
        StatusCode::OK,
        "signed out"
    );
    let refresh = |token: &str| {
        app.client
            .post(app.url("/oauth/token"))
            .basic_auth("web", rp.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .send()
    };
    let r = refresh(online["refresh_token"].as_str().expect("rt"))
        .await
        .expect("request");
    assert_error(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Refresh token has been revoked"),
    )
    .await;
    let r = refresh(offline["refresh_token"].as_str().expect("rt"))
        .await
        .expect("request");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "offline_access outlives the browser session"
    );
    // The confirmation form from another site is refused.
    let r = app
        .client
        .post(app.url("/oauth/logout/confirm"))
        .header("origin", "https://evil.example")
        .header("cookie", &cookie)
        .form(&[("client_id", "web")])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Confirmed on the page: signed out, and back to the app.
    let (_, again) = rp.code_for("alice", &challenge, &[]).await;
    let r = app
        .client
        .post(app.url("/oauth/logout/confirm"))
        .header("origin", &app.base)
        .header("cookie", &again)
        .form(&[
            ("client_id", "web"),
            ("post_logout_redirect_uri", "https://app.example/bye"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        rp.authorize(&challenge, &[], Some(&again)).await.status(),
        StatusCode::OK,
        "signed out"
    );
}

#[tokio::test]
async fn signing_in_again_keeps_the_apps_sessions_and_logout_then_ends_them() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::first_party(&app).await;
    let (verifier, challenge) = pkce();
    let (code, cookie) = rp.code_for("alice", &challenge, &[]).await;
    let tokens = body(rp.exchange(&code, &verifier, CB).await).await;
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();
    // The same user signs in again on the page (prompt=login).
    let html = rp
        .authorize(&challenge, &[("prompt", "login")], Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    let r = app
        .client
        .post(app.url("/oauth/authorize/login"))
        .header("origin", &app.base)
        .header("cookie", &cookie)
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("request");
    let fresh = sso_cookie(&r).expect("new cookie");
    let code = param(&redirect_params(&r), "code").expect("code");
    let second = body(rp.exchange(&code, &verifier, CB).await).await;
    let grant = |token: String| {
        let app = &app;
        let secret = rp.secret.clone();
        async move {
            app.client
                .post(app.url("/oauth/token"))
                .basic_auth("web", secret)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .expect("request")
        }
    };
    let r = grant(refresh).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the app's session survived the new sign-in"
    );
    let rotated = body(r).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    // Signing out of the new browser session ends both of the app's sessions.
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &fresh)
        .header("x-requested-with", "baton")
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    for token in [
        rotated,
        second["refresh_token"].as_str().expect("rt").to_owned(),
    ] {
        let r = grant(token).await;
        assert_error(
            r,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("Refresh token has been revoked"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_clients_claim_mapping_names_attributes_as_it_expects_within_the_scopes() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let user = app.state.baton.user_by_name("alice").await.expect("user");
    app.state
        .baton
        .add_role(&user.id, "admin")
        .await
        .expect("role");
    use baton_core::client::ClaimSource;
    let rp = Rp::add(
        &app,
        "mapped",
        ClientSettings {
            first_party: true,
            grants: vec![Grant::AuthorizationCode],
            redirect_uris: vec![CB.into()],
            scopes: ["openid", "profile", "roles"].map(String::from).to_vec(),
            claims: [
                ("groups".to_owned(), ClaimSource::Roles),
                ("login".to_owned(), ClaimSource::Username),
                ("mail".to_owned(), ClaimSource::Email),
            ]
            .into(),
            ..ClientSettings::legacy()
        },
    )
    .await;
    let (verifier, challenge) = pkce();
    let (code, cookie) = rp
        .code_for("alice", &challenge, &[("scope", "openid roles")])
        .await;
    let tokens = body(rp.exchange(&code, &verifier, CB).await).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(id["groups"], serde_json::json!(["admin"]));
    assert!(id.get("login").is_none(), "username needs profile: {id}");
    assert!(id.get("mail").is_none(), "no address, and no email scope");
    let info = body(
        app.get_bearer(
            "/oauth/userinfo",
            tokens["access_token"].as_str().expect("at"),
        )
        .await,
    )
    .await;
    assert_eq!(info["groups"], serde_json::json!(["admin"]));
    let r = rp
        .authorize(&challenge, &[("scope", "openid profile")], Some(&cookie))
        .await;
    let code = param(&redirect_params(&r), "code").expect("code");
    let id = jwt_claims(
        body(rp.exchange(&code, &verifier, CB).await).await["id_token"]
            .as_str()
            .expect("id"),
    );
    assert_eq!(id["login"], "alice");
    assert!(id.get("groups").is_none(), "roles need the roles scope");
    // Standard claims cannot be remapped.
    let refused = app
        .state
        .baton
        .add_client(
            "bad",
            true,
            ClientSettings {
                claims: [("sub".to_owned(), ClaimSource::Username)].into(),
                ..ClientSettings::legacy()
            },
        )
        .await;
    assert!(refused.is_err());
}

/// What a back-channel logout receiver was sent: (content type, `logout_token`).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A relying party's back-channel logout endpoint on a loopback port: it answers `500` to the
/// first delivery and `204` to every later one, and keeps what it was sent.
async fn logout_receiver() -> (String, Received) {
    use axum::extract::State;
    use axum::http::HeaderMap;
    let received: Received = Received::default();
    let handler = |State(seen): State<Received>, headers: HeaderMap, form: String| async move {
        let kind = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let token = url::form_urlencoded::parse(form.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let mut seen = seen.lock().expect("lock");
        seen.push((kind, token));
        if seen.len() == 1 {
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        } else {
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let router = axum::Router::new()
        .route("/bcl", axum::routing::post(handler))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/bcl"), received)
}

/// Waits (a few seconds at most) until the receiver holds `n` deliveries.
async fn delivered(received: &Received, n: usize) -> Vec<(String, String)> {
    for _ in 0..100 {
        {
            let seen = received.lock().expect("lock");
            if seen.len() >= n {
                return seen.clone();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{} deliveries, not {n}",
        received.lock().expect("lock").len()
    );
}

#[tokio::test]
async fn ending_a_browser_session_posts_a_logout_token_to_each_app_and_retries() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let (uri, received) = logout_receiver().await;
    let rp = Rp::add(
        &app,
        "web",
        ClientSettings {
            first_party: true,
            grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
            redirect_uris: vec![CB.into()],
            scopes: ["openid", "profile"].map(String::from).to_vec(),
            backchannel_logout_uri: Some(uri),
            ..ClientSettings::legacy()
        },
    )
    .await;
    let discovery = body(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    let (verifier, challenge) = pkce();
    let (code, cookie) = rp.code_for("alice", &challenge, &[]).await;
    let first = body(rp.exchange(&code, &verifier, CB).await).await;
    let claims = |token: &str| -> Value {
        let payload = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
    };
    let first = claims(first["id_token"].as_str().expect("id token"));
    // The same user signs in again: the app's session moves on, its sid stays the first one.
    let html = rp
        .authorize(&challenge, &[("prompt", "login")], Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    let r = app
        .client
        .post(app.url("/oauth/authorize/login"))
        .header("origin", &app.base)
        .header("cookie", &cookie)
        .form(&[
            ("request", input(&html, "request").as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("request");
    let fresh = sso_cookie(&r).expect("new cookie");
    let code = param(&redirect_params(&r), "code").expect("code");
    let second = body(rp.exchange(&code, &verifier, CB).await).await;
    let second = claims(second["id_token"].as_str().expect("id token"));
    assert_ne!(first["sid"], second["sid"]);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(
        received.lock().expect("lock").is_empty(),
        "signing in again ends no app's sign-in"
    );

    // Signing out: the app is told about both sign-ins; the first delivery fails.
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &fresh)
        .header("x-requested-with", "baton")
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    delivered(&received, 2).await;
    // Retried after its backoff (30 s) with a token of its own. The worker records the failure
    // just after the receiver answers: the clock moves on until the retry comes.
    for _ in 0..20 {
        app.advance(31);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if received.lock().expect("lock").len() >= 3 {
            break;
        }
    }
    let seen = delivered(&received, 3).await;
    let mut sids = Vec::new();
    let mut jtis = Vec::new();
    for (kind, token) in &seen {
        assert_eq!(kind, "application/x-www-form-urlencoded");
        let header = jsonwebtoken::decode_header(token).expect("header");
        assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
        let verified = crate::discovery::verify_for(&app, token, &app.base, "web").await;
        assert_eq!(verified["sub"], first["sub"]);
        assert_eq!(verified["iss"], app.base.as_str());
        assert_eq!(
            verified["events"],
            serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}})
        );
        assert!(verified.get("nonce").is_none());
        let lifetime =
            verified["exp"].as_i64().expect("exp") - verified["iat"].as_i64().expect("iat");
        assert_eq!(lifetime, 120);
        sids.push(verified["sid"].as_str().expect("sid").to_owned());
        jtis.push(verified["jti"].as_str().expect("jti").to_owned());
    }
    sids.sort();
    sids.dedup();
    let mut expected = vec![
        first["sid"].as_str().expect("sid").to_owned(),
        second["sid"].as_str().expect("sid").to_owned(),
    ];
    expected.sort();
    assert_eq!(sids, expected, "one notice per sid the app was told");
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "a fresh token at every attempt");
    // Delivered: nothing more is sent.
    app.advance(3600);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(received.lock().expect("lock").len(), 3);
}

#[tokio::test]
async fn a_public_clients_pushes_are_limited_per_ip_and_a_confidential_clients_are_not() {
    let app = TestApp::spawn().await;
    let settings = ClientSettings {
        grants: vec![Grant::AuthorizationCode],
        redirect_uris: vec![CB.into()],
        scopes: vec!["openid".into()],
        ..ClientSettings::legacy()
    };
    app.state
        .baton
        .add_client("spa", false, settings.clone())
        .await
        .expect("public client");
    let confidential = Rp::add(&app, "backend", settings).await;
    let (_, challenge) = pkce();
    let push = |client: &'static str, secret: Option<String>| {
        let app = &app;
        let challenge = challenge.clone();
        async move {
            let mut req = app.client.post(app.url("/oauth/par")).form(&[
                ("client_id", client),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]);
            if let Some(secret) = secret {
                req = req.basic_auth(client, Some(secret));
            }
            req.send().await.expect("request")
        }
    };
    for _ in 0..30 {
        assert_eq!(push("spa", None).await.status(), StatusCode::CREATED);
    }
    let r = push("spa", None).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None).await;
    for _ in 0..31 {
        let r = push("backend", confidential.secret.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // The window passes.
    app.advance(301);
    assert_eq!(push("spa", None).await.status(), StatusCode::CREATED);
}

/// RFC 8707: a client asks for tokens for one of its registered APIs with `resource`, and the
/// access tokens (refreshed ones too) name it as `aud`; anything else is `invalid_target`.
#[tokio::test]
async fn resource_indicators_set_the_access_tokens_audience() {
    const API: &str = "https://api.example/";
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let rp = Rp::add(
        &app,
        "web",
        ClientSettings {
            first_party: true,
            grants: vec![
                Grant::AuthorizationCode,
                Grant::RefreshToken,
                Grant::ClientCredentials,
                Grant::Password,
            ],
            redirect_uris: vec![CB.into()],
            scopes: ["openid", "profile", "reports:read"]
                .map(String::from)
                .to_vec(),
            resources: vec![API.into()],
            ..ClientSettings::legacy()
        },
    )
    .await;
    let secret = rp.secret.clone();
    let token = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let secret = secret.clone();
        async move {
            app.client
                .post(app.url("/oauth/token"))
                .basic_auth("web", secret)
                .form(&fields)
                .send()
                .await
                .expect("request")
        }
    };
    let (verifier, challenge) = pkce();
    // An API the client was not given, or two at once: back to the application as
    // invalid_target.
    let r = rp
        .authorize(&challenge, &[("resource", "https://other.example/")], None)
        .await;
    assert_eq!(
        param(&redirect_params(&r), "error").as_deref(),
        Some("invalid_target")
    );
    let twice = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("state", "st-123"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", API),
            ("resource", API),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(
        param(&redirect_params(&twice), "error").as_deref(),
        Some("invalid_target")
    );
    // Its own API: the access token is for it; the ID token stays the client's.
    let (code, cookie) = rp.code_for("alice", &challenge, &[("resource", API)]).await;
    let r = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", CB.into()),
        ("code_verifier", verifier.clone()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = body(r).await;
    let access = tokens["access_token"].as_str().expect("at").to_owned();
    let claims = crate::discovery::verify_for(&app, &access, &app.base, API).await;
    assert_eq!(
        claims["sub"],
        jwt_claims(tokens["id_token"].as_str().expect("id"))["sub"]
    );
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().expect("id"))["aud"],
        "web"
    );
    // A token for another API is not one for baton's own endpoints.
    let r = app.get_bearer("/oauth/userinfo", &access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Introspection knows it (the API asks baton about its own tokens).
    let seen = rp.introspect(&access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], API);
    // A refresh keeps the audience; asking for another refuses before the token is spent.
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let r = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh.clone()),
        ("resource", "https://other.example/".into()),
    ])
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_target", None).await;
    let r = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh),
        ("resource", API.into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the token was not spent");
    let refreshed = body(r).await;
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().expect("at"))["aud"],
        API
    );
    // A code issued for the API cannot be exchanged for another resource.
    let r = rp
        .authorize(&challenge, &[("resource", API)], Some(&cookie))
        .await;
    let code = param(&redirect_params(&r), "code").expect("code");
    let r = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", CB.into()),
        ("code_verifier", verifier.clone()),
        ("resource", "https://other.example/".into()),
    ])
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_target", None).await;
    // A code without one takes the resource at the token endpoint; without any, baton's.
    for (resource, aud) in [(Some(API), API), (None, "baton")] {
        let r = rp.authorize(&challenge, &[], Some(&cookie)).await;
        let code = param(&redirect_params(&r), "code").expect("code");
        let mut fields = vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", CB.into()),
            ("code_verifier", verifier.clone()),
        ];
        fields.extend(resource.map(|r| ("resource", r.to_owned())));
        let r = token(fields).await;
        assert_eq!(r.status(), StatusCode::OK);
        let at = body(r).await["access_token"]
            .as_str()
            .expect("at")
            .to_owned();
        assert_eq!(jwt_claims(&at)["aud"], aud);
    }
    // Client credentials: its API, or invalid_target.
    let r = token(vec![
        ("grant_type", "client_credentials".into()),
        ("resource", API.into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let at = body(r).await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    assert_eq!(jwt_claims(&at)["aud"], API);
    let seen = rp.introspect(&at).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], API);
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth("web", rp.secret.clone())
        .form(&[("token", at.as_str())])
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_token_type", None).await;
    let r = token(vec![
        ("grant_type", "client_credentials".into()),
        ("resource", "https://other.example/".into()),
    ])
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_target", None).await;
    // The password grant takes none.
    let r = token(vec![
        ("grant_type", "password".into()),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
        ("resource", API.into()),
    ])
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_target", None).await;
    // A pushed request naming its API carries it to the token.
    let r = app
        .client
        .post(app.url("/oauth/par"))
        .basic_auth("web", rp.secret.clone())
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", API),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::CREATED);
    let request_uri = body(r).await["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    let r = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(&[("client_id", "web"), ("request_uri", request_uri.as_str())])
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    let code = param(&redirect_params(&r), "code").expect("code");
    let r = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", CB.into()),
        ("code_verifier", verifier.clone()),
    ])
    .await;
    let pushed = body(r).await;
    let pushed_at = pushed["access_token"].as_str().expect("at").to_owned();
    assert_eq!(jwt_claims(&pushed_at)["aud"], API);
    // Revoking a token for the API ends its session.
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth("web", rp.secret.clone())
        .form(&[("token", pushed_at.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(rp.introspect(&pushed_at).await["active"], false);
    // A pushed request naming an API the client was not given is refused at once.
    let r = app
        .client
        .post(app.url("/oauth/par"))
        .basic_auth("web", rp.secret.clone())
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", "https://other.example/"),
        ])
        .send()
        .await
        .expect("request");
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_target", None).await;
}
