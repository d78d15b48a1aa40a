//! Maps sqlx and rusqlite errors to [`StoreError`] in one place: unique violations become
//! conflicts, lost connections, locks, full disks and timeouts become "unavailable".

use baton_core::store::StoreError;

pub(crate) fn map(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) if db.code().as_deref().is_some_and(transient) => {
            StoreError::Unavailable(db.message().to_owned())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

pub(crate) fn map_sqlite(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(e.to_string())
        }
        rusqlite::Error::SqliteFailure(f, _) if transient(&f.extended_code.to_string()) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// Whether a database error code means "try again later" rather than "this request is wrong".
fn transient(code: &str) -> bool {
    // PostgreSQL's SQLSTATEs have five characters; SQLite's extended result codes are numbers
    // below 10000 whose low byte is the primary code: BUSY (5), LOCKED (6), READONLY (8: the
    // filesystem went read-only), IOERR (10), FULL (13), CANTOPEN (14).
    if code.len() < 5 {
        return code
            .parse::<u32>()
            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14));
    }
    // PostgreSQL SQLSTATEs: connection exceptions (08…), insufficient resources (53…), operator
    // intervention such as shutdown or a statement timeout (57…), lock not available (55P03),
    // serialization failure and deadlock (40001, 40P01).
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code.starts_with("58")
        || matches!(code, "55P03" | "40001" | "40P01" | "25006")
}

/// The error of a command that needs a migrated database.
pub(crate) fn not_migrated(why: &str) -> StoreError {
    StoreError::Other(format!(
        "the database is not ready for this baton ({why}); run `baton migrate` or start \
         `baton serve` first"
    ))
}

#[cfg(test)]
mod tests {
    use super::transient;

    #[test]
    fn busy_io_and_connection_errors_are_transient_but_constraints_are_not() {
        for code in [
            "5", "261", "517", "773", "266", "14", "8", "1032", "08006", "57P01", "57014", "53300",
        ] {
            assert!(transient(code), "{code}");
        }
        for code in ["2067", "1555", "19", "23505", "42601"] {
            assert!(!transient(code), "{code}");
        }
    }
}
