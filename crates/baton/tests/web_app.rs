//! The example server-rendered app (`examples/web-app`) signs a user in through a real baton
//! with the code flow, shows who they are, and signs them out of both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{baton, register_alice, Server, PASSWORD};
use reqwest::{Response, StatusCode};

fn location(r: &Response) -> String {
    assert!(r.status().is_redirection(), "{}", r.status());
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().expect("pair").to_owned())
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).expect("input");
    let v = html[at..].find("value=\"").expect("value") + at + 7;
    let end = html[v..].find('"').expect("end") + v;
    html[v..end].to_owned()
}

#[tokio::test]
async fn the_example_app_signs_a_user_in_and_out_through_baton() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app_base = format!("http://{}", listener.local_addr().expect("addr"));
    let out = baton(dir.path())
        .args(["client", "add", "web-app", "--confidential"])
        .args(["--redirect-uri", "http://127.0.0.1/callback"])
        .args(["--post-logout-redirect-uri", &format!("{app_base}/")])
        .args([
            "--scope",
            "openid profile",
            "--name",
            "Example app",
            "--first-party",
        ])
        .output()
        .expect("client add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret")
        .to_owned();
    let server = Server::start(dir.path(), &[]);
    register_alice(&server.base).await;
    let config = web_app::Config {
        issuer: server.base.clone(),
        client_id: "web-app".into(),
        client_secret: secret,
        public_url: app_base.clone(),
    };
    tokio::spawn(async move { axum::serve(listener, web_app::app(config)).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |url: String, cookie: Option<String>| {
        let http = &http;
        async move {
            let mut req = http.get(url);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            req.send().await.expect("request")
        }
    };

    let home = get(format!("{app_base}/"), None)
        .await
        .text()
        .await
        .expect("html");
    assert!(home.contains("Sign in with baton"), "{home}");
    let r = get(format!("{app_base}/login"), None).await;
    let started = set_cookie(&r, "web_app_signin").expect("the sign-in is bound to this browser");
    let to_baton = location(&r);
    assert!(
        to_baton.starts_with(&format!("{}/oauth/authorize?", server.base)),
        "{to_baton}"
    );
    let page = get(to_baton, None).await.text().await.expect("html");
    assert!(page.contains("Example app"), "{page}");
    let r = http
        .post(format!("{}/oauth/authorize/login", server.base))
        .header("origin", &server.base)
        .form(&[
            ("request", hidden(&page, "request").as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    let sso = set_cookie(&r, "__Host-baton_sso").expect("browser session");
    let callback = location(&r);
    assert!(
        callback.starts_with(&format!("{app_base}/callback?")),
        "{callback}"
    );
    // Finished in another browser (without the cookie of the one that started it): refused,
    // and the sign-in is still there for its own browser.
    let r = get(callback.clone(), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = get(callback, Some(started)).await;
    let Some(session) = set_cookie(&r, "web_app_session") else {
        panic!(
            "no session: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    };
    assert_eq!(location(&r), "/");
    let home = get(format!("{app_base}/"), Some(session.clone()))
        .await
        .text()
        .await
        .expect("html");
    assert!(home.contains("<span id=\"user\">alice</span>"), "{home}");

    // Mix-up (RFC 9207): the callback of a sign-in this browser did start, with baton's real
    // code and state, but naming another issuer, is refused for that alone; the genuine
    // callback then still works.
    let r = get(format!("{app_base}/login"), None).await;
    let started = set_cookie(&r, "web_app_signin").expect("cookie");
    let r = get(location(&r), Some(sso.clone())).await;
    let callback = location(&r);
    let parsed = reqwest::Url::parse(&callback).expect("url");
    let mut forged = parsed.clone();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(parsed.query_pairs().map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example".into()
            } else {
                v
            };
            (k, v)
        }));
    assert_ne!(forged.as_str(), callback);
    let r = get(forged.to_string(), Some(started.clone())).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let said = r.text().await.expect("html");
    assert!(said.contains("the answer names another issuer"), "{said}");
    let r = get(callback, Some(started)).await;
    assert!(
        set_cookie(&r, "web_app_session").is_some(),
        "the genuine answer signs in"
    );

    // Signing out ends the app's session, then baton's, and comes back.
    let r = http
        .post(format!("{app_base}/logout"))
        .header("cookie", &session)
        .send()
        .await
        .expect("logout");
    let to_baton = location(&r);
    assert!(
        to_baton.starts_with(&format!("{}/oauth/logout?", server.base)),
        "{to_baton}"
    );
    let r = get(to_baton, Some(sso.clone())).await;
    assert_eq!(location(&r), format!("{app_base}/"));
    let home = get(format!("{app_base}/"), Some(session))
        .await
        .text()
        .await
        .expect("html");
    assert!(home.contains("Sign in with baton"), "{home}");
    let again = location(&get(format!("{app_base}/login"), None).await);
    let r = get(again, Some(sso)).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "baton asks for the password again"
    );
}
