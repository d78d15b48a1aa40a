//! baton's access tokens verified from the JWKS alone by other stacks' standard libraries:
//! Python's PyJWT (`PyJWKClient`) and Node's jose (`createRemoteJWKSet`), for every signing
//! algorithm. The test command installs both (`BATON_INTEROP_PYTHON`, `BATON_INTEROP_NODE_DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::Server;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

struct Stacks {
    python: PathBuf,
    node_dir: PathBuf,
}

fn stacks() -> Option<Stacks> {
    match (
        std::env::var_os("BATON_INTEROP_PYTHON"),
        std::env::var_os("BATON_INTEROP_NODE_DIR"),
    ) {
        (Some(python), Some(node_dir)) => Some(Stacks {
            python: python.into(),
            node_dir: node_dir.into(),
        }),
        _ => {
            assert!(
                std::env::var_os("BATON_REQUIRE_INTEROP").is_none(),
                "BATON_REQUIRE_INTEROP is set but the interop stacks are not"
            );
            None
        }
    }
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// Runs a verifier script; its claims when it accepted the token.
fn run(mut cmd: Command) -> Result<Value, String> {
    let out = cmd.output().expect("verifier runs");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("claims as JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn python(stacks: &Stacks, issuer: &str, token: &str) -> Result<Value, String> {
    let mut cmd = Command::new(&stacks.python);
    cmd.arg(interop_dir().join("python/verify_token.py"))
        .args([issuer, "baton", token]);
    run(cmd)
}

fn node(stacks: &Stacks, issuer: &str, token: &str) -> Result<Value, String> {
    let mut cmd = Command::new("node");
    cmd.current_dir(&stacks.node_dir)
        .arg("verify_token.mjs")
        .args([issuer, "baton", token]);
    run(cmd)
}

fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    claims["sub"] = json!("someone-else");
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
    parts.join(".")
}

#[tokio::test]
async fn pyjwt_and_jose_verify_baton_tokens_from_the_jwks_for_every_algorithm() {
    let Some(stacks) = stacks() else {
        eprintln!("interop stacks not installed; skipping");
        return;
    };
    for alg in ["EdDSA", "ES256", "RS256"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(dir.path(), &[("BATON_SIGNING_ALG", alg)]);
        common::register_alice(&server.base).await;
        let login = common::login_alice(&server.base).await;
        let token = login["access_token"].as_str().expect("token").to_owned();
        let issuer = server.base.clone();
        let (stacks_ref, token_ref) = (&stacks, token.as_str());

        let by_python = python(stacks_ref, &issuer, token_ref).expect("PyJWT accepts");
        let by_node = node(stacks_ref, &issuer, token_ref).expect("jose accepts");
        assert_eq!(by_python["preferred_username"], "alice", "{alg}");
        assert_eq!(by_python, by_node, "{alg}: both read the same claims");

        let forged = tamper(&token);
        assert!(
            python(stacks_ref, &issuer, &forged).is_err(),
            "{alg}: PyJWT refuses"
        );
        assert!(
            node(stacks_ref, &issuer, &forged).is_err(),
            "{alg}: jose refuses"
        );
        let elsewhere = format!("{issuer}/tenant-b");
        assert!(
            python(stacks_ref, &elsewhere, token_ref).is_err(),
            "{alg}: PyJWT refuses another issuer"
        );
        drop(server);
    }
}

/// Runs `interop/python/client_credentials.py` (Authlib's OAuth2Session, joserfc).
fn authlib_client_credentials(
    stacks: &Stacks,
    issuer: &str,
    id: &str,
    secret: &str,
    scope: &str,
) -> Result<Value, String> {
    let mut cmd = Command::new(&stacks.python);
    cmd.arg(interop_dir().join("python/client_credentials.py"))
        .args([issuer, id, secret, scope]);
    run(cmd)
}

#[tokio::test]
async fn authlib_fetches_a_client_credentials_token_and_verifies_it_from_the_jwks() {
    let Some(stacks) = stacks() else {
        eprintln!("interop stacks not installed; skipping");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = common::baton(dir.path())
        .args([
            "client",
            "add",
            "reports-job",
            "--confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "reports:read reports:write",
        ])
        .output()
        .expect("client add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret")
        .to_owned();
    let server = Server::start(dir.path(), &[]);
    let issuer = server.base.clone();

    let got = authlib_client_credentials(&stacks, &issuer, "reports-job", &secret, "reports:read")
        .expect("Authlib gets a token");
    assert_eq!(got["token"]["token_type"], "Bearer");
    assert_eq!(got["token"]["scope"], "reports:read");
    assert_eq!(got["token"]["expires_in"], 900);
    assert!(got["token"].get("refresh_token").is_none(), "{got}");
    assert_eq!(got["claims"]["sub"], "reports-job");
    assert_eq!(got["claims"]["client_id"], "reports-job");
    assert_eq!(got["claims"]["scope"], "reports:read");

    let all = authlib_client_credentials(&stacks, &issuer, "reports-job", &secret, "")
        .expect("no scope asked: every registered one");
    assert_eq!(all["claims"]["scope"], "reports:read reports:write");

    let err = authlib_client_credentials(&stacks, &issuer, "reports-job", "wrong", "")
        .expect_err("a wrong secret is refused");
    assert!(err.contains("invalid_client"), "{err}");
    let err = authlib_client_credentials(&stacks, &issuer, "reports-job", &secret, "admin")
        .expect_err("an unregistered scope is refused");
    assert!(err.contains("invalid_scope"), "{err}");
}

#[tokio::test]
async fn authlib_authenticates_with_private_key_jwt() {
    let Some(stacks) = stacks() else {
        eprintln!("interop stacks not installed; skipping");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = tempfile::tempdir().expect("key dir");
    let out = Command::new(&stacks.python)
        .arg(interop_dir().join("python/client_credentials.py"))
        .arg("keygen")
        .arg(keys.path())
        .output()
        .expect("keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwks = keys.path().join("jwks.json");
    let out = common::baton(dir.path())
        .args([
            "client",
            "add",
            "signed-job",
            "--confidential",
            "--grant",
            "client_credentials",
        ])
        .args(["--scope", "reports:read", "--jwks"])
        .arg(&jwks)
        .output()
        .expect("client add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        stdout.trim(),
        "client_id: signed-job",
        "no secret is printed"
    );
    let server = Server::start(dir.path(), &[]);
    let pem = keys.path().join("key.pem");
    let run_with = |key: &std::path::Path| {
        let mut cmd = Command::new(&stacks.python);
        cmd.arg(interop_dir().join("python/client_credentials.py"))
            .args([server.base.as_str(), "signed-job", "--private-key"])
            .arg(key)
            .arg("reports:read");
        run(cmd)
    };
    let got = run_with(&pem).expect("Authlib's PrivateKeyJWT is accepted");
    assert_eq!(got["claims"]["sub"], "signed-job");
    assert_eq!(got["claims"]["scope"], "reports:read");
    // Another key (same kid) is refused.
    let other = tempfile::tempdir().expect("other keys");
    let out = Command::new(&stacks.python)
        .arg(interop_dir().join("python/client_credentials.py"))
        .arg("keygen")
        .arg(other.path())
        .output()
        .expect("keygen");
    assert!(out.status.success());
    let err = run_with(&other.path().join("key.pem")).expect_err("another key is refused");
    assert!(err.contains("invalid_client"), "{err}");
}

/// RFC 9449 with proofs made by another implementation (`interop/python/dpop_attacks.py`:
/// PyJWT and `cryptography`): login, refresh and `/api/me` with a bound token, and each attack
/// the issue lists refused for its own reason.
#[tokio::test]
async fn dpop_proofs_made_by_pyjwt_bind_tokens_and_every_attack_is_refused() {
    let Some(stacks) = stacks() else {
        eprintln!("interop stacks not installed; skipping");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[]);
    let checks = dpop_script(&stacks.python, &[&server.base]);
    // Every attack of the list is among them.
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for attack in [
        "proof by another key",
        "replay: same proof again",
        "stale iat",
        "future iat",
        "wrong htm",
        "wrong htu",
        "missing ath",
        "wrong ath",
        "private key in jwk",
        "alg none",
        "alg HS256",
        "bound token as Bearer",
        "stolen refresh token without a proof",
        "stolen refresh token with another key",
        "token not spent",
        "stolen refresh token at /oauth/token",
        "refresh with a proof made for /auth/login",
        "refresh with a proof for GET",
        "replayed refresh proof",
        "EdDSA login",
        "RS256 login",
        "/oauth/token refresh grant with proof",
        "htu in another case",
        "/auth/login/mfa with proof",
    ] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(attack) || n.contains(&format!("({attack})"))),
            "no check for {attack}: {names:?}"
        );
    }

    // The nonce flow, against a baton that asks for nonces.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[("BATON_DPOP_NONCE", "true")]);
    let checks = dpop_script(&stacks.python, &["--nonces", &server.base]);
    assert!(checks.len() >= 7, "{checks:#?}");
}

/// Runs `interop/python/dpop_attacks.py` with `args`: its checks, every one of them passed.
fn dpop_script(python: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(python)
        .arg(interop_dir().join("python/dpop_attacks.py"))
        .args(args)
        .output()
        .expect("the script runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = report["checks"].as_array().expect("checks").clone();
    let failed: Vec<&Value> = checks.iter().filter(|c| c["ok"] != true).collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    assert!(out.status.success());
    checks
}
