//! Users on PostgreSQL: [`UserStore`] for [`PgStore`].

use super::rows::time_col;
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::store::{StoreError, UserRecord, UserStore};
use baton_core::UserId;
use sqlx::postgres::PgRow as Row;
use sqlx::Row as _;
use time::OffsetDateTime;

fn user_from_row(row: &Row) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: UserId::from_trusted(row.try_get::<String, _>("id")?),
        username: row.try_get("username")?,
        username_key: row.try_get("username_key")?,
        password_hash: row.try_get("password_hash")?,
        created_at: time_col(row, "created_at")?,
    })
}

#[async_trait::async_trait]
impl UserStore for PgStore {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_USER)
            .bind(user.id.as_str())
            .bind(&user.username)
            .bind(&user.username_key)
            .bind(&user.password_hash)
            .bind(to_millis(user.created_at))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(q::USER_BY_KEY)
            .bind(username_key)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(user_from_row).transpose().map_err(map)
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(q::USERS)
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn set_password_hash(&self, id: &UserId, phc: &str) -> Result<(), StoreError> {
        sqlx::query(q::SET_PASSWORD_HASH)
            .bind(phc)
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let deleted = sqlx::query(q::DELETE_USER)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        sqlx::query(q::REVOKE_USER_SESSIONS)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(deleted == 1)
    }
}
