//! One-time tokens and the outbox on SQLite: [`MailStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, query_one, time_col};
use super::users::user_from_row;
use super::SqliteStore;
use crate::error::map_sqlite;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::email::MailKind;
use baton_core::refresh::TokenHash;
use baton_core::store::{ClaimedMail, MailStore, MailedToken, OutboxMail, StoreError, UserRecord};
use baton_core::UserId;
use rusqlite::{params, Connection, OptionalExtension as _, Row};
use time::OffsetDateTime;

/// Stores a token and its mail, inside the caller's transaction; `false` (nothing stored) when
/// the token's user is not live and enabled.
pub(super) fn store_token(c: &Connection, token: &MailedToken) -> Result<bool, StoreError> {
    let t = &token.token;
    let stored = execute(
        c,
        q::sqlite::DIALECT.insert_account_token,
        params![
            &t.hash.0[..],
            t.purpose.as_str(),
            t.user_id.as_str(),
            t.email_key,
            to_millis(t.created_at),
            to_millis(t.expires_at)
        ],
    )?;
    if stored != 1 {
        return Ok(false);
    }
    if let Some(m) = &token.mail {
        execute(
            c,
            q::INSERT_MAIL,
            params![
                m.id,
                m.kind.as_str(),
                m.user_id.as_str(),
                m.recipient,
                m.sealed,
                to_millis(m.created_at),
                to_millis(m.expires_at)
            ],
        )?;
    }
    Ok(true)
}

/// Voids every link mailed to `user` and drops their unsent mail, inside the caller's
/// transaction.
pub(super) fn void_links(c: &Connection, user: &UserId, now: i64) -> Result<(), StoreError> {
    execute(c, q::SPEND_ALL_USER_TOKENS, params![now, user.as_str()])?;
    execute(c, q::DROP_USER_MAIL, [user.as_str()])?;
    Ok(())
}

/// Forgets a deleted user's tokens and drops their unsent mail, inside the caller's
/// transaction.
pub(super) fn forget_links(c: &Connection, user: &UserId) -> Result<(), StoreError> {
    execute(c, q::DELETE_USER_TOKENS, [user.as_str()])?;
    execute(c, q::DROP_USER_MAIL, [user.as_str()])?;
    Ok(())
}

/// Uses a token inside the caller's transaction; its user, when it qualified.
fn use_token(
    c: &Connection,
    hash: &TokenHash,
    purpose: MailKind,
    now: i64,
) -> Result<Option<(UserId, Option<String>)>, StoreError> {
    c.prepare_cached(q::USE_ACCOUNT_TOKEN)
        .and_then(|mut stmt| {
            stmt.query_row(params![now, &hash.0[..], purpose.as_str(), now], |r| {
                Ok((
                    UserId::from_trusted(r.get::<_, String>("user_id")?),
                    r.get::<_, Option<String>>("email_key")?,
                ))
            })
            .optional()
        })
        .map_err(map_sqlite)
}

fn claimed_from_row(row: &Row<'_>, claim: &str) -> rusqlite::Result<ClaimedMail> {
    let kind: String = row.get("kind")?;
    Ok(ClaimedMail {
        mail: OutboxMail {
            id: row.get("id")?,
            // The claim takes only the kinds this version knows.
            kind: MailKind::parse(&kind).ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(1, kind.clone(), rusqlite::types::Type::Text)
            })?,
            user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
            recipient: row.get("recipient")?,
            sealed: row.get("sealed")?,
            created_at: time_col(row, "created_at")?,
            expires_at: time_col(row, "expires_at")?,
        },
        attempts: row.get("attempts")?,
        claim: claim.to_owned(),
    })
}

#[async_trait::async_trait]
impl MailStore for SqliteStore {
    async fn issue_token(&self, token: &MailedToken) -> Result<bool, StoreError> {
        let token = token.clone();
        self.engine.write(move |c| store_token(c, &token)).await
    }

    async fn token_user(
        &self,
        hash: &TokenHash,
        purpose: MailKind,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StoreError> {
        let (hash, now) = (hash.clone(), to_millis(now));
        self.engine
            .read(move |c| {
                query_one(
                    c,
                    q::ACCOUNT_TOKEN_USER,
                    params![&hash.0[..], purpose.as_str(), now],
                    user_from_row,
                )
            })
            .await
    }

    async fn reset_password(
        &self,
        hash: &TokenHash,
        phc: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let (hash, phc, now) = (hash.clone(), phc.to_owned(), to_millis(now));
        self.engine
            .write(move |c| {
                let Some((user, _)) = use_token(c, &hash, MailKind::PasswordReset, now)? else {
                    return Ok(None);
                };
                // One writer: the user checked by the token's use is still live and enabled.
                if execute(c, q::RESET_PASSWORD, params![phc, user.as_str()])? != 1 {
                    return Err(StoreError::Other("the user changed during a reset".into()));
                }
                execute(c, q::REVOKE_FOR_PASSWORD, params![now, user.as_str(), ""])?;
                super::oidc::queue_logouts(c, &user, now)?;
                let reset = MailKind::PasswordReset.as_str();
                execute(c, q::SPEND_USER_TOKENS, params![now, user.as_str(), reset])?;
                execute(c, q::DROP_USER_MAIL_OF_KIND, params![user.as_str(), reset])?;
                Ok(Some(user))
            })
            .await
    }

    async fn verify_email(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let (hash, now) = (hash.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let Some((user, Some(key))) = use_token(c, &hash, MailKind::VerifyEmail, now)?
                else {
                    return Ok(None);
                };
                if execute(c, q::CONFIRM_EMAIL, params![now, user.as_str(), key])? != 1 {
                    return Err(StoreError::Other(
                        "the address changed during a confirmation".into(),
                    ));
                }
                Ok(Some(user))
            })
            .await
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        claim: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let (now, until, claim) = (to_millis(now), to_millis(lease_until), claim.to_owned());
        self.engine
            .write(move |c| {
                query_all(
                    c,
                    q::sqlite::DIALECT.claim_mail,
                    params![until, claim, now, now, now, i64::from(limit)],
                    |row| claimed_from_row(row, &claim),
                )
            })
            .await
    }

    async fn mail_sent(&self, id: &str, claim: &str) -> Result<bool, StoreError> {
        let (id, claim) = (id.to_owned(), claim.to_owned());
        self.engine
            .write(move |c| Ok(execute(c, q::MAIL_SENT, params![id, claim])? == 1))
            .await
    }

    async fn mail_failed(
        &self,
        id: &str,
        claim: &str,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let (id, claim) = (id.to_owned(), claim.to_owned());
        let (at, error) = (to_millis(retry_at), error.to_owned());
        self.engine
            .write(move |c| Ok(execute(c, q::MAIL_RETRY, params![at, error, id, claim])? == 1))
            .await
    }

    async fn purge_mail(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write(move |c| {
                let tokens = execute(c, q::PURGE_ACCOUNT_TOKENS, [before])?;
                let mails = execute(c, q::PURGE_MAIL, [before])?;
                Ok(u64::try_from(tokens + mails).unwrap_or(u64::MAX))
            })
            .await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.engine
            .read(|c| {
                query_one(c, q::OUTBOX_LEN, [], |r| r.get::<_, i64>(0))
                    .map(|n| u64::try_from(n.unwrap_or(0)).unwrap_or(0))
            })
            .await
    }
}
