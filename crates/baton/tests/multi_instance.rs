//! Several `baton serve` processes on one PostgreSQL database, as behind a load balancer.
//! Runs when the test command provides a cluster (`BATON_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

async fn database() -> Option<String> {
    let admin = baton_store::testing::postgres_admin_url()?;
    Some(
        baton_store::testing::fresh_postgres_database(&admin)
            .await
            .expect("a fresh database"),
    )
}

fn start(dir: &std::path::Path, url: &str) -> Server {
    Server::start(
        dir,
        &[
            ("BATON_DATABASE_URL", url),
            ("BATON_SECRET", "a test secret that is long enough"),
            ("BATON_KEY_RELOAD_INTERVAL", "1s"),
            ("BATON_ISSUER", "http://baton.test"),
        ],
    )
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    client.post(url).json(&body).send().await.expect("request")
}

async fn kids(client: &reqwest::Client, base: &str) -> HashSet<String> {
    let jwks: Value = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_rotation_revocation_and_keys() {
    let Some(url) = database().await else {
        eprintln!("no PostgreSQL test cluster configured; skipping");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // Both start at once on an empty database: one migration, one signing key.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start(dir.path(), &url));
        let b = s.spawn(|| start(dir.path(), &url));
        (a.join().expect("A"), b.join().expect("B"))
    });
    let http = reqwest::Client::new();
    assert_eq!(kids(&http, &a.base).await, kids(&http, &b.base).await);
    assert_eq!(kids(&http, &a.base).await.len(), 1, "one key between them");

    // Registered and logged in on A; used and refreshed on B.
    common::register_alice(&a.base).await;
    let login = common::login_alice(&a.base).await;
    let me = http
        .get(format!("{}/api/me", b.base))
        .bearer_auth(login["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200, "B verifies A's access token");
    let r = post(
        &http,
        format!("{}/auth/refresh", b.base),
        json!({"refresh_token": login["refresh_token"]}),
    )
    .await;
    assert_eq!(r.status(), 200, "B refreshes A's refresh token");
    let token: Value = r.json().await.expect("json");
    // On the real clock (not whole milliseconds) the lifetimes are still whole: 7 days.
    assert_eq!(login["refresh_expires_in"], 604_800, "at login");
    assert_eq!(token["refresh_expires_in"], 604_800, "after a refresh");
    let token = token["refresh_token"].as_str().expect("token").to_owned();

    // 50 concurrent refreshes of one token, split across A and B: exactly one successor, handed
    // to the one that rotated and to at most 20 replays; the rest are refused and the session
    // lives on.
    let calls = (0..50).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        post(
            &http,
            format!("{base}/auth/refresh"),
            json!({"refresh_token": token}),
        )
    });
    let mut successors = HashSet::new();
    let (mut answered, mut refused) = (0, 0);
    for r in futures::future::join_all(calls).await {
        if r.status() == 401 {
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["error_description"], "Invalid refresh token");
            refused += 1;
            continue;
        }
        assert_eq!(r.status(), 200);
        answered += 1;
        let body: Value = r.json().await.expect("json");
        successors.insert(body["refresh_token"].as_str().expect("token").to_owned());
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    assert_eq!((answered, refused), (21, 29), "one rotation and 20 replays");
    let current = successors.into_iter().next().expect("one");

    // A session revoked through A is refused by B at once.
    let r = post(
        &http,
        format!("{}/auth/logout", a.base),
        json!({"refresh_token": current}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = post(
        &http,
        format!("{}/auth/refresh", b.base),
        json!({"refresh_token": current}),
    )
    .await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error_description"], "Refresh token has been revoked");

    // A key rotation reaches both instances' JWKS, the old key staying published.
    let before = kids(&http, &a.base).await;
    let out = common::baton(dir.path())
        .env("BATON_DATABASE_URL", &url)
        .env("BATON_SECRET", "a test secret that is long enough")
        .args(["keys", "rotate"])
        .output()
        .expect("rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ka, kb) = (kids(&http, &a.base).await, kids(&http, &b.base).await);
        if ka.len() == 2 && kb == ka {
            assert!(before.is_subset(&kb), "the old key stays published");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B did not pick up the rotation: {kb:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And tokens signed by B with the new key verify on A.
    let login = common::login_alice(&b.base).await;
    let access = login["access_token"].as_str().expect("token");
    let me = http
        .get(format!("{}/api/me", a.base))
        .bearer_auth(access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
}

/// aiosmtpd (`interop/python/smtp_sink.py`) saving what it accepts into `dir`; its port. `None`
/// when the test command provides no Python with it (and does not require one).
fn smtp_sink(dir: &std::path::Path) -> Option<(std::process::Child, u16)> {
    let Some(python) = std::env::var_os("BATON_INTEROP_PYTHON") else {
        assert!(
            std::env::var_os("BATON_REQUIRE_INTEROP").is_none(),
            "BATON_REQUIRE_INTEROP is set but BATON_INTEROP_PYTHON is not"
        );
        return None;
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/smtp_sink.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the SMTP sink starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("its port");
    Some((child, line.trim().parse().expect("a port")))
}

/// The `To:` address of every mail in `dir`.
fn recipients(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("read mail");
            text.lines()
                .find_map(|l| l.strip_prefix("To: "))
                .expect("a To header")
                .trim()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_an_outbox_send_each_mail_once() {
    let Some(url) = database().await else {
        eprintln!("no PostgreSQL test cluster configured; skipping");
        return;
    };
    let mail_dir = tempfile::tempdir().expect("mail dir");
    let Some((mut sink, port)) = smtp_sink(mail_dir.path()) else {
        eprintln!("no BATON_INTEROP_PYTHON (aiosmtpd); skipping");
        return;
    };
    let smtp = format!("smtp://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("BATON_DATABASE_URL", url.as_str()),
        ("BATON_SECRET", "a test secret that is long enough"),
        ("BATON_ISSUER", "http://baton.test"),
        ("BATON_SMTP_URL", smtp.as_str()),
    ];
    let (a, b) = (
        Server::start(dir.path(), &env),
        Server::start(dir.path(), &env),
    );
    // Sixteen registrations with an address, half on each instance, at once: each queues a
    // mail that both instances' workers may claim. (Twenty per client IP per five minutes is
    // the limit on registrations with an address.)
    const N: usize = 16;
    let http = reqwest::Client::new();
    let registrations: Vec<_> = (0..N)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b.base };
            post(
                &http,
                format!("{base}/auth/register"),
                json!({"username": format!("user{i}"), "password": "a long enough password",
                       "email": format!("user{i}@example.com")}),
            )
        })
        .collect();
    for r in futures::future::join_all(registrations).await {
        assert_eq!(r.status(), 201);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while recipients(mail_dir.path()).len() < N {
        assert!(
            Instant::now() < deadline,
            "{} of {N} mails arrived",
            recipients(mail_dir.path()).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Two more poll rounds of both workers: nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut got = recipients(mail_dir.path());
    got.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("user{i}@example.com")).collect();
    expected.sort();
    assert_eq!(got, expected, "each mail once");
    let _ = sink.kill();
    let _ = sink.wait();
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
