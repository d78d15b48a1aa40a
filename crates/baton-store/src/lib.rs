//! baton's storage backends: [`baton_core::store::Store`] implemented for SQLite (rusqlite, on
//! threads of its own with group commit) and PostgreSQL (sqlx). The SQL is written once, in
//! [`queries`], and lives nowhere else (but for the test helpers of [`testing`]); migrations are embedded from
//! `migrations/<backend>`.

mod error;
pub mod postgres;
pub mod queries;
pub mod sqlite;
pub mod testing;

pub use postgres::{PgStore, PoolSettings};
pub use sqlite::SqliteStore;

use baton_core::client::{ClientRecord, ClientSettings};
use baton_core::store::{Store, StoreError};
use std::sync::Arc;

/// A user's roles from their column (space-separated, `NULL` for none).
pub(crate) fn roles_from_column(column: Option<&str>) -> Vec<String> {
    column
        .map(|c| {
            c.split(' ')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A client's settings from their JSON column (`NULL`: a client from before settings, with
/// [`ClientSettings::legacy`]).
pub(crate) fn settings_from_column(
    column: Option<&str>,
) -> Result<ClientSettings, serde_json::Error> {
    column.map_or_else(|| Ok(ClientSettings::legacy()), serde_json::from_str)
}

/// The columns a client's settings are stored in: the JSON, and mirrored beside it the refresh
/// idle timeout in milliseconds and the back-channel logout URI.
pub(crate) fn settings_columns(
    client: &ClientRecord,
) -> Result<(String, Option<i64>, Option<String>), StoreError> {
    let json = serde_json::to_string(&client.settings)
        .map_err(|e| StoreError::Other(format!("client settings: {e}")))?;
    let idle = client
        .settings
        .refresh_idle_ttl
        .map(|s| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX));
    Ok((json, idle, client.settings.backchannel_logout_uri.clone()))
}

/// When (milliseconds) a back-channel logout notice queued at `now` is dropped undelivered.
pub(crate) fn notice_expiry(now: i64) -> i64 {
    let ttl = baton_core::oidc::LOGOUT_NOTICE_TTL.whole_milliseconds();
    now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))
}

/// The file a `sqlite:` URL names; `None` for other databases.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    url.starts_with("sqlite:")
        .then(|| sqlite::database_path(url).ok())
        .flatten()
}

/// Opens and migrates the database a URL names (`sqlite://…` or `postgres://…`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, PoolSettings::default()).await
}

/// Like [`open`], with PostgreSQL pool settings (SQLite ignores them).
pub async fn open_with(url: &str, pool: PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    open_as(url, pool, OpenMode::Migrate).await
}

/// Whether opening a database may create and upgrade its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the database if missing and apply pending migrations (the server, `migrate`, and
    /// commands that change data).
    Migrate,
    /// Use the database as it is: fail clearly when it is missing or not fully migrated
    /// (commands that only read).
    Existing,
}

/// Opens the database a URL names as `mode` says.
pub async fn open_as(
    url: &str,
    pool: PoolSettings,
    mode: OpenMode,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open_as(url, mode).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::open_as(url, pool, mode).await?))
    } else {
        Err(StoreError::Other(format!(
            "unsupported database URL scheme in {:?} (expected sqlite://… or postgres://…)",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

/// A random id for a limiter reservation.
pub(crate) fn new_attempt_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Other(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
