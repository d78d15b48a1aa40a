//! Load benchmark: a release `baton serve` on loopback with a temporary SQLite database, driven
//! at concurrency 64 for a few seconds per scenario. Prints requests per second for protected
//! calls (`GET /api/me`, a JWT check) and for refreshes (a rotation transaction each).
//!
//! `cargo bench -p baton --bench load` (`BATON_BENCH_SECS` sets the seconds per scenario,
//! `BATON_BENCH_CONCURRENCY` the number of clients).

#![allow(clippy::expect_used, clippy::print_stdout, missing_docs)] // a benchmark reports on stdout

use serde_json::{json, Value};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .env("BATON_LOGIN_LIMIT_IP", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baton starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let base = loop {
        let line = lines.next().expect("an address").expect("utf-8");
        if let Some(a) = line.strip_prefix("baton listening on ") {
            break a.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base,
        _dir: dir,
    }
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let r = http.post(url).json(&body).send().await.expect("request");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

/// Runs `clients` loops of `step` for `secs`; requests per second.
async fn drive<S, F>(clients: Vec<S>, secs: u64, step: F) -> f64
where
    S: Send + 'static,
    F: Fn(S) -> std::pin::Pin<Box<dyn std::future::Future<Output = S> + Send>>
        + Send
        + Sync
        + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let step = Arc::new(step);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut state| {
            let (done, step) = (done.clone(), step.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    state = step(state).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: u64 = std::env::var("BATON_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let concurrency: usize = std::env::var("BATON_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let server = start();
        let base = server.base.clone();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .expect("client");
        post(&http, format!("{base}/auth/register"), json!({"username": "bench", "password": PASSWORD})).await;
        let mut sessions = Vec::new();
        for _ in 0..concurrency {
            let t = post(&http, format!("{base}/auth/login"), json!({"username": "bench", "password": PASSWORD})).await;
            sessions.push(t);
        }
        let access = sessions[0]["access_token"].as_str().expect("token").to_owned();

        let me = {
            let (http, url, access) = (http.clone(), format!("{base}/api/me"), access.clone());
            drive(vec![(); concurrency], secs, move |()| {
                let req = http.get(url.clone()).bearer_auth(access.clone());
                Box::pin(async move {
                    let r = req.send().await.expect("request");
                    assert_eq!(r.status(), 200);
                    let _ = r.bytes().await;
                })
            })
            .await
        };

        let refresh = {
            let (http, url) = (http.clone(), format!("{base}/auth/refresh"));
            let tokens: Vec<String> = sessions
                .iter()
                .map(|s| s["refresh_token"].as_str().expect("token").to_owned())
                .collect();
            drive(tokens, secs, move |token: String| {
                let req = http.post(url.clone()).json(&json!({"refresh_token": token}));
                Box::pin(async move {
                    let r = req.send().await.expect("request");
                    assert_eq!(r.status(), 200);
                    let body: Value = r.json().await.expect("json");
                    body["refresh_token"].as_str().expect("token").to_owned()
                })
            })
            .await
        };

        println!("baton load benchmark: concurrency {concurrency}, {secs} s per scenario, SQLite, loopback");
        println!("  GET  /api/me        {me:>8.0} requests/s   (JWT check; reference: hand-rolled Express ≈ 1,000)");
        println!("  POST /auth/refresh  {refresh:>8.0} requests/s   (rotation transaction; reference: Express ≈ 475)");
        drop(server);
    });
}
