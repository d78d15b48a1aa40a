//! PostgreSQL misbehaving mid-transaction. baton's connections are killed
//! (`pg_terminate_backend`) in a loop during refresh load: every refresh either rotates or gets
//! a clean, retryable `503`, no rotation is left half done, and every chain goes on afterwards.
//! A table locked by someone else exhausts the pool: requests get `503` within the acquire and
//! statement timeouts instead of hanging. Needs the test cluster (`BATON_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{json, Value};
use sqlx::Connection as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "a pg faults test secret, long enough";

async fn server(extra: &[(&str, &str)]) -> Option<(Server, String, tempfile::TempDir)> {
    let admin = baton_store::testing::postgres_admin_url()?;
    let url = baton_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("a database");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = vec![
        ("BATON_DATABASE_URL", url.as_str()),
        ("BATON_SECRET", SECRET),
        ("BATON_DATABASE_MAX_CONNECTIONS", "4"),
        ("BATON_DATABASE_ACQUIRE_TIMEOUT", "1s"),
    ];
    env.extend_from_slice(extra);
    let server = Server::start(dir.path(), &env);
    common::register_alice(&server.base).await;
    Some((server, url, dir))
}

/// `Ok(successor)`, or `Err(())` for a `503` with `Retry-After`; anything else fails the test.
async fn refresh(client: &reqwest::Client, base: &str, token: &str) -> Result<String, ()> {
    let res = client
        .post(format!("{base}/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .expect("answered");
    let (status, retry) = (res.status(), res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.expect("json");
    match status.as_u16() {
        200 => Ok(body["refresh_token"].as_str().expect("rt").to_owned()),
        503 if retry && body["error"] == "unavailable" => Err(()),
        _ => panic!("refresh answered {status}: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_connections_mid_rotation_leave_no_half_rotation_and_clean_503s() {
    let Some((server, url, _dir)) = server(&[]).await else {
        return;
    };
    let client = reqwest::Client::new();
    let mut chains = Vec::new();
    for _ in 0..8 {
        let login = common::login_alice(&server.base).await;
        chains.push(login["refresh_token"].as_str().expect("rt").to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (rotated, unavailable) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for token in chains {
        let (client, base, stop) = (client.clone(), server.base.clone(), Arc::clone(&stop));
        let (rotated, unavailable) = (Arc::clone(&rotated), Arc::clone(&unavailable));
        tasks.push(tokio::spawn(async move {
            let mut token = token;
            while !stop.load(Ordering::Relaxed) {
                match refresh(&client, &base, &token).await {
                    Ok(next) => {
                        token = next;
                        rotated.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(()) => {
                        unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            token
        }));
    }
    // Kill every connection baton holds, over and over.
    let database = url.rsplit('/').next().expect("name").to_owned();
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin");
    let mut killed = 0i64;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .expect("terminate");
        killed += n;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut last = Vec::new();
    for task in tasks {
        last.push(task.await.expect("no chain broke"));
    }
    assert!(killed > 0, "{killed} connections killed");
    assert!(
        rotated.load(Ordering::Relaxed) > 0,
        "rotations went on between the kills"
    );
    let problems = baton_store::testing::consistency_problems(
        &url,
        baton_core::clock::to_millis(baton_core::Clock::now(&baton_core::SystemClock)),
    )
    .await
    .expect("checked");
    assert!(problems.is_empty(), "{problems:?}");
    // Every chain goes on: its last answered token rotates (or is a grace replay of a rotation
    // committed whose answer was lost).
    for token in last {
        let mut answer = refresh(&client, &server.base, &token).await;
        for _ in 0..20 {
            if answer.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = refresh(&client, &server.base, &token).await;
        }
        assert!(answer.is_ok(), "the chain goes on");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_table_gives_503s_within_the_timeouts_not_hangs() {
    // Statements are cut after a second, before the three-second lock timeout would.
    let Some((server, url, _dir)) = server(&[("BATON_DATABASE_STATEMENT_TIMEOUT", "1s")]).await
    else {
        return;
    };
    let client = reqwest::Client::new();
    let login = common::login_alice(&server.base).await;
    let token = login["refresh_token"].as_str().expect("rt").to_owned();
    // Someone else holds the sessions table: every rotation waits for its lock.
    let mut blocker = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .expect("lock");
    // Ten times more refreshes at once than the pool has connections.
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let res = client
                    .post(format!("{base}/auth/refresh"))
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await
                    .expect("answered");
                let status = res.status().as_u16();
                let retry = res.headers().get("retry-after").is_some();
                (status, retry, started.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for attempt in attempts {
        let (status, retry, took) = tokio::time::timeout(Duration::from_secs(30), attempt)
            .await
            .expect("answered, not left hanging")
            .expect("joined");
        assert_eq!((status, retry), (503, true), "a clean, retryable 503");
        slowest = slowest.max(took);
    }
    // Each waits at most the acquire timeout (1 s) for a connection and then at most the
    // statement timeout (1 s) for the lock: about two seconds. Without the statement timeout the
    // lock timeout (3 s) would end it, after about four.
    assert!(
        slowest < Duration::from_secs(3),
        "the slowest took {slowest:?}"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("rollback");
    assert!(
        refresh(&client, &server.base, &token).await.is_ok(),
        "the token is untouched and rotates once the lock is gone"
    );
}
