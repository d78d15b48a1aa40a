//! [`Baton`]: the operations of the contract (register, login, refresh, logout, sessions) on top
//! of a [`Store`], a [`PasswordHasher`], the signing keys and a [`Clock`]. The HTTP server and
//! the CLI both call these; neither talks to storage directly.

use crate::access::{self, AccessClaims, AccessError, TokenRules};
use crate::audit::{AuditEvent, EventKind, EventQuery};
use crate::client::ClientRecord;
use crate::clock::Clock;
use crate::error::{AuthError, RefreshError};
use crate::ids::{SessionId, UserId};
use crate::keys::{KeyRing, SigningAlg, StoredKey};
use crate::password::{Password, PasswordHasher};
use crate::refresh::RefreshToken;
use crate::store::{
    NewSession, RotateOutcome, RotateRequest, SessionCursor, SessionRecord, Store, StoreError,
    UserRecord,
};
use crate::username::Username;
use crate::vault::{KeyVault, VaultError};
use baton_proto::IntrospectionResponse;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// The OAuth client id of sessions opened through `/auth/*`.
pub const FIRST_PARTY_CLIENT: &str = "baton";

/// The rules a deployment chose: lifetimes, issuer, audience, registration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// A session ends after this long without a refresh.
    pub refresh_idle_ttl: Duration,
    /// A session ends this long after login, whatever happens.
    pub refresh_absolute_ttl: Duration,
    /// A spent refresh token may come back this long after being spent; zero turns it off.
    pub refresh_grace: Duration,
    /// Tolerance on `exp` when baton checks its own access tokens.
    pub clock_leeway: Duration,
    /// Shortest acceptable new password, in characters.
    pub password_min_length: usize,
    /// Whether `/auth/register` is open.
    pub registration_open: bool,
    /// Algorithm of newly generated signing keys.
    pub signing_alg: SigningAlg,
    /// Most live sessions per user; a new one revokes the oldest beyond it (0: no limit).
    pub sessions_per_user: u32,
}

/// A page of a user's live sessions.
#[derive(Debug, Clone)]
pub struct SessionPage {
    /// The sessions, newest first.
    pub sessions: Vec<SessionRecord>,
    /// Where the next page starts, if there is one.
    pub next: Option<SessionCursor>,
}

/// Where a login came from, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
}

/// Tokens handed out by a login or a refresh.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Signed access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The new (or, in the grace window, the same successor) refresh token.
    pub refresh_token: RefreshToken,
    /// Whole seconds until the session ends if unused.
    pub refresh_expires_in: u64,
    /// The session.
    pub session_id: SessionId,
    /// The session's user.
    pub user_id: UserId,
    /// A spent token was presented within the grace window and got its successor again.
    pub replayed: bool,
}

/// How [`Baton::start_with`] treats the signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// The server: the newest key of the configured algorithm signs; one is generated when
    /// there is none (so changing `BATON_SIGNING_ALG` rotates to that algorithm).
    Configured,
    /// Commands that change data: the newest unretired key signs whatever its algorithm (a
    /// shell without the server's settings must not switch it); one is generated only when the
    /// database has no key at all.
    Existing,
    /// Commands that only read: nothing is written; the database must already have a key.
    ReadOnly,
}

/// The token service.
pub struct Baton {
    store: Arc<dyn Store>,
    key_mode: KeyMode,
    vault: KeyVault,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    policy: Policy,
    rules: TokenRules,
    keys: RwLock<Arc<KeyRing>>,
    last_unknown_key_reload: std::sync::Mutex<Option<OffsetDateTime>>,
}

impl std::fmt::Debug for Baton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baton")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Baton {
    /// Loads the signing keys (generating the first one, or a new one when the configured
    /// algorithm changed) and returns a ready service.
    /// Private keys are sealed under `vault`; keys stored plain (from before encryption) are
    /// sealed now.
    pub async fn start(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        policy: Policy,
        vault: KeyVault,
    ) -> Result<Self, AuthError> {
        Self::start_with(store, hasher, clock, policy, vault, KeyMode::Configured).await
    }

    /// Like [`Baton::start`], treating the signing keys as `key_mode` says (only
    /// [`KeyMode::Configured`] seals plain keys).
    pub async fn start_with(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        policy: Policy,
        vault: KeyVault,
        key_mode: KeyMode,
    ) -> Result<Self, AuthError> {
        let rules = TokenRules {
            issuer: policy.issuer.clone(),
            audience: policy.audience.clone(),
            leeway_secs: policy.clock_leeway.whole_seconds(),
        };
        if key_mode == KeyMode::Configured {
            seal_plain_keys(store.as_ref(), &vault).await?;
        }
        let ring = load_keys(store.as_ref(), &vault, clock.now(), &policy, key_mode, None).await?;
        Ok(Self {
            store,
            key_mode,
            vault,
            hasher,
            clock,
            policy,
            rules,
            keys: RwLock::new(Arc::new(ring)),
            last_unknown_key_reload: std::sync::Mutex::new(None),
        })
    }

    /// The configured policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The current time by the service's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The storage behind the service.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Generates a new active signing key of `alg` (by default the configured algorithm on the
    /// server, the active key's in commands); the old one stays published until its tokens
    /// expire.
    pub async fn rotate_signing_key(&self, alg: Option<SigningAlg>) -> Result<String, AuthError> {
        let alg = alg.unwrap_or(match self.key_mode {
            KeyMode::Configured => self.policy.signing_alg,
            KeyMode::Existing | KeyMode::ReadOnly => self.ring().active.alg,
        });
        let ring = load_keys(
            self.store.as_ref(),
            &self.vault,
            self.now(),
            &self.policy,
            self.key_mode,
            Some(alg),
        )
        .await?;
        let kid = ring.active.kid.clone();
        self.install(ring);
        Ok(kid)
    }

    /// Rereads the keys from storage (to pick up a rotation done elsewhere).
    pub async fn reload_signing_keys(&self) -> Result<(), AuthError> {
        let ring = load_keys(
            self.store.as_ref(),
            &self.vault,
            self.now(),
            &self.policy,
            self.key_mode,
            None,
        )
        .await?;
        self.install(ring);
        Ok(())
    }

    /// Seals every stored private key under the current secret (after `BATON_SECRET` changed,
    /// with the old one as `BATON_SECRET_PREVIOUS`); how many were sealed anew.
    pub async fn rewrap_keys(&self) -> Result<usize, AuthError> {
        let mut count = 0;
        for key in self.store.signing_keys().await? {
            if self.vault.is_current(&key) {
                continue;
            }
            let plain = if KeyVault::is_sealed(&key) {
                self.vault.open(&key).map_err(vault_error)?
            } else {
                key.clone()
            };
            let sealed = self.vault.seal(&plain).map_err(vault_error)?;
            self.store
                .replace_private_key(&key.kid, &sealed.pkcs8)
                .await?;
            count += 1;
        }
        if count > 0 {
            self.store.scrub_signing_keys().await?;
        }
        Ok(count)
    }

    fn install(&self, mut ring: KeyRing) {
        let mut current = match self.keys.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A reload that found the same keys keeps what was verified with them.
        if ring.same_keys(&current) {
            ring.verified = Arc::clone(&current.verified);
        }
        *current = Arc::new(ring);
    }

    /// The RFC 7517 JWKS of every published key.
    pub fn jwks(&self) -> serde_json::Value {
        self.ring().jwks()
    }

    /// Checks an access token issued by this service, with the keys in hand.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, AccessError> {
        access::verify(&self.ring(), &self.rules, token, self.now()).map_err(|e| match e {
            AccessError::UnknownKey => AccessError::Invalid,
            other => other,
        })
    }

    /// Checks an access token; a token signed by a key this instance does not know yet (another
    /// instance just rotated) makes it reread the keys first, at most once per
    /// [`UNKNOWN_KEY_RELOAD_INTERVAL`].
    pub async fn verify_access_fresh(&self, token: &str) -> Result<AccessClaims, AccessError> {
        match access::verify(&self.ring(), &self.rules, token, self.now()) {
            Err(AccessError::UnknownKey) => {
                let now = self.now();
                let due = {
                    let mut last = self
                        .last_unknown_key_reload
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let due = last.is_none_or(|t| now - t >= UNKNOWN_KEY_RELOAD_INTERVAL);
                    if due {
                        *last = Some(now);
                    }
                    due
                };
                if due {
                    if let Err(e) = self.reload_signing_keys().await {
                        tracing::warn!(error = %e, "could not reload the signing keys");
                    }
                }
                self.verify_access(token)
            }
            other => other,
        }
    }

    /// Registers a user through the public endpoint (refused when registration is closed).
    pub async fn register(
        &self,
        username: &str,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        if !self.policy.registration_open {
            return Err(AuthError::RegistrationClosed);
        }
        self.add_user(username, password).await
    }

    /// Adds a user whatever the registration setting (the operator's `baton user add`).
    pub async fn add_user(
        &self,
        username: &str,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        let username = Username::parse(username)?;
        let password = Password::new(password, self.policy.password_min_length)?;
        if self.store.user_by_key(username.key()).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        let record = UserRecord {
            id: UserId::generate(),
            username: username.as_str().to_owned(),
            username_key: username.key().to_owned(),
            password_hash: self.hasher.hash(&password).await?,
            created_at: self.now(),
        };
        match self.store.insert_user(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// All users.
    pub async fn users(&self) -> Result<Vec<UserRecord>, AuthError> {
        Ok(self.store.users().await?)
    }

    /// Deletes a user by name and revokes every session they had.
    pub async fn delete_user(&self, username: &str) -> Result<(), AuthError> {
        let username = Username::parse(username)?;
        let user = self
            .store
            .user_by_key(username.key())
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if self.store.delete_user(&user.id, self.now()).await? {
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Checks a username and password; the same error, after the same work, for an unknown user
    /// and a wrong password.
    pub async fn authenticate(
        &self,
        username: &str,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        let password = Password::presented(password);
        let user = match Username::parse(username) {
            Ok(name) => self.store.user_by_key(name.key()).await?,
            Err(_) => None,
        };
        let verified = self
            .hasher
            .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match user {
            Some(u) if verified.ok => u,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if verified.needs_rehash {
            // Best effort: a busy hashing pool or storage must not fail a correct login; the
            // rehash is tried again at the next one.
            match self.hasher.hash(&password).await {
                Ok(phc) => {
                    if let Err(e) = self.store.set_password_hash(&user.id, &phc).await {
                        tracing::warn!(error = %e, "could not store a rehashed password");
                    }
                }
                Err(e) => tracing::info!(error = %e, "password rehash postponed"),
            }
        }
        Ok(user)
    }

    /// Logs in: checks the password, opens a session, issues both tokens.
    pub async fn login(
        &self,
        username: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<Issued, AuthError> {
        let user = self.authenticate(username, password).await?;
        self.open_session(&user, FIRST_PARTY_CLIENT, client).await
    }

    /// Opens a session for an already authenticated user.
    pub async fn open_session(
        &self,
        user: &UserRecord,
        client_id: &str,
        client: ClientInfo,
    ) -> Result<Issued, AuthError> {
        let now = self.now();
        let session = NewSession {
            id: SessionId::generate(),
            user_id: user.id.clone(),
            client_id: client_id.to_owned(),
            created_at: now,
            idle_expires_at: now + self.policy.refresh_idle_ttl,
            absolute_expires_at: now + self.policy.refresh_absolute_ttl,
            user_agent: client.user_agent,
            ip: client.ip,
            live_limit: self.policy.sessions_per_user,
        };
        let token = RefreshToken::generate().map_err(|e| AuthError::Internal(e.to_string()))?;
        match self.store.create_session(&session, &token.hash()).await {
            Ok(()) => {}
            // Deleted while the password was being checked.
            Err(StoreError::Conflict(_)) => return Err(AuthError::InvalidCredentials),
            Err(e) => return Err(e.into()),
        }
        let record = SessionRecord {
            id: session.id,
            user_id: session.user_id,
            username: user.username.clone(),
            client_id: session.client_id,
            created_at: now,
            last_used_at: now,
            idle_expires_at: session.idle_expires_at,
            absolute_expires_at: session.absolute_expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
            revoked_at: None,
        };
        self.issue(&record, token, now)
    }

    /// Rotates a refresh token of the first-party client per the rules in [`crate::rotation`];
    /// other clients' tokens refresh only through [`Baton::refresh_for_client`], where the
    /// client authenticates (RFC 6749 §6).
    pub async fn refresh(&self, presented: &str) -> Result<Issued, AuthError> {
        self.refresh_for_client(presented, Some(FIRST_PARTY_CLIENT))
            .await
    }

    /// Rotates a refresh token that must have been issued to `client` (when given).
    pub async fn refresh_for_client(
        &self,
        presented: &str,
        client: Option<&str>,
    ) -> Result<Issued, AuthError> {
        let presented = RefreshToken::presented(presented);
        let successor = RefreshToken::generate().map_err(|e| AuthError::Internal(e.to_string()))?;
        let sealed = presented
            .seal(&successor)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
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
            })
            .await?;
        match outcome {
            RotateOutcome::Rotated(session) => self.issue(&session, successor, now),
            RotateOutcome::Replayed(session, sealed) => {
                let same = presented.open(&sealed).ok_or(RefreshError::Invalid)?;
                tracing::info!(session_id = %session.id, user_id = %session.user_id,
                    "spent refresh token replayed within the grace window");
                let mut issued = self.issue(&session, same, now)?;
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

    /// Records an audit event; a failure to record is logged, never passed on (the event's
    /// request has been answered by then, or is about to be).
    pub async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.store.record_event(&event).await {
            tracing::warn!(error = %e, kind = event.kind.as_str(), "an audit event was not recorded");
        }
    }

    /// The live user a name (as typed) names, if any: to file a failed login under its account.
    pub async fn user_named(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        let Ok(name) = Username::parse(name) else {
            return Ok(None);
        };
        Ok(self.store.user_by_key(name.key()).await?)
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

    /// Audit events, newest first, as `query` says.
    pub async fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, AuthError> {
        Ok(self.store.events(query).await?)
    }

    /// Forgets audit events older than `retention`.
    pub async fn purge_events(&self, retention: Duration) -> Result<u64, AuthError> {
        Ok(self.store.purge_events(self.now() - retention).await?)
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
            .drop_stale_seals(self.now() - self.policy.refresh_grace)
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

    /// Deletes sessions that ended more than `retention` ago.
    pub async fn purge_expired(&self, retention: Duration) -> Result<u64, AuthError> {
        Ok(self.store.purge_sessions(self.now() - retention).await?)
    }

    fn issue(
        &self,
        session: &SessionRecord,
        refresh_token: RefreshToken,
        now: OffsetDateTime,
    ) -> Result<Issued, AuthError> {
        let iat = now.unix_timestamp();
        let claims = AccessClaims {
            iss: self.policy.issuer.clone(),
            sub: session.user_id.to_string(),
            aud: self.policy.audience.clone(),
            exp: iat + self.policy.access_ttl.whole_seconds(),
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: session.client_id.clone(),
            sid: session.id.to_string(),
            preferred_username: session.username.clone(),
            nbf: None,
        };
        let access_token =
            access::mint(&self.ring(), &claims).map_err(|e| AuthError::Internal(e.to_string()))?;
        let remaining = (session.expires_at() - now).whole_seconds().max(0);
        Ok(Issued {
            access_token,
            expires_in: u64::try_from(self.policy.access_ttl.whole_seconds()).unwrap_or(0),
            refresh_token,
            refresh_expires_in: u64::try_from(remaining).unwrap_or(0),
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            replayed: false,
        })
    }
}

fn vault_error(e: VaultError) -> AuthError {
    AuthError::Internal(e.to_string())
}

/// Seals the keys still stored plain (from before encryption), then has the store rewrite its
/// files so that no copy of the plain keys survives in free space.
async fn seal_plain_keys(store: &dyn Store, vault: &KeyVault) -> Result<(), AuthError> {
    let mut sealed_any = false;
    for key in store.signing_keys().await? {
        if !KeyVault::is_sealed(&key) {
            let sealed = vault.seal(&key).map_err(vault_error)?;
            store.replace_private_key(&key.kid, &sealed.pkcs8).await?;
            tracing::info!(kid = %key.kid, "signing key encrypted at rest");
            sealed_any = true;
        }
    }
    if sealed_any {
        store.scrub_signing_keys().await?;
        tracing::warn!(
            "the signing keys were stored unencrypted until now: copies of the database made \
             before (backups) still hold them; rotate the keys (`baton keys rotate`) if such \
             copies may have been read"
        );
    }
    Ok(())
}

/// The key ring as `mode` wants it, after generating a key of `rotate_to` when asked (or one
/// of the configured algorithm when the mode calls for it and there is none). Keys are stored
/// sealed by `vault` and opened here.
async fn load_keys(
    store: &dyn Store,
    vault: &KeyVault,
    now: OffsetDateTime,
    policy: &Policy,
    mode: KeyMode,
    rotate_to: Option<SigningAlg>,
) -> Result<KeyRing, AuthError> {
    let internal = |e: crate::keys::KeyError| AuthError::Internal(e.to_string());
    // A retired key stays published for one access-token lifetime plus the time other instances
    // may take to notice the rotation and stop signing with it.
    let publish_until = now + policy.access_ttl + KEY_RELOAD_SLACK;
    let opened = |keys: Vec<StoredKey>| {
        keys.iter()
            .map(|k| vault.open(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(vault_error)
    };
    let keys = opened(store.signing_keys().await?)?;
    let newest = |alg: Option<SigningAlg>| {
        keys.iter()
            .filter(|k| k.retired_at.is_none() && alg.is_none_or(|a| k.alg == a))
            .max_by_key(|k| k.created_at)
            .cloned()
    };
    let usable = match mode {
        KeyMode::Configured => newest(Some(policy.signing_alg)),
        KeyMode::Existing | KeyMode::ReadOnly => newest(None),
    };
    let (active, keys) = match (usable, rotate_to) {
        (_, Some(alg)) if mode != KeyMode::ReadOnly => {
            let fresh = StoredKey::generate(alg, now).map_err(internal)?;
            let sealed = vault.seal(&fresh).map_err(vault_error)?;
            store.activate_signing_key(&sealed, publish_until).await?;
            tracing::info!(kid = %fresh.kid, alg = %fresh.alg, "new signing key is active");
            (fresh, opened(store.signing_keys().await?)?)
        }
        (Some(k), _) => (k, keys),
        (None, _) if mode == KeyMode::ReadOnly => {
            return Err(AuthError::Internal(
                "the database has no signing key yet; start `baton serve` once".into(),
            ))
        }
        (None, _) => {
            let fresh = StoredKey::generate(policy.signing_alg, now).map_err(internal)?;
            let sealed = vault.seal(&fresh).map_err(vault_error)?;
            let active = store.ensure_signing_key(&sealed, publish_until).await?;
            if active.kid == fresh.kid {
                tracing::info!(kid = %active.kid, alg = %active.alg, "new signing key is active");
                // A key change the server made itself (the first key, or the configured
                // algorithm changed); the command line records its own rotations.
                let mut event = AuditEvent::new(EventKind::KeyRotated, now);
                event.reason = Some(format!("new {} key {}", active.alg, active.kid));
                if let Err(e) = store.record_event(&event).await {
                    tracing::warn!(error = %e, "the key change was not recorded");
                }
            }
            (
                vault.open(&active).map_err(vault_error)?,
                opened(store.signing_keys().await?)?,
            )
        }
    };
    KeyRing::build(&active, &keys, now, policy.access_ttl + KEY_RELOAD_SLACK).map_err(internal)
}

/// An unknown `kid` rereads the keys at most this often, so forged kids cannot hammer storage.
pub const UNKNOWN_KEY_RELOAD_INTERVAL: Duration = Duration::seconds(5);

/// How long a retired key outlives its last tokens, for instances that have not reloaded yet.
pub const KEY_RELOAD_SLACK: Duration = Duration::minutes(5);

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
            let (s, h) =
                crate::client::generate_secret().map_err(|e| AuthError::Internal(e.to_string()))?;
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
