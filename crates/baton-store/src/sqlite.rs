//! The SQLite backend: one file, WAL journal, `synchronous=NORMAL` (a committed refresh survives
//! a crash of the process). Writes go through a single connection and every write transaction
//! starts with `BEGIN IMMEDIATE`, so rotations are serialised without lock-upgrade failures;
//! reads use a small pool of their own.

use crate::error::map;
use baton_core::client::ClientRecord;
use baton_core::clock::{from_millis, to_millis};
use baton_core::keys::StoredKey;
use baton_core::refresh::{SealedSuccessor, TokenHash};
use baton_core::rotation::{decide, Decision, TokenState};
use baton_core::store::{
    NewSession, RefreshTokenRecord, RotateOutcome, RotateRequest, SessionRecord, Store, StoreError,
    UserRecord,
};
use baton_core::{RefreshError, SessionId, UserId};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row as _;
use std::str::FromStr as _;
use std::time::Duration;
use time::OffsetDateTime;

/// [`Store`] on a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(map)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await
            .map_err(map)?;
        Ok(Self { writer, reader })
    }
}

type Db = Sqlite;
type Row = SqliteRow;

/// SQLite has no row locks; `BEGIN IMMEDIATE` already makes the transaction the only writer.
const FOR_UPDATE: &str = "";
const LOCK_SIGNING_KEYS: &str = "";
const FOR_SHARE: &str = "";

async fn begin_write(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

crate::sql::impl_store!(SqliteStore);
