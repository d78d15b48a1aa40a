//! Finding 15: PostgreSQL over TLS. Against a throwaway cluster started with `ssl=on` and a
//! self-signed certificate (`scripts/test` starts one): `sslmode=require` encrypts,
//! `verify-full` with the certificate as root verifies it, and a cluster without TLS refuses
//! `require` instead of falling back to plain text.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use sqlx::{ConnectOptions as _, Connection as _};
use std::str::FromStr as _;

struct Tls {
    url: String,
    root: String,
}

fn tls_cluster() -> Option<Tls> {
    match (
        std::env::var("BATON_TEST_TLS_POSTGRES_URL"),
        std::env::var("BATON_TEST_TLS_ROOT_CERT"),
    ) {
        (Ok(url), Ok(root)) => Some(Tls { url, root }),
        _ => {
            assert!(
                std::env::var_os("BATON_REQUIRE_POSTGRES").is_none(),
                "BATON_REQUIRE_POSTGRES is set but the TLS cluster is not"
            );
            eprintln!("no TLS PostgreSQL cluster configured; skipping");
            None
        }
    }
}

fn with(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Whether the connection this URL opens is encrypted, by the server's own account.
async fn encrypted(url: &str) -> bool {
    let options = sqlx::postgres::PgConnectOptions::from_str(url).expect("url");
    let mut conn = options.connect().await.expect("connects");
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_ssl");
    let _ = conn.close().await;
    ssl
}

#[tokio::test]
async fn finding_15_postgres_connections_use_tls_when_asked() {
    let Some(tls) = tls_cluster() else { return };
    let db = baton_store::testing::fresh_postgres_database(&tls.url)
        .await
        .expect("a database");
    let require = with(&db, "sslmode=require");
    assert!(encrypted(&require).await);
    baton_store::open(&require)
        .await
        .expect("baton opens it over TLS");
    let verified = with(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", tls.root),
    );
    assert!(encrypted(&verified).await);
    baton_store::open(&verified)
        .await
        .expect("baton verifies the certificate");
}

#[tokio::test]
async fn finding_15_require_never_falls_back_to_plain_text() {
    let Some(_) = tls_cluster() else { return };
    let Some(plain) = baton_store::testing::postgres_admin_url() else {
        return;
    };
    let Err(err) = baton_store::open(&with(&plain, "sslmode=require")).await else {
        panic!("a cluster without TLS was accepted with sslmode=require");
    };
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("tls") || text.contains("ssl"),
        "the error should say why: {text}"
    );
}
