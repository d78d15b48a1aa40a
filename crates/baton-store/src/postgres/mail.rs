//! One-time tokens and the outbox on PostgreSQL: [`MailStore`] for [`PgStore`]. Instances
//! claim mail with `FOR UPDATE SKIP LOCKED` and a lease, so each mail goes to one sender.

use super::rows::time_col;
use super::users::user_from_row;
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::email::MailKind;
use baton_core::refresh::TokenHash;
use baton_core::store::{ClaimedMail, MailStore, MailedToken, OutboxMail, StoreError, UserRecord};
use baton_core::UserId;
use sqlx::postgres::PgRow as Row;
use sqlx::{Postgres, Row as _, Transaction};
use time::OffsetDateTime;

/// Stores a token and its mail inside `tx`; `false` (nothing stored) when the token's user is
/// not live and enabled.
pub(super) async fn store_token(
    tx: &mut Transaction<'static, Postgres>,
    token: &MailedToken,
) -> Result<bool, StoreError> {
    let t = &token.token;
    let stored = sqlx::query(q::postgres::DIALECT.insert_account_token)
        .bind(&t.hash.0[..])
        .bind(t.purpose.as_str())
        .bind(t.user_id.as_str())
        .bind(t.email_key.as_deref())
        .bind(to_millis(t.created_at))
        .bind(to_millis(t.expires_at))
        .execute(&mut **tx)
        .await
        .map_err(map)?
        .rows_affected();
    if stored != 1 {
        return Ok(false);
    }
    if let Some(m) = &token.mail {
        sqlx::query(q::INSERT_MAIL)
            .bind(&m.id)
            .bind(m.kind.as_str())
            .bind(m.user_id.as_str())
            .bind(&m.recipient)
            .bind(&m.sealed)
            .bind(to_millis(m.created_at))
            .bind(to_millis(m.expires_at))
            .execute(&mut **tx)
            .await
            .map_err(map)?;
    }
    Ok(true)
}

/// Voids every link mailed to `user` and drops their unsent mail, inside `tx`.
pub(super) async fn void_links(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(q::SPEND_ALL_USER_TOKENS)
        .bind(now)
        .bind(user.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    sqlx::query(q::DROP_USER_MAIL)
        .bind(user.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    Ok(())
}

/// Forgets a deleted user's tokens and drops their unsent mail, inside `tx`.
pub(super) async fn forget_links(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserId,
) -> Result<(), StoreError> {
    for sql in [q::DELETE_USER_TOKENS, q::DROP_USER_MAIL] {
        sqlx::query(sql)
            .bind(user.as_str())
            .execute(&mut **tx)
            .await
            .map_err(map)?;
    }
    Ok(())
}

/// Uses a token inside `tx`, its user's row locked first (the order every write touching both
/// takes); its user and address, when it qualified.
async fn use_token(
    tx: &mut Transaction<'static, Postgres>,
    hash: &TokenHash,
    purpose: MailKind,
    now: i64,
) -> Result<Option<(UserId, Option<String>)>, StoreError> {
    sqlx::query(q::postgres::LOCK_TOKEN_USER)
        .bind(&hash.0[..])
        .fetch_optional(&mut **tx)
        .await
        .map_err(map)?;
    let row = sqlx::query(q::USE_ACCOUNT_TOKEN)
        .bind(now)
        .bind(&hash.0[..])
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map)?;
    row.map(|r| -> Result<_, sqlx::Error> {
        Ok((
            UserId::from_trusted(r.try_get::<String, _>("user_id")?),
            r.try_get::<Option<String>, _>("email_key")?,
        ))
    })
    .transpose()
    .map_err(map)
}

fn claimed_from_row(row: &Row, claim: &str) -> Result<ClaimedMail, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(ClaimedMail {
        mail: OutboxMail {
            id: row.try_get("id")?,
            // The claim takes only the kinds this version knows.
            kind: MailKind::parse(&kind).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "kind".into(),
                source: format!("unknown mail kind {kind:?}").into(),
            })?,
            user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
            recipient: row.try_get("recipient")?,
            sealed: row.try_get("sealed")?,
            created_at: time_col(row, "created_at")?,
            expires_at: time_col(row, "expires_at")?,
        },
        attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
        claim: claim.to_owned(),
    })
}

#[async_trait::async_trait]
impl MailStore for PgStore {
    async fn issue_token(&self, token: &MailedToken) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let stored = store_token(&mut tx, token).await?;
        tx.commit().await.map_err(map)?;
        Ok(stored)
    }

    async fn token_user(
        &self,
        hash: &TokenHash,
        purpose: MailKind,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(q::ACCOUNT_TOKEN_USER)
            .bind(&hash.0[..])
            .bind(purpose.as_str())
            .bind(to_millis(now))
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(user_from_row).transpose().map_err(map)
    }

    async fn reset_password(
        &self,
        hash: &TokenHash,
        phc: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let Some((user, _)) = use_token(&mut tx, hash, MailKind::PasswordReset, now).await? else {
            return Ok(None);
        };
        // Locks the user's row (a login opening a session waits, then finds the new hash) and
        // sees a deletion or a disabling committed since the token was checked: then nothing.
        let set = sqlx::query(q::RESET_PASSWORD)
            .bind(phc)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if set != 1 {
            return Ok(None);
        }
        sqlx::query(q::REVOKE_FOR_PASSWORD)
            .bind(now)
            .bind(user.as_str())
            .bind("")
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        super::oidc::queue_logouts(&mut tx, &user, now).await?;
        sqlx::query(q::SPEND_USER_TOKENS)
            .bind(now)
            .bind(user.as_str())
            .bind(MailKind::PasswordReset.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        sqlx::query(q::DROP_USER_MAIL_OF_KIND)
            .bind(user.as_str())
            .bind(MailKind::PasswordReset.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(Some(user))
    }

    async fn verify_email(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let Some((user, Some(key))) = use_token(&mut tx, hash, MailKind::VerifyEmail, now).await?
        else {
            return Ok(None);
        };
        let confirmed = sqlx::query(q::CONFIRM_EMAIL)
            .bind(now)
            .bind(user.as_str())
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if confirmed != 1 {
            // The address changed since the token was checked: nothing (rolled back).
            return Ok(None);
        }
        tx.commit().await.map_err(map)?;
        Ok(Some(user))
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        claim: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let now = to_millis(now);
        let rows = sqlx::query(q::postgres::DIALECT.claim_mail)
            .bind(to_millis(lease_until))
            .bind(claim)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await
            .map_err(map)?;
        rows.iter()
            .map(|row| claimed_from_row(row, claim))
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn mail_sent(&self, id: &str, claim: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(q::MAIL_SENT)
            .bind(id)
            .bind(claim)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn mail_failed(
        &self,
        id: &str,
        claim: &str,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(q::MAIL_RETRY)
            .bind(to_millis(retry_at))
            .bind(error)
            .bind(id)
            .bind(claim)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_mail(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        let tokens = sqlx::query(q::PURGE_ACCOUNT_TOKENS)
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        let mails = sqlx::query(q::PURGE_MAIL)
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(tokens + mails)
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(q::OUTBOX_LEN)
            .fetch_one(&self.reader)
            .await
            .map_err(map)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
