//! OpenID Connect sign-in on SQLite: [`OidcStore`] for [`SqliteStore`].

use super::rows::{execute, query_all, query_one, time_col};
use super::sessions::session_from_row;
use super::SqliteStore;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{
    AuthorizationCode, ClaimedLogout, CodeUse, Consent, OidcStore, SessionRecord, StoreError,
};
use baton_core::{SessionId, UserId};
use rusqlite::{params, Connection, Row};
use time::OffsetDateTime;

/// Queues, inside the caller's transaction, a back-channel logout notice for each application
/// that signed in through a browser session of `user` this transaction revoked at `now`.
pub(super) fn queue_logouts(c: &Connection, user: &UserId, now: i64) -> Result<(), StoreError> {
    let params = params![now, crate::notice_expiry(now), now, user.as_str(), now];
    execute(c, q::QUEUE_LOGOUTS, params).map(drop)
}

/// After the session `session` was revoked at `now`, inside the caller's transaction: when it
/// is a browser session, the sessions applications opened from it end too (but those granted
/// `offline_access`), and a notice is queued for each application told of it.
pub(super) fn end_browser_session(
    c: &Connection,
    session: &str,
    now: i64,
) -> Result<(), StoreError> {
    execute(c, q::REVOKE_CHILD_SESSIONS, params![now, session])?;
    let expires = crate::notice_expiry(now);
    let queue = params![now, expires, now, session];
    execute(c, q::QUEUE_SESSION_LOGOUTS, queue).map(drop)
}

fn logout_from_row(row: &Row<'_>, claim: &str) -> rusqlite::Result<ClaimedLogout> {
    Ok(ClaimedLogout {
        client_id: row.get("client_id")?,
        sid: row.get("sid")?,
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        attempts: row.get("attempts")?,
        claim: claim.to_owned(),
    })
}

fn code_from_row(hash: &TokenHash, row: &Row<'_>) -> rusqlite::Result<AuthorizationCode> {
    Ok(AuthorizationCode {
        hash: hash.clone(),
        client_id: row.get("client_id")?,
        user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
        browser_session: SessionId::from_trusted(row.get::<_, String>("browser_session")?),
        redirect_uri: row.get("redirect_uri")?,
        code_challenge: row.get("code_challenge")?,
        scope: row.get("scope")?,
        nonce: row.get("nonce")?,
        resource: row.get("resource")?,
        dpop_jkt: row.get("dpop_jkt")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
    })
}

fn consent_from_row(row: &Row<'_>) -> rusqlite::Result<Consent> {
    Ok(Consent {
        client_id: row.get("client_id")?,
        scope: row.get("scope")?,
        granted_at: time_col(row, "granted_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl OidcStore for SqliteStore {
    async fn insert_browser_session(
        &self,
        hash: &TokenHash,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (hash, session, now) = (hash.clone(), session.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_BROWSER_SESSION,
                    params![&hash.0[..], session.as_str(), now],
                )
                .map(drop)
            })
            .await
    }

    async fn browser_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        let hash = hash.clone();
        self.engine
            .read(move |c| query_one(c, q::BROWSER_SESSION, [&hash.0[..]], session_from_row))
            .await
    }

    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let code = code.clone();
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_AUTHORIZATION_CODE,
                    params![
                        &code.hash.0[..],
                        code.client_id,
                        code.user_id.as_str(),
                        code.browser_session.as_str(),
                        code.redirect_uri,
                        code.code_challenge,
                        code.scope,
                        code.nonce,
                        to_millis(code.created_at),
                        to_millis(code.expires_at),
                        code.resource,
                        code.dpop_jkt
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn use_authorization_code(
        &self,
        hash: &TokenHash,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<CodeUse, StoreError> {
        let (hash, session, now) = (hash.clone(), session.clone(), to_millis(now));
        self.engine
            .write(move |c| {
                let first = query_one(
                    c,
                    q::USE_AUTHORIZATION_CODE,
                    params![now, session.as_str(), &hash.0[..]],
                    |row| code_from_row(&hash, row),
                )?;
                if let Some(code) = first {
                    return Ok(CodeUse::First(Box::new(code)));
                }
                let reused = query_one(
                    c,
                    q::REUSE_AUTHORIZATION_CODE,
                    params![now, &hash.0[..]],
                    |row| {
                        Ok(CodeUse::Reused {
                            user_id: UserId::from_trusted(row.get::<_, String>("user_id")?),
                            session_id: row
                                .get::<_, Option<String>>("issued_session_id")?
                                .map(SessionId::from_trusted),
                        })
                    },
                )?;
                Ok(reused.unwrap_or(CodeUse::Unknown))
            })
            .await
    }

    async fn authorization_code_reused(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        Ok(self
            .engine
            .read(move |c| {
                query_one(c, q::AUTHORIZATION_CODE_REUSED, [&hash.0[..]], |row| {
                    row.get::<_, bool>("reused")
                })
            })
            .await?
            .unwrap_or(false))
    }

    async fn purge_authorization_codes(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write(move |c| Ok(execute(c, q::PURGE_AUTHORIZATION_CODES, [before])? as u64))
            .await
    }

    async fn consent(&self, user: &UserId, client: &str) -> Result<Option<Consent>, StoreError> {
        let (user, client) = (user.clone(), client.to_owned());
        self.engine
            .read(move |c| {
                query_one(
                    c,
                    q::CONSENT,
                    params![user.as_str(), client],
                    consent_from_row,
                )
            })
            .await
    }

    async fn put_consent(
        &self,
        user: &UserId,
        client: &str,
        scope: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (user, client, scope, now) = (
            user.clone(),
            client.to_owned(),
            scope.to_owned(),
            to_millis(now),
        );
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::PUT_CONSENT,
                    params![user.as_str(), client, scope, now],
                )
                .map(drop)
            })
            .await
    }

    async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        let user = user.clone();
        self.engine
            .read(move |c| query_all(c, q::CONSENTS, [user.as_str()], consent_from_row))
            .await
    }

    async fn disconnect_app(
        &self,
        user: &UserId,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (user, client, now) = (user.clone(), client.to_owned(), to_millis(now));
        self.engine
            .write(move |c| {
                if execute(c, q::DELETE_CONSENT, params![user.as_str(), client])? == 0 {
                    return Ok(false);
                }
                execute(
                    c,
                    q::REVOKE_CLIENT_SESSIONS,
                    params![now, user.as_str(), client],
                )?;
                execute(
                    c,
                    q::QUEUE_APP_LOGOUTS,
                    params![
                        now,
                        crate::notice_expiry(now),
                        now,
                        user.as_str(),
                        client,
                        now
                    ],
                )?;
                execute(
                    c,
                    q::SPEND_CLIENT_CODES,
                    params![now, user.as_str(), client],
                )?;
                Ok(true)
            })
            .await
    }

    async fn insert_pushed_request(
        &self,
        hash: &TokenHash,
        client: &str,
        params: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (hash, client, params) = (hash.clone(), client.to_owned(), params.to_owned());
        let (now, expires_at) = (to_millis(now), to_millis(expires_at));
        self.engine
            .write(move |c| {
                execute(
                    c,
                    q::INSERT_PUSHED_REQUEST,
                    params![&hash.0[..], client, params, now, expires_at],
                )
                .map(drop)
            })
            .await
    }

    async fn use_pushed_request(
        &self,
        hash: &TokenHash,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let (hash, client, now) = (hash.clone(), client.to_owned(), to_millis(now));
        self.engine
            .write(move |c| {
                query_one(
                    c,
                    q::USE_PUSHED_REQUEST,
                    params![now, &hash.0[..], client],
                    |row| row.get("params"),
                )
            })
            .await
    }

    async fn purge_pushed_requests(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write(move |c| Ok(execute(c, q::PURGE_PUSHED_REQUESTS, [before])? as u64))
            .await
    }

    async fn reparent_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError> {
        let (from, to) = (from.clone(), to.clone());
        self.engine
            .write(move |c| {
                Ok(execute(c, q::REPARENT_SESSIONS, params![to.as_str(), from.as_str()])? as u64)
            })
            .await
    }

    async fn claim_logouts(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        claim: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedLogout>, StoreError> {
        let (now, until, claim) = (to_millis(now), to_millis(lease_until), claim.to_owned());
        self.engine
            .write(move |c| {
                query_all(
                    c,
                    q::sqlite::DIALECT.claim_logouts,
                    params![until, claim, now, now, now, i64::from(limit)],
                    |row| logout_from_row(row, &claim),
                )
            })
            .await
    }

    async fn logout_sent(&self, notice: &ClaimedLogout) -> Result<bool, StoreError> {
        let n = notice.clone();
        self.engine
            .write(move |c| {
                Ok(execute(c, q::LOGOUT_SENT, params![n.client_id, n.sid, n.claim])? == 1)
            })
            .await
    }

    async fn logout_failed(
        &self,
        notice: &ClaimedLogout,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let (n, retry_at, error) = (notice.clone(), to_millis(retry_at), error.to_owned());
        self.engine
            .write(move |c| {
                Ok(execute(
                    c,
                    q::LOGOUT_RETRY,
                    params![retry_at, error, n.client_id, n.sid, n.claim],
                )? == 1)
            })
            .await
    }

    async fn purge_logouts(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_millis(before);
        self.engine
            .write(move |c| {
                let n = execute(c, q::PURGE_LOGOUTS, [before])?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            })
            .await
    }
}
