//! Support for tests: PostgreSQL databases of their own for tests that run against a real server
//! (the test command starts a throwaway cluster and names it in `BATON_TEST_POSTGRES_URL`), and
//! the consistency check a crash test runs afterwards.

use sqlx::Connection as _;

/// The environment variable naming the test cluster (a URL to any database on it).
pub const POSTGRES_URL_VAR: &str = "BATON_TEST_POSTGRES_URL";

/// The admin URL of the test cluster, if the environment names one. When it does not and
/// `BATON_REQUIRE_POSTGRES` is set (as the test command sets it), this panics, so a missing
/// cluster cannot pass as skipped tests.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("BATON_REQUIRE_POSTGRES").is_none(),
                "BATON_REQUIRE_POSTGRES is set but {POSTGRES_URL_VAR} is not"
            );
            None
        }
    }
}

/// Creates an empty database on the cluster of `admin_url` and returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, sqlx::Error> {
    let mut id = [0u8; 8];
    getrandom::getrandom(&mut id).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let name = format!(
        "baton_test_{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    Ok(if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    })
}

/// What is wrong with the database at `url` after a crash: SQLite's integrity check, sessions
/// with more than one unspent refresh token (a forked family) and spent tokens whose successor
/// was never stored (a half-done rotation). Empty when it is consistent.
pub async fn consistency_problems(url: &str) -> Result<Vec<String>, crate::StoreError> {
    use crate::queries as q;
    if let Some(path) = crate::sqlite_path(url) {
        return tokio::task::spawn_blocking(move || sqlite_problems(&path))
            .await
            .map_err(|e| crate::StoreError::Other(e.to_string()))?;
    }
    let mut problems = Vec::new();
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(crate::error::map)?;
    let forked: Vec<String> = sqlx::query_scalar(q::FORKED_SESSIONS)
        .fetch_all(&mut conn)
        .await
        .map_err(crate::error::map)?;
    for session in forked {
        problems.push(format!("session {session} has two unspent tokens"));
    }
    let half: i64 = sqlx::query_scalar(q::HALF_ROTATED)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::error::map)?;
    if half != 0 {
        problems.push(format!("{half} half-rotated tokens"));
    }
    let _ = conn.close().await;
    Ok(problems)
}

fn sqlite_problems(path: &std::path::Path) -> Result<Vec<String>, crate::StoreError> {
    use crate::error::map_sqlite;
    use crate::queries as q;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(map_sqlite)?;
    let mut problems = Vec::new();
    let integrity: Vec<String> = conn
        .prepare(q::sqlite::INTEGRITY_CHECK)
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .map_err(map_sqlite)?;
    if integrity != ["ok"] {
        problems.push(format!("integrity check: {integrity:?}"));
    }
    let forked: Vec<String> = conn
        .prepare(q::FORKED_SESSIONS)
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .map_err(map_sqlite)?;
    for session in forked {
        problems.push(format!("session {session} has two unspent tokens"));
    }
    let half: i64 = conn
        .query_row(q::HALF_ROTATED, [], |r| r.get(0))
        .map_err(map_sqlite)?;
    if half != 0 {
        problems.push(format!("{half} half-rotated tokens"));
    }
    Ok(problems)
}
