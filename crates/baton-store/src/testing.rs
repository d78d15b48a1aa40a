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
    let active: i64 = sqlx::query_scalar(q::ACTIVE_SIGNING_KEYS)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::error::map)?;
    if active != 1 {
        problems.push(format!("{active} signing keys in use"));
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
    let active: i64 = conn
        .query_row(q::ACTIVE_SIGNING_KEYS, [], |r| r.get(0))
        .map_err(map_sqlite)?;
    if active != 1 {
        problems.push(format!("{active} signing keys in use"));
    }
    Ok(problems)
}

/// The id of the user that owns [`plant_ended_sessions`]'s sessions.
const PLANTED_USER: &str = "planted-ended-sessions";

/// Plants `n` sessions (two tokens each) that ended ten days before `now_ms`, past the purge's
/// retention, so that the purge has work; owned by a user of their own.
pub async fn plant_ended_sessions(url: &str, n: u32, now_ms: i64) -> Result<(), crate::StoreError> {
    let ended = now_ms - 10 * 86_400_000;
    let user = format!(
        "INSERT INTO users (id, username, username_key, password_hash, created_at, deleted_at) \
         VALUES ('{PLANTED_USER}', '{PLANTED_USER}', '{PLANTED_USER}', '', {ended}, {ended}) \
         ON CONFLICT DO NOTHING"
    );
    // Three statements whatever `n`: the sessions, then for each a spent token naming its
    // successor, and the successor (a family as rotation leaves it).
    let (series, hash) =
        if url.starts_with("sqlite:") {
            ("(WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x + 1 < {n}) \
          SELECT x FROM c)", "CAST('{tag}-' || x || '-{t}' AS BLOB)")
        } else {
            (
                "(SELECT generate_series(0, {n} - 1) AS x)",
                "convert_to('{tag}-' || x || '-{t}', 'UTF8')",
            )
        };
    let tag = now_ms;
    let series = series.replace("{n}", &n.to_string());
    let hash = |t: u32| {
        hash.replace("{tag}", &tag.to_string())
            .replace("{t}", &t.to_string())
    };
    let (c, e) = (ended - 1000, ended);
    let statements = vec![
        user,
        format!(
            "INSERT INTO sessions (id, user_id, client_id, created_at, last_used_at, \
             idle_expires_at, absolute_expires_at, idle_ttl) SELECT 'planted-{tag}-' || x, \
             '{PLANTED_USER}', 'baton', {c}, {c}, {e}, {e}, 1000 FROM {series} AS s"
        ),
        format!(
            "INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at, successor_hash) \
             SELECT {}, 'planted-{tag}-' || x, {c}, {c}, {} FROM {series} AS s",
            hash(0),
            hash(1)
        ),
        format!(
            "INSERT INTO refresh_tokens (hash, session_id, created_at) \
             SELECT {}, 'planted-{tag}-' || x, {c} FROM {series} AS s",
            hash(1)
        ),
    ];
    run_all(url, &statements).await
}

/// How many sessions of [`plant_ended_sessions`] are left.
pub async fn planted_sessions_left(url: &str) -> Result<i64, crate::StoreError> {
    let sql = format!("SELECT count(*) FROM sessions WHERE user_id = '{PLANTED_USER}'");
    if let Some(path) = crate::sqlite_path(url) {
        return tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open(path).map_err(crate::error::map_sqlite)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(crate::error::map_sqlite)?;
            conn.query_row(&sql, [], |r| r.get(0))
                .map_err(crate::error::map_sqlite)
        })
        .await
        .map_err(|e| crate::StoreError::Other(e.to_string()))?;
    }
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(crate::error::map)?;
    let n = sqlx::query_scalar(&sql)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::error::map)?;
    let _ = conn.close().await;
    Ok(n)
}

async fn run_all(url: &str, statements: &[String]) -> Result<(), crate::StoreError> {
    if let Some(path) = crate::sqlite_path(url) {
        let batch = format!("BEGIN IMMEDIATE; {}; COMMIT;", statements.join(";\n"));
        return tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open(path).map_err(crate::error::map_sqlite)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(crate::error::map_sqlite)?;
            conn.execute_batch(&batch).map_err(crate::error::map_sqlite)
        })
        .await
        .map_err(|e| crate::StoreError::Other(e.to_string()))?;
    }
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(crate::error::map)?;
    let mut tx = conn.begin().await.map_err(crate::error::map)?;
    for sql in statements {
        sqlx::query(sql)
            .execute(&mut *tx)
            .await
            .map_err(crate::error::map)?;
    }
    tx.commit().await.map_err(crate::error::map)?;
    let _ = conn.close().await;
    Ok(())
}
