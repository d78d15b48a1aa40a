//! Shared by the binary's test files: run `baton` in a directory with a clean environment, and
//! `baton serve` on port 0 reading back the address it prints.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_baton");

/// A `baton` command in `dir` with no BATON_* settings leaking in from the environment.
pub fn baton(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `baton serve` on port 0 and reads the address it prints.
    pub fn start(dir: &Path, extra: &[(&str, &str)]) -> Self {
        let mut cmd = baton(dir);
        cmd.args(["--listen", "127.0.0.1:0"])
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("baton starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("baton printed its address")
                .expect("utf-8");
            if let Some(addr) = line.strip_prefix("baton listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("baton exits");
        std::mem::forget(self);
        exit
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn add_user(dir: &Path, name: &str, password: &str) -> std::process::Output {
    with_password(dir, &["user", "add", name], password)
}

/// Runs `baton ARGS` with `password` as one line of standard input.
pub fn with_password(dir: &Path, args: &[&str], password: &str) -> std::process::Output {
    let mut child = baton(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baton");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write password");
    child.wait_with_output().expect("finishes")
}

/// The password of the tests' user `alice`.
pub const PASSWORD: &str = "correct horse battery";

/// Registers `alice` on the baton at `base`.
pub async fn register_alice(base: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/auth/register"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "register alice");
}

/// Logs `alice` in on the baton at `base` (body delivery); the token answer.
pub async fn login_alice(base: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "log alice in");
    r.json().await.expect("json")
}
