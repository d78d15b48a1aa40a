//! baton's storage backends: [`baton_core::store::Store`] implemented with sqlx. SQL lives here
//! and nowhere else; migrations are embedded from `migrations/<backend>`.

mod error;
mod sql;
pub mod sqlite;

pub use sqlite::SqliteStore;

use baton_core::store::{Store, StoreError};
use std::sync::Arc;

/// Opens and migrates the database a URL names (`sqlite://…`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Err(StoreError::Other(
            "PostgreSQL is not supported by this build yet; use a sqlite:// URL".into(),
        ))
    } else {
        Err(StoreError::Other(format!(
            "unsupported database URL scheme in {:?} (expected sqlite://…)",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
