//! Maps sqlx errors to [`StoreError`] in one place: unique violations become conflicts, lost
//! connections and lock timeouts become "unavailable".

use baton_core::store::StoreError;

pub(crate) fn map(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db)
            if matches!(
                db.code().as_deref(),
                Some("5" | "6" | "261" | "517" | "10" | "14")
            ) =>
        {
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
