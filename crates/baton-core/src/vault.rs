//! Private signing keys encrypted at rest: AES-256-GCM under a key-encryption key (KEK)
//! derived with HKDF-SHA256 from the operator's secret (`BATON_SECRET`). A copy of the
//! database alone no longer lets its reader mint tokens.
//!
//! The stored form is an envelope: the magic `BTNK1`, the 8-byte id of the KEK that sealed it,
//! a random 96-bit nonce, and the ciphertext with its tag. The key's `kid` and algorithm are the
//! associated data, so an envelope moved to another row does not open. A previous secret
//! (`BATON_SECRET_PREVIOUS`) still opens envelopes while `baton keys rewrap` seals them again
//! under the current one. Rows from before encryption (plain PKCS#8) are sealed on the server's
//! next start, and refused everywhere else.

use crate::keys::StoredKey;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};

const MAGIC: &[u8] = b"BTNK1";
/// The magic of a sealed message (the variables of a queued mail).
const MESSAGE_MAGIC: &[u8] = b"BTNM1";
const KEK_ID_LEN: usize = 8;
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Why a key could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The secret is too short to derive a key from.
    #[error("the secret must be at least {MIN_SECRET_LEN} bytes long")]
    WeakSecret,
    /// No configured secret sealed this key.
    #[error(
        "signing key {0} was sealed under a secret that is neither BATON_SECRET nor \
         BATON_SECRET_PREVIOUS"
    )]
    UnknownSecret(String),
    /// A key stored unencrypted, from before encryption.
    #[error("signing key {0} is stored unencrypted; start `baton serve` once to encrypt it")]
    Plain(String),
    /// The envelope is damaged, or belongs to another key.
    #[error("signing key {0} does not decrypt: damaged, or moved from another row")]
    Damaged(String),
    /// The crypto library failed.
    #[error("key encryption failed")]
    Crypto,
}

/// An HKDF output length.
struct OutputLen(usize);

impl aws_lc_rs::hkdf::KeyType for OutputLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// The DPoP nonce of `window` under `kek`'s nonce key.
fn nonce_of(kek: &Kek, window: i64) -> String {
    use base64::Engine as _;
    let tag = aws_lc_rs::hmac::sign(&kek.nonce_key, &window.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
}

/// One key-encryption key.
struct Kek {
    id: [u8; KEK_ID_LEN],
    key: LessSafeKey,
    /// The MAC key of the server's DPoP nonces, derived from the same secret so that every
    /// instance makes and takes the same nonces.
    nonce_key: aws_lc_rs::hmac::Key,
}

impl Kek {
    fn derive(secret: &[u8]) -> Result<Self, VaultError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(VaultError::WeakSecret);
        }
        let prk = Salt::new(HKDF_SHA256, b"baton key-encryption key v1").extract(secret);
        let mut key = [0u8; 32];
        prk.expand(&[b"aes-256-gcm"], HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut key))
            .map_err(|_| VaultError::Crypto)?;
        let mut id = [0u8; KEK_ID_LEN];
        prk.expand(&[b"key id"], OutputLen(KEK_ID_LEN))
            .and_then(|okm| okm.fill(&mut id))
            .map_err(|_| VaultError::Crypto)?;
        let key = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| VaultError::Crypto)?;
        let mut nonce_key = [0u8; 32];
        prk.expand(&[b"dpop nonce"], OutputLen(32))
            .and_then(|okm| okm.fill(&mut nonce_key))
            .map_err(|_| VaultError::Crypto)?;
        Ok(Self {
            id,
            key: LessSafeKey::new(key),
            nonce_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &nonce_key),
        })
    }
}

/// The key-encryption keys: the current one seals, it and the previous one open.
pub struct KeyVault {
    current: Kek,
    previous: Option<Kek>,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVault")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

fn aad(key: &StoredKey) -> Vec<u8> {
    let mut aad = key.kid.as_bytes().to_vec();
    aad.push(0);
    aad.extend_from_slice(key.alg.to_string().as_bytes());
    aad
}

impl KeyVault {
    /// A vault sealing under `secret` and also opening what `previous` sealed.
    pub fn new(secret: &[u8], previous: Option<&[u8]>) -> Result<Self, VaultError> {
        Ok(Self {
            current: Kek::derive(secret)?,
            previous: previous.map(Kek::derive).transpose()?,
        })
    }

    /// The server's DPoP nonce (RFC 9449 §8) for the time window `window`: a MAC of it under
    /// a key derived from the secret, base64url, so nothing need be stored or shared.
    pub fn dpop_nonce(&self, window: i64) -> String {
        nonce_of(&self.current, window)
    }

    /// Whether `nonce` is the nonce of `window` under the current secret or the previous one
    /// (instances part-way through a change of secret take each other's).
    pub fn is_dpop_nonce(&self, nonce: &str, window: i64) -> bool {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .any(|kek| nonce_of(kek, window) == nonce)
    }

    /// Whether `key` is stored as an envelope (rather than plain, from before encryption).
    pub fn is_sealed(key: &StoredKey) -> bool {
        key.pkcs8.starts_with(MAGIC)
    }

    /// Whether `key` is sealed under the current secret.
    pub fn is_current(&self, key: &StoredKey) -> bool {
        Self::is_sealed(key)
            && key.pkcs8.get(MAGIC.len()..MAGIC.len() + KEK_ID_LEN) == Some(&self.current.id[..])
    }

    /// `key` with its private part sealed under the current secret (`key` holds it plain).
    pub fn seal(&self, key: &StoredKey) -> Result<StoredKey, VaultError> {
        Ok(StoredKey {
            pkcs8: self.seal_with(MAGIC, &key.pkcs8, &aad(key))?,
            ..key.clone()
        })
    }

    /// `plain` sealed under the current secret with `aad` as associated data, as an envelope
    /// of its own kind (a sealed message never opens as a key, nor the other way round).
    pub fn seal_message(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.seal_with(MESSAGE_MAGIC, plain, aad)
    }

    /// Whether a sealed message is sealed under the current secret.
    pub fn is_current_message(&self, sealed: &[u8]) -> bool {
        sealed
            .strip_prefix(MESSAGE_MAGIC)
            .and_then(|r| r.get(..KEK_ID_LEN))
            == Some(&self.current.id[..])
    }

    /// What [`KeyVault::seal_message`] sealed with the same `aad`, whichever configured secret
    /// sealed it.
    pub fn open_message(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let label = || String::from_utf8_lossy(aad).into_owned();
        let rest = sealed
            .strip_prefix(MESSAGE_MAGIC)
            .ok_or_else(|| VaultError::Damaged(label()))?;
        self.open_envelope(rest, aad, label)
    }

    fn seal_with(&self, magic: &[u8], plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|_| VaultError::Crypto)?;
        let mut body = plain.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| VaultError::Crypto)?;
        let mut sealed = Vec::with_capacity(magic.len() + KEK_ID_LEN + NONCE_LEN + body.len());
        sealed.extend_from_slice(magic);
        sealed.extend_from_slice(&self.current.id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Opens an envelope after its magic; `label` names it in errors.
    fn open_envelope(
        &self,
        rest: &[u8],
        aad: &[u8],
        label: impl Fn() -> String,
    ) -> Result<Vec<u8>, VaultError> {
        if rest.len() < KEK_ID_LEN + NONCE_LEN {
            return Err(VaultError::Damaged(label()));
        }
        let (id, rest) = rest.split_at(KEK_ID_LEN);
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let kek = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownSecret(label()))?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Damaged(label()))?;
        let mut body = body.to_vec();
        let plain = kek
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| VaultError::Damaged(label()))?;
        Ok(plain.to_vec())
    }

    /// `key` with its private part plain, whichever configured secret sealed it. A key stored
    /// unencrypted is refused: once the server has sealed the keys, a plain row can only be
    /// one that someone with write access to the database planted.
    pub fn open(&self, key: &StoredKey) -> Result<StoredKey, VaultError> {
        if !Self::is_sealed(key) {
            return Err(VaultError::Plain(key.kid.clone()));
        }
        let rest = &key.pkcs8[MAGIC.len()..];
        Ok(StoredKey {
            pkcs8: self.open_envelope(rest, &aad(key), || key.kid.clone())?,
            ..key.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningAlg;
    use time::macros::datetime;

    const SECRET: &[u8] = b"correct horse battery staple";

    fn key() -> StoredKey {
        StoredKey::generate(SigningAlg::EdDSA, datetime!(2026-01-01 0:00 UTC)).expect("key")
    }

    #[test]
    fn sealed_messages_open_only_with_their_associated_data_and_secret() {
        let vault = KeyVault::new(SECRET, None).expect("vault");
        let sealed = vault.seal_message(b"the link", b"mail-1").expect("seal");
        assert!(!sealed.windows(8).any(|w| w == b"the link"));
        assert_eq!(
            vault.open_message(&sealed, b"mail-1").expect("open"),
            b"the link"
        );
        assert!(
            vault.open_message(&sealed, b"mail-2").is_err(),
            "moved to another row"
        );
        let other = KeyVault::new(b"another secret of enough length", None).expect("vault");
        assert!(other.open_message(&sealed, b"mail-1").is_err());
        let rotated =
            KeyVault::new(b"another secret of enough length", Some(SECRET)).expect("vault");
        assert_eq!(
            rotated.open_message(&sealed, b"mail-1").expect("previous"),
            b"the link"
        );
        // A sealed key is no message and a message no key.
        let key = vault.seal(&key()).expect("seal");
        assert!(vault.open_message(&key.pkcs8, key.kid.as_bytes()).is_err());
        assert!(vault.open_message(&sealed[..10], b"mail-1").is_err());
    }

    #[test]
    fn sealed_keys_open_to_what_was_sealed_and_hide_it() {
        let vault = KeyVault::new(SECRET, None).expect("vault");
        let plain = key();
        let sealed = vault.seal(&plain).expect("seal");
        assert!(KeyVault::is_sealed(&sealed) && vault.is_current(&sealed));
        assert!(!sealed
            .pkcs8
            .windows(plain.pkcs8.len())
            .any(|w| w == plain.pkcs8.as_slice()));
        assert_eq!(vault.open(&sealed).expect("open").pkcs8, plain.pkcs8);
    }

    #[test]
    fn another_secret_or_another_row_does_not_open() {
        let vault = KeyVault::new(SECRET, None).expect("vault");
        let sealed = vault.seal(&key()).expect("seal");
        let other = KeyVault::new(b"another secret of some length", None).expect("vault");
        assert!(matches!(
            other.open(&sealed),
            Err(VaultError::UnknownSecret(_))
        ));
        let moved = StoredKey {
            kid: "elsewhere".into(),
            ..sealed.clone()
        };
        assert!(matches!(vault.open(&moved), Err(VaultError::Damaged(_))));
        let mut flipped = sealed;
        let last = flipped.pkcs8.len() - 1;
        flipped.pkcs8[last] ^= 1;
        assert!(matches!(vault.open(&flipped), Err(VaultError::Damaged(_))));
    }

    #[test]
    fn the_previous_secret_still_opens() {
        let old = KeyVault::new(SECRET, None).expect("vault");
        let sealed = old.seal(&key()).expect("seal");
        let rotated = KeyVault::new(b"the next secret, long enough", Some(SECRET)).expect("vault");
        assert!(!rotated.is_current(&sealed));
        let plain = rotated
            .open(&sealed)
            .expect("opens with the previous secret");
        let resealed = rotated.seal(&plain).expect("seal");
        assert!(rotated.is_current(&resealed));
    }

    #[test]
    fn a_plain_key_is_refused() {
        let vault = KeyVault::new(SECRET, None).expect("vault");
        assert!(matches!(vault.open(&key()), Err(VaultError::Plain(_))));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            KeyVault::new(b"short", None),
            Err(VaultError::WeakSecret)
        ));
    }
}
