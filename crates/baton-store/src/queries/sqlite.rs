//! SQL only SQLite runs: its side of [`Dialect`], the writer's transaction frame, connection
//! settings, WAL checkpoints and the migration record (kept row for row as sqlx keeps it).

use super::{Dialect, CLAIM_LOGOUTS, CLAIM_MAIL, INSERT_ACCOUNT_TOKEN};

/// SQLite's side of [`Dialect`]: one writer thread runs every write, so nothing needs locking.
pub const DIALECT: Dialect = Dialect {
    // Takes the write lock at once, so a CLI command writing the same file waits at the start
    // instead of failing part-way.
    begin_write: "BEGIN IMMEDIATE",
    insert_session: insert_session!(),
    claim_mail: CLAIM_MAIL,
    claim_logouts: CLAIM_LOGOUTS,
    insert_account_token: INSERT_ACCOUNT_TOKEN,
    lock_signing_keys: None,
    // VACUUM cannot run inside a transaction: it runs on a connection of its own.
    scrub_signing_keys: "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
};

/// Settings of the writer connection. Setting WAL mode writes to the file only when it is not
/// in WAL mode yet, which a database baton created always is.
pub const WRITER_SETTINGS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 65536; \
     PRAGMA secure_delete = FAST; PRAGMA journal_size_limit = 536870912;";

/// Each job of the writer's batch runs under a savepoint of its own, so one job's failure
/// undoes only that job.
pub const SAVEPOINT: &str = "SAVEPOINT job";
/// Undoes the current job.
pub const ROLLBACK_JOB: &str = "ROLLBACK TO job";
/// Keeps the current job.
pub const RELEASE_JOB: &str = "RELEASE job";
/// Commits the batch.
pub const COMMIT: &str = "COMMIT";
/// Abandons the batch.
pub const ROLLBACK: &str = "ROLLBACK";

/// Copies what it can of the WAL into the database without waiting; answers the WAL's length
/// and how much of it is copied, in pages (columns 1 and 2).
pub const PASSIVE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";
/// Waits for readers, copies the whole WAL and makes the next writer start it over.
pub const RESTART_CHECKPOINT: &str = "PRAGMA wal_checkpoint(RESTART)";

/// Copies the whole WAL into the database and empties it (column 0 is 1 when a reader kept it
/// from finishing); run by the writer, outside any transaction, as the server stops.
pub const TRUNCATE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// SQLite's own check of the whole file: one row, `ok`, when it is sound.
pub const INTEGRITY_CHECK: &str = "PRAGMA integrity_check";

/// Whether the migration record exists.
pub const MIGRATIONS_TABLE: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
/// The migrations applied, oldest first.
pub const APPLIED_MIGRATIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
/// The migration record, as sqlx creates it.
pub const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );";
/// Every recorded migration with its outcome and checksum.
pub const MIGRATION_RECORDS: &str =
    "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version";
/// Whether migration `?1` is recorded.
pub const MIGRATION_RECORDED: &str = "SELECT version FROM _sqlx_migrations WHERE version = ?1";
/// Records an applied migration.
pub const RECORD_MIGRATION: &str = "INSERT INTO _sqlx_migrations (version, description, \
     success, checksum, execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)";
