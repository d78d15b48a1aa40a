//! The `baton` binary as an operator uses it: first start in an empty directory, `user`
//! commands, and a graceful SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::time::Duration;

mod common;

use common::{add_user, baton, with_password, Server};

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

async fn refresh_answer(client: &reqwest::Client, base: &str, token: &Value) -> (u16, Value) {
    let r = client
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .expect("refresh");
    (r.status().as_u16(), r.json().await.expect("json"))
}

fn succeeds(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn operators_set_passwords_and_disable_and_enable_users() {
    let dir = tempfile::tempdir().expect("temp dir");
    succeeds(&add_user(dir.path(), "alice", "a long enough password"));
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = login(&client, &server.base, "alice", "a long enough password").await;
    let tokens: Value = r.json().await.expect("json");

    // The strength rule applies to an operator's password too, and says why.
    let weak = with_password(dir.path(), &["user", "passwd", "alice"], "password123");
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("too easy to guess"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    let (status, _) = refresh_answer(&client, &server.base, &tokens["refresh_token"]).await;
    assert_eq!(status, 200, "a refused password changes nothing");

    let new = "violet tortoise sails at dawn";
    let said = succeeds(&with_password(
        dir.path(),
        &["user", "passwd", "ALICE"],
        new,
    ));
    assert!(said.contains("sessions are revoked"), "{said}");
    let (status, body) = refresh_answer(&client, &server.base, &tokens["refresh_token"]).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (401, Some("Refresh token has been revoked"))
    );
    let old = login(&client, &server.base, "alice", "a long enough password").await;
    assert_eq!(old.status(), 401);
    let r = login(&client, &server.base, "alice", new).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.expect("json");

    succeeds(
        &baton(dir.path())
            .args(["user", "disable", "alice"])
            .output()
            .expect("disable"),
    );
    let (status, body) = refresh_answer(&client, &server.base, &tokens["refresh_token"]).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (401, Some("Refresh token has been revoked"))
    );
    let r = login(&client, &server.base, "alice", new).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "account_disabled");
    // A wrong password still gets the usual answer: being disabled shows only to the owner.
    let r = login(&client, &server.base, "alice", "not her password at all").await;
    assert_eq!(r.status(), 401);
    let listed = succeeds(
        &baton(dir.path())
            .args(["user", "list"])
            .output()
            .expect("list"),
    );
    assert!(listed.contains("alice\tdisabled"), "{listed}");

    succeeds(
        &baton(dir.path())
            .args(["user", "enable", "alice"])
            .output()
            .expect("enable"),
    );
    let r = login(&client, &server.base, "alice", new).await;
    assert_eq!(r.status(), 200);
    let listed = succeeds(
        &baton(dir.path())
            .args(["user", "list"])
            .output()
            .expect("list"),
    );
    assert!(!listed.contains("disabled"), "{listed}");

    let audit = succeeds(
        &baton(dir.path())
            .args(["audit", "--user", "alice", "--json"])
            .output()
            .expect("audit"),
    );
    let kinds: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["type"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    for kind in ["password_changed", "user_disabled", "user_enabled"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let unknown = baton(dir.path())
        .args(["user", "disable", "nobody"])
        .output()
        .expect("run");
    assert!(!unknown.status.success());
    assert!(server.terminate().success());
}

#[tokio::test]
async fn an_operator_prints_a_reset_link_that_sets_a_new_password_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = with_password(
        dir.path(),
        &["user", "add", "alice", "--email", "Alice@Example.com"],
        "a long enough password",
    );
    succeeds(&added);
    let taken = with_password(
        dir.path(),
        &["user", "add", "bob", "--email", "alice@example.com"],
        "a long enough password",
    );
    assert!(!taken.status.success());
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("email is taken"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let server = Server::start(
        dir.path(),
        &[("BATON_PUBLIC_URL", "https://app.example.com/")],
    );
    let client = reqwest::Client::new();
    let r = login(&client, &server.base, "alice", "a long enough password").await;
    let tokens: Value = r.json().await.expect("json");

    let printed = succeeds(
        &baton(dir.path())
            .args(["user", "reset-link", "alice"])
            .env("BATON_PUBLIC_URL", "https://app.example.com/")
            .output()
            .expect("reset-link"),
    );
    let link = printed.trim();
    let token = link
        .strip_prefix("https://app.example.com/#reset=")
        .unwrap_or_else(|| panic!("a reset link on the public URL: {link}"));
    assert_eq!(token.len(), 43);
    let reset = |password: &str| {
        client
            .post(format!("{}/auth/password/reset", server.base))
            .json(&json!({"token": token, "new_password": password}))
            .send()
    };
    assert_eq!(
        reset("violet tortoise sails at dawn")
            .await
            .expect("reset")
            .status(),
        204
    );
    let again = reset("another passphrase entirely").await.expect("reset");
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"], "invalid_token");
    let (status, _) = refresh_answer(&client, &server.base, &tokens["refresh_token"]).await;
    assert_eq!(status, 401, "the reset ended every session");
    let r = login(
        &client,
        &server.base,
        "alice",
        "violet tortoise sails at dawn",
    )
    .await;
    assert_eq!(r.status(), 200);
    let audit = succeeds(
        &baton(dir.path())
            .args(["audit", "--type", "password_reset_requested"])
            .output()
            .expect("audit"),
    );
    assert!(audit.contains("reset link printed"), "{audit}");
    let unknown = baton(dir.path())
        .args(["user", "reset-link", "nobody"])
        .output()
        .expect("run");
    assert!(!unknown.status.success());
    assert!(server.terminate().success());
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

/// After SIGTERM the database file alone holds every answered write: the WAL has been copied
/// into it and emptied, so copying `baton.db` without its `-wal` file loses nothing.
#[tokio::test]
async fn sigterm_leaves_every_write_in_the_database_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(add_user(dir.path(), "alice", "a long enough password")
        .status
        .success());
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let mut sessions = 0;
    for _ in 0..3 {
        let answer = login(&client, &server.base, "alice", "a long enough password").await;
        assert_eq!(answer.status(), 200);
        sessions += 1;
    }
    let exit = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("join");
    assert!(exit.success(), "exit status {exit:?}");
    let wal = dir.path().join("baton.db-wal");
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "the WAL still holds {left} bytes");

    // The file on its own, as a copy without the WAL would be.
    let copy = dir.path().join("copy.db");
    std::fs::copy(dir.path().join("baton.db"), &copy).expect("copy");
    let db = rusqlite::Connection::open(&copy).expect("open the copy");
    let stored: i64 = db
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stored, sessions);
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

/// A misspelled key in the `--config` file stops the command, naming the key.
#[tokio::test]
async fn a_misspelled_key_in_the_config_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("baton.toml");
    std::fs::write(&file, "acess_ttl = \"15m\"\n").expect("write");
    let out = baton(dir.path())
        .arg("--config")
        .arg(&file)
        .args(["migrate"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown setting(s) acess_ttl"), "{stderr}");
    assert!(!dir.path().join("baton.db").exists(), "nothing was created");
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

/// Finding 12: listing commands neither create, migrate nor write the database, and never
/// switch the signing algorithm.
#[tokio::test]
async fn finding_12_listing_commands_do_not_change_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No database yet: refused, and none is created.
    for args in [["user", "list"], ["client", "list"], ["keys", "list"]] {
        let out = baton(dir.path()).args(args).output().expect("runs");
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("baton migrate"), "{args:?}: {err}");
    }
    assert!(
        !dir.path().join("baton.db").exists(),
        "a listing created the database"
    );

    // An ES256 deployment.
    let out = baton(dir.path())
        .env("BATON_SIGNING_ALG", "ES256")
        .arg("migrate")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = |dir: &std::path::Path| {
        let out = baton(dir).args(["keys", "list"]).output().expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = keys(dir.path());
    assert!(
        before.contains("ES256") && !before.contains("EdDSA"),
        "{before}"
    );
    let db = std::fs::read(dir.path().join("baton.db")).expect("database");
    // A shell without BATON_SIGNING_ALG lists and adds users: the algorithm stays.
    for args in [["user", "list"], ["client", "list"], ["keys", "list"]] {
        let out = baton(dir.path()).args(args).output().expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("baton.db")).expect("database"),
        db,
        "a listing wrote to the database"
    );
    let out = add_user(dir.path(), "alice", "correct horse battery");
    assert!(out.status.success());
    assert_eq!(
        keys(dir.path()),
        before,
        "a command switched the signing algorithm"
    );
    // Only an explicit rotation changes it.
    let out = baton(dir.path())
        .args(["keys", "rotate", "--alg", "EdDSA"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(keys(dir.path()).contains("EdDSA"));
}

/// Finding 13: a wildcard in BATON_ALLOWED_ORIGINS stops startup with a message, not a panic.
#[tokio::test]
async fn finding_13_a_wildcard_origin_stops_startup_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = baton(dir.path())
        .env("BATON_ALLOWED_ORIGINS", "*")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("allowed_origins") && !err.contains("panicked"),
        "{err}"
    );
}

/// Finding 14: `--help` shows no value from the environment (a database URL holds a password).
#[tokio::test]
async fn finding_14_help_prints_no_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = baton(dir.path())
        .env(
            "BATON_DATABASE_URL",
            "postgres://baton:hunter2secret@db/baton",
        )
        .arg("--help")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BATON_DATABASE_URL"), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
}

/// Finding 14: `baton config check` validates and prints the settings, the password redacted.
#[tokio::test]
async fn finding_14_config_check_prints_settings_with_secrets_redacted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = baton(dir.path())
        .env(
            "BATON_DATABASE_URL",
            "postgres://baton:hunter2secret@db/baton",
        )
        .env("BATON_ACCESS_TTL", "10m")
        .args(["config", "check"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("access_ttl = 10m"), "{text}");
    assert!(
        text.contains("database_url = postgres://baton:***@db/baton"),
        "{text}"
    );
    assert!(!text.contains("hunter2secret"), "{text}");
    let out = baton(dir.path())
        .env("BATON_REFRESH_GRACE", "soon")
        .args(["config", "check"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refresh_grace"));
}

/// Finding 4: keys sealed under one secret need it (or it as BATON_SECRET_PREVIOUS) to be read,
/// and `baton keys rewrap` moves them to the new one.
#[tokio::test]
async fn finding_04_changing_the_secret_takes_a_rewrap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = (
        "the first secret, long enough",
        "the second secret, long enough",
    );
    let run = |args: &[&str], env: &[(&str, &str)]| {
        baton(dir.path())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("runs")
    };
    let out = run(&["migrate"], &[("BATON_SECRET", old)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["keys", "list"], &[("BATON_SECRET", new)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BATON_SECRET_PREVIOUS"), "{err}");
    let out = run(
        &["keys", "rewrap"],
        &[("BATON_SECRET", new), ("BATON_SECRET_PREVIOUS", old)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 signing key"));
    let out = run(&["keys", "list"], &[("BATON_SECRET", new)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A secret in a file works the same; a short one is refused.
    let file = dir.path().join("secret.txt");
    std::fs::write(&file, format!("{new}\n")).expect("write");
    let out = run(
        &["keys", "list"],
        &[("BATON_SECRET_FILE", file.to_str().expect("utf-8"))],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["keys", "list"], &[("BATON_SECRET", "short")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret"));
}

/// Finding 4: without BATON_SECRET on SQLite, a secret file is generated beside the database,
/// readable by its owner only, and used from then on.
#[cfg(unix)]
#[tokio::test]
async fn finding_04_a_secret_file_is_generated_beside_the_database() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = baton(dir.path()).arg("migrate").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = dir.path().join("baton.secret");
    let mode = std::fs::metadata(&secret)
        .expect("generated")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("baton.secret"));
    let out = baton(dir.path())
        .args(["keys", "list"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `baton audit` shows what operators and users did, newest first, filtered, as text or JSON.
#[tokio::test]
async fn the_audit_command_shows_filtered_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(add_user(dir.path(), "alice", "correct horse battery")
        .status
        .success());
    let run = |args: &[&str]| baton(dir.path()).args(args).output().expect("runs");
    assert!(run(&["client", "add", "billing"]).status.success());
    assert!(run(&["keys", "rotate"]).status.success());
    let out = run(&["audit"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let kinds: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').nth(1).expect("a type"))
        .collect();
    assert_eq!(
        kinds,
        ["key_rotated", "client_added", "user_added", "key_rotated"],
        "{text}"
    );
    let out = run(&["audit", "--type", "user_added", "--json"]);
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let event: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(event["username"], "alice");
    assert_eq!(event["type"], "user_added");
    let out = run(&["audit", "--user", "alice", "--since", "1h"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = run(&["audit", "--type", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("login_failed"));
}

/// On the real clock, whose instants are not whole milliseconds while storage keeps
/// milliseconds, a login and a refresh still give the whole refresh lifetime (7 days), in the
/// body and in the cookie.
#[tokio::test]
async fn the_refresh_lifetime_is_whole_on_the_real_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]);
    common::register_alice(&server.base).await;
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let login = common::login_alice(&server.base).await;
        assert_eq!(login["refresh_expires_in"], 604_800, "at login");
        let r = http
            .post(format!("{}/auth/refresh", server.base))
            .json(&json!({"refresh_token": login["refresh_token"]}))
            .send()
            .await
            .expect("refresh");
        assert_eq!(r.status(), 200);
        let refreshed: Value = r.json().await.expect("json");
        assert_eq!(refreshed["refresh_expires_in"], 604_800, "after a refresh");
    }
    let r = http
        .post(format!("{}/auth/login", server.base))
        .json(&json!({"username": "alice", "password": common::PASSWORD, "delivery": "cookie"}))
        .send()
        .await
        .expect("login");
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.contains("Max-Age=604800"), "{cookie}");
    assert!(server.terminate().success());
}

/// The code of `secret` (base32) now, by an implementation independent of baton's.
fn totp_now(secret: &str) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32");
    let now = std::time::UNIX_EPOCH.elapsed().expect("clock").as_secs();
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, now)
}

#[tokio::test]
async fn an_operator_shows_and_resets_a_users_second_factors() {
    let dir = tempfile::tempdir().expect("temp dir");
    succeeds(&add_user(dir.path(), "alice", "a long enough password"));
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = login(&client, &server.base, "alice", "a long enough password").await;
    let tokens: Value = r.json().await.expect("json");
    let access = tokens["access_token"].as_str().expect("token");

    let shown = succeeds(
        &baton(dir.path())
            .args(["user", "mfa", "alice"])
            .output()
            .expect("run"),
    );
    assert!(shown.contains("totp: not enabled"), "{shown}");
    assert!(
        shown.contains("login asks for: the password only"),
        "{shown}"
    );

    let setup: Value = client
        .post(format!("{}/auth/mfa/totp/setup", server.base))
        .bearer_auth(access)
        .json(&json!({"current_password": "a long enough password"}))
        .send()
        .await
        .expect("setup")
        .json()
        .await
        .expect("json");
    let r = client
        .post(format!("{}/auth/mfa/totp/confirm", server.base))
        .bearer_auth(access)
        .json(&json!({"code": totp_now(setup["secret"].as_str().expect("secret"))}))
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), 200);
    let shown = succeeds(
        &baton(dir.path())
            .args(["user", "mfa", "alice"])
            .output()
            .expect("run"),
    );
    assert!(shown.contains("totp: enabled"), "{shown}");
    assert!(shown.contains("recovery codes left: 10"), "{shown}");
    assert!(
        shown.contains("login asks for: the password, then totp or recovery_code"),
        "{shown}"
    );
    let r = login(&client, &server.base, "alice", "a long enough password").await;
    assert_eq!(r.status(), 401);

    let reset = succeeds(
        &baton(dir.path())
            .args(["user", "mfa", "reset", "alice"])
            .output()
            .expect("run"),
    );
    assert!(
        reset.contains("removed every second factor of alice"),
        "{reset}"
    );
    let r = login(&client, &server.base, "alice", "a long enough password").await;
    assert_eq!(r.status(), 200);
    let again = succeeds(
        &baton(dir.path())
            .args(["user", "mfa", "reset", "alice"])
            .output()
            .expect("run"),
    );
    assert!(again.contains("alice has no second factor"), "{again}");
    let bad = baton(dir.path())
        .args(["user", "mfa", "wipe", "alice"])
        .output()
        .expect("run");
    assert!(!bad.status.success());

    let audit = succeeds(
        &baton(dir.path())
            .args(["audit", "--type", "mfa_reset"])
            .output()
            .expect("run"),
    );
    assert!(
        audit.contains("mfa_reset") && audit.contains("alice"),
        "{audit}"
    );
    assert!(server.terminate().success());
}

/// TOTP secrets are sealed under BATON_SECRET like the signing keys: `baton keys rewrap` moves
/// them to a new secret too, and the factor keeps working under the new secret alone.
#[tokio::test]
async fn a_rewrap_moves_totp_secrets_to_the_new_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = (
        "the first secret, long enough",
        "the second secret, long enough",
    );
    let server = Server::start(dir.path(), &[("BATON_SECRET", old)]);
    common::register_alice(&server.base).await;
    let tokens = common::login_alice(&server.base).await;
    let access = tokens["access_token"].as_str().expect("token");
    let client = reqwest::Client::new();
    let setup: Value = client
        .post(format!("{}/auth/mfa/totp/setup", server.base))
        .bearer_auth(access)
        .json(&json!({"current_password": common::PASSWORD}))
        .send()
        .await
        .expect("setup")
        .json()
        .await
        .expect("json");
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    let r = client
        .post(format!("{}/auth/mfa/totp/confirm", server.base))
        .bearer_auth(access)
        .json(&json!({"code": totp_now(&secret)}))
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), 200);
    assert!(server.terminate().success());

    let out = baton(dir.path())
        .args(["keys", "rewrap"])
        .env("BATON_SECRET", new)
        .env("BATON_SECRET_PREVIOUS", old)
        .output()
        .expect("runs");
    let text = succeeds(&out);
    assert!(text.contains("1 TOTP secret(s) encrypted"), "{text}");

    let server = Server::start(dir.path(), &[("BATON_SECRET", new)]);
    let first = login(&client, &server.base, "alice", common::PASSWORD).await;
    assert_eq!(first.status(), 401);
    let first: Value = first.json().await.expect("json");
    // The confirmation used this step's code; the next step's is accepted (drift of one).
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32");
    let next = std::time::UNIX_EPOCH.elapsed().expect("clock").as_secs() + 30;
    let code = totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, next);
    let r = client
        .post(format!("{}/auth/login/mfa", server.base))
        .json(&json!({"mfa_token": first["mfa_token"], "code": code}))
        .send()
        .await
        .expect("second step");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert!(server.terminate().success());
}

fn run_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = baton(dir).args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn run_err(dir: &std::path::Path, args: &[&str]) -> String {
    let out = baton(dir).args(args).output().expect("runs");
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn clients_are_added_shown_and_updated_with_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let added = run_ok(
        d,
        &[
            "client",
            "add",
            "web",
            "--confidential",
            "--name",
            "The Web App",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "openid profile",
            "--scope",
            "billing:read",
            "--access-ttl",
            "5m",
            "--require-par",
            "--require-dpop",
            "--claim",
            "groups=roles",
        ],
    );
    assert_eq!(added.lines().count(), 2, "{added}");
    let shown = run_ok(d, &["client", "show", "web"]);
    for line in [
        "client_id: web",
        "type: confidential",
        "name: The Web App",
        "first_party: no",
        "grants: authorization_code refresh_token",
        "redirect_uri: http://127.0.0.1/cb",
        "redirect_uri: https://app.example/cb",
        "scopes: billing:read openid profile",
        "access_ttl: 5m",
        "refresh_idle_ttl: default",
        "require_par: yes",
        "require_dpop: yes",
        "claim: groups=roles",
    ] {
        assert!(shown.lines().any(|l| l == line), "{line:?} not in\n{shown}");
    }
    let secret = added
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("authentication: client_secret"), "{shown}");

    let updated = run_ok(
        d,
        &[
            "client",
            "update",
            "web",
            "--grant",
            "authorization_code,refresh_token,client_credentials",
            "--first-party",
            "--require-par=false",
            "--require-dpop=false",
            "--default-ttls",
            "--resource",
            "https://billing.example/",
            "--refresh-idle-ttl",
            "2d",
        ],
    );
    assert!(updated.contains("first_party: yes"), "{updated}");
    assert!(
        updated.contains("resource: https://billing.example/"),
        "{updated}"
    );
    assert!(updated.contains("refresh_idle_ttl: 2d"), "{updated}");
    let json: Value =
        serde_json::from_str(&run_ok(d, &["client", "show", "web", "--json"])).expect("json");
    assert_eq!(
        json["grants"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(json["scopes"], json!(["billing:read", "openid", "profile"]));
    assert_eq!(json["require_par"], false);
    assert!(json.get("require_dpop").is_none(), "{json}");
    assert!(json.get("access_ttl").is_none(), "{json}");
    assert_eq!(json["refresh_idle_ttl"], 172_800);
    assert_eq!(json["resources"], json!(["https://billing.example/"]));
    assert_eq!(json["confidential"], true);
    // A list given as `none` is emptied.
    run_ok(
        d,
        &[
            "client",
            "update",
            "web",
            "--claim",
            "none",
            "--resource",
            "none",
        ],
    );
    let json: Value =
        serde_json::from_str(&run_ok(d, &["client", "show", "web", "--json"])).expect("json");
    assert!(json.get("claims").is_none(), "{json}");
    assert!(json.get("resources").is_none(), "{json}");

    let rotated = run_ok(d, &["client", "update", "web", "--new-secret"]);
    assert!(
        rotated.lines().any(|l| l.starts_with("client_secret: ")),
        "{rotated}"
    );
    // A client added without flags keeps the grants clients always had.
    run_ok(d, &["client", "add", "plain"]);
    let plain = run_ok(d, &["client", "show", "plain"]);
    assert!(plain.contains("grants: refresh_token password"), "{plain}");

    for (args, says) in [
        (
            vec![
                "client",
                "add",
                "x",
                "--redirect-uri",
                "http://app.example/cb",
            ],
            "https",
        ),
        (
            vec!["client", "add", "x", "--grant", "implicit"],
            "unknown grant",
        ),
        (
            vec!["client", "add", "x", "--grant", "client_credentials"],
            "confidential",
        ),
        (
            vec!["client", "add", "x", "--grant", "authorization_code"],
            "redirect URI",
        ),
        (vec!["client", "add", "x", "--access-ttl", "2s"], "lifetime"),
        (vec!["client", "update", "web"], "nothing to change"),
        (
            vec!["client", "update", "plain", "--new-secret"],
            "public client",
        ),
        (
            vec!["client", "update", "nobody", "--first-party"],
            "no client",
        ),
        (vec!["client", "show", "nobody"], "no client"),
        (
            vec!["client", "add", "x", "--claim", "groups"],
            "NAME=SOURCE",
        ),
        (
            vec!["client", "add", "x", "--claim", "groups=password"],
            "the source is one of",
        ),
        (
            vec!["client", "add", "x", "--claim", "aud=roles"],
            "standard claim",
        ),
    ] {
        let err = run_err(d, &args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let listed = run_ok(d, &["client", "list"]);
    assert_eq!(listed, "plain\tpublic\nweb\tconfidential\n");
    let audit = run_ok(d, &["audit", "--type", "client_updated"]);
    assert_eq!(audit.lines().count(), 3, "{audit}");
}

#[tokio::test]
async fn roles_are_given_listed_and_taken_and_reach_access_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    add_user(d, "alice", "correct horse battery");
    assert_eq!(
        run_ok(d, &["user", "role", "add", "alice", "billing:admin"]),
        "gave alice the role billing:admin\n"
    );
    run_ok(d, &["user", "role", "add", "alice", "auditor"]);
    assert_eq!(
        run_ok(d, &["user", "role", "add", "alice", "auditor"]),
        "alice has the role auditor already\n"
    );
    assert_eq!(
        run_ok(d, &["user", "role", "list", "alice"]),
        "auditor\nbilling:admin\n"
    );
    let err = run_err(d, &["user", "role", "add", "alice", "has space"]);
    assert!(err.contains("role names"), "{err}");
    let err = run_err(d, &["user", "role", "add", "nobody", "x"]);
    assert!(err.contains("not found"), "{err}");

    let server = Server::start(d, &[]);
    let client = reqwest::Client::new();
    let r = login(&client, &server.base, "alice", "correct horse battery").await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let payload = token.split('.').nth(1).expect("payload");
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(claims["roles"], json!(["auditor", "billing:admin"]));
    drop(server);

    assert_eq!(
        run_ok(d, &["user", "role", "remove", "alice", "auditor"]),
        "took the role auditor from alice\n"
    );
    assert_eq!(
        run_ok(d, &["user", "role", "list", "alice"]),
        "billing:admin\n"
    );
    let audit = run_ok(d, &["audit", "--type", "role_added"]);
    assert_eq!(audit.lines().count(), 2, "{audit}");
}
