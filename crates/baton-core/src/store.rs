//! The storage seam: one trait per concern (users, sessions, clients, keys, limits, audit),
//! gathered in [`Store`], each implemented once per backend (in `baton-store`, a file per
//! concern). The rotation rules themselves stay in [`crate::rotation`] so every backend applies
//! the same ones.

use crate::audit::{AuditEvent, EventQuery};
use crate::client::ClientRecord;
use crate::email::MailKind;
use crate::error::RefreshError;
use crate::ids::{SessionId, UserId};
use crate::keys::StoredKey;
use crate::limits::{LimitKey, LimitOutcome, LimitVerdict};
use crate::refresh::{SealedSuccessor, TokenHash};
use crate::rotation::SessionState;
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

/// A user as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Stable id.
    pub id: UserId,
    /// Normalised username, case kept.
    pub username: String,
    /// Case-folded comparison key; unique among live users.
    pub username_key: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Registration time.
    pub created_at: OffsetDateTime,
    /// When an operator disabled the user, while disabled.
    pub disabled_at: Option<OffsetDateTime>,
    /// E-mail address as given, if any.
    pub email: Option<String>,
    /// Its comparison key ([`crate::email::Email::key`]); unique among live users.
    pub email_key: Option<String>,
    /// When the address was confirmed, if it was.
    pub email_verified_at: Option<OffsetDateTime>,
    /// The roles an operator gave the user, sorted.
    pub roles: Vec<String>,
}

/// A one-time token sent by mail, as stored (its hash only).
#[derive(Debug, Clone)]
pub struct AccountToken {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// What it is for.
    pub purpose: MailKind,
    /// Whose it is.
    pub user_id: UserId,
    /// The address it confirms (address confirmations only).
    pub email_key: Option<String>,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// A mail to queue in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    /// Unique id (a UUIDv7), the associated data of its sealed variables.
    pub id: String,
    /// What it is.
    pub kind: MailKind,
    /// Whose it is (their unsent mail goes when their links are voided).
    pub user_id: UserId,
    /// Where it goes.
    pub recipient: String,
    /// Its [`crate::email::MailVars`], sealed ([`OutboxMail::sealed_with`] the associated
    /// data).
    pub sealed: Vec<u8>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When its link stops working: it is dropped unsent after that.
    pub expires_at: OffsetDateTime,
}

impl OutboxMail {
    /// The associated data its variables are sealed with: everything a reader of the row could
    /// change to misdirect it (id, kind, user, recipient, expiry), so a row edited in the
    /// database no longer opens.
    pub fn sealed_with(&self) -> Vec<u8> {
        format!(
            "{}\0{}\0{}\0{}\0{}",
            self.id,
            self.kind.as_str(),
            self.user_id,
            self.recipient,
            crate::clock::to_millis(self.expires_at)
        )
        .into_bytes()
    }
}

/// A token and, unless an operator prints its link instead, the mail carrying it: stored in
/// one transaction.
#[derive(Debug, Clone)]
pub struct MailedToken {
    /// The token.
    pub token: AccountToken,
    /// Its mail.
    pub mail: Option<OutboxMail>,
}

/// A mail claimed for sending.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    /// The mail.
    pub mail: OutboxMail,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// The claim's id: only its holder may finish or give back the mail.
    pub claim: String,
}

/// Which of a user's sessions a password change ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSessions {
    /// None (a rehash of the same password).
    None,
    /// All but this one (a change made from it).
    AllExcept(SessionId),
    /// All of them (a reset, an operator's new password).
    All,
}

/// A session to create at login, with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// OAuth client the session was opened for.
    pub client_id: String,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// End of the idle timeout.
    pub idle_expires_at: OffsetDateTime,
    /// End of the absolute lifetime.
    pub absolute_expires_at: OffsetDateTime,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Client IP at login.
    pub ip: Option<String>,
    /// Most live sessions the user may have: opening this one revokes the oldest beyond it
    /// (0: no limit).
    pub live_limit: u32,
    /// The password hash the login was checked against: the session is opened only while it
    /// is still the user's (and the user neither deleted nor disabled).
    pub password_hash: String,
    /// How the user authenticated, in its stored form ([`crate::mfa::Amr::to_stored`]).
    pub amr: String,
    /// The scopes granted (space-separated), for a session opened through OAuth with a scope.
    pub scope: Option<String>,
    /// The audience of its access tokens, when a resource was asked for (RFC 8707); baton's
    /// own otherwise.
    pub audience: Option<String>,
    /// The thumbprint of the DPoP key a public client's refresh tokens are bound to (RFC 9449
    /// §5), when it signed in with a proof.
    pub dpop_jkt: Option<String>,
    /// When the user authenticated, when earlier than `created_at` (a client's session opened
    /// from a browser session keeps the browser session's sign-in time).
    pub auth_time: Option<OffsetDateTime>,
    /// The browser session this session was opened from.
    pub parent_id: Option<SessionId>,
}

/// Where a page of sessions starts: after the session created at `created_at` with id `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCursor {
    /// The last listed session's creation time.
    pub created_at: OffsetDateTime,
    /// The last listed session's id.
    pub id: SessionId,
}

/// A session as stored, with its owner's username.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Owner's username.
    pub username: String,
    /// Owner's e-mail address, if any.
    pub email: Option<String>,
    /// Whether the owner confirmed it.
    pub email_verified: bool,
    /// OAuth client.
    pub client_id: String,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last login or refresh.
    pub last_used_at: OffsetDateTime,
    /// End of the idle timeout.
    pub idle_expires_at: OffsetDateTime,
    /// End of the absolute lifetime.
    pub absolute_expires_at: OffsetDateTime,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Client IP at login.
    pub ip: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// How the user authenticated at login (the access tokens' `amr`; `created_at` is their
    /// `auth_time`).
    pub amr: crate::mfa::Amr,
    /// The scopes granted (space-separated), for a session opened through OAuth with a scope.
    pub scope: Option<String>,
    /// The audience of its access tokens, when a resource was asked for (RFC 8707); baton's
    /// own otherwise.
    pub audience: Option<String>,
    /// The thumbprint of the DPoP key a public client's refresh tokens are bound to (RFC 9449
    /// §5), when it signed in with a proof.
    pub dpop_jkt: Option<String>,
    /// The owner's roles now.
    pub roles: Vec<String>,
    /// When the user authenticated (the access tokens' `auth_time`): `created_at`, or the
    /// sign-in time of the browser session it was opened from.
    pub auth_time: OffsetDateTime,
}

impl SessionRecord {
    /// The part of the record the rotation rules look at.
    pub fn state(&self) -> SessionState {
        SessionState {
            revoked: self.revoked_at.is_some(),
            idle_expires_at: self.idle_expires_at,
            absolute_expires_at: self.absolute_expires_at,
        }
    }

    /// When the session stops refreshing if unused.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.state().expires_at()
    }
}

/// One refresh, as the service asks storage to carry it out in a single transaction.
#[derive(Debug, Clone)]
pub struct RotateRequest {
    /// Hash of the presented token.
    pub presented: TokenHash,
    /// Hash of the successor to store if the token rotates.
    pub successor: TokenHash,
    /// The successor sealed under the presented token, kept for the grace window.
    pub sealed_successor: SealedSuccessor,
    /// The current time.
    pub now: OffsetDateTime,
    /// The reuse grace window.
    pub grace: Duration,
    /// The client that must have been issued the token; `None` accepts any.
    pub client_id: Option<String>,
    /// The thumbprint of the DPoP key the request proved it holds: a session bound to a key
    /// (RFC 9449 §5) rotates only with a proof by that key.
    pub dpop_jkt: Option<String>,
    /// A key to bind the session to as it rotates, when it is bound to none yet: a public
    /// client's refresh with a proof (RFC 9449 §5: its refresh tokens are then bound).
    pub bind_jkt: Option<String>,
}

/// A refresh token as storage knows it, with its session.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it was spent, if it was.
    pub spent_at: Option<OffsetDateTime>,
    /// Its session.
    pub session: SessionRecord,
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub enum RotateOutcome {
    /// Spent the token and stored the successor; the session as updated.
    Rotated(SessionRecord),
    /// Within the grace window: the session and the successor sealed at the first rotation.
    Replayed(SessionRecord, SealedSuccessor),
    /// Refused; for reuse, the session has already been revoked and committed.
    Refused(RefreshError),
}

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (a taken username).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is overloaded; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("database error: {0}")]
    Other(String),
}

/// Everything baton keeps: one trait per concern, so each backend implements them in a file
/// apiece. Implementations must make [`SessionStore::rotate`] atomic: two concurrent calls with
/// the same presented token never both rotate. Callers hold an `Arc<dyn Store>` and bring the
/// concern's trait into scope (`use baton_core::store::SessionStore as _`).
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + ClientStore
    + KeyStore
    + LimitStore
    + AuditStore
    + MailStore
    + MfaStore
    + OidcStore
    + 'static
{
    /// Checks that the database answers (and, where writes go through one writer, that it can
    /// write).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Leaves the database tidy as the process ends, once nothing writes any more: on SQLite,
    /// copies the WAL into the database file and empties it, so that the file alone holds every
    /// write; on PostgreSQL, closes the pool's connections. Called last: the store may refuse work
    /// afterwards.
    async fn close(&self) -> Result<(), StoreError>;
}

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user; [`StoreError::Conflict`] when the username key is taken.
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.insert_user_with_token(user, None).await
    }
    /// Adds a user, with a token and its mail (confirming the address) in the same
    /// transaction; [`StoreError::Conflict`] when the username or e-mail key is taken.
    async fn insert_user_with_token(
        &self,
        user: &UserRecord,
        token: Option<&MailedToken>,
    ) -> Result<(), StoreError>;
    /// A live user by case-folded username key.
    async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError>;
    /// A live user by e-mail key.
    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Sets a live, enabled user's address (unconfirmed), voids every link mailed before
    /// (confirmations and resets, dropping their unsent mail), and stores `token` with its
    /// mail, in one transaction; `false` when there is no such user, [`StoreError::Conflict`]
    /// when another live user has the address.
    async fn set_email(
        &self,
        id: &UserId,
        email: &str,
        email_key: &str,
        token: &MailedToken,
    ) -> Result<bool, StoreError>;
    /// All live users, oldest first.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// A live user by id.
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Sets a live user's roles (space-separated, `None` for none) while they are still
    /// `expected` (a compare-and-set, so two changes made at once cannot lose one); `false`,
    /// with nothing written, when there is no such live user or their roles changed.
    async fn set_roles(
        &self,
        id: &UserId,
        roles: Option<&str>,
        expected: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Sets a live user's password hash to `phc` and ends the sessions `end` names, in one
    /// transaction; when `expected` is given, only while the stored hash is still that one.
    /// A new password (any `end` but [`EndSessions::None`]) also voids the reset links sent
    /// before. `false`, with nothing written, when there is no such live user or the hash
    /// changed.
    async fn set_password(
        &self,
        id: &UserId,
        phc: &str,
        expected: Option<&str>,
        end: &EndSessions,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Disables a live user, revokes every session of theirs and voids every link mailed to
    /// them (dropping their unsent mail) in one transaction, or (`disabled == false`) enables
    /// them again; `false` if there is no such live user.
    async fn set_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Deletes a user (forgetting their password hash and address), revokes all their sessions
    /// and voids every link mailed to them (dropping their unsent mail); `false` if there was no
    /// such live user.
    async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError>;
}

/// Sessions and their refresh tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session with its first refresh token and returns it as stored; `None`, with
    /// nothing written, when its user no longer exists, is disabled or has another password
    /// hash than [`NewSession::password_hash`] (changed while the password was being checked).
    async fn create_session(
        &self,
        session: &NewSession,
        first_token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Applies [`crate::rotation::decide`] to the presented token in one transaction.
    async fn rotate(&self, request: &RotateRequest) -> Result<RotateOutcome, StoreError>;
    /// Revokes the session of any of its tokens, spent or not; its id, if the token was known.
    async fn revoke_by_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionId>, StoreError>;
    /// Revokes one live session of `user`; `false` if it is not theirs, unknown or not live.
    /// When it is a browser session, the same transaction revokes the sessions applications
    /// opened from it (but those granted `offline_access`) and queues a back-channel logout
    /// notice for each application with a back-channel URI that signed in through it; every
    /// other revocation of a user's sessions queues notices the same way.
    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Revokes every session of `user`; how many were live.
    async fn revoke_all_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// The live sessions of `user`, newest first: at most `limit`, after `after` if given.
    async fn live_sessions(
        &self,
        user: &UserId,
        now: OffsetDateTime,
        after: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// A session by id, live or not.
    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;
    /// A refresh token by hash, with its session.
    async fn refresh_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// Deletes sessions (and their tokens) that ended before `before`; how many.
    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Drops the sealed successors of tokens spent before `before` (the start of the grace
    /// window): they are never handed out again. How many.
    async fn drop_stale_seals(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Gives every session still live at `now` the idle timeout `ttl` (the configured one; a
    /// session keeps the timeout it was opened with otherwise), in batches; how many changed.
    /// An ended session is not revived, and the sessions of a client with its own refresh idle
    /// timeout get that one instead.
    async fn set_idle_timeout(&self, ttl: Duration, now: OffsetDateTime)
        -> Result<u64, StoreError>;
}

/// OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Adds an OAuth client; [`StoreError::Conflict`] when the id is taken.
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// An OAuth client by id.
    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// All OAuth clients.
    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Removes an OAuth client; `false` if there was none.
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Records the use of a client assertion (the hash of its client and `jti`) until
    /// `expires_at`; `false` when it was used before.
    async fn use_client_assertion(
        &self,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Forgets used client assertions that expired before `before`; how many.
    async fn purge_client_assertions(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Records the use of a DPoP proof (`id`, [`crate::dpop::Proof::replay_id`]) until
    /// `expires_at`: whether it is fresh, used before, or (a backend that keeps them in memory,
    /// its window narrowed under a flood: [`crate::dpop::ReplayCache`]) too old now. Such a
    /// backend answers [`StoreError::Unavailable`] only when full of proofs of the last seconds.
    async fn use_dpop_proof(
        &self,
        id: [u8; 32],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<crate::dpop::Recorded, StoreError>;
    /// Forgets used DPoP proofs that expired before `before`; how many.
    async fn purge_dpop_proofs(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Replaces a client's settings and secret hash; `false` if there is no such client.
    async fn update_client(&self, client: &ClientRecord) -> Result<bool, StoreError>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored signing key.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Stores `key` as the active key; every other active key is retired at `key.created_at`
    /// and stays published until `publish_until`.
    async fn activate_signing_key(
        &self,
        key: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Replaces the stored private part of key `kid` (sealing it anew); `false` if there is no
    /// such key.
    async fn replace_private_key(&self, kid: &str, private: &[u8]) -> Result<bool, StoreError>;
    /// Rewrites what holds the signing keys so that replaced private parts survive nowhere in
    /// free space (SQLite: `VACUUM` and a truncating checkpoint; PostgreSQL: `VACUUM FULL`).
    async fn scrub_signing_keys(&self) -> Result<(), StoreError>;
    /// Returns the active key of `candidate.alg`, or, when there is none, atomically makes
    /// `candidate` the active key (retiring any other, published until `publish_until`).
    /// Several instances starting at once thereby agree on one key.
    async fn ensure_signing_key(
        &self,
        candidate: &StoredKey,
        publish_until: OffsetDateTime,
    ) -> Result<StoredKey, StoreError>;
}

/// The failed-login limits shared by every instance.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Under a lock on `keys` (so instances judge one key's attempts one at a time), drops
    /// attempts in flight older than [`crate::limits::STALE_ATTEMPT`], judges each key by its
    /// failures since `now - window` and its attempts in flight ([`crate::limits::judge`]), and
    /// when all go, reserves the attempt under every key.
    async fn limit_begin(
        &self,
        keys: &[LimitKey],
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<LimitVerdict, StoreError>;
    /// Ends the attempt `reservation`: a failure adds one to every key, a success clears the
    /// keys that success clears; either way the reservation goes.
    async fn limit_finish(
        &self,
        reservation: &str,
        keys: &[LimitKey],
        outcome: LimitOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Forgets failures before `before` and stale reservations; how many rows went.
    async fn limit_purge(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an audit event.
    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Audit events, newest first, as `query` says.
    async fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError>;
    /// Forgets audit events from before `before`; how many.
    async fn purge_events(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// One-time tokens sent by mail, and the outbox that carries them.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Stores a token (and its mail) for a live, enabled user; `false` when there is none.
    async fn issue_token(&self, token: &MailedToken) -> Result<bool, StoreError>;
    /// The live, enabled user an unused, unexpired token of `purpose` belongs to.
    async fn token_user(
        &self,
        hash: &TokenHash,
        purpose: MailKind,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StoreError>;
    /// In one transaction: uses an unused, unexpired reset token of a live, enabled user, sets
    /// the password hash `phc`, revokes every session of the user and voids their other reset
    /// tokens. The user, or `None` (nothing written) when the token does not qualify.
    async fn reset_password(
        &self,
        hash: &TokenHash,
        phc: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError>;
    /// In one transaction: uses an unused, unexpired confirmation token whose address is still
    /// its user's, and marks the address confirmed. The user, or `None` (nothing written).
    async fn verify_email(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError>;
    /// Claims, under the id `claim`, up to `limit` mails due at `now` and unexpired, of kinds
    /// this version knows, none claimed by another sender whose lease runs; each is leased
    /// until `lease_until` and its attempt counted.
    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        claim: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError>;
    /// A claimed mail went out: it is deleted, if `claim` still holds it; whether it did.
    async fn mail_sent(&self, id: &str, claim: &str) -> Result<bool, StoreError>;
    /// A claimed mail failed: it is given back, to be tried at `retry_at`, if `claim` still
    /// holds it; whether it did.
    async fn mail_failed(
        &self,
        id: &str,
        claim: &str,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes tokens and mails past their end; how many rows went.
    async fn purge_mail(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// How many mails wait in the outbox.
    async fn outbox_len(&self) -> Result<u64, StoreError>;
}

/// A user's TOTP factor as stored.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    /// Whose it is.
    pub user_id: UserId,
    /// The secret, sealed under the key-encryption key ([`crate::mfa::totp_aad`]).
    pub sealed_secret: Vec<u8>,
    /// When the setup began.
    pub created_at: OffsetDateTime,
    /// When a code confirmed it; until then it is pending and no login asks for it.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last step a code was accepted for: that one and those before are refused.
    pub last_step: Option<i64>,
}

/// A login waiting for its second factor (the `mfa_token`, stored as its hash).
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Whose login it is.
    pub user_id: UserId,
    /// The OAuth client the session will be for.
    pub client_id: String,
    /// How the first step asked for the refresh token (`body` or `cookie`).
    pub delivery: String,
    /// The password hash the first step checked: the session opens only while it is the
    /// user's.
    pub password_hash: String,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// Wrong codes so far.
    pub failures: u32,
}

/// A user's second factors at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfaSummary {
    /// A confirmed TOTP factor.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// Passkeys.
    pub passkeys: u32,
}

/// A passkey (WebAuthn credential) as stored.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    /// The credential id, base64url.
    pub id: String,
    /// Whose it is.
    pub user_id: UserId,
    /// The name its user gave it.
    pub name: String,
    /// The credential as `webauthn-rs` keeps it (JSON: public key, counter, flags).
    pub passkey: String,
    /// Whether it can leave its device (a synced passkey).
    pub backup_eligible: bool,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last signed a login.
    pub last_used_at: Option<OffsetDateTime>,
}

/// Second factors: TOTP, recovery codes, passkeys, and logins waiting for a factor.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// The user's second factors at a glance.
    async fn mfa_summary(&self, user: &UserId) -> Result<MfaSummary, StoreError>;
    /// Stores a passkey for a live, enabled user with fewer than `max_per_user` (counted one
    /// registration after another) and revokes their sessions opened without a second factor
    /// but `keep`, in one transaction; `false` (nothing written) otherwise,
    /// [`StoreError::Conflict`] when the credential id is taken.
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        max_per_user: u32,
        keep: &crate::ids::SessionId,
    ) -> Result<bool, StoreError>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user: &UserId) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// A passkey by credential id.
    async fn passkey(&self, id: &str) -> Result<Option<PasskeyRecord>, StoreError>;
    /// Records a passkey's use: its new state and the time, only over the state `old` read;
    /// whether it did.
    async fn touch_passkey(
        &self,
        id: &str,
        old: &str,
        passkey: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes one of the user's passkeys and, with no second factor left, their recovery
    /// codes; whether it was theirs.
    async fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool, StoreError>;
    /// Marks the ceremony whose token hashes to `hash` finished (kept until `expires_at`);
    /// `false` when it already was.
    async fn use_ceremony(
        &self,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Forgets finished ceremonies that ended before `before`; how many.
    async fn purge_ceremonies(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Stores a pending (unconfirmed) TOTP secret for a live, enabled user, replacing a pending
    /// one; `false`, with nothing written, when the user has a confirmed one or is not live.
    async fn put_pending_totp(
        &self,
        user: &UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The user's TOTP factor, confirmed or pending.
    async fn totp(&self, user: &UserId) -> Result<Option<TotpRecord>, StoreError>;
    /// Every TOTP factor (to seal them again under a new secret).
    async fn totp_factors(&self) -> Result<Vec<TotpRecord>, StoreError>;
    /// Replaces the sealed secret of the user's TOTP factor, only while it is still `old`;
    /// whether it did.
    async fn replace_totp_secret(
        &self,
        user: &UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError>;
    /// In one transaction: confirms the user's pending TOTP factor with the code of `step`
    /// (accepted once), replaces their recovery codes with `codes` and revokes their sessions
    /// opened without a second factor but `keep`; `false`, with nothing written, when there is
    /// no pending factor.
    async fn confirm_totp(
        &self,
        user: &UserId,
        step: i64,
        codes: &[TokenHash],
        keep: &crate::ids::SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Accepts the code of `step` for the user's confirmed TOTP factor only if no code of that
    /// step or a later one was accepted before; whether it did.
    async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError>;
    /// Removes the user's TOTP factor and, with no second factor left, their recovery codes;
    /// whether there was one.
    async fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError>;
    /// Replaces the user's recovery codes.
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Uses one of the user's unused recovery codes; whether it was one.
    async fn use_recovery_code(
        &self,
        user: &UserId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user: &UserId) -> Result<u32, StoreError>;
    /// Stores a login waiting for its second factor.
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError>;
    /// An unused, unexpired challenge with fewer than `max_failures` wrong codes.
    async fn mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_failures: u32,
    ) -> Result<Option<MfaChallenge>, StoreError>;
    /// Counts a wrong code against a challenge and records it under its user at `now`.
    async fn mfa_challenge_failed(
        &self,
        hash: &TokenHash,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The user's wrong second-factor codes at logins since `since`.
    async fn mfa_failures_since(
        &self,
        user: &UserId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError>;
    /// Uses an unused, unexpired challenge; whether this call did (a second one does not).
    async fn use_mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes every second factor of the user (TOTP, passkeys, recovery codes, waiting
    /// logins); whether there was any.
    async fn reset_mfa(&self, user: &UserId) -> Result<bool, StoreError>;
    /// Deletes challenges that expired before `before`, and wrong codes recorded before
    /// `failures_before`; how many rows.
    async fn purge_mfa_challenges(
        &self,
        before: OffsetDateTime,
        failures_before: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}

/// An authorization code as stored (its hash only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who signed in.
    pub user_id: UserId,
    /// The browser session it was issued from.
    pub browser_session: SessionId,
    /// The redirect URI it was sent to (the token request must name it again).
    pub redirect_uri: String,
    /// The PKCE challenge (S256).
    pub code_challenge: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The resource its access tokens are for (RFC 8707), if one was asked for.
    pub resource: Option<String>,
    /// The thumbprint of the DPoP key its exchange must prove (RFC 9449 §10), if bound.
    pub dpop_jkt: Option<String>,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// What using an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// Its first use, in time: the code, now used, with the session id it will open.
    First(Box<AuthorizationCode>),
    /// Used before: the session its first use opened (to revoke), now marked reused.
    Reused {
        /// The code's user.
        user_id: UserId,
        /// The session the first use opened.
        session_id: Option<SessionId>,
    },
    /// Unknown or expired.
    Unknown,
}

/// A back-channel logout notice claimed for delivery: application `client_id` is to be told
/// that the sign-in `sid` of `user_id` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedLogout {
    /// The application.
    pub client_id: String,
    /// The browser session its ID tokens named as `sid`.
    pub sid: String,
    /// Whose sign-in it was (the logout token's `sub`).
    pub user_id: UserId,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// The claim's id: only its holder may finish or give back the notice.
    pub claim: String,
}

/// What a user allowed a third-party client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The client.
    pub client_id: String,
    /// The scopes allowed, space-separated.
    pub scope: String,
    /// When the user first allowed it.
    pub granted_at: OffsetDateTime,
    /// When they last allowed more.
    pub updated_at: OffsetDateTime,
}

/// OpenID Connect sign-in: browser sessions, authorization codes and consents.
#[async_trait]
pub trait OidcStore: Send + Sync {
    /// Records a browser session: the cookie's hash naming the session opened on the sign-in
    /// page.
    async fn insert_browser_session(
        &self,
        hash: &TokenHash,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The session behind a browser session cookie, as it stands (live or not).
    async fn browser_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError>;
    /// Stores a new authorization code.
    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// Uses a code at `now` for the session `session` its exchange will open: the first use
    /// before it expires gets it ([`CodeUse::First`]); any later use marks it reused and gets
    /// the session of the first ([`CodeUse::Reused`]), in one statement each, so two racing
    /// uses cannot both be first.
    async fn use_authorization_code(
        &self,
        hash: &TokenHash,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<CodeUse, StoreError>;
    /// Whether a code was presented again after its first use (read after the first use opened
    /// its session, so that a reuse racing it is not missed).
    async fn authorization_code_reused(&self, hash: &TokenHash) -> Result<bool, StoreError>;
    /// Deletes codes that expired before `before`; how many.
    async fn purge_authorization_codes(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// What `user` allowed `client`, if anything.
    async fn consent(&self, user: &UserId, client: &str) -> Result<Option<Consent>, StoreError>;
    /// Records what `user` allowed `client` (the whole scope, replacing the old one; the first
    /// grant's time is kept).
    async fn put_consent(
        &self,
        user: &UserId,
        client: &str,
        scope: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Every consent of `user`, by client id.
    async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError>;
    /// Moves the sessions opened from the browser session `from`, live or not, to the browser
    /// session `to` (the same user signed in again); how many.
    async fn reparent_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError>;
    /// Stores a pushed authorization request (RFC 9126): `params` as the client sent them
    /// (JSON), under the hash of its `request_uri`.
    async fn insert_pushed_request(
        &self,
        hash: &TokenHash,
        client: &str,
        params: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Uses a pushed request of `client` once, before it expires: its parameters. Another
    /// client's use leaves it as it is.
    async fn use_pushed_request(
        &self,
        hash: &TokenHash,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError>;
    /// Deletes pushed requests that expired before `before`; how many.
    async fn purge_pushed_requests(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Forgets what `user` allowed `client` and revokes their live sessions of it, in one
    /// transaction, queueing a back-channel logout notice for each `sid` they were opened
    /// under; `false` (nothing changed) when there was no consent.
    async fn disconnect_app(
        &self,
        user: &UserId,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Claims, under the id `claim`, up to `limit` back-channel logout notices due at `now` and
    /// unexpired, none claimed by another sender whose lease runs; each is leased until
    /// `lease_until` and its attempt counted. (Notices are queued by the transactions that end
    /// browser sessions: [`SessionStore::revoke_session`] and every other revocation of a
    /// user's sessions.)
    async fn claim_logouts(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        claim: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedLogout>, StoreError>;
    /// A claimed notice was delivered or refused for good: it is deleted, if its claim still
    /// holds it; whether it did.
    async fn logout_sent(&self, notice: &ClaimedLogout) -> Result<bool, StoreError>;
    /// A claimed notice failed: it is given back, to be tried at `retry_at`, if its claim still
    /// holds it; whether it did.
    async fn logout_failed(
        &self,
        notice: &ClaimedLogout,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// Drops notices that expired before `before`, undelivered; how many.
    async fn purge_logouts(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
