//! PostgreSQL goes away under light load and comes back: baton answers 503 with `Retry-After`
//! meanwhile, `/readyz` says so, and the same process serves again by itself afterwards with no
//! session lost. Needs a cluster of its own, which the test command provides
//! (`BATON_TEST_OUTAGE_POSTGRES_URL`, `BATON_TEST_OUTAGE_STOP`, `BATON_TEST_OUTAGE_START`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::PASSWORD;

fn run(shell: &str) {
    let status = Command::new("sh").args(["-c", shell]).status().expect("sh");
    assert!(status.success(), "{shell}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503s_and_the_instance_recovers_by_itself() {
    let var = |name| std::env::var(name);
    let (Ok(admin), Ok(stop), Ok(start)) = (
        var("BATON_TEST_OUTAGE_POSTGRES_URL"),
        var("BATON_TEST_OUTAGE_STOP"),
        var("BATON_TEST_OUTAGE_START"),
    ) else {
        assert!(
            std::env::var_os("BATON_REQUIRE_POSTGRES").is_none(),
            "BATON_REQUIRE_POSTGRES is set but the outage cluster is not"
        );
        eprintln!("no outage PostgreSQL cluster configured; skipping");
        return;
    };
    let url = baton_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("a fresh database");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        dir.path(),
        &[
            ("BATON_DATABASE_URL", &url),
            ("BATON_SECRET", "a test secret that is long enough"),
            ("BATON_DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    common::register_alice(&base).await;
    let login = common::login_alice(&base).await;
    let access = login["access_token"].as_str().expect("token").to_owned();

    // Light load: one client keeps refreshing its session, holding on to the newest token it got.
    let running = Arc::new(AtomicBool::new(true));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let load = {
        let (http, base, running, unavailable) = (
            http.clone(),
            base.clone(),
            running.clone(),
            unavailable.clone(),
        );
        let mut token = login["refresh_token"].as_str().expect("token").to_owned();
        tokio::spawn(async move {
            while running.load(Ordering::SeqCst) {
                let r = http
                    .post(format!("{base}/auth/refresh"))
                    .json(&json!({"refresh_token": token}))
                    .send()
                    .await
                    .expect("baton answers");
                match r.status().as_u16() {
                    200 => {
                        let body: Value = r.json().await.expect("json");
                        token = body["refresh_token"].as_str().expect("token").to_owned();
                    }
                    503 => {
                        assert!(r.headers().contains_key("retry-after"));
                        let body: Value = r.json().await.expect("json");
                        assert_eq!(body, json!({"error": "unavailable"}));
                        unavailable.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("refresh answered {other}: {:?}", r.text().await),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            token
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    run(&stop);
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let health = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "the process itself is alive");
    let login = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 503);
    let me = http
        .get(format!("{base}/api/me"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(
        me.status(),
        200,
        "access tokens are checked without the database"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    run(&start);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not ready again after 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, Ordering::SeqCst);
    let token = load.await.expect("the load ran without surprises");
    assert!(
        unavailable.load(Ordering::SeqCst) > 0,
        "the load saw the outage"
    );

    // Nothing lost: the newest token still refreshes, and the session is listed.
    let r = http
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let sessions: Value = http
        .get(format!("{base}/auth/sessions"))
        .bearer_auth(body["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("sessions")
        .json()
        .await
        .expect("json");
    assert_eq!(sessions["sessions"].as_array().expect("array").len(), 1);
    drop(server);
}
