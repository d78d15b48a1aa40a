//! Second factors on PostgreSQL: [`MfaStore`] for [`PgStore`].

use super::rows::{opt_time, time_col};
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{
    MfaChallenge, MfaStore, MfaSummary, PasskeyRecord, StoreError, TotpRecord,
};
use baton_core::{SessionId, UserId};
use sqlx::postgres::PgRow as Row;
use sqlx::{Postgres, Row as _, Transaction};
use time::OffsetDateTime;

fn totp_from_row(row: &Row) -> Result<TotpRecord, sqlx::Error> {
    Ok(TotpRecord {
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        sealed_secret: row.try_get("secret")?,
        created_at: time_col(row, "created_at")?,
        confirmed_at: opt_time(row, "confirmed_at")?,
        last_step: row.try_get("last_step")?,
    })
}

fn challenge_from_row(row: &Row) -> Result<MfaChallenge, sqlx::Error> {
    let hash: Vec<u8> = row.try_get("hash")?;
    let mut h = [0u8; 32];
    if hash.len() == 32 {
        h.copy_from_slice(&hash);
    }
    Ok(MfaChallenge {
        hash: TokenHash(h),
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        client_id: row.try_get("client_id")?,
        delivery: row.try_get("delivery")?,
        password_hash: row.try_get("password_hash")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
        failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
    })
}

/// Replaces a user's recovery codes inside `tx`.
async fn store_codes(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserId,
    codes: &[TokenHash],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(q::DELETE_RECOVERY_CODES)
        .bind(user.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    for code in codes {
        sqlx::query(q::INSERT_RECOVERY_CODE)
            .bind(&code.0[..])
            .bind(user.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(map)?;
    }
    Ok(())
}

/// Forgets every second factor of a user inside `tx`; whether there was a factor (TOTP or
/// recovery codes).
pub(super) async fn forget_factors(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserId,
) -> Result<bool, StoreError> {
    let mut removed = 0;
    for sql in [
        q::DELETE_TOTP,
        q::DELETE_USER_PASSKEYS,
        q::DELETE_RECOVERY_CODES,
    ] {
        removed += sqlx::query(sql)
            .bind(user.as_str())
            .execute(&mut **tx)
            .await
            .map_err(map)?
            .rows_affected();
    }
    for sql in [q::DELETE_USER_MFA_CHALLENGES, q::DELETE_USER_MFA_FAILURES] {
        sqlx::query(sql)
            .bind(user.as_str())
            .execute(&mut **tx)
            .await
            .map_err(map)?;
    }
    Ok(removed > 0)
}

fn passkey_from_row(row: &Row) -> Result<PasskeyRecord, sqlx::Error> {
    Ok(PasskeyRecord {
        id: row.try_get("id")?,
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        name: row.try_get("name")?,
        passkey: row.try_get("passkey")?,
        backup_eligible: row.try_get::<i64, _>("backup_eligible")? != 0,
        created_at: time_col(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
    })
}

#[async_trait::async_trait]
impl MfaStore for PgStore {
    async fn mfa_summary(&self, user: &UserId) -> Result<MfaSummary, StoreError> {
        let row = sqlx::query(q::MFA_SUMMARY)
            .bind(user.as_str())
            .fetch_one(&self.writer)
            .await
            .map_err(map)?;
        let count = |col: &str| -> Result<u32, StoreError> {
            let n: i64 = row.try_get(col).map_err(map)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        Ok(MfaSummary {
            totp: count("totp")? > 0,
            recovery_codes_left: count("codes")?,
            passkeys: count("passkeys")?,
        })
    }

    async fn insert_passkey(
        &self,
        p: &PasskeyRecord,
        max: u32,
        keep: &SessionId,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        // Two registrations of one user count their passkeys one after the other.
        sqlx::query(q::postgres::LOCK_USER)
            .bind(p.user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let stored = sqlx::query(q::INSERT_PASSKEY)
            .bind(&p.id)
            .bind(p.user_id.as_str())
            .bind(&p.name)
            .bind(&p.passkey)
            .bind(i64::from(p.backup_eligible))
            .bind(to_millis(p.created_at))
            .bind(p.last_used_at.map(to_millis))
            .bind(i64::from(max))
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if stored != 1 {
            return Ok(false);
        }
        let now = to_millis(p.created_at);
        sqlx::query(q::REVOKE_PASSWORD_ONLY_SESSIONS)
            .bind(now)
            .bind(p.user_id.as_str())
            .bind(keep.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        super::oidc::queue_logouts(&mut tx, &p.user_id, now).await?;
        tx.commit().await.map_err(map)?;
        Ok(true)
    }

    async fn passkeys(&self, user: &UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows = sqlx::query(q::PASSKEYS_OF_USER)
            .bind(user.as_str())
            .fetch_all(&self.writer)
            .await
            .map_err(map)?;
        rows.iter()
            .map(passkey_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn passkey(&self, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        let row = sqlx::query(q::PASSKEY)
            .bind(id)
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.as_ref().map(passkey_from_row).transpose().map_err(map)
    }

    async fn touch_passkey(
        &self,
        id: &str,
        old: &str,
        passkey: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let touched = sqlx::query(q::TOUCH_PASSKEY_OVER)
            .bind(passkey)
            .bind(to_millis(now))
            .bind(id)
            .bind(old)
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(touched == 1)
    }

    async fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let deleted = sqlx::query(q::DELETE_PASSKEY)
            .bind(id)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        sqlx::query(q::DELETE_ORPHAN_RECOVERY_CODES)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(deleted == 1)
    }

    async fn use_ceremony(
        &self,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let used = sqlx::query(q::USE_CEREMONY)
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

    async fn purge_ceremonies(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(sqlx::query(q::PURGE_CEREMONIES)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn put_pending_totp(
        &self,
        user: &UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let stored = sqlx::query(q::PUT_PENDING_TOTP)
            .bind(sealed_secret)
            .bind(to_millis(now))
            .bind(user.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(stored == 1)
    }

    async fn totp(&self, user: &UserId) -> Result<Option<TotpRecord>, StoreError> {
        let row = sqlx::query(q::TOTP_FACTOR)
            .bind(user.as_str())
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.as_ref().map(totp_from_row).transpose().map_err(map)
    }

    async fn totp_factors(&self) -> Result<Vec<TotpRecord>, StoreError> {
        let rows = sqlx::query(q::TOTP_FACTORS)
            .fetch_all(&self.writer)
            .await
            .map_err(map)?;
        rows.iter()
            .map(totp_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn replace_totp_secret(
        &self,
        user: &UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let replaced = sqlx::query(q::REPLACE_TOTP_SECRET)
            .bind(new)
            .bind(user.as_str())
            .bind(old)
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(replaced == 1)
    }

    async fn confirm_totp(
        &self,
        user: &UserId,
        step: i64,
        codes: &[TokenHash],
        keep: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = to_millis(now);
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let confirmed = sqlx::query(q::CONFIRM_TOTP)
            .bind(now)
            .bind(step)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if confirmed != 1 {
            return Ok(false);
        }
        store_codes(&mut tx, user, codes, now).await?;
        sqlx::query(q::REVOKE_PASSWORD_ONLY_SESSIONS)
            .bind(now)
            .bind(user.as_str())
            .bind(keep.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        super::oidc::queue_logouts(&mut tx, user, now).await?;
        tx.commit().await.map_err(map)?;
        Ok(true)
    }

    async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError> {
        let used = sqlx::query(q::USE_TOTP_STEP)
            .bind(step)
            .bind(user.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(used == 1)
    }

    async fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let deleted = sqlx::query(q::DELETE_TOTP)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        sqlx::query(q::DELETE_ORPHAN_RECOVERY_CODES)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(deleted == 1)
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        store_codes(&mut tx, user, codes, to_millis(now)).await?;
        tx.commit().await.map_err(map)
    }

    async fn use_recovery_code(
        &self,
        user: &UserId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let used = sqlx::query(q::USE_RECOVERY_CODE)
            .bind(to_millis(now))
            .bind(&code.0[..])
            .bind(user.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(used == 1)
    }

    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query(q::RECOVERY_CODES_LEFT)
            .bind(user.as_str())
            .fetch_one(&self.reader)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(map)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn insert_mfa_challenge(&self, ch: &MfaChallenge) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_MFA_CHALLENGE)
            .bind(&ch.hash.0[..])
            .bind(ch.user_id.as_str())
            .bind(&ch.client_id)
            .bind(&ch.delivery)
            .bind(&ch.password_hash)
            .bind(to_millis(ch.created_at))
            .bind(to_millis(ch.expires_at))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        let row = sqlx::query(q::MFA_CHALLENGE)
            .bind(&hash.0[..])
            .bind(to_millis(now))
            .bind(i64::from(max_failures))
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.as_ref()
            .map(challenge_from_row)
            .transpose()
            .map_err(map)
    }

    async fn mfa_challenge_failed(
        &self,
        hash: &TokenHash,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        sqlx::query(q::MFA_CHALLENGE_FAILED)
            .bind(&hash.0[..])
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        sqlx::query(q::INSERT_MFA_FAILURE)
            .bind(user.as_str())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)
    }

    async fn mfa_failures_since(
        &self,
        user: &UserId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query(q::MFA_FAILURES_SINCE)
            .bind(user.as_str())
            .bind(to_millis(since))
            .fetch_one(&self.writer)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(map)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn use_mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let used = sqlx::query(q::USE_MFA_CHALLENGE)
            .bind(to_millis(now))
            .bind(&hash.0[..])
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(used == 1)
    }

    async fn reset_mfa(&self, user: &UserId) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let removed = forget_factors(&mut tx, user).await?;
        tx.commit().await.map_err(map)?;
        Ok(removed)
    }

    async fn purge_mfa_challenges(
        &self,
        before: OffsetDateTime,
        failures_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let challenges = sqlx::query(q::PURGE_MFA_CHALLENGES)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        let failures = sqlx::query(q::PURGE_MFA_FAILURES)
            .bind(to_millis(failures_before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(challenges + failures)
    }
}
