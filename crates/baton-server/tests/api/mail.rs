//! Accounts with e-mail against a real SMTP server (aiosmtpd, from the test command's Python
//! environment): addresses confirmed by following the mailed link, passwords reset by mail,
//! mail kept in the outbox while the server is down and delivered when it comes back.

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A password the default rule (score 2) accepts.
const NEW: &str = "violet tortoise sails at dawn";

/// aiosmtpd on 127.0.0.1, saving what it accepts as files.
pub struct SmtpSink {
    child: Option<Child>,
    python: PathBuf,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

/// The Python with aiosmtpd (`BATON_INTEROP_PYTHON`); `None` skips the test, unless the test
/// command requires the interop stacks.
fn python() -> Option<PathBuf> {
    match std::env::var_os("BATON_INTEROP_PYTHON") {
        Some(python) => Some(python.into()),
        None => {
            assert!(
                std::env::var_os("BATON_REQUIRE_INTEROP").is_none(),
                "BATON_REQUIRE_INTEROP is set but BATON_INTEROP_PYTHON is not"
            );
            eprintln!("no BATON_INTEROP_PYTHON (aiosmtpd); skipping");
            None
        }
    }
}

fn sink_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/smtp_sink.py")
}

fn spawn_sink(python: &Path, dir: &Path, port: Option<u16>) -> (Child, u16) {
    let mut cmd = Command::new(python);
    cmd.arg(sink_script()).arg(dir);
    if let Some(port) = port {
        cmd.arg(port.to_string());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the SMTP sink starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("the sink prints its port");
    let port = line.trim().parse().expect("a port");
    (child, port)
}

/// One delivered mail, parsed.
#[derive(Debug)]
pub struct Delivered {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Delivered {
    /// The token of the link for `fragment` (`reset`, `verify`), as the text part has it.
    pub fn token(&self, fragment: &str) -> String {
        let marker = format!("/#{fragment}=");
        let at = self.text.find(&marker).expect("a link in the mail") + marker.len();
        self.text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

impl SmtpSink {
    pub fn start() -> Option<Self> {
        let python = python()?;
        let dir = tempfile::tempdir().expect("dir");
        let (child, port) = spawn_sink(&python, dir.path(), None);
        Some(Self {
            child: Some(child),
            python,
            port,
            dir,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server: connections to its port are refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let (child, _) = spawn_sink(&self.python, self.dir.path(), Some(self.port));
        self.child = Some(child);
    }

    /// Every mail delivered so far, oldest first.
    pub fn delivered(&self) -> Vec<Delivered> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let raw = std::fs::read(path).expect("read mail");
                let m = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a mail");
                let address = |a: Option<&mail_parser::Address>| {
                    a.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned()
                };
                Delivered {
                    to: address(m.to()),
                    from: address(m.from()),
                    subject: m.subject().unwrap_or_default().to_owned(),
                    text: m.body_text(0).unwrap_or_default().into_owned(),
                    html: m.body_html(0).unwrap_or_default().into_owned(),
                }
            })
            .collect()
    }

    /// Waits (up to 20 s) until `n` mails have arrived; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivered> {
        for _ in 0..200 {
            let mails = self.delivered();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} mails expected, {} arrived", self.delivered().len());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A baton sending mail to `sink`.
async fn app_with(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(|s| {
        s.smtp_url = Some(url.into());
        s.mail_from = Some("Example Auth <auth@example.com>".into());
        s.public_url = Some("https://app.example.com/account".into());
    })
    .await
}

async fn register_with_email(app: &TestApp, name: &str, email: &str) -> Response {
    app.post_json(
        "/auth/register",
        &json!({"username": name, "password": PASSWORD, "email": email}),
    )
    .await
}

async fn forgot(app: &TestApp, body: &Value) -> Response {
    app.post_json("/auth/password/forgot", body).await
}

async fn reset(app: &TestApp, token: &str, new: &str) -> Response {
    app.post_json(
        "/auth/password/reset",
        &json!({"token": token, "new_password": new}),
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> Response {
    app.post_json("/auth/email/verify", &json!({"token": token}))
        .await
}

async fn me(app: &TestApp, access: &str) -> Value {
    let r = app.get_bearer("/api/me", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

/// Registers `name` with `email` and confirms it from the delivered mail (the `n`th).
async fn confirmed_user(app: &TestApp, sink: &SmtpSink, name: &str, email: &str, n: usize) {
    assert_eq!(
        register_with_email(app, name, email).await.status(),
        StatusCode::CREATED
    );
    let mails = sink.wait_for(n).await;
    let mail = mails.last().expect("a mail");
    assert_eq!(
        verify(app, &mail.token("verify")).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn registering_with_an_address_mails_a_link_that_confirms_it() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    let r = register_with_email(&app, "alice", "  Alice@Example.com ").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let b = body(r).await;
    assert_eq!(b["email"], "Alice@Example.com", "trimmed, stored as given");

    let mails = sink.wait_for(1).await;
    let mail = &mails[0];
    // The domain goes to the server in its ASCII form (lower case); the local part as given.
    assert_eq!(mail.to, "Alice@example.com");
    assert_eq!(mail.from, "auth@example.com");
    assert_eq!(mail.subject, "Confirm your e-mail address");
    assert!(mail.text.contains("Hello alice,"), "{}", mail.text);
    assert!(
        mail.text
            .contains("https://app.example.com/account/#verify="),
        "{}",
        mail.text
    );
    assert!(mail.html.contains("#verify="), "an HTML part too");
    let token = mail.token("verify");
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let alice = app.login_ok("alice").await;
    assert_eq!(me(&app, &alice.access).await["email_verified"], false);
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    // Once only.
    assert_error(
        verify(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
        None,
    )
    .await;
    assert_error(
        verify(&app, "made-up").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
        None,
    )
    .await;
    // The next token says so (as `username` does, the claims are those of the issue time).
    let alice = app.refresh_ok(&alice.refresh).await;
    let shown = me(&app, &alice.access).await;
    assert_eq!(shown["email"], "Alice@Example.com");
    assert_eq!(shown["email_verified"], true);
    let events = body(app.get_bearer("/auth/events", &alice.access).await).await;
    assert!(events["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["type"] == "email_verified"));

    // Addresses are unique among live users, compared in lower case, and counted like names.
    let r = register_with_email(&app, "bob", "alice@example.COM").await;
    assert_error(r, StatusCode::CONFLICT, "email_taken", None).await;
    let r = register_with_email(&app, "bob", "not an address").await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    // A blank address (a form's empty field) is no address.
    let r = register_with_email(&app, "erin", "  ").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(body(r).await.get("email").is_none());
    // No email, no mail; `/api/me` then shows none.
    let carol = app.user_session("carol").await;
    let me = me(&app, &carol.access).await;
    assert!(
        me.get("email").is_none() && me.get("email_verified").is_none(),
        "{me}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test]
async fn forgot_then_reset_ends_every_session_and_the_new_password_signs_in() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    confirmed_user(&app, &sink, "alice", "alice@example.com", 1).await;
    let first = app.login_ok("alice").await;
    let second = app.login_ok("alice").await;

    let r = forgot(&app, &json!({"email": "ALICE@example.com"})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mails = sink.wait_for(2).await;
    let mail = &mails[1];
    assert_eq!(mail.to, "alice@example.com");
    assert_eq!(mail.subject, "Reset your password");
    assert!(mail.text.contains("within 30 minutes"), "{}", mail.text);
    let token = mail.token("reset");

    // The rule applies, and a refusal leaves the token usable.
    assert_error(
        reset(&app, &token, "password123").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        None,
    )
    .await;
    assert_eq!(
        reset(&app, &token, NEW).await.status(),
        StatusCode::NO_CONTENT
    );
    for old in [&first, &second] {
        assert_error(
            app.refresh(&old.refresh).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some("Refresh token has been revoked"),
        )
        .await;
    }
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login("alice", NEW).await.status(), StatusCode::OK);
    // Used once.
    assert_error(
        reset(&app, &token, "another fine passphrase 77").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
        Some("Invalid, used or expired token"),
    )
    .await;

    // By username too; a second request voids nothing, a reset voids the other links.
    assert_eq!(
        forgot(&app, &json!({"username": "Alice"})).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        forgot(&app, &json!({"username": "alice"})).await.status(),
        StatusCode::ACCEPTED
    );
    let mails = sink.wait_for(4).await;
    let (a, b) = (mails[2].token("reset"), mails[3].token("reset"));
    assert_ne!(a, b);
    assert_eq!(
        reset(&app, &b, "a third passphrase, quite long")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        reset(&app, &a, NEW).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
        None,
    )
    .await;
}

#[tokio::test]
async fn a_reset_link_expires() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    confirmed_user(&app, &sink, "alice", "alice@example.com", 1).await;
    assert_eq!(
        forgot(&app, &json!({"email": "alice@example.com"}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let token = sink.wait_for(2).await[1].token("reset");
    app.advance(30 * 60 + 1);
    assert_error(
        reset(&app, &token, NEW).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
        None,
    )
    .await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn forgot_answers_202_for_anyone_and_mails_only_confirmed_addresses() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    // Unconfirmed: registered with an address, never confirmed.
    assert_eq!(
        register_with_email(&app, "bob", "bob@example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
    sink.wait_for(1).await;
    app.create_user("carol").await;
    for asked in [
        json!({"email": "nobody@example.com"}),
        json!({"username": "nobody"}),
        json!({"email": "bob@example.com"}),
        json!({"username": "carol"}),
    ] {
        let r = forgot(&app, &asked).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{asked}");
    }
    // Malformed input is no account of anyone's: a plain 400.
    for bad in [
        json!({}),
        json!({"email": "a@b.c", "username": "x"}),
        json!({"email": 5}),
        json!({"email": "not an address"}),
        json!({"username": ""}),
    ] {
        let r = forgot(&app, &bad).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sink.delivered().len(),
        1,
        "only bob's confirmation went out"
    );
}

#[tokio::test]
async fn forgot_is_limited_per_account_and_per_address() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    confirmed_user(&app, &sink, "alice", "alice@example.com", 1).await;
    for _ in 0..3 {
        let r = forgot(&app, &json!({"email": "alice@example.com"})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = forgot(&app, &json!({"email": "Alice@Example.com"})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Unknown accounts are limited the same way: the 429 tells nothing either.
    for _ in 0..3 {
        forgot(&app, &json!({"email": "ghost@example.com"})).await;
    }
    let r = forgot(&app, &json!({"email": "ghost@example.com"})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let mails = sink.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.delivered().len(),
        4,
        "three reset mails and the confirmation"
    );
    assert!(mails.iter().all(|m| m.to == "alice@example.com"));
    // The client IP's own limit: 20 per five minutes, whatever the accounts (six so far;
    // refusals count nothing).
    for i in 0..14 {
        let r = forgot(&app, &json!({"username": format!("name{i}")})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = forgot(&app, &json!({"username": "yet another"})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.advance(301);
    let r = forgot(&app, &json!({"username": "alice"})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_goes_out_when_it_is_back() {
    let Some(mut sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    confirmed_user(&app, &sink, "alice", "alice@example.com", 1).await;
    sink.stop();

    let r = forgot(&app, &json!({"email": "alice@example.com"})).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "a down mail server fails no request"
    );
    // The worker tries, fails, and sets a later attempt.
    let mut tried = false;
    for _ in 0..100 {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.contains("baton_mails_total{kind=\"password_reset\",outcome=\"retry\"}") {
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tried, "a failed attempt was counted");
    assert_eq!(
        app.state.baton.outbox_len().await.expect("outbox"),
        1,
        "kept in the outbox"
    );

    sink.restart();
    app.advance(16);
    let mails = sink.wait_for(2).await;
    assert_eq!(mails[1].subject, "Reset your password");
    assert_eq!(
        reset(&app, &mails[1].token("reset"), NEW).await.status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..50 {
        if app.state.baton.outbox_len().await.expect("outbox") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.state.baton.outbox_len().await.expect("outbox"), 0);
}

#[tokio::test]
async fn mail_queued_before_a_restart_is_sent_after_it() {
    let Some(mut sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    confirmed_user(&app, &sink, "alice", "alice@example.com", 1).await;
    sink.stop();
    assert_eq!(
        forgot(&app, &json!({"email": "alice@example.com"}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    for _ in 0..50 {
        if app.state.baton.outbox_len().await.expect("outbox") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = app.stop().await;
    sink.restart();
    let url = sink.url();
    let app = TestApp::spawn_in(dir, |s| {
        s.smtp_url = Some(url.into());
    })
    .await;
    // After the lease of the stopped instance's attempt (if any) and its backoff.
    app.advance(3 * 60);
    let mails = sink.wait_for(2).await;
    assert_eq!(
        reset(&app, &mails[1].token("reset"), NEW).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn changing_the_address_needs_the_password_and_mails_the_new_one() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    confirmed_user(&app, &sink, "alice", "alice@example.com", 1).await;
    assert_eq!(
        register_with_email(&app, "bob", "bob@example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
    sink.wait_for(2).await;
    let alice = app.login_ok("alice").await;
    let put = |email: &str, password: &str| {
        app.client
            .put(app.url("/auth/email"))
            .bearer_auth(&alice.access)
            .json(&json!({"email": email, "current_password": password}))
            .send()
    };
    let r = put("alice@new.example.com", "wrong password")
        .await
        .expect("request");
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials", None).await;
    let r = put("BOB@example.com", PASSWORD).await.expect("request");
    assert_error(r, StatusCode::CONFLICT, "email_taken", None).await;
    let r = put("no-at-sign", PASSWORD).await.expect("request");
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request", None).await;
    // The same confirmed address again changes nothing and mails nothing.
    let r = put("alice@example.com", PASSWORD).await.expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let r = put("alice@new.example.com", PASSWORD)
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mails = sink.wait_for(3).await;
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2].to, "alice@new.example.com");
    let alice = app.refresh_ok(&alice.refresh).await;
    let now = me(&app, &alice.access).await;
    assert_eq!(
        (now["email"].as_str(), now["email_verified"].as_bool()),
        (Some("alice@new.example.com"), Some(false))
    );
    // Unconfirmed, it gets no reset mail.
    forgot(&app, &json!({"email": "alice@new.example.com"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.delivered().len(), 3);
    // A second change voids the first link.
    let first = mails[2].token("verify");
    let r = put("alice@third.example.com", PASSWORD)
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mails = sink.wait_for(4).await;
    assert_error(
        verify(&app, &first).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
        None,
    )
    .await;
    assert_eq!(
        verify(&app, &mails[3].token("verify")).await.status(),
        StatusCode::NO_CONTENT
    );
    let alice = app.refresh_ok(&alice.refresh).await;
    assert_eq!(me(&app, &alice.access).await["email_verified"], true);
    // The old address is free again.
    assert_eq!(
        register_with_email(&app, "dave", "alice@example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn confirmation_mails_are_limited_per_account() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = app_with(&sink).await;
    let alice = app.user_session("alice").await;
    let put = |email: String| {
        app.client
            .put(app.url("/auth/email"))
            .bearer_auth(&alice.access)
            .json(&json!({"email": email, "current_password": PASSWORD}))
            .send()
    };
    for i in 0..3 {
        let r = put(format!("alice{i}@example.com")).await.expect("request");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let r = put("alice9@example.com".into()).await.expect("request");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None).await;
    // The last address's confirmation goes out; the earlier ones' links were voided (their
    // mails dropped when not sent yet).
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = sink
        .delivered()
        .into_iter()
        .chain(mails)
        .collect::<Vec<_>>();
    assert!(
        mails.iter().any(|m| m.to == "alice2@example.com"),
        "{mails:?}"
    );
    app.advance(301);
    let r = put("alice9@example.com".into()).await.expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn without_smtp_the_endpoints_answer_and_nothing_is_queued() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/auth/register",
            &json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = forgot(&app, &json!({"email": "alice@example.com"})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.state.baton.outbox_len().await.expect("outbox"), 0);
    // An operator's link still works.
    let user = app.state.baton.user_by_name("alice").await.expect("alice");
    let link = app.state.baton.reset_link(&user).await.expect("link");
    let token = link.split_once("#reset=").expect("a reset link").1;
    assert!(link.starts_with(&app.base), "{link}");
    assert_eq!(
        reset(&app, token, NEW).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.login("alice", NEW).await.status(), StatusCode::OK);
}
