//! The signing keys: loading, sealing and rotating them, the JWKS, and checking access tokens.

use super::{Baton, KeyMode, Policy};
use crate::access::{self, AccessClaims, AccessError};
use crate::audit::{AuditEvent, EventKind};
use crate::error::AuthError;
use crate::keys::{KeyRing, SigningAlg, StoredKey};
use crate::store::Store;
use crate::vault::KeyVault;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

impl Baton {
    pub(super) fn ring(&self) -> Arc<KeyRing> {
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
                self.vault.open(&key).map_err(AuthError::internal)?
            } else {
                key.clone()
            };
            let sealed = self.vault.seal(&plain).map_err(AuthError::internal)?;
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

    /// Seals every TOTP secret not sealed under the current secret again under it (after
    /// `BATON_SECRET` changed, with the old one as `BATON_SECRET_PREVIOUS`); how many.
    pub async fn rewrap_totp_secrets(&self) -> Result<usize, AuthError> {
        let mut count = 0;
        for factor in self.store.totp_factors().await? {
            if self.vault.is_current_message(&factor.sealed_secret) {
                continue;
            }
            let aad = crate::mfa::totp_aad(&factor.user_id);
            let plain = self
                .vault
                .open_message(&factor.sealed_secret, &aad)
                .map_err(AuthError::internal)?;
            let sealed = self
                .vault
                .seal_message(&plain, &aad)
                .map_err(AuthError::internal)?;
            // A factor replaced meanwhile (a new setup) is already under the current secret.
            if self
                .store
                .replace_totp_secret(&factor.user_id, &factor.sealed_secret, &sealed)
                .await?
            {
                count += 1;
            }
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
        self.verify_access_with(&self.rules, token)
    }

    fn verify_access_with(
        &self,
        rules: &access::TokenRules,
        token: &str,
    ) -> Result<AccessClaims, AccessError> {
        access::verify(&self.ring(), rules, token, self.now()).map_err(|e| match e {
            AccessError::UnknownKey => AccessError::Invalid,
            other => other,
        })
    }

    /// baton's rules with the audience `token` names (read unverified): the rules for the
    /// issuer's own endpoints that take every token it issued, those for a client's API
    /// (RFC 8707) too (introspection, revocation). The signature and issuer still decide.
    pub(super) fn rules_for_any_audience(&self, token: &str) -> access::TokenRules {
        let mut rules = self.rules.clone();
        if let Some(aud) = unverified_audience(token) {
            rules.audience = aud;
        }
        rules
    }

    /// Checks an access token; a token signed by a key this instance does not know yet (another
    /// instance just rotated) makes it reread the keys first, at most once per
    /// [`UNKNOWN_KEY_RELOAD_INTERVAL`].
    pub async fn verify_access_fresh(&self, token: &str) -> Result<AccessClaims, AccessError> {
        self.verify_access_fresh_with(&self.rules, token).await
    }

    /// [`Self::verify_access_fresh`] by `rules`.
    pub(super) async fn verify_access_fresh_with(
        &self,
        rules: &access::TokenRules,
        token: &str,
    ) -> Result<AccessClaims, AccessError> {
        match access::verify(&self.ring(), rules, token, self.now()) {
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
                        tracing::warn!(error = %crate::error::chain(&e), "could not reload the signing keys");
                    }
                }
                self.verify_access_with(rules, token)
            }
            other => other,
        }
    }
}

/// The `aud` a JWT names, read without verifying it (at most 8 KiB of token).
fn unverified_audience(token: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() > 8 * 1024 {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("aud")?.as_str().map(str::to_owned)
}

/// Seals the keys still stored plain (from before encryption), then has the store rewrite its
/// files so that no copy of the plain keys survives in free space.
pub(super) async fn seal_plain_keys(store: &dyn Store, vault: &KeyVault) -> Result<(), AuthError> {
    let mut sealed_any = false;
    for key in store.signing_keys().await? {
        if !KeyVault::is_sealed(&key) {
            let sealed = vault.seal(&key).map_err(AuthError::internal)?;
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
pub(super) async fn load_keys(
    store: &dyn Store,
    vault: &KeyVault,
    now: OffsetDateTime,
    policy: &Policy,
    mode: KeyMode,
    rotate_to: Option<SigningAlg>,
) -> Result<KeyRing, AuthError> {
    // A retired key stays published for the longest access-token lifetime (the server's, or a
    // client's own) plus the time other instances may take to notice the rotation and stop
    // signing with it.
    let longest = longest_access_ttl(store, policy).await?;
    let publish_until = now + longest + KEY_RELOAD_SLACK;
    let opened = |keys: Vec<StoredKey>| {
        keys.iter()
            .map(|k| vault.open(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AuthError::internal)
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
            let fresh = StoredKey::generate(alg, now).map_err(AuthError::internal)?;
            let sealed = vault.seal(&fresh).map_err(AuthError::internal)?;
            store.activate_signing_key(&sealed, publish_until).await?;
            tracing::info!(kid = %fresh.kid, alg = %fresh.alg, "new signing key is active");
            (fresh, opened(store.signing_keys().await?)?)
        }
        (Some(k), _) => (k, keys),
        (None, _) if mode == KeyMode::ReadOnly => {
            return Err(AuthError::internal(
                "the database has no signing key yet; start `baton serve` once",
            ))
        }
        (None, _) => {
            let fresh =
                StoredKey::generate(policy.signing_alg, now).map_err(AuthError::internal)?;
            let sealed = vault.seal(&fresh).map_err(AuthError::internal)?;
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
                vault.open(&active).map_err(AuthError::internal)?,
                opened(store.signing_keys().await?)?,
            )
        }
    };
    KeyRing::build(&active, &keys, now, longest + KEY_RELOAD_SLACK).map_err(AuthError::internal)
}

/// The longest lifetime an access token may have: the server's, or a client's own if longer.
async fn longest_access_ttl(store: &dyn Store, policy: &Policy) -> Result<Duration, AuthError> {
    let longest_client = store
        .clients()
        .await?
        .iter()
        .filter_map(|c| c.settings.access_ttl)
        .max()
        .map_or(Duration::ZERO, |s| {
            Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
        });
    Ok(policy.access_ttl.max(longest_client))
}

/// An unknown `kid` rereads the keys at most this often, so forged kids cannot hammer storage.
pub const UNKNOWN_KEY_RELOAD_INTERVAL: Duration = Duration::seconds(5);

/// How long a retired key outlives its last tokens, for instances that have not reloaded yet.
pub const KEY_RELOAD_SLACK: Duration = Duration::minutes(5);
