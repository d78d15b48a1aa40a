//! SQLite on a filesystem that fills up: writes answer `503` with `Retry-After` (never `500`,
//! never a half-written change), reads and token verification keep working, and the same process
//! writes again once space is back. On a read-only filesystem the commands that only read work
//! and `baton serve` refuses to start, naming the cause. The test mounts a small tmpfs of its own,
//! so it needs root (as the test command runs); elsewhere it says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// A small tmpfs, unmounted when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_owned()))
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem at `dir` to the last byte with a file `filler`.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    // Then the last partial chunk's room.
    let mut small = vec![0u8; 512];
    while !small.is_empty() {
        if file.write_all(&small).is_err() {
            small.truncate(small.len() / 2);
        }
    }
    let _ = file.sync_all();
    path
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, bool, Value) {
    let res = client.post(url).json(&body).send().await.expect("answered");
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").is_some();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

/// Logs in again and again until a write is refused; every answer is `200` or a clean `503`.
async fn writes_until_refused(client: &reqwest::Client, base: &str) -> u32 {
    for attempt in 1..=400 {
        let (status, retry, body) = post(
            client,
            format!("{base}/auth/login"),
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
        match status {
            200 => {}
            503 => {
                assert!(retry, "503 with Retry-After");
                assert_eq!(body["error"], "unavailable");
                return attempt;
            }
            _ => panic!("a write on a full filesystem answered {status}: {body}"),
        }
    }
    panic!("no write was refused on a full filesystem");
}

async fn reads_and_verification_work(client: &reqwest::Client, base: &str, access: &str) {
    for path in ["/api/me", "/auth/sessions"] {
        let res = client
            .get(format!("{base}{path}"))
            .bearer_auth(access)
            .send()
            .await
            .expect("answered");
        assert_eq!(res.status(), 200, "{path} keeps working");
    }
}

/// A refresh succeeds again within a few tries.
async fn writes_again(client: &reqwest::Client, base: &str, token: &str) -> String {
    for _ in 0..50 {
        let (status, _, body) = post(
            client,
            format!("{base}/auth/refresh"),
            json!({ "refresh_token": token }),
        )
        .await;
        match status {
            200 => return body["refresh_token"].as_str().expect("rt").to_owned(),
            503 => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => panic!("refresh answered {status}: {body}"),
        }
    }
    panic!("writes did not come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_filesystem_refuses_writes_cleanly_and_recovers_and_a_read_only_one_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(fs) = SmallFs::mount(&dir.path().join("fs")) else {
        // The test command sets this where it can mount one, so a failure to mount there fails.
        assert!(
            std::env::var_os("BATON_REQUIRE_TMPFS").is_none(),
            "BATON_REQUIRE_TMPFS is set but mounting a tmpfs failed"
        );
        eprintln!("cannot mount a tmpfs here (not root?); skipping");
        return;
    };
    let url = format!("sqlite://{}", fs.0.join("baton.db").display());
    let server = Server::start(dir.path(), &[("BATON_DATABASE_URL", &url)]);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let (status, _, _) = post(
        &client,
        format!("{base}/auth/register"),
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, _, login) = post(
        &client,
        format!("{base}/auth/login"),
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    let access = login["access_token"].as_str().expect("at").to_owned();
    let mut token = login["refresh_token"].as_str().expect("rt").to_owned();

    // Full.
    let filler = fill(&fs.0);
    writes_until_refused(&client, &base).await;
    reads_and_verification_work(&client, &base, &access).await;
    let (status, retry, body) = post(
        &client,
        format!("{base}/auth/refresh"),
        json!({ "refresh_token": token }),
    )
    .await;
    match status {
        200 => token = body["refresh_token"].as_str().expect("rt").to_owned(),
        503 if retry => {}
        _ => panic!("a refresh on a full filesystem answered {status}: {body}"),
    }
    // Space again: the same process writes.
    std::fs::remove_file(&filler).expect("free the space");
    token = writes_again(&client, &base, &token).await;

    assert!(!token.is_empty());
    drop(server);
    let problems = baton_store::testing::consistency_problems(
        &url,
        baton_core::clock::to_millis(baton_core::Clock::now(&baton_core::SystemClock)),
    )
    .await
    .expect("checked");
    assert!(problems.is_empty(), "{problems:?}");

    // Read-only: what only reads works, the server says why it cannot run.
    fs.remount("ro");
    let listed = common::baton(dir.path())
        .env("BATON_DATABASE_URL", &url)
        .args(["user", "list"])
        .output()
        .expect("runs");
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("alice"));
    let mut serve = common::baton(dir.path())
        .env("BATON_DATABASE_URL", &url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // It must stop by itself; one that starts after all is killed so the mount can go.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = serve.try_wait().expect("waits") {
            break Some(exit);
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            let _ = serve.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let exit = exit.expect("serve refused to start on a read-only database");
    assert!(!exit.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(stderr.contains("readonly database"), "{stderr}");
    fs.remount("rw");
}
