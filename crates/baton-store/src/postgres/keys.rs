//! Signing keys on PostgreSQL: [`KeyStore`] for [`PgStore`].

use super::rows::{opt_time, time_col};
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::keys::StoredKey;
use baton_core::store::{KeyStore, StoreError};
use sqlx::postgres::{PgRow as Row, Postgres as Db};
use sqlx::Row as _;
use time::OffsetDateTime;

fn key_from_row(row: &Row) -> Result<StoredKey, StoreError> {
    let alg: String = row.try_get("alg").map_err(map)?;
    Ok(StoredKey {
        kid: row.try_get("kid").map_err(map)?,
        alg: alg.parse().map_err(StoreError::Other)?,
        pkcs8: row.try_get("private_pkcs8").map_err(map)?,
        created_at: time_col(row, "created_at").map_err(map)?,
        retired_at: opt_time(row, "retired_at").map_err(map)?,
        publish_until: opt_time(row, "publish_until").map_err(map)?,
    })
}

async fn activate_in(
    tx: &mut sqlx::Transaction<'static, Db>,
    key: &StoredKey,
    publish_until: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(q::RETIRE_KEYS)
        .bind(to_millis(key.created_at))
        .bind(to_millis(publish_until))
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    sqlx::query(q::INSERT_KEY)
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.pkcs8)
        .bind(to_millis(key.created_at))
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    Ok(())
}

#[async_trait::async_trait]
impl KeyStore for PgStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(q::SIGNING_KEYS)
            .fetch_all(&self.writer)
            .await
            .map_err(map)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn activate_signing_key(
        &self,
        key: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        if let Some(lock) = q::postgres::DIALECT.lock_signing_keys {
            sqlx::query(lock).execute(&mut *tx).await.map_err(map)?;
        }
        activate_in(&mut tx, key, publish_until).await?;
        tx.commit().await.map_err(map)
    }

    async fn replace_private_key(&self, kid: &str, private: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(q::REPLACE_PRIVATE_KEY)
            .bind(private)
            .bind(kid)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn scrub_signing_keys(&self) -> Result<(), StoreError> {
        // Rewrites the table's files: the replaced rows' dead versions go with the old ones.
        sqlx::query(q::postgres::DIALECT.scrub_signing_keys)
            .execute(&self.writer)
            .await
            .map(drop)
            .map_err(map)
    }

    async fn ensure_signing_key(
        &self,
        candidate: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<StoredKey, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        if let Some(lock) = q::postgres::DIALECT.lock_signing_keys {
            sqlx::query(lock).execute(&mut *tx).await.map_err(map)?;
        }
        let row = sqlx::query(q::ACTIVE_KEY_OF_ALG)
            .bind(candidate.alg.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let active = match row {
            Some(row) => key_from_row(&row)?,
            None => {
                activate_in(&mut tx, candidate, publish_until).await?;
                candidate.clone()
            }
        };
        tx.commit().await.map_err(map)?;
        Ok(active)
    }
}
