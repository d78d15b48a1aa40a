//! Users on SQLite: [`UserStore`] for [`SqliteStore`].

use super::rows::{execute, opt_time, query_all, query_one, time_col};
use super::SqliteStore;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::email::MailKind;
use baton_core::store::{EndSessions, MailedToken, StoreError, UserRecord, UserStore};
use baton_core::UserId;
use rusqlite::{params, Row};
use time::OffsetDateTime;

pub(super) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId::from_trusted(row.get::<_, String>("id")?),
        username: row.get("username")?,
        username_key: row.get("username_key")?,
        password_hash: row.get("password_hash")?,
        created_at: time_col(row, "created_at")?,
        disabled_at: opt_time(row, "disabled_at")?,
        email: row.get("email")?,
        email_key: row.get("email_key")?,
        email_verified_at: opt_time(row, "email_verified_at")?,
        roles: crate::roles_from_column(row.get::<_, Option<String>>("roles")?.as_deref()),
    })
}

#[async_trait::async_trait]
impl UserStore for SqliteStore {
    async fn insert_user_with_token(
        &self,
        user: &UserRecord,
        token: Option<&MailedToken>,
    ) -> Result<(), StoreError> {
        let (user, token) = (user.clone(), token.cloned());
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
                        to_millis(user.created_at),
                        user.email,
                        user.email_key
                    ],
                )?;
                if let Some(token) = &token {
                    if !super::mail::store_token(c, token)? {
                        return Err(StoreError::Other("the new user was not found".into()));
                    }
                }
                Ok(())
            })
            .await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = email_key.to_owned();
        self.engine
            .read(move |c| query_one(c, q::USER_BY_EMAIL, [key], user_from_row))
            .await
    }

    async fn set_email(
        &self,
        id: &UserId,
        email: &str,
        email_key: &str,
        token: &MailedToken,
    ) -> Result<bool, StoreError> {
        let (id, email, key, token) = (
            id.clone(),
            email.to_owned(),
            email_key.to_owned(),
            token.clone(),
        );
        self.engine
            .write(move |c| {
                if execute(c, q::SET_EMAIL, params![email, key, id.as_str()])? != 1 {
                    return Ok(false);
                }
                super::mail::void_links(c, &id, to_millis(token.token.created_at))?;
                super::mail::store_token(c, &token)
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

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let id = id.clone();
        self.engine
            .read(move |c| query_one(c, q::USER_BY_ID, [id.as_str()], user_from_row))
            .await
    }

    async fn set_roles(
        &self,
        id: &UserId,
        roles: Option<&str>,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (id, roles, expected) = (
            id.clone(),
            roles.map(str::to_owned),
            expected.map(str::to_owned),
        );
        self.engine
            .write(move |c| {
                Ok(execute(c, q::SET_ROLES, params![roles, id.as_str(), expected])? == 1)
            })
            .await
    }

    async fn set_password(
        &self,
        id: &UserId,
        phc: &str,
        expected: Option<&str>,
        end: &EndSessions,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, phc, now) = (id.clone(), phc.to_owned(), to_millis(now));
        let expected = expected.unwrap_or_default().to_owned();
        let end = end.clone();
        self.engine
            .write(move |c| {
                let set = execute(c, q::SET_PASSWORD, params![phc, id.as_str(), expected])?;
                if set != 1 {
                    return Ok(false);
                }
                let keep = match &end {
                    EndSessions::None => return Ok(true),
                    EndSessions::AllExcept(session) => session.as_str(),
                    EndSessions::All => "",
                };
                execute(c, q::REVOKE_FOR_PASSWORD, params![now, id.as_str(), keep])?;
                super::oidc::queue_logouts(c, &id, now)?;
                let reset = MailKind::PasswordReset.as_str();
                execute(c, q::SPEND_USER_TOKENS, params![now, id.as_str(), reset])?;
                execute(c, q::DROP_USER_MAIL_OF_KIND, params![id.as_str(), reset])?;
                Ok(true)
            })
            .await
    }

    async fn set_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, now) = (id.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                if !disabled {
                    return Ok(execute(c, q::ENABLE_USER, [id.as_str()])? == 1);
                }
                if execute(c, q::DISABLE_USER, params![now, id.as_str()])? != 1 {
                    return Ok(false);
                }
                execute(c, q::REVOKE_FOR_DISABLE, params![now, id.as_str()])?;
                super::oidc::queue_logouts(c, &id, now)?;
                super::mail::void_links(c, &id, now)?;
                Ok(true)
            })
            .await
    }

    async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let (id, now) = (id.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let deleted = execute(c, q::DELETE_USER, params![now, id.as_str()])?;
                execute(c, q::REVOKE_USER_SESSIONS, params![now, id.as_str()])?;
                super::oidc::queue_logouts(c, &id, now)?;
                super::mail::forget_links(c, &id)?;
                super::mfa::forget_factors(c, &id)?;
                Ok(deleted == 1)
            })
            .await
    }
}
