//! The `limits` subcommand: what this machine can do at most for the work baton does, measured
//! in the same run as the load so that the report can put the two side by side.
//!
//! - access-token signing and verification with baton's own code, one thread;
//! - Argon2id hashes at baton's parameters, on one thread and on every core;
//! - SQLite rotation transactions with baton's statements, one thread, one commit each.

use anyhow::{anyhow, Context as _};
use argon2::{Algorithm, Argon2, Block, Version};
use baton_core::access::{self, AccessClaims, TokenRules};
use baton_core::clock::{to_millis, Clock as _, SystemClock};
use baton_core::keys::{KeyRing, SigningAlg, StoredKey};
use baton_core::password::PasswordHasher;
use baton_store::queries as q;
use rusqlite::{params, Connection, OptionalExtension as _};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SIGN_SECS: f64 = 2.0;
const ARGON2_SECS: f64 = 4.0;
const SQLITE_SECS: f64 = 3.0;
const CHAINS: usize = 64;
const SEALED_LEN: usize = 60;
const DAY_MS: i64 = 86_400_000;

/// Runs every probe; machine facts first.
pub async fn measure() -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("limits: signing and verifying access tokens");
    let mut signing = serde_json::Map::new();
    for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
        signing.insert(alg.as_str().into(), signing_rate(alg)?);
    }
    eprintln!("limits: checking DPoP proofs");
    let mut dpop = serde_json::Map::new();
    for alg in ["ES256", "EdDSA"] {
        dpop.insert(alg.into(), dpop_rate(alg)?);
    }
    eprintln!("limits: Argon2id at baton's parameters");
    let argon2 = tokio::task::spawn_blocking(argon2_rates)
        .await
        .context("the Argon2 probe panicked")??;
    eprintln!("limits: SQLite rotation transactions");
    let sqlite = sqlite_rotations(SQLITE_SECS).await?;
    Ok(json!({
        "machine": machine,
        "signing": signing,
        "dpop_proof_check": dpop,
        "argon2id": argon2,
        "sqlite_rotation": sqlite,
    }))
}

fn command_line(cmd: &str, arg: &str) -> Value {
    std::process::Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text).trim().to_owned()
        })
        .map_or(Value::Null, Value::String)
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned());
    let mem_total_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        });
    json!({
        "nproc": std::thread::available_parallelism().map_or(1, usize::from),
        "cpu_model": cpu_model,
        "mem_total_kib": mem_total_kib,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        "rustc": command_line("rustc", "--version"),
        "node": command_line("node", "--version"),
        "python": command_line("python3", "--version"),
    })
}

/// Runs `f` repeatedly for about `secs`; calls per second.
fn rate(secs: f64, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    // A short warm-up, then whole batches until the time is up.
    for _ in 0..3 {
        f()?;
    }
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut n: u64 = 0;
    while start.elapsed() < limit {
        for _ in 0..8 {
            f()?;
        }
        n += 8;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn signing_rate(alg: SigningAlg) -> anyhow::Result<Value> {
    let now = SystemClock.now();
    let key = StoredKey::generate(alg, now)?;
    let ring = KeyRing::build(&key, std::slice::from_ref(&key), now, time::Duration::ZERO)?;
    let issuer = "http://127.0.0.1:4000";
    // Claims shaped like baton's own: UUID subject, session and token ids.
    let claims = AccessClaims {
        iss: issuer.into(),
        sub: "0190f5c2-6f1e-7c3a-9b52-3c1d2e4f5a6b".into(),
        aud: "baton".into(),
        exp: now.unix_timestamp() + 900,
        iat: now.unix_timestamp(),
        nbf: None,
        jti: "5f0c6a52-8d3e-4b8f-9a61-2f7e3c4d5b6a".into(),
        client_id: "baton".into(),
        sid: "0190f5c2-7a2b-7d4e-8f60-1a2b3c4d5e6f".into(),
        preferred_username: "bench".into(),
        email: None,
        email_verified: None,
        auth_time: None,
        amr: Vec::new(),
        scope: None,
        roles: Vec::new(),
        cnf: None,
    };
    let rules = TokenRules {
        issuer: issuer.into(),
        audience: "baton".into(),
        leeway_secs: 0,
    };
    let sign = rate(SIGN_SECS, || {
        access::mint(&ring, &claims)
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })?;
    let token = access::mint(&ring, &claims).map_err(|e| anyhow!("{e}"))?;
    let verify = rate(SIGN_SECS, || {
        access::verify(&ring, &rules, &token, now)
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })?;
    eprintln!("  {alg}: {sign:.0} signs/s, {verify:.0} verifies/s (one thread)");
    Ok(json!({
        "sign_per_sec": round1(sign),
        "verify_per_sec": round1(verify),
        "token_bytes": token.len(),
        "threads": 1,
        "secs": SIGN_SECS,
    }))
}

/// DPoP proof checks per second on one thread with baton's own code (every check of RFC 9449
/// §4.3 and the key's thumbprint, `ath` included; not the replay record), and proof signing
/// as a client does it.
fn dpop_rate(alg: &str) -> anyhow::Result<Value> {
    use baton_core::dpop::{check_proof, ProofContext};
    let mut key = match alg {
        "ES256" => crate::dpop::ClientKey::es256(1)?,
        _ => crate::dpop::ClientKey::eddsa(1)?,
    };
    let uri = "http://127.0.0.1:4000/api/me";
    let token = "eyJ0eXAiOiJhdCtqd3QifQ.a-token-of-the-usual-size-for-the-hash.sig";
    let now = crate::dpop::unix_now();
    let sign = rate(SIGN_SECS, || {
        key.proof("GET", uri, now, Some(token)).map(drop)
    })?;
    let proof = key.proof("GET", uri, now, Some(token))?;
    let context = ProofContext {
        method: "GET",
        uri,
        now,
        access_token: Some(token),
        nonce: None,
    };
    let check = rate(SIGN_SECS, || {
        check_proof(&proof, &context)
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })?;
    eprintln!("  DPoP {alg}: {check:.0} proof checks/s, {sign:.0} proofs signed/s (one thread)");
    Ok(json!({
        "check_per_sec": round1(check),
        "sign_per_sec": round1(sign),
        "check_us": round1(1e6 / check),
        "proof_bytes": proof.len(),
        "threads": 1,
        "secs": SIGN_SECS,
    }))
}

fn argon2_hashes(params: &argon2::Params, secs: f64) -> anyhow::Result<f64> {
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    let salt = [7u8; 16];
    rate(secs, || {
        hasher
            .hash_password_into_with_memory(
                b"correct horse battery staple",
                &salt,
                &mut out,
                &mut memory,
            )
            .map_err(|e| anyhow!("argon2: {e}"))
    })
}

fn argon2_rates() -> anyhow::Result<Value> {
    let params = PasswordHasher::owasp_params();
    let one = argon2_hashes(&params, ARGON2_SECS)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let p = params.clone();
            std::thread::spawn(move || argon2_hashes(&p, ARGON2_SECS))
        })
        .collect();
    let mut all = 0.0;
    for t in threads {
        all += t
            .join()
            .map_err(|_| anyhow!("an Argon2 thread panicked"))??;
    }
    eprintln!("  Argon2id: {one:.1} hashes/s on one thread, {all:.1} on {cores} threads");
    Ok(json!({
        "m_cost_kib": params.m_cost(),
        "t_cost": params.t_cost(),
        "p_cost": params.p_cost(),
        "one_thread_per_sec": round1(one),
        "all_cores_per_sec": round1(all),
        "threads": cores,
        "secs": ARGON2_SECS,
    }))
}

fn random32() -> anyhow::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(|e| anyhow!("getrandom: {e}"))?;
    Ok(b)
}

/// One rotation, with baton's statements in `rotate_in`'s order and binding.
fn rotate(
    conn: &Connection,
    presented: &[u8; 32],
    successor: &[u8; 32],
    sealed: &[u8],
) -> anyhow::Result<()> {
    let now = to_millis(SystemClock.now());
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let state = conn
        .prepare_cached(q::ROTATION_STATE)?
        .query_row([&presented[..]], |row| {
            // Read the columns baton reads.
            let _: Option<i64> = row.get("token_spent_at")?;
            let _: Option<Vec<u8>> = row.get("sealed_successor")?;
            let _: i64 = row.get("replays")?;
            let _: Option<i64> = row.get("successor_spent_at")?;
            let id: String = row.get("id")?;
            let _: String = row.get("user_id")?;
            let _: String = row.get("username")?;
            let _: String = row.get("client_id")?;
            for col in [
                "created_at",
                "last_used_at",
                "idle_ttl",
                "absolute_expires_at",
            ] {
                let _: i64 = row.get(col)?;
            }
            let _: Option<String> = row.get("user_agent")?;
            let _: Option<String> = row.get("ip")?;
            let _: Option<i64> = row.get("revoked_at")?;
            Ok(id)
        })
        .optional()?;
    let Some(session_id) = state else {
        conn.execute_batch("ROLLBACK")?;
        return Err(anyhow!("the presented token is unknown"));
    };
    let spent = conn.prepare_cached(q::SPEND_TOKEN)?.execute(params![
        now,
        &successor[..],
        &presented[..]
    ])?;
    if spent != 1 {
        conn.execute_batch("ROLLBACK")?;
        return Err(anyhow!("the presented token was already spent"));
    }
    conn.prepare_cached(q::INSERT_SUCCESSOR)?.execute(params![
        &successor[..],
        session_id.as_str(),
        now,
        sealed,
        false
    ])?;
    conn.prepare_cached(q::TOUCH_SESSION)?
        .execute(params![now, session_id.as_str()])?;
    conn.execute_batch("COMMIT")?;
    Ok(())
}

async fn sqlite_rotations(secs: f64) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir().context("no temporary directory")?;
    let path = dir.path().join("ceiling.db");
    let url = format!("sqlite://{}", path.display());
    // baton creates and migrates the schema; then it steps aside.
    drop(
        baton_store::SqliteStore::open(&url)
            .await
            .map_err(|e| anyhow!("{e}"))?,
    );
    tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        let conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        let now = to_millis(SystemClock.now());
        const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        conn.execute(
            q::INSERT_USER,
            params![
                "0190f5c2-6f1e-7c3a-9b52-3c1d2e4f5a6b",
                "bench",
                "bench",
                HASH,
                now,
                None::<String>,
                None::<String>
            ],
        )?;
        let mut heads = Vec::with_capacity(CHAINS);
        for i in 0..CHAINS {
            let sid = format!("0190f5c2-0000-7000-8000-{i:012x}");
            let created = conn.execute(
                q::INSERT_SESSION,
                params![
                    sid,
                    "0190f5c2-6f1e-7c3a-9b52-3c1d2e4f5a6b",
                    "baton",
                    now,
                    now,
                    now + 7 * DAY_MS,
                    now + 30 * DAY_MS,
                    "baton-loadgen",
                    "127.0.0.1",
                    "pwd",
                    None::<String>,
                    None::<i64>,
                    None::<String>,
                    None::<String>,
                    None::<String>,
                    HASH
                ],
            )?;
            if created != 1 {
                return Err(anyhow!("the session was not created"));
            }
            let first = random32()?;
            conn.execute(q::INSERT_TOKEN, params![&first[..], sid, now, false])?;
            heads.push(first);
        }
        let sealed = [0x5au8; SEALED_LEN];
        let mut i = 0usize;
        let rotations_per_sec = rate(secs, || {
            let next = random32()?;
            let slot = i % CHAINS;
            rotate(&conn, &heads[slot], &next, &sealed)?;
            heads[slot] = next;
            i += 1;
            Ok(())
        })?;
        let rows: i64 =
            conn.query_row("SELECT count(*) FROM refresh_tokens", [], |r| r.get(0))?;
        eprintln!("  SQLite: {rotations_per_sec:.0} rotations/s (one thread, one commit each)");
        Ok(json!({
            "rotations_per_sec": round1(rotations_per_sec),
            "chains": CHAINS,
            "tokens_at_end": rows,
            "threads": 1,
            "secs": secs,
            "pragmas": "journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON",
        }))
    })
    .await
    .context("the SQLite probe panicked")?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe binds baton's own statements by position: a column added to them must not
    /// break `baton-loadgen limits` unnoticed (it did twice).
    #[tokio::test]
    async fn the_sqlite_probe_runs_against_the_current_schema() {
        let probe = sqlite_rotations(0.05).await.expect("the probe runs");
        assert!(
            probe["rotations_per_sec"].as_f64().is_some_and(|r| r > 0.0),
            "{probe}"
        );
    }
}
