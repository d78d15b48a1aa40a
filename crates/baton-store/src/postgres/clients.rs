//! OAuth clients on PostgreSQL: [`ClientStore`] for [`PgStore`].

use super::rows::time_col;
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::client::ClientRecord;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{ClientStore, StoreError};
use sqlx::postgres::PgRow as Row;
use sqlx::Row as _;
use time::OffsetDateTime;

fn client_from_row(row: &Row) -> Result<ClientRecord, sqlx::Error> {
    let settings =
        crate::settings_from_column(row.try_get::<Option<String>, _>("settings")?.as_deref())
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: "settings".into(),
                source: Box::new(e),
            })?;
    Ok(ClientRecord {
        id: row.try_get("id")?,
        confidential: row.try_get("confidential")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: time_col(row, "created_at")?,
        settings,
    })
}

#[async_trait::async_trait]
impl ClientStore for PgStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let (settings, idle, backchannel) = crate::settings_columns(client)?;
        sqlx::query(q::INSERT_CLIENT)
            .bind(&client.id)
            .bind(client.confidential)
            .bind(&client.secret_hash)
            .bind(to_millis(client.created_at))
            .bind(settings)
            .bind(idle)
            .bind(backchannel)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(q::CLIENT)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(client_from_row).transpose().map_err(map)
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let rows = sqlx::query(q::CLIENTS)
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(client_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        for forget in [q::DELETE_CLIENT_CONSENTS, q::DELETE_CLIENT_LOGOUTS] {
            sqlx::query(forget)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        let done = sqlx::query(q::DELETE_CLIENT)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let (settings, idle, backchannel) = crate::settings_columns(client)?;
        let done = sqlx::query(q::UPDATE_CLIENT)
            .bind(&client.secret_hash)
            .bind(settings)
            .bind(idle)
            .bind(backchannel)
            .bind(&client.id)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_client_assertion(
        &self,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let used = sqlx::query(q::USE_CLIENT_ASSERTION)
            .bind(&hash.0[..])
            .bind(to_millis(expires_at))
            .execute(&self.writer)
            .await
            .map_err(map);
        match used {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn use_dpop_proof(
        &self,
        id: [u8; 32],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<baton_core::dpop::Recorded, StoreError> {
        self.dpop_proofs
            .record(id, to_millis(expires_at), to_millis(now))
            .await
    }

    async fn purge_dpop_proofs(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(sqlx::query(crate::queries::postgres::PURGE_DPOP_PROOFS)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn purge_client_assertions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(sqlx::query(q::PURGE_CLIENT_ASSERTIONS)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected())
    }
}
