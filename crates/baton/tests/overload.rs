//! Overload: a flood of correct logins far past the hashing capacity is shed with `503` and
//! `Retry-After` (never `429`: no password was wrong), the process's memory stays bounded, and
//! refreshes and `/api/me` keep being answered meanwhile. Timings are the benchmark's business
//! (`bench/run`, docs/reliability.md); this asserts behaviour only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{add_user, Server};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The server's peak resident memory so far, in bytes (Linux).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

#[derive(Default)]
struct Tally {
    ok: u64,
    shed: u64,
    other: Vec<(u16, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_shed_while_refreshes_and_verification_go_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let users = ["ann", "bob", "cyd", "dee"];
    for name in users {
        let out = add_user(dir.path(), name, "correct horse battery staple");
        assert!(out.status.success(), "{out:?}");
    }
    // One hashing thread: two password checks at once, four waiting, at most a second each.
    let server = Server::start(
        dir.path(),
        &[
            ("BATON_HASH_CONCURRENCY", "1"),
            ("BATON_HASH_QUEUE", "4"),
            ("BATON_QUEUE_TIMEOUT", "1s"),
        ],
    );
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .expect("client");
    let base = server.base.clone();
    let login = move |client: reqwest::Client, user: &'static str| {
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/auth/login"))
                .json(&json!({"username": user, "password": "correct horse battery staple"}))
                .send()
                .await
                .expect("answered")
        }
    };
    let first: Value = login(client.clone(), "ann")
        .await
        .json()
        .await
        .expect("json");
    let mut refresh_token = first["refresh_token"].as_str().expect("rt").to_owned();
    let access = first["access_token"].as_str().expect("at").to_owned();

    // 64 clients looping correct logins: far past one hashing thread (about ten times its
    // capacity in waiting room alone).
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let mut flood = Vec::new();
    for n in 0..64 {
        let (stop, tally, login) = (Arc::clone(&stop), Arc::clone(&tally), login.clone());
        let client = client.clone();
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Not as ann, whose refresh chain is measured: her sessions would pass the cap
                // on live sessions per user and revoke it.
                let res = login(client.clone(), users[1 + n % (users.len() - 1)]).await;
                let status = res.status().as_u16();
                let retry_after = res.headers().get("retry-after").is_some();
                let body = res.text().await.unwrap_or_default();
                let mut t = tally.lock().expect("tally");
                match status {
                    200 => t.ok += 1,
                    503 if retry_after && body.contains(r#""error":"unavailable""#) => t.shed += 1,
                    _ => t.other.push((status, body)),
                }
            }
        }));
    }

    // Meanwhile a refresh chain and /api/me, one request after another, all answered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let (mut refreshes, mut checks) = (0, 0);
    while tokio::time::Instant::now() < deadline {
        let res = client
            .post(format!("{}/auth/refresh", server.base))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .expect("answered");
        assert_eq!(res.status(), 200, "a refresh during the flood");
        let body: Value = res.json().await.expect("json");
        refresh_token = body["refresh_token"].as_str().expect("rt").to_owned();
        refreshes += 1;
        let res = client
            .get(format!("{}/api/me", server.base))
            .bearer_auth(&access)
            .send()
            .await
            .expect("answered");
        assert_eq!(res.status(), 200, "/api/me during the flood");
        checks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.expect("joined");
    }

    {
        let t = tally.lock().expect("tally");
        assert!(
            t.other.is_empty(),
            "only 200 and shed 503s: {:?}",
            &t.other[..t.other.len().min(5)]
        );
        assert!(t.ok > 0, "some logins got through");
        assert!(t.shed > 0, "the flood was shed, not queued: {} ok", t.ok);
        assert!(
            refreshes > 0 && checks > 0,
            "{refreshes} refreshes, {checks} checks"
        );
    }

    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"baton_requests_shed_total{class="credentials"}"#),
        "{metrics}"
    );
    let peak = peak_rss(pid);
    assert!(peak < 100 * 1024 * 1024, "peak RSS {peak} bytes");
}

/// Refreshes past their class's room are shed before they touch a token: every chain goes on
/// with the token it holds (a shed refresh spends nothing), none is ever refused, and `/api/me`
/// keeps its own room.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_flood_is_shed_without_breaking_any_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = add_user(dir.path(), "ann", "correct horse battery staple");
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(
        dir.path(),
        &[
            ("BATON_REFRESH_CONCURRENCY", "1"),
            ("BATON_QUEUE_TIMEOUT", "1s"),
            // No grace window: a token spent by a shed request would be refused as reused.
            ("BATON_REFRESH_GRACE", "0"),
        ],
    );
    let client = reqwest::Client::new();
    let mut chains = Vec::new();
    for _ in 0..48 {
        let body: Value = client
            .post(format!("{}/auth/login", server.base))
            .json(&json!({"username": "ann", "password": "correct horse battery staple"}))
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("json");
        chains.push(body);
    }
    let access = chains[0]["access_token"].as_str().expect("at").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    for chain in chains {
        let (stop, client, base) = (Arc::clone(&stop), client.clone(), server.base.clone());
        flood.push(tokio::spawn(async move {
            let mut token = chain["refresh_token"].as_str().expect("rt").to_owned();
            let (mut rotated, mut shed) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let res = client
                    .post(format!("{base}/auth/refresh"))
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await
                    .expect("answered");
                match res.status().as_u16() {
                    200 => {
                        let body: Value = res.json().await.expect("json");
                        token = body["refresh_token"].as_str().expect("rt").to_owned();
                        rotated += 1;
                    }
                    503 => {
                        assert!(res.headers().get("retry-after").is_some());
                        shed += 1;
                    }
                    other => panic!(
                        "refresh answered {other}: {}",
                        res.text().await.unwrap_or_default()
                    ),
                }
            }
            (rotated, shed)
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut checks = 0;
    while tokio::time::Instant::now() < deadline {
        let res = client
            .get(format!("{}/api/me", server.base))
            .bearer_auth(&access)
            .send()
            .await
            .expect("answered");
        assert_eq!(res.status(), 200, "/api/me during the flood");
        checks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut rotated, mut shed) = (0, 0);
    for task in flood {
        let (r, s) = task.await.expect("no chain broke");
        rotated += r;
        shed += s;
    }
    assert!(rotated > 0 && shed > 0, "{rotated} rotated, {shed} shed");
    assert!(checks > 0, "{checks} checks");
}
