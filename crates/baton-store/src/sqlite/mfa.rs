//! Second factors on SQLite: [`MfaStore`] for [`SqliteStore`].

use super::rows::{execute, opt_time, query_all, query_one, time_col};
use super::SqliteStore;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{
    MfaChallenge, MfaStore, MfaSummary, PasskeyRecord, StoreError, TotpRecord,
};
use baton_core::{SessionId, UserId};
use rusqlite::{params, Connection, Row};
use time::OffsetDateTime;

fn totp_from_row(row: &Row<'_>) -> rusqlite::Result<TotpRecord> {
    Ok(TotpRecord {
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        sealed_secret: row.get("secret")?,
        created_at: time_col(row, "created_at")?,
        confirmed_at: opt_time(row, "confirmed_at")?,
        last_step: row.get("last_step")?,
    })
}

fn challenge_from_row(row: &Row<'_>) -> rusqlite::Result<MfaChallenge> {
    let hash: Vec<u8> = row.get("hash")?;
    let mut h = [0u8; 32];
    if hash.len() == 32 {
        h.copy_from_slice(&hash);
    }
    Ok(MfaChallenge {
        hash: TokenHash(h),
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        client_id: row.get("client_id")?,
        delivery: row.get("delivery")?,
        password_hash: row.get("password_hash")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
        failures: row.get("failures")?,
    })
}

/// Replaces a user's recovery codes inside the caller's transaction.
fn store_codes(
    c: &Connection,
    user: &UserId,
    codes: &[TokenHash],
    now: i64,
) -> Result<(), StoreError> {
    execute(c, q::DELETE_RECOVERY_CODES, [user.as_str()])?;
    for code in codes {
        execute(
            c,
            q::INSERT_RECOVERY_CODE,
            params![&code.0[..], user.as_str(), now],
        )?;
    }
    Ok(())
}

/// Forgets every second factor of a user inside the caller's transaction; whether there was
/// a factor (TOTP or recovery codes).
pub(super) fn forget_factors(c: &Connection, user: &UserId) -> Result<bool, StoreError> {
    let totp = execute(c, q::DELETE_TOTP, [user.as_str()])?;
    let passkeys = execute(c, q::DELETE_USER_PASSKEYS, [user.as_str()])?;
    let codes = execute(c, q::DELETE_RECOVERY_CODES, [user.as_str()])?;
    execute(c, q::DELETE_USER_MFA_CHALLENGES, [user.as_str()])?;
    execute(c, q::DELETE_USER_MFA_FAILURES, [user.as_str()])?;
    Ok(totp + passkeys + codes > 0)
}

fn passkey_from_row(row: &Row<'_>) -> rusqlite::Result<PasskeyRecord> {
    Ok(PasskeyRecord {
        id: row.get("id")?,
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        name: row.get("name")?,
        passkey: row.get("passkey")?,
        backup_eligible: row.get::<_, i64>("backup_eligible")? != 0,
        created_at: time_col(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
    })
}

#[async_trait::async_trait]
impl MfaStore for SqliteStore {
    async fn mfa_summary(&self, user: &UserId) -> Result<MfaSummary, StoreError> {
        let user = user.clone();
        self.engine
            .read(move |c| {
                query_one(c, q::MFA_SUMMARY, [user.as_str()], |r| {
                    Ok(MfaSummary {
                        totp: r.get::<_, i64>("totp")? > 0,
                        recovery_codes_left: r.get("codes")?,
                        passkeys: r.get("passkeys")?,
                    })
                })
            })
            .await
            .map(Option::unwrap_or_default)
    }

    async fn insert_passkey(
        &self,
        p: &PasskeyRecord,
        max: u32,
        keep: &SessionId,
    ) -> Result<bool, StoreError> {
        let (p, keep) = (p.clone(), keep.clone());
        self.engine
            .write(move |c| {
                let stored = execute(
                    c,
                    q::INSERT_PASSKEY,
                    params![
                        p.id,
                        p.user_id.as_str(),
                        p.name,
                        p.passkey,
                        i64::from(p.backup_eligible),
                        to_millis(p.created_at),
                        p.last_used_at.map(to_millis),
                        max
                    ],
                )?;
                if stored != 1 {
                    return Ok(false);
                }
                let now = to_millis(p.created_at);
                execute(
                    c,
                    q::REVOKE_PASSWORD_ONLY_SESSIONS,
                    params![now, p.user_id.as_str(), keep.as_str()],
                )?;
                super::oidc::queue_logouts(c, &p.user_id, now)?;
                Ok(true)
            })
            .await
    }

    async fn passkeys(&self, user: &UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let user = user.clone();
        self.engine
            .read(move |c| query_all(c, q::PASSKEYS_OF_USER, [user.as_str()], passkey_from_row))
            .await
    }

    async fn passkey(&self, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        let id = id.to_owned();
        self.engine
            .read(move |c| query_one(c, q::PASSKEY, [id.as_str()], passkey_from_row))
            .await
    }

    async fn touch_passkey(
        &self,
        id: &str,
        old: &str,
        passkey: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, old, passkey, now) = (
            id.to_owned(),
            old.to_owned(),
            passkey.to_owned(),
            to_millis(now),
        );
        self.engine
            .write(move |c| {
                Ok(execute(c, q::TOUCH_PASSKEY_OVER, params![passkey, now, id, old])? == 1)
            })
            .await
    }

    async fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let (user, id) = (user.clone(), id.to_owned());
        self.engine
            .write(move |c| {
                let deleted = execute(c, q::DELETE_PASSKEY, params![id, user.as_str()])?;
                execute(c, q::DELETE_ORPHAN_RECOVERY_CODES, [user.as_str()])?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn use_ceremony(
        &self,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (hash, expires_at) = (hash.clone(), to_millis(expires_at));
        let used = self
            .engine
            .write(move |c| execute(c, q::USE_CEREMONY, params![&hash.0[..], expires_at]))
            .await;
        match used {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn purge_ceremonies(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write(move |c| Ok(execute(c, q::PURGE_CEREMONIES, [before])? as u64))
            .await
    }

    async fn put_pending_totp(
        &self,
        user: &UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (user, secret, now) = (user.clone(), sealed_secret.to_vec(), to_millis(now));
        self.engine
            .write(move |c| {
                Ok(execute(c, q::PUT_PENDING_TOTP, params![secret, now, user.as_str()])? == 1)
            })
            .await
    }

    async fn totp(&self, user: &UserId) -> Result<Option<TotpRecord>, StoreError> {
        let user = user.clone();
        self.engine
            .read(move |c| query_one(c, q::TOTP_FACTOR, [user.as_str()], totp_from_row))
            .await
    }

    async fn totp_factors(&self) -> Result<Vec<TotpRecord>, StoreError> {
        self.engine
            .read(move |c| query_all(c, q::TOTP_FACTORS, [], totp_from_row))
            .await
    }

    async fn replace_totp_secret(
        &self,
        user: &UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let (user, old, new) = (user.clone(), old.to_vec(), new.to_vec());
        self.engine
            .write(move |c| {
                Ok(execute(c, q::REPLACE_TOTP_SECRET, params![new, user.as_str(), old])? == 1)
            })
            .await
    }

    async fn confirm_totp(
        &self,
        user: &UserId,
        step: i64,
        codes: &[TokenHash],
        keep: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (user, codes, keep, now) = (user.clone(), codes.to_vec(), keep.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                if execute(c, q::CONFIRM_TOTP, params![now, step, user.as_str()])? != 1 {
                    return Ok(false);
                }
                store_codes(c, &user, &codes, now)?;
                execute(
                    c,
                    q::REVOKE_PASSWORD_ONLY_SESSIONS,
                    params![now, user.as_str(), keep.as_str()],
                )?;
                super::oidc::queue_logouts(c, &user, now)?;
                Ok(true)
            })
            .await
    }

    async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| Ok(execute(c, q::USE_TOTP_STEP, params![step, user.as_str()])? == 1))
            .await
    }

    async fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                let deleted = execute(c, q::DELETE_TOTP, [user.as_str()])?;
                execute(c, q::DELETE_ORPHAN_RECOVERY_CODES, [user.as_str()])?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (user, codes, now) = (user.clone(), codes.to_vec(), to_millis(now));
        self.engine
            .write(move |c| store_codes(c, &user, &codes, now))
            .await
    }

    async fn use_recovery_code(
        &self,
        user: &UserId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (user, code, now) = (user.clone(), code.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                Ok(execute(
                    c,
                    q::USE_RECOVERY_CODE,
                    params![now, &code.0[..], user.as_str()],
                )? == 1)
            })
            .await
    }

    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError> {
        let user = user.clone();
        self.engine
            .read(move |c| {
                query_one(c, q::RECOVERY_CODES_LEFT, [user.as_str()], |r| {
                    r.get::<_, u32>("n")
                })
            })
            .await
            .map(Option::unwrap_or_default)
    }

    async fn insert_mfa_challenge(&self, ch: &MfaChallenge) -> Result<(), StoreError> {
        let ch = ch.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_MFA_CHALLENGE,
                    params![
                        &ch.hash.0[..],
                        ch.user_id.as_str(),
                        ch.client_id,
                        ch.delivery,
                        ch.password_hash,
                        to_millis(ch.created_at),
                        to_millis(ch.expires_at)
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        let (hash, now) = (hash.clone(), to_millis(now));
        // Read through the writer's path: a failure just counted must be seen.
        self.engine
            .write(move |c| {
                query_one(
                    c,
                    q::MFA_CHALLENGE,
                    params![&hash.0[..], now, max_failures],
                    challenge_from_row,
                )
            })
            .await
    }

    async fn mfa_challenge_failed(
        &self,
        hash: &TokenHash,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (hash, user, now) = (hash.clone(), user.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                execute(c, q::MFA_CHALLENGE_FAILED, [&hash.0[..]])?;
                execute(c, q::INSERT_MFA_FAILURE, params![user.as_str(), now])?;
                Ok(())
            })
            .await
    }

    async fn mfa_failures_since(
        &self,
        user: &UserId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let (user, since) = (user.clone(), to_millis(since));
        self.engine
            .write(move |c| {
                query_one(
                    c,
                    q::MFA_FAILURES_SINCE,
                    params![user.as_str(), since],
                    |r| r.get::<_, u32>("n"),
                )
            })
            .await
            .map(Option::unwrap_or_default)
    }

    async fn use_mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (hash, now) = (hash.clone(), to_millis(now));
        self.engine
            .write(move |c| Ok(execute(c, q::USE_MFA_CHALLENGE, params![now, &hash.0[..]])? == 1))
            .await
    }

    async fn reset_mfa(&self, user: &UserId) -> Result<bool, StoreError> {
        let user = user.clone();
        self.engine.write(move |c| forget_factors(c, &user)).await
    }

    async fn purge_mfa_challenges(
        &self,
        before: OffsetDateTime,
        failures_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let (before, failures_before) = (to_millis(before), to_millis(failures_before));
        self.engine
            .write(move |c| {
                let challenges = execute(c, q::PURGE_MFA_CHALLENGES, [before])?;
                let failures = execute(c, q::PURGE_MFA_FAILURES, [failures_before])?;
                Ok((challenges + failures) as u64)
            })
            .await
    }
}
