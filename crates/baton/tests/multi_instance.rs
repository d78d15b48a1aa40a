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
