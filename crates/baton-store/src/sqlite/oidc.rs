//! OpenID Connect sign-in on SQLite: [`OidcStore`] for [`SqliteStore`].

use super::rows::{execute, query_one, time_col};
use super::sessions::session_from_row;
use super::SqliteStore;
use crate::queries as q;
use baton_core::clock::to_millis;
use baton_core::refresh::TokenHash;
use baton_core::store::{AuthorizationCode, CodeUse, OidcStore, SessionRecord, StoreError};
use baton_core::{SessionId, UserId};
use rusqlite::{params, Row};
use time::OffsetDateTime;

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
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
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
                        to_millis(code.expires_at)
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
                    return Ok(CodeUse::First(code));
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
}
