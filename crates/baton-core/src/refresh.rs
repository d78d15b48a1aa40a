//! Refresh tokens: 256 random bits from the OS, stored only as a SHA-256 hash. When a token is
//! spent, its successor is sealed under a key derived from the spent token itself, so the grace
//! window can hand back the identical successor to whoever still holds the spent token, while the
//! database alone reveals neither.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::fmt;

const TOKEN_BYTES: usize = 32;
const SEAL_INFO: &[u8] = b"baton refresh successor seal v1";

/// A refresh token in the clear; exists only in memory on its way to or from the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// The SHA-256 of a refresh token: what storage keeps and looks up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

/// A successor token encrypted under a key only its predecessor's holder can derive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSuccessor(pub Vec<u8>);

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the OS random number generator failed")]
pub struct RandomError;

impl RefreshToken {
    /// A new token from the OS CSPRNG, base64url without padding (43 characters).
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|_| RandomError)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a token as presented by a client. Anything is accepted; unknown tokens simply hash
    /// to nothing stored.
    pub fn presented(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The token text, for the response body or cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the token is stored.
    pub fn hash(&self) -> TokenHash {
        let d = digest(&SHA256, self.0.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        TokenHash(out)
    }

    /// Seals `successor` so that only a holder of `self` can open it.
    pub fn seal(&self, successor: &RefreshToken) -> Result<SealedSuccessor, RandomError> {
        let key = self.sealing_key()?;
        let mut buf = successor.0.as_bytes().to_vec();
        // Each key seals exactly one message (a token is spent once), so a fixed nonce is safe.
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::empty(),
            &mut buf,
        )
        .map_err(|_| RandomError)?;
        Ok(SealedSuccessor(buf))
    }

    /// Opens a successor sealed by [`RefreshToken::seal`] with this token; `None` if it was not.
    pub fn open(&self, sealed: &SealedSuccessor) -> Option<RefreshToken> {
        let key = self.sealing_key().ok()?;
        let mut buf = sealed.0.clone();
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key([0u8; 12]),
                Aad::empty(),
                &mut buf,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(RefreshToken)
    }

    fn sealing_key(&self) -> Result<LessSafeKey, RandomError> {
        let prk = Salt::new(HKDF_SHA256, b"baton").extract(self.0.as_bytes());
        let okm = prk
            .expand(&[SEAL_INFO], &CHACHA20_POLY1305)
            .map_err(|_| RandomError)?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let a = RefreshToken::generate().expect("rng");
        let b = RefreshToken::generate().expect("rng");
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).expect("b64").len(), 32);
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn only_the_predecessor_opens_the_sealed_successor() {
        let old = RefreshToken::generate().expect("rng");
        let new = RefreshToken::generate().expect("rng");
        let sealed = old.seal(&new).expect("seal");
        assert!(!sealed
            .0
            .windows(new.expose().len())
            .any(|w| w == new.expose().as_bytes()));
        assert_eq!(old.open(&sealed), Some(new.clone()));
        let stranger = RefreshToken::generate().expect("rng");
        assert_eq!(stranger.open(&sealed), None);
    }

    #[test]
    fn debug_redacts() {
        let t = RefreshToken::generate().expect("rng");
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
