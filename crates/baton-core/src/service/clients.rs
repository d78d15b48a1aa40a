//! OAuth clients: adding and authenticating them, RFC 7009 revocation and RFC 7662 introspection.

use super::{Baton, FIRST_PARTY_CLIENT};
use crate::access::{self, ClientAccessClaims};
use crate::client::{ClientRecord, ClientSettings, Grant, ScopeError, STANDARD_SCOPES};
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::refresh::RefreshToken;
use crate::store::StoreError;
use baton_proto::IntrospectionResponse;

/// A client-credentials access token.
#[derive(Clone)]
pub struct ClientIssued {
    /// The signed JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    pub scope: Option<String>,
    /// Bound to a DPoP key (`token_type` `DPoP`).
    pub dpop_bound: bool,
}

impl std::fmt::Debug for ClientIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIssued")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What a revocation request names, per its (non-binding) hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHint {
    /// `access_token`.
    Access,
    /// `refresh_token` or no hint.
    Refresh,
}

impl Baton {
    /// Adds an OAuth client with `settings` (checked first); a confidential one gets a secret,
    /// returned only here.
    pub async fn add_client(
        &self,
        id: &str,
        confidential: bool,
        settings: ClientSettings,
    ) -> Result<(ClientRecord, Option<String>), AuthError> {
        let id = crate::client::parse_client_id(id)?;
        let settings = settings.validated(confidential)?;
        // A private_key_jwt client proves itself with its keys and has no secret.
        let (secret, secret_hash) = if confidential && settings.jwks.is_none() {
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
            settings,
        };
        match self.store.insert_client(&record).await {
            Ok(()) => Ok((record, secret)),
            Err(StoreError::Conflict(_)) => Err(AuthError::ClientTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a client's settings (checked first) and, with `new_secret`, gives a
    /// confidential client a new secret (returned only here; the old one stops working).
    pub async fn update_client(
        &self,
        id: &str,
        settings: ClientSettings,
        new_secret: bool,
    ) -> Result<(ClientRecord, Option<String>), AuthError> {
        let mut record = self
            .store
            .client(id)
            .await?
            .ok_or(AuthError::UnknownClient)?;
        record.settings = settings.validated(record.confidential)?;
        let mut secret = None;
        if record.settings.jwks.is_some() {
            // Its keys prove it from now on: a secret it had stops working.
            record.secret_hash = None;
        }
        if new_secret && record.settings.jwks.is_some() {
            return Err(AuthError::ClientSettings(
                crate::client::ClientSettingsError::Jwks(
                    "a private_key_jwt client has no secret; change its keys instead".into(),
                ),
            ));
        }
        if new_secret {
            if !record.confidential {
                return Err(AuthError::ClientSettings(
                    crate::client::ClientSettingsError::PublicSecret,
                ));
            }
            let (s, h) = crate::client::generate_secret().map_err(AuthError::internal)?;
            record.secret_hash = Some(h);
            secret = Some(s);
        }
        if self.store.update_client(&record).await? {
            Ok((record, secret))
        } else {
            Err(AuthError::UnknownClient)
        }
    }

    /// All OAuth clients added by the operator.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, AuthError> {
        Ok(self.store.clients().await?)
    }

    /// An OAuth client by id; `baton` is the first-party client.
    pub async fn client(&self, id: &str) -> Result<ClientRecord, AuthError> {
        if id == FIRST_PARTY_CLIENT {
            return Ok(ClientRecord::first_party());
        }
        self.store.client(id).await?.ok_or(AuthError::UnknownClient)
    }

    /// Removes an OAuth client (its sessions stay until they end or are revoked).
    pub async fn delete_client(&self, id: &str) -> Result<(), AuthError> {
        if self.store.delete_client(id).await? {
            Ok(())
        } else {
            Err(AuthError::UnknownClient)
        }
    }

    /// Authenticates an OAuth client: `None` is the first-party client `baton`; a public client
    /// gives only its id; a confidential one must give its secret.
    pub async fn authenticate_client(
        &self,
        id: Option<&str>,
        secret: Option<&str>,
    ) -> Result<ClientRecord, AuthError> {
        let id = id.unwrap_or(FIRST_PARTY_CLIENT);
        if id == FIRST_PARTY_CLIENT {
            return match secret {
                None => Ok(ClientRecord::first_party()),
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
            Ok(client)
        } else {
            Err(AuthError::InvalidClient)
        }
    }

    /// RFC 7523 §2.2 / OpenID Connect Core §9 `private_key_jwt`: authenticates a client by a
    /// JWT it signed with one of its registered keys. `iss` and `sub` are the client id (and
    /// `client_id`, when the request also names one), `aud` one of `audiences` (the issuer and
    /// the endpoint's URL), `exp` within an hour (libraries default to one), and its `jti` used
    /// once (remembered until `exp`).
    pub async fn authenticate_client_assertion(
        &self,
        assertion: &str,
        client_id: Option<&str>,
        audiences: &[String],
    ) -> Result<ClientRecord, AuthError> {
        #[derive(serde::Deserialize)]
        struct Unverified {
            iss: String,
        }
        #[derive(serde::Deserialize)]
        struct Assertion {
            sub: String,
            exp: i64,
            jti: String,
        }
        let refuse = || AuthError::InvalidClient;
        if assertion.len() > 8 * 1024 {
            return Err(refuse());
        }
        let payload = assertion.split('.').nth(1).ok_or_else(refuse)?;
        let payload =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .map_err(|_| refuse())?;
        let issuer = serde_json::from_slice::<Unverified>(&payload)
            .map_err(|_| refuse())?
            .iss;
        if client_id.is_some_and(|c| c != issuer) {
            return Err(refuse());
        }
        let client = self.store.client(&issuer).await?.ok_or_else(refuse)?;
        let Some(jwks) = &client.settings.jwks else {
            return Err(refuse());
        };
        let keys = serde_json::to_vec(jwks)
            .ok()
            .and_then(|b| baton_verify::KeySet::from_jwks(&b).ok())
            .ok_or_else(refuse)?;
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| refuse())?;
        let (alg, key) = keys
            .get(header.kid.as_deref().ok_or_else(refuse)?)
            .ok_or_else(refuse)?;
        if header.alg != *alg {
            return Err(refuse());
        }
        let mut validation = jsonwebtoken::Validation::new(*alg);
        // Time is judged below, against the service's clock.
        validation.validate_exp = false;
        validation.set_issuer(&[client.id.as_str()]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
        let claims = jsonwebtoken::decode::<Assertion>(assertion, key, &validation)
            .map_err(|_| refuse())?
            .claims;
        let now = self.now().unix_timestamp();
        if claims.sub != client.id
            || claims.exp.saturating_add(30) <= now
            || claims.exp > now + 3660
            || claims.jti.is_empty()
            || claims.jti.len() > 256
        {
            return Err(refuse());
        }
        let mut id = Vec::with_capacity(client.id.len() + claims.jti.len() + 1);
        id.extend_from_slice(client.id.as_bytes());
        id.push(0);
        id.extend_from_slice(claims.jti.as_bytes());
        let hash = crate::refresh::TokenHash(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &id)
                .as_ref()
                .try_into()
                .map_err(AuthError::internal)?,
        );
        let expires = time::OffsetDateTime::from_unix_timestamp(claims.exp.saturating_add(60))
            .map_err(|_| refuse())?;
        if !self.store.use_client_assertion(&hash, expires).await? {
            tracing::warn!(client_id = %client.id, "client assertion replayed");
            return Err(refuse());
        }
        Ok(client)
    }

    /// Forgets used client assertions past their end; how many.
    pub async fn purge_client_assertions(&self) -> Result<u64, AuthError> {
        Ok(self
            .store
            .purge_client_assertions(self.deletion_now())
            .await?)
    }

    /// RFC 6749 §4.4: an access token for a confidential client acting for itself, with the
    /// scopes `requested` (space-separated; when absent or empty, every API scope the client
    /// is registered for). No refresh token (§4.4.3) and no session stand behind it.
    pub fn client_credentials(
        &self,
        client: &ClientRecord,
        requested: Option<&str>,
        resource: Option<&str>,
        dpop_jkt: Option<&str>,
    ) -> Result<ClientIssued, AuthError> {
        if !client.confidential || !client.settings.allows(Grant::ClientCredentials) {
            return Err(AuthError::UnauthorizedClient);
        }
        if resource.is_some_and(|r| !client.settings.allows_resource(r)) {
            return Err(AuthError::InvalidTarget);
        }
        let scopes = match requested.filter(|r| !r.trim().is_empty()) {
            Some(r) => {
                let granted = client.settings.grant_scopes(r)?;
                // OpenID Connect's scopes speak of a user; there is none here.
                if let Some(s) = granted
                    .iter()
                    .find(|s| STANDARD_SCOPES.contains(&s.as_str()))
                {
                    return Err(ScopeError::NotAllowed(s.clone()).into());
                }
                granted
            }
            None => client.settings.api_scopes().map(str::to_owned).collect(),
        };
        let now = self.now().unix_timestamp();
        let ttl = self.lifetimes_for(client).access.whole_seconds();
        let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
        let claims = ClientAccessClaims {
            iss: self.policy.issuer.clone(),
            sub: client.id.clone(),
            aud: resource.map_or_else(|| self.policy.audience.clone(), str::to_owned),
            exp: now + ttl,
            iat: now,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: client.id.clone(),
            scope: scope.clone(),
            cnf: dpop_jkt.map(|jkt| baton_verify::Confirmation {
                jkt: jkt.to_owned(),
            }),
        };
        let access_token = access::mint(&self.ring(), &claims).map_err(AuthError::internal)?;
        Ok(ClientIssued {
            access_token,
            expires_in: u64::try_from(ttl).unwrap_or(0),
            scope,
            dpop_bound: dpop_jkt.is_some(),
        })
    }

    /// Whether a refresh grant of `client` asking for `resource` (RFC 8707) asks for its
    /// session's: a refresh token keeps the audience its session was opened with. `true` for
    /// a token that is unknown, spent or another client's: the refresh then treats it as it
    /// would anyway (a spent one as a reuse).
    pub async fn refresh_keeps_resource(
        &self,
        client: &str,
        token: &str,
        resource: &str,
    ) -> Result<bool, AuthError> {
        let hash = RefreshToken::presented(token).hash();
        Ok(match self.store.refresh_token(&hash).await? {
            Some(record) if record.spent_at.is_none() && record.session.client_id == client => {
                record.session.audience.as_deref() == Some(resource)
            }
            _ => true,
        })
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
        // Tokens for a client's API (RFC 8707) are baton's too.
        let rules = self.rules_for_any_audience(token);
        let as_access = || {
            access::verify(&self.ring(), &rules, token, self.now())
                .ok()
                .map(|c| {
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
            // A client's own token has no session to end and stays valid until it expires:
            // RFC 7009 §2.2.1's answer for a token type the server cannot revoke.
            if access::verify_client(&self.ring(), &rules, token, self.now()).is_ok() {
                return Err(AuthError::UnsupportedTokenType);
            }
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

    /// RFC 7662: whether a token is active now, and what it says; RFC 9449 §6.2 adds `cnf`
    /// and the `DPoP` token type for a bound one.
    pub async fn introspect(&self, token: &str) -> Result<IntrospectionResponse, AuthError> {
        let now = self.now();
        // Tokens for a client's API (RFC 8707) are baton's too.
        let rules = self.rules_for_any_audience(token);
        if let Ok(claims) = self.verify_access_fresh_with(&rules, token).await {
            let session = self
                .store
                .session(&SessionId::from_trusted(claims.sid.clone()))
                .await?
                .filter(|s| s.revoked_at.is_none() && now < s.absolute_expires_at);
            let Some(session) = session else {
                return Ok(IntrospectionResponse::default());
            };
            return Ok(IntrospectionResponse {
                active: true,
                sub: Some(claims.sub),
                username: Some(claims.preferred_username),
                client_id: Some(claims.client_id),
                token_type: Some(token_type(claims.cnf.as_ref()).into()),
                cnf: confirmation(claims.cnf.as_ref()),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
                sid: Some(claims.sid),
                jti: Some(claims.jti),
                scope: claims.scope.clone(),
                // The user's roles now, not those the token was issued with, as its scope
                // releases them.
                roles: super::sessions::released_roles(claims.scope.as_deref(), &session.roles),
            });
        }
        if let Ok(claims) = access::verify_client(&self.ring(), &rules, token, now) {
            // Active while its client still exists and may still use the grant.
            let live = self
                .store
                .client(&claims.client_id)
                .await?
                .is_some_and(|c| c.settings.allows(Grant::ClientCredentials));
            if !live {
                return Ok(IntrospectionResponse::default());
            }
            return Ok(IntrospectionResponse {
                active: true,
                sub: Some(claims.sub),
                client_id: Some(claims.client_id),
                token_type: Some(token_type(claims.cnf.as_ref()).into()),
                cnf: confirmation(claims.cnf.as_ref()),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
                jti: Some(claims.jti),
                scope: claims.scope,
                ..IntrospectionResponse::default()
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
            aud: Some(
                session
                    .audience
                    .clone()
                    .unwrap_or_else(|| self.policy.audience.clone()),
            ),
            sid: Some(session.id.to_string()),
            jti: None,
            scope: session.scope.clone(),
            roles: Vec::new(),
            // A refresh token bound to a DPoP key names it too.
            cnf: session
                .dpop_jkt
                .as_ref()
                .map(|jkt| serde_json::json!({ "jkt": jkt })),
        })
    }
}

/// The `token_type` of an access token bound to `cnf`'s key (RFC 9449 §6.2) or to none.
fn token_type(cnf: Option<&baton_verify::Confirmation>) -> &'static str {
    if cnf.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// `cnf` as introspection answers it.
fn confirmation(cnf: Option<&baton_verify::Confirmation>) -> Option<serde_json::Value> {
    cnf.map(|c| serde_json::json!({ "jkt": c.jkt }))
}
