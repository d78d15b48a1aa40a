//! The SQLite backend: one file, WAL journal, `synchronous=NORMAL` (a committed refresh survives
//! a crash of the process). Its SQL is the shared text of [`crate::queries`]; it runs on threads
//! of its own (`engine`) rather than through an async driver, because on SQLite the cost of a
//! refresh is the hand-offs between threads, not the statements.

mod audit;
mod clients;
mod engine;
mod keys;
mod limits;
mod mail;
mod mfa;
pub(crate) mod migrate;
mod oidc;
mod rotate;
mod rows;
mod sessions;
mod users;

use crate::error::map_sqlite;
use crate::OpenMode;
use baton_core::store::{Store, StoreError};
use engine::Engine;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Reader threads (and read-only connections).
const READERS: usize = 2;
/// How long a statement waits for another process's write lock (a CLI command) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// [`baton_core::store::Store`] on a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    engine: Engine,
    /// The database file.
    path: PathBuf,
    /// Opened for commands that only read.
    read_only: bool,
    /// The DPoP proofs used within their window (one process owns the database).
    dpop_proofs: std::sync::Arc<baton_core::dpop::ReplayCache>,
}

/// How many DPoP proofs within their window SQLite's memory cache holds at most (about 32 MiB
/// when full): past it, proofs are refused with `503` until older ones leave their window.
pub const DPOP_PROOFS_KEPT: usize = 1 << 19;

/// The file a `sqlite:` URL names: `sqlite://baton.db`, `sqlite:baton.db` or
/// `sqlite:///abs/path.db`, with any `?…` options ignored.
pub(crate) fn database_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Other(format!("not a sqlite: URL: {url}")))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Other(
            "the SQLite database must be a file (sqlite://path/to/baton.db)".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

/// Creates the database file readable by its owner only (SQLite gives the `-wal` and `-shm`
/// files the same mode), unless it exists.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tighten(path);
            Ok(())
        }
        Err(e) => Err(StoreError::Other(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// An existing database (from a version that created it readable by others) and its WAL files
/// become readable by their owner only; a file owned by someone else is left as it is.
fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mut name = path.as_os_str().to_owned();
        let mut files = vec![path.to_owned()];
        for suffix in ["-wal", "-shm"] {
            name.push(suffix);
            files.push(PathBuf::from(&name));
            name = path.as_os_str().to_owned();
        }
        for file in files {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    Ok(()) => tracing::warn!(
                        file = %file.display(),
                        "the database file was readable by others; it is now readable by its owner only"
                    ),
                    Err(e) => tracing::warn!(
                        file = %file.display(),
                        error = %e,
                        "the database file is readable by others and could not be restricted"
                    ),
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

pub(crate) fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(map_sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_as(url, OpenMode::Migrate).await
    }

    /// Opens the database at `url` as `mode` says.
    pub async fn open_as(url: &str, mode: OpenMode) -> Result<Self, StoreError> {
        let path = database_path(url)?;
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, mode))
            .await
            .map_err(|e| StoreError::Other(format!("opening the database failed: {e}")))?
    }

    fn open_blocking(path: &Path, mode: OpenMode) -> Result<Self, StoreError> {
        match mode {
            OpenMode::Migrate => create_private(path)?,
            OpenMode::Existing if !path.exists() => {
                return Err(crate::error::not_migrated(&format!(
                    "{} does not exist",
                    path.display()
                )))
            }
            OpenMode::Existing => {}
        }
        if mode == OpenMode::Existing {
            return Self::open_read_only(path);
        }
        let mut writer = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        writer
            .execute_batch(crate::queries::sqlite::WRITER_SETTINGS)
            .map_err(map_sqlite)?;
        migrate::run(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpointer = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        Ok(Self {
            engine: Engine::start(writer, readers, Some(checkpointer))?,
            path: path.to_owned(),
            read_only: false,
            dpop_proofs: std::sync::Arc::new(baton_core::dpop::ReplayCache::new(DPOP_PROOFS_KEPT)),
        })
    }

    /// Every connection read-only and no checkpoint thread: nothing this store does can change
    /// the file (not even copying another process's WAL into it); a write fails.
    fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let writer = connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        migrate::check(&writer)?;
        let readers = (0..READERS)
            .map(|_| connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            engine: Engine::start(writer, readers, None)?,
            path: path.to_owned(),
            read_only: true,
            dpop_proofs: std::sync::Arc::new(baton_core::dpop::ReplayCache::new(DPOP_PROOFS_KEPT)),
        })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Through the writer: ready means refreshes can be committed, not only read.
        self.engine
            .write(|c| rows::query_one(c, crate::queries::PING, [], |_| Ok(())).map(drop))
            .await
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        // Waits for readers still in a snapshot (a CLI command's), up to the busy timeout.
        let busy = self
            .engine
            .write_alone(|c| {
                rows::query_one(c, crate::queries::sqlite::TRUNCATE_CHECKPOINT, [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .await?;
        if busy.unwrap_or(0) == 0 {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "another connection kept the WAL from being copied into the database".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::database_path;
    use std::path::PathBuf;

    #[cfg(unix)]
    #[test]
    fn an_existing_database_readable_by_others_is_restricted() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        for file in [path.clone(), dir.path().join("old.db-wal")] {
            std::fs::write(&file, b"").expect("write");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        super::create_private(&path).expect("exists");
        for name in ["old.db", "old.db-wal"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    /// The statements anyone can make run with a made-up token look rows up by key, never
    /// scan a table: their cost does not grow with the number of users.
    #[tokio::test]
    async fn token_lookups_search_by_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        drop(crate::open(&url).await.expect("migrated"));
        let conn = rusqlite::Connection::open(dir.path().join("plan.db")).expect("open");
        for sql in [
            crate::queries::ACCOUNT_TOKEN_USER,
            crate::queries::USE_ACCOUNT_TOKEN,
        ] {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan");
            // Unbound parameters are NULL: the plan does not depend on them.
            let mut rows = stmt.raw_query();
            let mut details = Vec::new();
            while let Some(row) = rows.next().expect("row") {
                details.push(row.get::<_, String>(3).expect("detail"));
            }
            assert!(!details.is_empty(), "{sql}");
            assert!(
                details.iter().all(|d| !d.starts_with("SCAN")),
                "{sql}: {details:?}"
            );
        }
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            database_path("sqlite://baton.db").ok(),
            Some(PathBuf::from("baton.db"))
        );
        assert_eq!(
            database_path("sqlite:///var/lib/baton/baton.db?mode=rwc").ok(),
            Some(PathBuf::from("/var/lib/baton/baton.db"))
        );
        assert_eq!(
            database_path("sqlite:data.db").ok(),
            Some(PathBuf::from("data.db"))
        );
        assert!(database_path("sqlite::memory:").is_err());
        assert!(database_path("sqlite://").is_err());
    }
}
