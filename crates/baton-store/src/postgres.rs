//! The PostgreSQL backend, for several baton instances behind one load balancer. A rotation locks
//! the presented token's row and its session's row (`SELECT … FOR UPDATE`), so two instances
//! refreshing one token at the same moment are serialised by the database: the second sees the
//! token spent and replays the first one's successor. Migrations take PostgreSQL's advisory lock,
//! so instances starting together migrate once.

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::Row as _;
use std::str::FromStr as _;
use std::time::Duration;
use time::OffsetDateTime;

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
}

impl PgStore {
    /// Connects to and migrates the database at `url`.
    pub async fn open(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?
            .options([
                (
                    "statement_timeout",
                    format!("{}", settings.statement_timeout.as_millis()),
                ),
                // A frozen or cut-off instance must not hold a session's row locks for long,
                // nor may a refresh wait long behind one.
                ("idle_in_transaction_session_timeout", "15000".into()),
                ("lock_timeout", "3000".into()),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(map)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }
}

type Db = Postgres;
type Row = PgRow;

/// Lock the token and its session for the whole rotation.
const FOR_UPDATE: &str = " FOR UPDATE OF t, s";
/// Keep the user row from being deleted while a session is created for it.
const FOR_SHARE: &str = " FOR SHARE";
/// Serialise key activation across instances; readers (`SELECT`) are not blocked.
const LOCK_SIGNING_KEYS: &str = "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE";

/// READ COMMITTED whatever the server's default: a refresh that waited for another's row lock
/// must then see that refresh's commit (and replay its successor) instead of failing.
async fn begin_write(pool: &PgPool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
}

crate::sql::impl_store!(PgStore);
