//! Sessions and their refresh tokens: login, refresh, logout, listing, revocation, upkeep.

use super::{Baton, Issued, RequestOrigin, SessionPage};
use crate::access::{self, AccessClaims};
use crate::error::{AuthError, RefreshError};
use crate::ids::{SessionId, UserId};
use crate::mfa::Amr;
use crate::refresh::RefreshToken;
use crate::store::{
    NewSession, RotateOutcome, RotateRequest, SessionCursor, SessionRecord, UserRecord,
};
use baton_verify::Confirmation;
use time::{Duration, OffsetDateTime};

/// A session about to be opened.
pub(super) struct Opening<'a> {
    /// Its id (chosen before, when something must name it first).
    pub id: SessionId,
    /// Its user, with the password hash the sign-in was checked against.
    pub user: &'a UserRecord,
    /// Its client.
    pub client_id: &'a str,
    /// Where the request came from.
    pub origin: RequestOrigin,
    /// How the user authenticated.
    pub amr: &'a Amr,
    /// The scopes granted (space-separated), if any.
    pub scope: Option<String>,
    /// When the user authenticated, when earlier than now.
    pub auth_time: Option<OffsetDateTime>,
    /// The browser session it was opened from.
    pub parent: Option<SessionId>,
    /// The audience of its access tokens, when a resource was asked for (RFC 8707).
    pub audience: Option<String>,
}

/// How long a client's access tokens live, and its sessions when unused.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lifetimes {
    pub access: Duration,
    pub refresh_idle: Duration,
    /// A public client's: its refresh tokens are bound to the DPoP key it signs in with (RFC
    /// 9449 §5; a confidential client's are bound by its authentication instead).
    pub public: bool,
}

impl Baton {
    /// Opens a session for a user who authenticated with `amr` (their password checked
    /// against `user.password_hash`).
    pub async fn open_session(
        &self,
        user: &UserRecord,
        client_id: &str,
        origin: RequestOrigin,
        amr: &Amr,
    ) -> Result<Issued, AuthError> {
        self.open_session_with(user, client_id, origin, amr, None)
            .await
    }

    /// [`Self::open_session`] for a session granted `scope` (space-separated) through OAuth:
    /// its access tokens carry it, and refreshes keep it.
    pub async fn open_session_with(
        &self,
        user: &UserRecord,
        client_id: &str,
        origin: RequestOrigin,
        amr: &Amr,
        scope: Option<String>,
    ) -> Result<Issued, AuthError> {
        self.open(Opening {
            id: SessionId::generate(),
            user,
            client_id,
            origin,
            amr,
            scope,
            auth_time: None,
            parent: None,
            audience: None,
        })
        .await
    }

    /// Opens the session `opening` describes, with its first refresh token.
    pub(super) async fn open(&self, opening: Opening<'_>) -> Result<Issued, AuthError> {
        let now = self.now();
        let lifetimes = self.lifetimes_of(opening.client_id).await?;
        let dpop_jkt = opening.origin.dpop_jkt.clone();
        let session = NewSession {
            id: opening.id,
            user_id: opening.user.id.clone(),
            client_id: opening.client_id.to_owned(),
            created_at: now,
            idle_expires_at: now + lifetimes.refresh_idle,
            absolute_expires_at: now + self.policy.refresh_absolute_ttl,
            user_agent: opening.origin.user_agent,
            ip: opening.origin.ip,
            live_limit: self.policy.sessions_per_user,
            password_hash: opening.user.password_hash.clone(),
            amr: opening.amr.to_stored(),
            scope: opening.scope,
            auth_time: opening.auth_time,
            parent_id: opening.parent,
            audience: opening.audience,
            dpop_jkt: dpop_jkt.clone().filter(|_| lifetimes.public),
        };
        let token = RefreshToken::generate().map_err(AuthError::internal)?;
        // None: deleted, disabled or given another password while the password was being
        // checked.
        let Some(record) = self.store.create_session(&session, &token.hash()).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        self.issue(&record, token, now, lifetimes.access, dpop_jkt.as_deref())
    }

    /// Rotates a refresh token per the rules in [`crate::rotation`]; it must have been issued
    /// to `client` when one is given (RFC 6749 §6: a token refreshes only for its own client),
    /// and, when its session is bound to a DPoP key, the request must have proved that key
    /// (`dpop_jkt`). The access token is bound to the key proved, if any.
    pub async fn refresh(
        &self,
        presented: &str,
        client: Option<&str>,
        dpop_jkt: Option<&str>,
    ) -> Result<Issued, AuthError> {
        // A client's own access-token lifetime is read before the rotation commits, so that
        // nothing after it can fail (the successor would be lost).
        let known = match client {
            Some(c) if c != super::FIRST_PARTY_CLIENT => Some((c, self.lifetimes_of(c).await?)),
            _ => None,
        };
        let presented = RefreshToken::presented(presented);
        let successor = RefreshToken::generate().map_err(AuthError::internal)?;
        let sealed = presented.seal(&successor).map_err(AuthError::internal)?;
        let now = self.now();
        let outcome = self
            .store
            .rotate(&RotateRequest {
                presented: presented.hash(),
                successor: successor.hash(),
                sealed_successor: sealed,
                now,
                grace: self.policy.refresh_grace,
                client_id: client.map(str::to_owned),
                dpop_jkt: dpop_jkt.map(str::to_owned),
                // baton's own client is public; another one as registered.
                bind_jkt: dpop_jkt
                    .filter(|_| known.is_none_or(|(_, l)| l.public))
                    .map(str::to_owned),
            })
            .await?;
        match outcome {
            RotateOutcome::Rotated(session) => {
                let ttl = self.access_ttl_after(&session, known).await;
                self.issue(&session, successor, now, ttl, dpop_jkt)
            }
            RotateOutcome::Replayed(session, sealed) => {
                let same = presented.open(&sealed).ok_or(RefreshError::Invalid)?;
                tracing::info!(session_id = %session.id, user_id = %session.user_id,
                    "spent refresh token replayed within the grace window");
                let ttl = self.access_ttl_after(&session, known).await;
                let mut issued = self.issue(&session, same, now, ttl, dpop_jkt)?;
                issued.replayed = true;
                Ok(issued)
            }
            RotateOutcome::Refused(reason) => Err(reason.into()),
        }
    }

    /// Revokes the session of a refresh token, spent or not; unknown tokens are ignored.
    pub async fn logout(&self, presented: &str) -> Result<Option<SessionId>, AuthError> {
        let token = RefreshToken::presented(presented);
        Ok(self
            .store
            .revoke_by_token(&token.hash(), self.now())
            .await?)
    }

    /// The user and session a presented refresh token belongs to, spent or not, and whether
    /// that session is live: to file a reuse or a logout under the account it hit.
    pub async fn token_owner(
        &self,
        presented: &str,
    ) -> Result<Option<(UserId, SessionId, bool)>, AuthError> {
        let hash = RefreshToken::presented(presented).hash();
        let now = self.now();
        Ok(self.store.refresh_token(&hash).await?.map(|t| {
            let live = t.session.revoked_at.is_none() && t.session.expires_at() > now;
            (t.session.user_id, t.session.id, live)
        }))
    }

    /// Revokes every session of a user.
    pub async fn logout_all(&self, user: &UserId) -> Result<u64, AuthError> {
        Ok(self.store.revoke_all_sessions(user, self.now()).await?)
    }

    /// A page of the user's live sessions, newest first: at most `limit`, after `after`.
    pub async fn sessions(
        &self,
        user: &UserId,
        after: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<SessionPage, AuthError> {
        let mut sessions = self
            .store
            .live_sessions(user, self.now(), after, limit.saturating_add(1))
            .await?;
        let more = sessions.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        sessions.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = sessions.last().filter(|_| more).map(|last| SessionCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        Ok(SessionPage { sessions, next })
    }

    /// Revokes one of the user's own live sessions.
    pub async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
    ) -> Result<(), AuthError> {
        if self.store.revoke_session(user, session, self.now()).await? {
            Ok(())
        } else {
            Err(AuthError::SessionNotFound)
        }
    }

    /// Drops the successors sealed before the grace window; they are never handed out again.
    pub async fn drop_stale_seals(&self) -> Result<u64, AuthError> {
        Ok(self
            .store
            .drop_stale_seals(self.deletion_now() - self.policy.refresh_grace)
            .await?)
    }

    /// Gives the live sessions the configured idle timeout (each keeps the one it was opened
    /// with until then): run as the server starts, so a changed `refresh_idle_ttl` reaches
    /// sessions already open. How many changed.
    pub async fn apply_idle_timeout(&self) -> Result<u64, AuthError> {
        Ok(self
            .store
            .set_idle_timeout(self.policy.refresh_idle_ttl, self.now())
            .await?)
    }

    /// Deletes sessions that ended more than `retention` ago (reckoned from a wall clock that
    /// cannot have run ahead, see [`Horizon`](crate::clock::Horizon)).
    pub async fn purge_expired(&self, retention: Duration) -> Result<u64, AuthError> {
        Ok(self
            .store
            .purge_sessions(self.deletion_now() - retention)
            .await?)
    }

    /// The token lifetimes of a client's sessions: its own, or the server's. The first-party
    /// client needs no lookup; a client deleted since keeps the server's.
    pub(super) async fn lifetimes_of(&self, client_id: &str) -> Result<Lifetimes, AuthError> {
        let server = Lifetimes {
            access: self.policy.access_ttl,
            refresh_idle: self.policy.refresh_idle_ttl,
            public: true,
        };
        if client_id == super::FIRST_PARTY_CLIENT {
            return Ok(server);
        }
        Ok(match self.store.client(client_id).await? {
            Some(client) => self.lifetimes_for(&client),
            None => server,
        })
    }

    /// The token lifetimes of `client`: its own where it has them, else the server's.
    pub(super) fn lifetimes_for(&self, client: &crate::client::ClientRecord) -> Lifetimes {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
        Lifetimes {
            access: client
                .settings
                .access_ttl
                .map_or(self.policy.access_ttl, secs),
            refresh_idle: client
                .settings
                .refresh_idle_ttl
                .map_or(self.policy.refresh_idle_ttl, secs),
            public: !client.confidential,
        }
    }

    /// The access-token lifetime for a session that just rotated: the one read before when it
    /// is its client's, else read now, falling back to the server's if that read fails (the
    /// rotation has committed; the tokens must go out).
    async fn access_ttl_after(
        &self,
        session: &SessionRecord,
        known: Option<(&str, Lifetimes)>,
    ) -> Duration {
        if let Some((_, lifetimes)) = known.filter(|(c, _)| *c == session.client_id) {
            return lifetimes.access;
        }
        match self.lifetimes_of(&session.client_id).await {
            Ok(lifetimes) => lifetimes.access,
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), client_id = %session.client_id,
                    "could not read the client's token lifetime; the server's applies");
                self.policy.access_ttl
            }
        }
    }

    pub(super) fn issue(
        &self,
        session: &SessionRecord,
        refresh_token: RefreshToken,
        now: OffsetDateTime,
        access_ttl: Duration,
        dpop_jkt: Option<&str>,
    ) -> Result<Issued, AuthError> {
        let iat = now.unix_timestamp();
        let first_party = session.client_id == super::FIRST_PARTY_CLIENT;
        let claims = AccessClaims {
            iss: self.policy.issuer.clone(),
            sub: session.user_id.to_string(),
            aud: session
                .audience
                .clone()
                .unwrap_or_else(|| self.policy.audience.clone()),
            exp: iat + access_ttl.whole_seconds(),
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: session.client_id.clone(),
            sid: session.id.to_string(),
            preferred_username: session.username.clone(),
            // The address goes to baton's own client only until scopes say who may see it.
            email: first_party.then(|| session.email.clone()).flatten(),
            email_verified: first_party
                .then(|| session.email.as_ref().map(|_| session.email_verified))
                .flatten(),
            nbf: None,
            auth_time: Some(session.auth_time.unix_timestamp()),
            amr: session.amr.values().map(str::to_owned).collect(),
            scope: session.scope.clone(),
            roles: released_roles(session.scope.as_deref(), &session.roles),
            cnf: dpop_jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
        };
        let access_token = access::mint(&self.ring(), &claims).map_err(AuthError::internal)?;
        let remaining = (session.expires_at() - now).whole_seconds().max(0);
        Ok(Issued {
            access_token,
            expires_in: u64::try_from(access_ttl.whole_seconds()).unwrap_or(0),
            refresh_token,
            refresh_expires_in: u64::try_from(remaining).unwrap_or(0),
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            scope: session.scope.clone(),
            replayed: false,
            dpop_bound: dpop_jkt.is_some(),
        })
    }
}

/// The roles a token of a session with `scope` shows: all of them for a session without scopes
/// (baton's own sign-ins, the password grant), only with the `roles` scope for one granted
/// scopes (the code flow).
pub(super) fn released_roles(scope: Option<&str>, roles: &[String]) -> Vec<String> {
    match scope {
        Some(scope) if !scope.split(' ').any(|s| s == "roles") => Vec::new(),
        _ => roles.to_vec(),
    }
}
