//! The `baton` binary as an operator uses it: first start in an empty directory, `user`
//! commands, and a graceful SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::time::Duration;

mod common;

use common::{add_user, baton, Server};

async fn login(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_first_start_creates_the_database_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]);
    assert!(dir.path().join("baton.db").exists());
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("up");
    assert_eq!(health.status(), 200);
    let meta: Value = client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["issuer"],
        json!(server.base),
        "the issuer follows the listen address"
    );
    assert!(server.terminate().success());
}

#[tokio::test]
async fn users_added_from_the_cli_can_log_in_and_deletion_revokes_their_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = add_user(dir.path(), "Operator", "a long enough password");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = baton(dir.path())
        .args(["user", "list"])
        .output()
        .expect("list");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("Operator"));

    let duplicate = add_user(dir.path(), "operator", "another long password");
    assert!(!duplicate.status.success(), "case-folded duplicate refused");
    let short = add_user(dir.path(), "shorty", "short");
    assert!(
        !short.status.success(),
        "password rules apply to the CLI too"
    );

    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = login(&client, &server.base, "operator", "a long enough password").await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.expect("json");

    let deleted = baton(dir.path())
        .args(["user", "delete", "Operator"])
        .output()
        .expect("delete");
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let refresh = client
        .post(format!("{}/auth/refresh", server.base))
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(refresh.status(), 401);
    let body: Value = refresh.json().await.expect("json");
    assert_eq!(body["error_description"], "Refresh token has been revoked");
    let r = login(&client, &server.base, "operator", "a long enough password").await;
    assert_eq!(r.status(), 401);
    let listed = baton(dir.path())
        .args(["user", "list"])
        .output()
        .expect("list");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("Operator"));
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(add_user(dir.path(), "alice", "a long enough password")
        .status
        .success());
    // One hash at a time, so a burst of logins stays in flight for a while.
    let server = Server::start(dir.path(), &[("BATON_HASH_CONCURRENCY", "1")]);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let logins: Vec<_> = (0..6)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                login(&client, &base, "alice", "a long enough password")
                    .await
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let exit = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("join");
    for l in logins {
        assert_eq!(
            l.await.expect("join"),
            200,
            "a request in flight was cut off"
        );
    }
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = baton(dir.path())
        .env("BATON_ACCESS_TTL", "soon")
        .args(["migrate"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_ttl"));
}

#[tokio::test]
async fn a_confidential_client_gets_its_secret_printed_once_and_can_introspect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = baton(dir.path())
        .args(["client", "add", "resource-api", "--confidential"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let id = lines[0]
        .strip_prefix("client_id: ")
        .expect("client_id line");
    let secret = lines[1]
        .strip_prefix("client_secret: ")
        .expect("client_secret line");
    assert_eq!(id, "resource-api");
    let listed = baton(dir.path())
        .args(["client", "list"])
        .output()
        .expect("list");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("resource-api") && !listed.contains(secret),
        "{listed}"
    );

    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/oauth/introspect", server.base))
        .basic_auth(id, Some(secret))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .expect("introspect");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"active": false})
    );
}
