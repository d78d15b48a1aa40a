//! Users on SQLite: [`UserStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, query_one, time_col};
use super::SqliteStore;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::store::{StoreError, UserRecord, UserStore};
use baton_core::UserId;
use rusqlite::{params, Row};
use time::OffsetDateTime;

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId::from_trusted(row.get::<_, String>("id")?),
        username: row.get("username")?,
        username_key: row.get("username_key")?,
        password_hash: row.get("password_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

#[async_trait::async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_USER,
                    params![
                        user.id.as_str(),
                        user.username,
                        user.username_key,
                        user.password_hash,
                        to_millis(user.created_at)
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = username_key.to_owned();
        self.engine
            .read(move |c| query_one(c, q::USER_BY_KEY, [key], user_from_row))
            .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.engine
            .read(|c| query_all(c, q::USERS, [], user_from_row))
            .await
    }

    async fn set_password_hash(&self, id: &UserId, phc: &str) -> Result<(), StoreError> {
        let (id, phc) = (id.clone(), phc.to_owned());
        self.engine
            .write(move |c| execute(c, q::SET_PASSWORD_HASH, params![phc, id.as_str()]).map(drop))
            .await
    }

    async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let (id, now) = (id.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let deleted = execute(c, q::DELETE_USER, params![now, id.as_str()])?;
                execute(c, q::REVOKE_USER_SESSIONS, params![now, id.as_str()])?;
                Ok(deleted == 1)
            })
            .await
    }
}
