//! Tokens already verified, remembered by a digest of their text, so that a token presented
//! again (an app calls its APIs with one access token for its whole lifetime) skips the
//! signature check. The time rules (`exp`, `nbf`) are checked on every use; a cache belongs to
//! one key set and is dropped with it, so a token signed by a key no longer published is not
//! found in it. Bounded: when full it starts over.

use crate::claims::Claims;
use crate::keys::KeySet;
use crate::rules::{check_time, verify, Rules, VerifyError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most tokens remembered (a few hundred bytes each).
pub const VERIFIED_CACHE_ENTRIES: usize = 4096;

/// Verified tokens by SHA-256 of their text.
#[derive(Debug, Default)]
pub struct VerifiedCache {
    entries: Mutex<HashMap<[u8; 32], Claims>>,
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    );
    out
}

impl VerifiedCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Claims>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`verify`], skipping the signature and claim checks for a token verified before with
    /// the same `keys` (the caller keeps one cache per key set) under the same issuer and
    /// audience.
    pub fn verify(
        &self,
        keys: &KeySet,
        rules: &Rules,
        token: &str,
        now: i64,
    ) -> Result<Claims, VerifyError> {
        let key = digest(token);
        let known = self.lock().get(&key).cloned();
        // Remembered under the same issuer and audience: only time can have changed.
        if let Some(claims) = known.filter(|c| c.iss == rules.issuer && c.aud == rules.audience) {
            check_time(&claims, rules, now)?;
            return Ok(claims);
        }
        let claims = verify(keys, rules, token, now)?;
        let mut entries = self.lock();
        if entries.len() >= VERIFIED_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, claims.clone());
        Ok(claims)
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
