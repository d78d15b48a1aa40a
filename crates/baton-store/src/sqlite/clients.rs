//! OAuth clients on SQLite: [`ClientStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, query_one, time_col};
use super::SqliteStore;
use crate::queries as q;
use baton_core::client::ClientRecord;
use baton_core::clock::to_millis;
use baton_core::store::{ClientStore, StoreError};
use rusqlite::{params, Row};

fn client_from_row(row: &Row<'_>) -> rusqlite::Result<ClientRecord> {
    Ok(ClientRecord {
        id: row.get("id")?,
        confidential: row.get("confidential")?,
        secret_hash: row.get("secret_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

#[async_trait::async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
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
                        to_millis(client.created_at)
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
            .write(move |c| Ok(execute(c, q::DELETE_CLIENT, [id])? == 1))
            .await
    }
}
