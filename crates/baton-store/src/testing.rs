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
/// with more than one unspent refresh token (a forked family), spent tokens of sessions open
/// at `now_ms` whose successor was never stored (a half-done rotation), and other than one
/// signing key in use. Empty when it is consistent.
pub async fn consistency_problems(
    url: &str,
    now_ms: i64,
) -> Result<Vec<String>, crate::StoreError> {
    use crate::queries as q;
    if let Some(path) = crate::sqlite_path(url) {
        return tokio::task::spawn_blocking(move || sqlite_problems(&path, now_ms))
            .await
            .map_err(|e| crate::StoreError::Other(e.to_string()))?;
    }
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(crate::error::map)?;
    let forked: Vec<String> = sqlx::query_scalar(q::FORKED_SESSIONS)
        .fetch_all(&mut conn)
        .await
        .map_err(crate::error::map)?;
    let half: i64 = sqlx::query_scalar(q::HALF_ROTATED)
        .bind(now_ms)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::error::map)?;
    let active: i64 = sqlx::query_scalar(q::ACTIVE_SIGNING_KEYS)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::error::map)?;
    let _ = conn.close().await;
    Ok(described(Vec::new(), forked, half, active))
}

fn sqlite_problems(path: &std::path::Path, now_ms: i64) -> Result<Vec<String>, crate::StoreError> {
    use crate::error::map_sqlite;
    use crate::queries as q;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(map_sqlite)?;
    let strings = |sql: &str| -> Result<Vec<String>, crate::StoreError> {
        conn.prepare(sql)
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .map_err(map_sqlite)
    };
    let integrity = strings(q::sqlite::INTEGRITY_CHECK)?;
    let forked = strings(q::FORKED_SESSIONS)?;
    let half: i64 = conn
        .query_row(q::HALF_ROTATED, [now_ms], |r| r.get(0))
        .map_err(map_sqlite)?;
    let active: i64 = conn
        .query_row(q::ACTIVE_SIGNING_KEYS, [], |r| r.get(0))
        .map_err(map_sqlite)?;
    let mut problems = Vec::new();
    if integrity != ["ok"] {
        problems.push(format!("integrity check: {integrity:?}"));
    }
    Ok(described(problems, forked, half, active))
}

/// The checks' findings, in words, after `problems` (each backend reads the same queries).
fn described(
    mut problems: Vec<String>,
    forked: Vec<String>,
    half: i64,
    active: i64,
) -> Vec<String> {
    for session in forked {
        problems.push(format!("session {session} has two unspent tokens"));
    }
    if half != 0 {
        problems.push(format!("{half} half-rotated tokens"));
    }
    if active != 1 {
        problems.push(format!("{active} signing keys in use"));
    }
    problems
}

/// Tokens of the longest families [`plant_ended_sessions`] plants.
pub const LONG_FAMILY: u32 = 40;

/// The id of the user that owns [`plant_ended_sessions`]'s sessions.
const PLANTED_USER: &str = "planted-ended-sessions";

/// Plants `n` sessions that ended ten days before `now_ms`, past the purge's retention, so that
/// the purge has work; owned by a user of their own, and named after `now_ms` (see
/// [`planted_sessions_left`]).
pub async fn plant_ended_sessions(url: &str, n: u32, now_ms: i64) -> Result<(), crate::StoreError> {
    let ended = now_ms - 10 * 86_400_000;
    let user = format!(
        "INSERT INTO users (id, username, username_key, password_hash, created_at, deleted_at) \
         VALUES ('{PLANTED_USER}', '{PLANTED_USER}', '{PLANTED_USER}', '', {ended}, {ended}) \
         ON CONFLICT DO NOTHING"
    );
    // Two statements whatever `n`: the sessions, then each one's tokens, a family as rotation
    // leaves it (each spent token naming its successor, the last unspent): two tokens, or for
    // one session in a hundred [`LONG_FAMILY`], more than a step of the purge deletes at once.
    let sqlite = url.starts_with("sqlite:");
    let series = |column: &str, n: u32| {
        if sqlite {
            format!(
                "(WITH RECURSIVE c({column}) AS (SELECT 0 UNION ALL SELECT {column} + 1 FROM c \
                 WHERE {column} + 1 < {n}) SELECT {column} FROM c)"
            )
        } else {
            format!("(SELECT generate_series(0, {n} - 1) AS {column})")
        }
    };
    let tag = now_ms;
    let hash = |t: &str| {
        let text = format!("'{tag}-' || x || '-' || ({t})");
        if sqlite {
            format!("CAST({text} AS BLOB)")
        } else {
            format!("convert_to({text}, 'UTF8')")
        }
    };
    let last = format!("CASE WHEN x % 100 = 0 THEN {} ELSE 1 END", LONG_FAMILY - 1);
    let (c, e) = (ended - 1000, ended);
    let statements = vec![
        user,
        format!(
            "INSERT INTO sessions (id, user_id, client_id, created_at, last_used_at, \
             idle_expires_at, absolute_expires_at, idle_ttl) SELECT 'planted-{tag}-' || x, \
             '{PLANTED_USER}', 'baton', {c}, {c}, {e}, {e}, 1000 FROM {} AS s",
            series("x", n)
        ),
        format!(
            "INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at, successor_hash) \
             SELECT {}, 'planted-{tag}-' || x, {c} + t, \
             CASE WHEN t < {last} THEN {c} + t END, CASE WHEN t < {last} THEN {} END \
             FROM {} AS s, {} AS f WHERE t <= {last}",
            hash("t"),
            hash("t + 1"),
            series("x", n),
            series("t", LONG_FAMILY)
        ),
    ];
    run_all(url, &statements).await
}

/// How many sessions of [`plant_ended_sessions`] are left: all, or those planted at `at`.
pub async fn planted_sessions_left(url: &str, at: Option<i64>) -> Result<i64, crate::StoreError> {
    let mut sql = format!("SELECT count(*) FROM sessions WHERE user_id = '{PLANTED_USER}'");
    if let Some(at) = at {
        sql.push_str(&format!(" AND id LIKE 'planted-{at}-%'"));
    }
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
