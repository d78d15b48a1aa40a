//! OAuth clients: adding and authenticating them, RFC 7009 revocation and RFC 7662 introspection.

use super::{Baton, FIRST_PARTY_CLIENT};
use crate::client::ClientRecord;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::refresh::RefreshToken;
use crate::store::StoreError;
use baton_proto::IntrospectionResponse;

/// What a revocation request names, per its (non-binding) hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHint {
    /// `access_token`.
    Access,
    /// `refresh_token` or no hint.
    Refresh,
}

impl Baton {
    /// Adds an OAuth client; a confidential one gets a secret, returned only here.
    pub async fn add_client(
        &self,
        id: &str,
        confidential: bool,
    ) -> Result<(ClientRecord, Option<String>), AuthError> {
        let id = crate::client::parse_client_id(id)?;
        let (secret, secret_hash) = if confidential {
            let (s, h) = crate::client::generate_secret().map_err(AuthError::internal)?;
            (Some(s), Some(h))
        } else {
            (None, None)
        };
        let record = ClientRecord {
            id: id.to_owned(),
            confidential,
            secret_hash,
            created_at: self.now(),
        };
        match self.store.insert_client(&record).await {
            Ok(()) => Ok((record, secret)),
            Err(StoreError::Conflict(_)) => Err(AuthError::ClientTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// All OAuth clients added by the operator.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, AuthError> {
        Ok(self.store.clients().await?)
    }

    /// Removes an OAuth client (its sessions stay until they end or are revoked).
    pub async fn delete_client(&self, id: &str) -> Result<(), AuthError> {
        if self.store.delete_client(id).await? {
            Ok(())
        } else {
            Err(AuthError::InvalidClient)
        }
    }

    /// Authenticates an OAuth client: `None` is the first-party client `baton`; a public client
    /// gives only its id; a confidential one must give its secret.
    pub async fn authenticate_client(
        &self,
        id: Option<&str>,
        secret: Option<&str>,
    ) -> Result<String, AuthError> {
        let Some(id) = id else {
            return match secret {
                None => Ok(FIRST_PARTY_CLIENT.to_owned()),
                Some(_) => Err(AuthError::InvalidClient),
            };
        };
        if id == FIRST_PARTY_CLIENT {
            return match secret {
                None => Ok(FIRST_PARTY_CLIENT.to_owned()),
                Some(_) => Err(AuthError::InvalidClient),
            };
        }
        let client = self
            .store
            .client(id)
            .await?
            .ok_or(AuthError::InvalidClient)?;
        let ok = match (client.confidential, secret) {
            (true, Some(secret)) => client.secret_matches(secret),
            (false, None) => true,
            _ => false,
        };
        if ok {
            Ok(client.id)
        } else {
            Err(AuthError::InvalidClient)
        }
    }

    /// RFC 7009: revokes the session of a refresh or access token. Unknown tokens, and tokens of
    /// another client than `client` (when one authenticated), are silently ignored.
    pub async fn revoke_token(
        &self,
        token: &str,
        hint: TokenHint,
        client: Option<&str>,
    ) -> Result<(), AuthError> {
        let as_refresh = async {
            let hash = RefreshToken::presented(token).hash();
            Ok::<_, AuthError>(
                self.store
                    .refresh_token(&hash)
                    .await?
                    .map(|t| (t.session.user_id, t.session.id, t.session.client_id)),
            )
        };
        // An expired access token revokes nothing: it can no longer be used, and accepting it
        // would let anyone holding an old token end a session long after.
        let as_access = || {
            self.verify_access(token).ok().map(|c| {
                (
                    UserId::from_trusted(c.sub),
                    SessionId::from_trusted(c.sid),
                    c.client_id,
                )
            })
        };
        let found = match hint {
            TokenHint::Access => match as_access() {
                Some(f) => Some(f),
                None => as_refresh.await?,
            },
            TokenHint::Refresh => match as_refresh.await? {
                Some(f) => Some(f),
                None => as_access(),
            },
        };
        let Some((user, session, owner)) = found else {
            return Ok(());
        };
        // RFC 7009 §2.1: a token is revoked only for the client it was issued to. An
        // authenticated client must own it; an anonymous request may revoke only the tokens of
        // public clients (the first-party one included), never a confidential client's.
        let allowed = match client {
            Some(c) => c == owner,
            None => !self.is_confidential(&owner).await?,
        };
        if allowed {
            self.store
                .revoke_session(&user, &session, self.now())
                .await?;
        }
        Ok(())
    }

    /// Whether the OAuth client `id` authenticates with a secret (an unknown one does not).
    async fn is_confidential(&self, id: &str) -> Result<bool, AuthError> {
        if id == FIRST_PARTY_CLIENT {
            return Ok(false);
        }
        Ok(self.store.client(id).await?.is_some_and(|c| c.confidential))
    }

    /// RFC 7662: whether a token is active now, and what it says.
    pub async fn introspect(&self, token: &str) -> Result<IntrospectionResponse, AuthError> {
        let now = self.now();
        if let Ok(claims) = self.verify_access_fresh(token).await {
            let live = self
                .store
                .session(&SessionId::from_trusted(claims.sid.clone()))
                .await?
                .is_some_and(|s| s.revoked_at.is_none() && now < s.absolute_expires_at);
            if !live {
                return Ok(IntrospectionResponse::default());
            }
            return Ok(IntrospectionResponse {
                active: true,
                sub: Some(claims.sub),
                username: Some(claims.preferred_username),
                client_id: Some(claims.client_id),
                token_type: Some("Bearer".into()),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
                sid: Some(claims.sid),
                jti: Some(claims.jti),
            });
        }
        let hash = RefreshToken::presented(token).hash();
        let Some(record) = self.store.refresh_token(&hash).await? else {
            return Ok(IntrospectionResponse::default());
        };
        let session = record.session;
        if record.spent_at.is_some() || session.revoked_at.is_some() || now >= session.expires_at()
        {
            return Ok(IntrospectionResponse::default());
        }
        Ok(IntrospectionResponse {
            active: true,
            sub: Some(session.user_id.to_string()),
            username: Some(session.username.clone()),
            client_id: Some(session.client_id.clone()),
            token_type: Some("refresh_token".into()),
            exp: Some(session.expires_at().unix_timestamp()),
            iat: Some(record.created_at.unix_timestamp()),
            iss: Some(self.policy.issuer.clone()),
            aud: Some(self.policy.audience.clone()),
            sid: Some(session.id.to_string()),
            jti: None,
        })
    }
}
