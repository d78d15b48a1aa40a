//! The PostgreSQL backend, for several baton instances behind one load balancer. A rotation reads
//! the presented token, asks the rotation rules, and spends the token with one statement that
//! succeeds only if the token is still unspent, so two instances refreshing one token at the same
//! moment cannot both rotate it: the loser reads again and replays the winner's successor.
//! Migrations take PostgreSQL's advisory lock, so instances starting together migrate once.

use crate::error::map;
use crate::queries as q;
use crate::OpenMode;
use baton_core::store::{Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use std::str::FromStr as _;
use std::time::Duration;

mod audit;
mod clients;
mod dpop;
mod keys;
mod limits;
mod mail;
mod mfa;
mod oidc;
mod rotate;
mod rows;
mod sessions;
mod users;

/// Connection-pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections held open.
    pub max_connections: u32,
    /// How long a request waits for a free connection (or a new one) before answering 503.
    pub acquire_timeout: Duration,
    /// Longest a statement may run.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    writer: PgPool,
    reader: PgPool,
    dpop_proofs: dpop::ProofBatcher,
}

impl PgStore {
    /// Connects to and migrates the database at `url`.
    pub async fn open(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        Self::open_as(url, settings, OpenMode::Migrate).await
    }

    /// Connects as `mode` says: migrating first, or checking that nothing is left to migrate.
    pub async fn open_as(
        url: &str,
        settings: PoolSettings,
        mode: OpenMode,
    ) -> Result<Self, StoreError> {
        let base = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        match mode {
            OpenMode::Migrate => migrate(&base).await?,
            OpenMode::Existing => check_migrated(&base).await?,
        }
        let options = base.options([
            (
                "statement_timeout",
                format!("{}", settings.statement_timeout.as_millis()),
            ),
            // A frozen or cut-off instance must not hold a session's row locks for long, nor
            // may a refresh wait long behind one.
            ("idle_in_transaction_session_timeout", "15000".into()),
            ("lock_timeout", "3000".into()),
            // The rotation's compare-and-set relies on READ COMMITTED's re-check of a row it
            // waited for, whatever the server's default.
            ("default_transaction_isolation", "read\\ committed".into()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(map)?;
        Ok(Self {
            dpop_proofs: dpop::ProofBatcher::start(pool.clone()),
            writer: pool.clone(),
            reader: pool,
        })
    }
}

/// READ COMMITTED whatever the server's default, for the transactions that lock rows (session
/// creation, key activation).
async fn begin_write(pool: &PgPool) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(q::postgres::DIALECT.begin_write).await
}

/// Checks, without writing, that every migration of this baton has been applied.
async fn check_migrated(options: &PgConnectOptions) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect_with(options)
        .await
        .map_err(map)?;
    let applied: Result<Vec<i64>, sqlx::Error> =
        sqlx::query_scalar(q::postgres::APPLIED_MIGRATIONS)
            .fetch_all(&mut conn)
            .await;
    let _ = conn.close().await;
    let applied = match applied {
        Ok(applied) => applied,
        // 42P01: no such table.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
            return Err(crate::error::not_migrated("it has no baton schema"));
        }
        Err(e) => return Err(map(e)),
    };
    let migrator = sqlx::migrate!("./migrations/postgres");
    match migrator.iter().find(|m| !applied.contains(&m.version)) {
        Some(m) => Err(crate::error::not_migrated(&format!(
            "migration {} is missing",
            m.version
        ))),
        None => Ok(()),
    }
}

/// Applies the migrations on a connection of its own, without the pool's statement and lock
/// timeouts: building an index on a large table may take longer than any request should, and
/// instances starting together wait for each other's advisory lock.
async fn migrate(options: &PgConnectOptions) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect_with(options)
        .await
        .map_err(map)?;
    let migrated = sqlx::migrate!("./migrations/postgres")
        .run(&mut conn)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")));
    let _ = conn.close().await;
    migrated
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(q::PING)
            .execute(&self.reader)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        // Ends each session properly, so the server does not log a lost client for each one.
        self.writer.close().await;
        self.reader.close().await;
        Ok(())
    }
}
