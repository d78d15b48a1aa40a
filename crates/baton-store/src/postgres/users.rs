//! Users on PostgreSQL: [`UserStore`] for [`PgStore`].

use super::rows::{opt_time, time_col};
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::email::MailKind;
use baton_core::store::{EndSessions, MailedToken, StoreError, UserRecord, UserStore};
use baton_core::UserId;
use sqlx::postgres::PgRow as Row;
use sqlx::Row as _;
use time::OffsetDateTime;

pub(super) fn user_from_row(row: &Row) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: UserId::from_trusted(row.try_get::<String, _>("id")?),
        username: row.try_get("username")?,
        username_key: row.try_get("username_key")?,
        password_hash: row.try_get("password_hash")?,
        created_at: time_col(row, "created_at")?,
        disabled_at: opt_time(row, "disabled_at")?,
        email: row.try_get("email")?,
        email_key: row.try_get("email_key")?,
        email_verified_at: opt_time(row, "email_verified_at")?,
        roles: crate::roles_from_column(row.try_get::<Option<String>, _>("roles")?.as_deref()),
    })
}

#[async_trait::async_trait]
impl UserStore for PgStore {
    async fn insert_user_with_token(
        &self,
        user: &UserRecord,
        token: Option<&MailedToken>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        sqlx::query(q::INSERT_USER)
            .bind(user.id.as_str())
            .bind(&user.username)
            .bind(&user.username_key)
            .bind(&user.password_hash)
            .bind(to_millis(user.created_at))
            .bind(user.email.as_deref())
            .bind(user.email_key.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        if let Some(token) = token {
            if !super::mail::store_token(&mut tx, token).await? {
                return Err(StoreError::Other("the new user was not found".into()));
            }
        }
        tx.commit().await.map_err(map)?;
        Ok(())
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(q::USER_BY_EMAIL)
            .bind(email_key)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(user_from_row).transpose().map_err(map)
    }

    async fn set_email(
        &self,
        id: &UserId,
        email: &str,
        email_key: &str,
        token: &MailedToken,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let set = sqlx::query(q::SET_EMAIL)
            .bind(email)
            .bind(email_key)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if set != 1 {
            return Ok(false);
        }
        super::mail::void_links(&mut tx, id, to_millis(token.token.created_at)).await?;
        let stored = super::mail::store_token(&mut tx, token).await?;
        tx.commit().await.map_err(map)?;
        Ok(stored)
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

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(q::USER_BY_ID)
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(user_from_row).transpose().map_err(map)
    }

    async fn set_roles(
        &self,
        id: &UserId,
        roles: Option<&str>,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(q::SET_ROLES)
            .bind(roles)
            .bind(id.as_str())
            .bind(expected)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_password(
        &self,
        id: &UserId,
        phc: &str,
        expected: Option<&str>,
        end: &EndSessions,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        // The user's row stays locked until the commit: a login opening a session waits for
        // it and then finds the new hash (`INSERT_SESSION`).
        let set = sqlx::query(q::SET_PASSWORD)
            .bind(phc)
            .bind(id.as_str())
            .bind(expected.unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if set != 1 {
            return Ok(false);
        }
        let keep = match end {
            EndSessions::None => None,
            EndSessions::AllExcept(session) => Some(session.as_str()),
            EndSessions::All => Some(""),
        };
        if let Some(keep) = keep {
            sqlx::query(q::REVOKE_FOR_PASSWORD)
                .bind(now)
                .bind(id.as_str())
                .bind(keep)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
            super::oidc::queue_logouts(&mut tx, id, now).await?;
            sqlx::query(q::SPEND_USER_TOKENS)
                .bind(now)
                .bind(id.as_str())
                .bind(MailKind::PasswordReset.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map)?;
            sqlx::query(q::DROP_USER_MAIL_OF_KIND)
                .bind(id.as_str())
                .bind(MailKind::PasswordReset.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        Ok(true)
    }

    async fn set_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if !disabled {
            let enabled = sqlx::query(q::ENABLE_USER)
                .bind(id.as_str())
                .execute(&self.writer)
                .await
                .map_err(map)?
                .rows_affected();
            return Ok(enabled == 1);
        }
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let disabled = sqlx::query(q::DISABLE_USER)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if disabled != 1 {
            return Ok(false);
        }
        sqlx::query(q::REVOKE_FOR_DISABLE)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        super::oidc::queue_logouts(&mut tx, id, now).await?;
        super::mail::void_links(&mut tx, id, now).await?;
        tx.commit().await.map_err(map)?;
        Ok(true)
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
        super::oidc::queue_logouts(&mut tx, id, now).await?;
        super::mail::forget_links(&mut tx, id).await?;
        super::mfa::forget_factors(&mut tx, id).await?;
        tx.commit().await.map_err(map)?;
        Ok(deleted == 1)
    }
}
