//! Signing keys on SQLite: [`KeyStore`] for [`SqliteStore`].

use super::rows::{execute, opt_time, query_all, query_one, time_col};
use super::SqliteStore;
use crate::error::map_sqlite;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::keys::StoredKey;
use baton_core::store::{KeyStore, StoreError};
use rusqlite::{params, Connection, Row};
use time::OffsetDateTime;

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    let alg: String = row.get("alg")?;
    Ok(StoredKey {
        kid: row.get("kid")?,
        alg: alg.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
        })?,
        pkcs8: row.get("private_pkcs8")?,
        created_at: time_col(row, "created_at")?,
        retired_at: opt_time(row, "retired_at")?,
        publish_until: opt_time(row, "publish_until")?,
    })
}

fn activate_in(
    conn: &Connection,
    key: &StoredKey,
    publish_until: OffsetDateTime,
) -> Result<(), StoreError> {
    execute(
        conn,
        q::RETIRE_KEYS,
        params![to_millis(key.created_at), to_millis(publish_until)],
    )?;
    execute(
        conn,
        q::INSERT_KEY,
        params![
            key.kid,
            key.alg.as_str(),
            key.pkcs8,
            to_millis(key.created_at)
        ],
    )?;
    Ok(())
}

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        // From the writer, so a key this process just activated is always seen (a read-only
        // store activates none, and its writer cannot begin a write transaction).
        if self.read_only {
            return self
                .engine
                .read(|c| query_all(c, q::SIGNING_KEYS, [], key_from_row))
                .await;
        }
        self.engine
            .write(|c| query_all(c, q::SIGNING_KEYS, [], key_from_row))
            .await
    }

    async fn activate_signing_key(
        &self,
        key: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        self.engine
            .write(move |c| activate_in(c, &key, publish_until))
            .await
    }

    async fn replace_private_key(&self, kid: &str, private: &[u8]) -> Result<bool, StoreError> {
        let (kid, private) = (kid.to_owned(), private.to_vec());
        self.engine
            .write(move |c| Ok(execute(c, q::REPLACE_PRIVATE_KEY, params![private, kid])? == 1))
            .await
    }

    async fn scrub_signing_keys(&self) -> Result<(), StoreError> {
        // VACUUM cannot run inside the writer's batch transaction, so it runs on a connection of
        // its own to the same file, waiting for the writer under the busy timeout.
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = super::connect(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            conn.execute_batch(q::sqlite::DIALECT.scrub_signing_keys)
                .map_err(map_sqlite)
        })
        .await
        .map_err(|e| StoreError::Other(format!("scrubbing the database failed: {e}")))?
    }

    async fn ensure_signing_key(
        &self,
        candidate: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<StoredKey, StoreError> {
        let candidate = candidate.clone();
        self.engine
            .write(move |c| {
                let active = query_one(
                    c,
                    q::ACTIVE_KEY_OF_ALG,
                    [candidate.alg.as_str()],
                    key_from_row,
                )?;
                match active {
                    Some(key) => Ok(key),
                    None => {
                        activate_in(c, &candidate, publish_until)?;
                        Ok(candidate)
                    }
                }
            })
            .await
    }
}
