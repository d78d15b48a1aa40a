//! OAuth clients on SQLite: [`ClientStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, query_one, time_col};
use super::SqliteStore;
use crate::queries as q;
use baton_core::client::ClientRecord;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{ClientStore, StoreError};
use rusqlite::{params, Row};
use time::OffsetDateTime;

fn client_from_row(row: &Row<'_>) -> rusqlite::Result<ClientRecord> {
    let column: Option<String> = row.get("settings")?;
    let settings = crate::settings_from_column(column.as_deref()).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(ClientRecord {
        id: row.get("id")?,
        confidential: row.get("confidential")?,
        secret_hash: row.get("secret_hash")?,
        created_at: time_col(row, "created_at")?,
        settings,
    })
}

#[async_trait::async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let (settings, idle, backchannel) = crate::settings_columns(client)?;
        let client = client.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_CLIENT,
                    params![
                        client.id,
                        client.confidential,
                        client.secret_hash,
                        to_millis(client.created_at),
                        settings,
                        idle,
                        backchannel
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let id = id.to_owned();
        self.engine
            .read(move |c| query_one(c, q::CLIENT, [id], client_from_row))
            .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.engine
            .read(|c| query_all(c, q::CLIENTS, [], client_from_row))
            .await
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.engine
            .write(move |c| {
                execute(c, q::DELETE_CLIENT_CONSENTS, [&id])?;
                execute(c, q::DELETE_CLIENT_LOGOUTS, [&id])?;
                Ok(execute(c, q::DELETE_CLIENT, [&id])? == 1)
            })
            .await
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let (settings, idle, backchannel) = crate::settings_columns(client)?;
        let (id, secret_hash) = (client.id.clone(), client.secret_hash.clone());
        self.engine
            .write(move |c| {
                Ok(execute(
                    c,
                    q::UPDATE_CLIENT,
                    params![secret_hash, settings, idle, backchannel, id],
                )? == 1)
            })
            .await
    }

    async fn use_client_assertion(
        &self,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (hash, expires_at) = (hash.clone(), to_millis(expires_at));
        let used = self
            .engine
            .write(move |c| execute(c, q::USE_CLIENT_ASSERTION, params![&hash.0[..], expires_at]))
            .await;
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
            .record_id(id, expires_at.unix_timestamp(), now.unix_timestamp())
            .map_err(|full| StoreError::Unavailable(full.to_string()))
    }

    async fn purge_dpop_proofs(&self, _before: OffsetDateTime) -> Result<u64, StoreError> {
        // The memory cache forgets what is past its window by itself.
        Ok(0)
    }

    async fn purge_client_assertions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write(move |c| Ok(execute(c, q::PURGE_CLIENT_ASSERTIONS, [before])? as u64))
            .await
    }
}
