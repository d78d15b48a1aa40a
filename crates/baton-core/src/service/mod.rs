//! [`Baton`]: the operations of the contract (register, login, refresh, logout, sessions) on top
//! of a [`Store`], a [`PasswordHasher`], the signing keys and a [`Clock`]. The HTTP server and
//! the CLI both call these; neither talks to storage directly.

use crate::access::TokenRules;
use crate::clock::Clock;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::keys::{KeyRing, SigningAlg};
use crate::password::PasswordHasher;
use crate::refresh::RefreshToken;
use crate::store::{SessionCursor, SessionRecord, Store};
use crate::vault::KeyVault;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

mod audit;
mod clients;
mod dpop;
mod keys;
mod mail;
mod mfa;
mod oidc;
mod sessions;
mod users;
mod webauthn;

pub use clients::{ClientIssued, TokenHint};
pub use dpop::{DpopRequest, DPOP_NONCE_WINDOW};
use keys::{load_keys, seal_plain_keys};
pub use keys::{KEY_RELOAD_SLACK, UNKNOWN_KEY_RELOAD_INTERVAL};
pub use mail::ResetRequest;
pub use mfa::{Factor, MfaState, TotpEnrolment};
pub use oidc::{CodeError, CodeIssued, PendingRequest};
pub use webauthn::{Ceremony, PasskeyAdded, MAX_CEREMONY_LEN, MAX_PASSKEYS};

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
    /// Lowest strength score (zxcvbn, 0–4) of a password a user changes or resets, or an
    /// operator sets; a score above 0 also refuses the username inside the password.
    pub password_min_score: u8,
    /// The same at registration (and `baton user add`): 0 by default, so that registration
    /// takes any password of the allowed length, as the HTTP contract has it.
    pub register_min_score: u8,
    /// Whether `/auth/register` is open.
    pub registration_open: bool,
    /// Algorithm of newly generated signing keys.
    pub signing_alg: SigningAlg,
    /// Most live sessions per user; a new one revokes the oldest beyond it (0: no limit).
    pub sessions_per_user: u32,
    /// Where the links in mails point (`…/#reset=TOKEN`, `…/#verify=TOKEN`); no trailing `/`.
    pub public_url: String,
    /// How long a password-reset link works.
    pub reset_ttl: Duration,
    /// How long an address-confirmation link works.
    pub verify_ttl: Duration,
    /// Whether mail goes out (an SMTP server is configured); without it no mail is queued.
    pub mail_enabled: bool,
    /// The issuer authenticator apps show beside a TOTP account (the `otpauth://` label).
    pub totp_issuer: String,
    /// Passkeys: the relying party and the origins pages may ask from; `None` turns them off.
    pub webauthn: Option<WebauthnPolicy>,
}

/// The WebAuthn relying party.
#[derive(Debug, Clone)]
pub struct WebauthnPolicy {
    /// The RP id: a domain (never an IP address) that every origin's host is or ends with.
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The origins (`scheme://host[:port]`) allowed to ask; the first one's host is a domain.
    pub origins: Vec<String>,
}

/// A page of a user's live sessions.
#[derive(Debug, Clone)]
pub struct SessionPage {
    /// The sessions, newest first.
    pub sessions: Vec<SessionRecord>,
    /// Where the next page starts, if there is one.
    pub next: Option<SessionCursor>,
}

/// Where a request came from (`User-Agent`, client IP), recorded on sessions and audit events;
/// not to be confused with the OAuth client.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// The RFC 7638 thumbprint of the DPoP key the request proved it holds (RFC 9449), when
    /// it came with a valid proof: the tokens it gets are bound to that key.
    pub dpop_jkt: Option<String>,
}

/// Tokens handed out by a login or a refresh (debug output hides the access token; the refresh
/// token hides itself).
#[derive(Clone)]
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
    /// The scopes granted, space-separated, when the session has some.
    pub scope: Option<String>,
    /// A spent token was presented within the grace window and got its successor again.
    pub replayed: bool,
    /// The access token is bound to a DPoP key (`cnf.jkt`): its `token_type` is `DPoP`.
    pub dpop_bound: bool,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("scope", &self.scope)
            .field("replayed", &self.replayed)
            .field("dpop_bound", &self.dpop_bound)
            .finish()
    }
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
    /// How far ahead the jobs that delete for good may reach.
    horizon: crate::clock::Horizon,
    /// The WebAuthn relying party, when passkeys are on.
    webauthn: Option<webauthn_rs::Webauthn>,
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
        let webauthn = policy
            .webauthn
            .as_ref()
            .map(webauthn::relying_party)
            .transpose()?;
        let started = clock.now();
        let ring = load_keys(store.as_ref(), &vault, started, &policy, key_mode, None).await?;
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
            horizon: crate::clock::Horizon::new(started),
            webauthn,
        })
    }

    /// The configured policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The current time by the service's clock, in whole milliseconds: what storage keeps, so
    /// a time read back equals the one written and a lifetime computed from it stays whole.
    pub fn now(&self) -> OffsetDateTime {
        crate::clock::from_millis(crate::clock::to_millis(self.clock.now()))
    }

    /// The time the jobs that delete for good act on: [`Baton::now`], capped by the
    /// [`Horizon`](crate::clock::Horizon) set when the service started.
    pub(crate) fn deletion_now(&self) -> OffsetDateTime {
        self.horizon.cap(self.now())
    }

    /// Whether the service can commit writes now (readiness): the database answers through
    /// the path writes take.
    pub async fn ready(&self) -> Result<(), crate::store::StoreError> {
        self.store.ping().await
    }
}
