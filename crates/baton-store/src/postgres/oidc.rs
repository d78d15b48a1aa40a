//! OpenID Connect sign-in on PostgreSQL: [`OidcStore`] for [`PgStore`].

use super::rows::time_col;
use super::sessions::session_from_row;
use super::{begin_write, PgStore};
use crate::error::map;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{
    AuthorizationCode, ClaimedLogout, CodeUse, Consent, OidcStore, SessionRecord, StoreError,
};
use baton_core::{SessionId, UserId};
use sqlx::postgres::PgRow as Row;
use sqlx::{Postgres, Row as _, Transaction};
use time::OffsetDateTime;

/// Queues, inside `tx`, a back-channel logout notice for each application that signed in
/// through a browser session of `user` that `tx` revoked at `now`.
pub(super) async fn queue_logouts(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(q::QUEUE_LOGOUTS)
        .bind(now)
        .bind(crate::notice_expiry(now))
        .bind(now)
        .bind(user.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    Ok(())
}

/// After the session `session` was revoked at `now`, inside `tx`: when it is a browser
/// session, the sessions applications opened from it end too (but those granted
/// `offline_access`), and a notice is queued for each application told of it.
pub(super) async fn end_browser_session(
    tx: &mut Transaction<'static, Postgres>,
    session: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(q::REVOKE_CHILD_SESSIONS)
        .bind(now)
        .bind(session)
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    sqlx::query(q::QUEUE_SESSION_LOGOUTS)
        .bind(now)
        .bind(crate::notice_expiry(now))
        .bind(now)
        .bind(session)
        .execute(&mut **tx)
        .await
        .map_err(map)?;
    Ok(())
}

fn logout_from_row(row: &Row, claim: &str) -> Result<ClaimedLogout, sqlx::Error> {
    Ok(ClaimedLogout {
        client_id: row.try_get("client_id")?,
        sid: row.try_get("sid")?,
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
        claim: claim.to_owned(),
    })
}

fn code_from_row(hash: &TokenHash, row: &Row) -> Result<AuthorizationCode, sqlx::Error> {
    Ok(AuthorizationCode {
        hash: hash.clone(),
        client_id: row.try_get("client_id")?,
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        browser_session: SessionId::from_trusted(row.try_get::<String, _>("browser_session")?),
        redirect_uri: row.try_get("redirect_uri")?,
        code_challenge: row.try_get("code_challenge")?,
        scope: row.try_get("scope")?,
        nonce: row.try_get("nonce")?,
        resource: row.try_get("resource")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
    })
}

fn consent_from_row(row: &Row) -> Result<Consent, sqlx::Error> {
    Ok(Consent {
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        granted_at: time_col(row, "granted_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl OidcStore for PgStore {
    async fn insert_browser_session(
        &self,
        hash: &TokenHash,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_BROWSER_SESSION)
            .bind(&hash.0[..])
            .bind(session.as_str())
            .bind(to_millis(now))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn browser_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(q::BROWSER_SESSION)
            .bind(&hash.0[..])
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.as_ref().map(session_from_row).transpose().map_err(map)
    }

    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_AUTHORIZATION_CODE)
            .bind(&code.hash.0[..])
            .bind(&code.client_id)
            .bind(code.user_id.as_str())
            .bind(code.browser_session.as_str())
            .bind(&code.redirect_uri)
            .bind(&code.code_challenge)
            .bind(&code.scope)
            .bind(&code.nonce)
            .bind(to_millis(code.created_at))
            .bind(to_millis(code.expires_at))
            .bind(&code.resource)
            .bind(&code.dpop_jkt)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn use_authorization_code(
        &self,
        hash: &TokenHash,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<CodeUse, StoreError> {
        // Each statement is atomic on its own: two uses racing for an unused code are ordered
        // by its row lock, and the second finds it used.
        let first = sqlx::query(q::USE_AUTHORIZATION_CODE)
            .bind(to_millis(now))
            .bind(session.as_str())
            .bind(&hash.0[..])
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        if let Some(row) = first {
            return Ok(CodeUse::First(Box::new(
                code_from_row(hash, &row).map_err(map)?,
            )));
        }
        let reused = sqlx::query(q::REUSE_AUTHORIZATION_CODE)
            .bind(to_millis(now))
            .bind(&hash.0[..])
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        let Some(row) = reused else {
            return Ok(CodeUse::Unknown);
        };
        Ok(CodeUse::Reused {
            user_id: UserId::from_trusted(row.try_get::<String, _>("user_id").map_err(map)?),
            session_id: row
                .try_get::<Option<String>, _>("issued_session_id")
                .map_err(map)?
                .map(SessionId::from_trusted),
        })
    }

    async fn authorization_code_reused(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let row = sqlx::query(q::AUTHORIZATION_CODE_REUSED)
            .bind(&hash.0[..])
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        Ok(match row {
            Some(row) => row.try_get::<bool, _>("reused").map_err(map)?,
            None => false,
        })
    }

    async fn purge_authorization_codes(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(sqlx::query(q::PURGE_AUTHORIZATION_CODES)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn consent(&self, user: &UserId, client: &str) -> Result<Option<Consent>, StoreError> {
        let row = sqlx::query(q::CONSENT)
            .bind(user.as_str())
            .bind(client)
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.as_ref().map(consent_from_row).transpose().map_err(map)
    }

    async fn put_consent(
        &self,
        user: &UserId,
        client: &str,
        scope: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(q::PUT_CONSENT)
            .bind(user.as_str())
            .bind(client)
            .bind(scope)
            .bind(to_millis(now))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query(q::CONSENTS)
            .bind(user.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows.iter()
            .map(consent_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn disconnect_app(
        &self,
        user: &UserId,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.writer).await.map_err(map)?;
        let deleted = sqlx::query(q::DELETE_CONSENT)
            .bind(user.as_str())
            .bind(client)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        let now_ms = to_millis(now);
        sqlx::query(q::REVOKE_CLIENT_SESSIONS)
            .bind(now_ms)
            .bind(user.as_str())
            .bind(client)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        sqlx::query(q::QUEUE_APP_LOGOUTS)
            .bind(now_ms)
            .bind(crate::notice_expiry(now_ms))
            .bind(now_ms)
            .bind(user.as_str())
            .bind(client)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        sqlx::query(q::SPEND_CLIENT_CODES)
            .bind(to_millis(now))
            .bind(user.as_str())
            .bind(client)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(true)
    }

    async fn insert_pushed_request(
        &self,
        hash: &TokenHash,
        client: &str,
        params: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_PUSHED_REQUEST)
            .bind(&hash.0[..])
            .bind(client)
            .bind(params)
            .bind(to_millis(now))
            .bind(to_millis(expires_at))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn use_pushed_request(
        &self,
        hash: &TokenHash,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(q::USE_PUSHED_REQUEST)
            .bind(to_millis(now))
            .bind(&hash.0[..])
            .bind(client)
            .fetch_optional(&self.writer)
            .await
            .map_err(map)?;
        row.map(|r| r.try_get::<String, _>("params"))
            .transpose()
            .map_err(map)
    }

    async fn purge_pushed_requests(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(sqlx::query(q::PURGE_PUSHED_REQUESTS)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn reparent_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError> {
        Ok(sqlx::query(q::REPARENT_SESSIONS)
            .bind(to.as_str())
            .bind(from.as_str())
            .execute(&self.writer)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn claim_logouts(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        claim: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedLogout>, StoreError> {
        let now = to_millis(now);
        let rows = sqlx::query(q::postgres::DIALECT.claim_logouts)
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
            .map(|row| logout_from_row(row, claim))
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn logout_sent(&self, notice: &ClaimedLogout) -> Result<bool, StoreError> {
        let done = sqlx::query(q::LOGOUT_SENT)
            .bind(&notice.client_id)
            .bind(&notice.sid)
            .bind(&notice.claim)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn logout_failed(
        &self,
        notice: &ClaimedLogout,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(q::LOGOUT_RETRY)
            .bind(to_millis(retry_at))
            .bind(error)
            .bind(&notice.client_id)
            .bind(&notice.sid)
            .bind(&notice.claim)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_logouts(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(q::PURGE_LOGOUTS)
            .bind(to_millis(before))
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected())
    }
}
