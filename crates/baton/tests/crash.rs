//! Crash under every write: `baton serve` is killed (SIGKILL) three times while refresh chains,
//! logins, logouts, key rotations and the purge of thousands of ended sessions all write, on
//! SQLite and on PostgreSQL; `baton keys rotate` is killed part-way too. After each crash the
//! database is consistent (SQLite's integrity check; no session with two unspent tokens; no
//! spent token without its successor; one signing key in use) and every answered write is
//! there: each chain's last answered token still refreshes (a rotation committed but unanswered
//! shows as a grace replay), each answered login's token refreshes, each answered logout's stays
//! revoked, the finished key rotation's key is published; the purge, cut off each time, ends
//! its work after the restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{baton, Server};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";
const CHAINS: usize = 8;
/// Ended sessions planted before each crash, more than the purge deletes before the kill.
const PLANTED: u32 = 30_000;

/// What the clients were told before the crash.
#[derive(Default)]
struct Answered {
    /// Each chain's newest refresh token.
    chains: Vec<String>,
    /// Refresh tokens of answered logins.
    logins: Vec<String>,
    /// Refresh tokens of answered logouts.
    logouts: Vec<String>,
}

async fn login(client: &reqwest::Client, base: &str) -> Option<String> {
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .ok()?;
    if res.status() != 200 {
        return None;
    }
    let body: Value = res.json().await.ok()?;
    body["refresh_token"].as_str().map(str::to_owned)
}

/// What a refresh got.
enum Refreshed {
    /// The successor.
    Rotated(String),
    /// `503`: try again.
    Busy,
    /// No answer: the server is gone.
    Gone,
}

/// A refresh; any answer but `200` and `503` fails the test.
async fn refresh(client: &reqwest::Client, base: &str, token: &str) -> Refreshed {
    let Ok(res) = client
        .post(format!("{base}/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
    else {
        return Refreshed::Gone;
    };
    let status = res.status();
    let Ok(body) = res.json::<Value>().await else {
        return Refreshed::Gone;
    };
    match status.as_u16() {
        200 => Refreshed::Rotated(body["refresh_token"].as_str().expect("rt").to_owned()),
        503 => Refreshed::Busy,
        _ => panic!("refresh answered {status}: {body}"),
    }
}

/// Every kind of write at once until `stop`; what fails to be answered is simply tried again.
async fn load(base: String, answered: Arc<Mutex<Answered>>, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut tasks = Vec::new();
    for chain in 0..CHAINS {
        let (client, base, answered, stop) = (
            client.clone(),
            base.clone(),
            Arc::clone(&answered),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let token = answered.lock().expect("lock").chains[chain].clone();
                match refresh(&client, &base, &token).await {
                    Refreshed::Rotated(next) => answered.lock().expect("lock").chains[chain] = next,
                    Refreshed::Busy => {}
                    Refreshed::Gone => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    for _ in 0..2 {
        let (client, base, answered, stop) = (
            client.clone(),
            base.clone(),
            Arc::clone(&answered),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let mut kept = false;
            while !stop.load(Ordering::Relaxed) {
                let Some(token) = login(&client, &base).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                // Every other answered login is kept and must survive the crash; the others
                // are logged out, and a logout once sent may or may not commit before a
                // crash, so it is checked only when answered.
                kept = !kept;
                if kept {
                    answered.lock().expect("lock").logins.push(token);
                    continue;
                }
                let logout = client
                    .post(format!("{base}/auth/logout"))
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await;
                match logout {
                    Ok(res) if res.status() == 204 => {
                        answered.lock().expect("lock").logouts.push(token);
                    }
                    Ok(res) if res.status() == 503 => {}
                    Ok(res) => panic!("logout answered {}", res.status()),
                    Err(_) => {}
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a client failed");
    }
}

/// A refresh right after a restart, tried again while the server answers `503`.
async fn rotate_after_restart(client: &reqwest::Client, base: &str, token: &str) -> Option<String> {
    for _ in 0..50 {
        match refresh(client, base, token).await {
            Refreshed::Rotated(next) => return Some(next),
            Refreshed::Busy | Refreshed::Gone => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    None
}

fn now_ms() -> i64 {
    baton_core::clock::to_millis(baton_core::Clock::now(&baton_core::SystemClock))
}

async fn planted_left(url: &str, at: Option<i64>) -> i64 {
    baton_store::testing::planted_sessions_left(url, at)
        .await
        .expect("counted")
}

/// `baton keys rotate` run to its end (its output), then started again and killed (SIGKILL)
/// at fractions of the time it took, around where it writes; answers how many of those were
/// killed before they finished.
fn rotations(dir: &std::path::Path, env: &[(String, String)]) -> (std::process::Output, usize) {
    use std::os::unix::process::ExitStatusExt as _;
    let command = || {
        let mut cmd = baton(dir);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .args(["keys", "rotate"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let started = std::time::Instant::now();
    let done = command().output().expect("keys rotate runs");
    assert!(done.status.success(), "keys rotate: {done:?}");
    let took = started.elapsed();
    let mut killed = 0;
    for percent in [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] {
        let mut child = command().spawn().expect("keys rotate starts");
        std::thread::sleep(took * percent / 100);
        let _ = child.kill();
        let status = child.wait().expect("reaped");
        if status.signal().is_some() {
            killed += 1;
        } else {
            assert!(status.success(), "keys rotate: {status}");
        }
    }
    (done, killed)
}

async fn crash_three_times(url: &str, env: &[(&str, &str)], planted: u32) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), env);
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/auth/register", server.base))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let mut answered = Answered::default();
    for _ in 0..CHAINS {
        let token = login(&client, &server.base).await.expect("login");
        answered.chains.push(token);
    }
    let answered = Arc::new(Mutex::new(answered));
    let mut server = server;
    let (mut kept_logins, mut answered_logouts, mut killed_rotations) = (0, 0, 0);
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = tokio::spawn(load(
            server.base.clone(),
            Arc::clone(&answered),
            Arc::clone(&stop),
        ));
        // Key rotations by the command line, writing the same database meanwhile: one that
        // finishes, then some killed part-way.
        let rotate = {
            let (dir, env) = (
                dir.path().to_owned(),
                env.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<Vec<_>>(),
            );
            tokio::task::spawn_blocking(move || rotations(&dir, &env))
        };
        tokio::time::sleep(Duration::from_millis(1000 + 250 * round)).await;
        // Sessions that ended long ago, more than the purge (every second) deletes before it is
        // killed.
        let tag = now_ms();
        baton_store::testing::plant_ended_sessions(url, planted, tag)
            .await
            .expect("planted");
        // Kill the server once the purge is deleting this round's sessions, a little later
        // each round.
        let (ours, total) = (Some(tag), i64::from(planted));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while planted_left(url, ours).await >= total {
            assert!(
                std::time::Instant::now() < deadline,
                "the purge never started"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(25 + 50 * round)).await;
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        let left = planted_left(url, ours).await;
        assert!(
            0 < left && left < total,
            "killed during the purge: {left} of {total} planted sessions left"
        );
        stop.store(true, Ordering::Relaxed);
        writes.await.expect("the load ended cleanly");
        let (rotated, cut_off) = rotate.await.expect("joined");
        killed_rotations += cut_off;
        eprintln!(
            "crash {round}: {left} of {total} planted sessions left, {cut_off} key rotations killed"
        );
        let kid = String::from_utf8_lossy(&rotated.stdout)
            .split_whitespace()
            .nth(3)
            .expect("the new key's id")
            .to_owned();

        let problems = baton_store::testing::consistency_problems(url, now_ms())
            .await
            .expect("checked");
        assert!(problems.is_empty(), "after crash {round}: {problems:?}");

        server = Server::start(dir.path(), env);
        let base = server.base.clone();
        let jwks: Value = client
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("json");
        assert!(
            jwks["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .any(|k| k["kid"] == kid.as_str()),
            "the rotated key {kid} is there: {jwks}"
        );
        let (chains, logins, logouts) = {
            let mut a = answered.lock().expect("lock");
            (
                a.chains.clone(),
                std::mem::take(&mut a.logins),
                a.logouts.clone(),
            )
        };
        let mut next_chains = Vec::new();
        for (chain, token) in chains.iter().enumerate() {
            let next = rotate_after_restart(&client, &base, token)
                .await
                .unwrap_or_else(|| panic!("chain {chain}'s last answered token refreshes"));
            next_chains.push(next);
        }
        answered.lock().expect("lock").chains = next_chains;
        kept_logins += logins.len();
        for token in logins {
            assert!(
                rotate_after_restart(&client, &base, &token).await.is_some(),
                "an answered login is there"
            );
        }
        for token in &logouts {
            let res = client
                .post(format!("{base}/auth/refresh"))
                .json(&json!({ "refresh_token": token }))
                .send()
                .await
                .expect("answered");
            assert_eq!(res.status(), 401, "an answered logout stays revoked");
            let body: Value = res.json().await.expect("json");
            assert_eq!(
                body["error_description"], "Refresh token has been revoked",
                "an answered logout is there"
            );
        }
        answered_logouts = logouts.len();
    }
    assert!(
        kept_logins > 0 && answered_logouts > 0 && killed_rotations > 0,
        "{kept_logins} logins kept, {answered_logouts} logouts answered, \
         {killed_rotations} key rotations killed"
    );
    // The purge, killed mid-way three times, still deletes every planted session: wait while
    // it makes progress.
    let mut left = planted_left(url, None).await;
    let mut progress = std::time::Instant::now();
    while left > 0 && progress.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = planted_left(url, None).await;
        if now < left {
            progress = std::time::Instant::now();
        }
        left = now;
    }
    assert_eq!(left, 0, "ended sessions left after the purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_sigkill_under_every_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    crash_three_times(
        &url,
        &[
            ("BATON_DATABASE_URL", &url),
            ("BATON_PURGE_INTERVAL", "1s"),
            // Logins kept open pile up over the rounds; none may push out a chain's session.
            ("BATON_SESSIONS_PER_USER", "0"),
            // Room for a rotation committed but not answered to show as a replay after the
            // restart, however slow the machine.
            ("BATON_REFRESH_GRACE", "60s"),
        ],
        PLANTED,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_survives_sigkill_under_every_write() {
    let Some(admin) = baton_store::testing::postgres_admin_url() else {
        return;
    };
    let url = baton_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("a database");
    crash_three_times(
        &url,
        &[
            ("BATON_DATABASE_URL", &url),
            ("BATON_SECRET", "a crash test secret, long enough"),
            ("BATON_PURGE_INTERVAL", "1s"),
            // Logins kept open pile up over the rounds; none may push out a chain's session.
            ("BATON_SESSIONS_PER_USER", "0"),
            ("BATON_REFRESH_GRACE", "60s"),
        ],
        PLANTED,
    )
    .await;
}
