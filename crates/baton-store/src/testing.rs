//! Support for tests that run against a real PostgreSQL server: the test command starts a
//! throwaway cluster and names it in `BATON_TEST_POSTGRES_URL`; every test gets a database of
//! its own from it.

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
