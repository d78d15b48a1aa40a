//! Signing keys: generated with aws-lc, kept as PKCS#8 in storage, published as an RFC 7517 JWKS.
//! Retired keys stay published until every token they signed has expired.

use crate::refresh::RandomError;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The JWS algorithms baton signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// Ed25519, the default.
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
}

impl SigningAlg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// The jsonwebtoken algorithm.
    pub fn jwt(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            other => Err(format!(
                "unsupported signing algorithm {other:?} (use EdDSA, ES256 or RS256)"
            )),
        }
    }
}

/// A signing key as storage keeps it.
#[derive(Clone)]
pub struct StoredKey {
    /// Key id, the JWT header's `kid`.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// Private key, PKCS#8 DER; as stored, sealed under the key-encryption key
    /// ([`crate::vault`]).
    pub pkcs8: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When it stopped signing; `None` while active.
    pub retired_at: Option<OffsetDateTime>,
    /// When it leaves the JWKS; `None` while active.
    pub publish_until: Option<OffsetDateTime>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A key could not be generated or loaded.
#[derive(Debug, thiserror::Error)]
#[error("signing key error: {0}")]
pub struct KeyError(pub String);

impl From<RandomError> for KeyError {
    fn from(e: RandomError) -> Self {
        Self(e.to_string())
    }
}

impl StoredKey {
    /// Generates a fresh key pair.
    pub fn generate(alg: SigningAlg, now: OffsetDateTime) -> Result<Self, KeyError> {
        let err = |e: aws_lc_rs::error::Unspecified| KeyError(e.to_string());
        let pkcs8 = match alg {
            SigningAlg::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map_err(err)?
                .as_ref()
                .to_vec(),
            SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(err)?
                .as_ref()
                .to_vec(),
            SigningAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map_err(err)?
                .as_ref()
                .to_vec(),
        };
        let mut id = [0u8; 12];
        getrandom::getrandom(&mut id).map_err(|_| RandomError)?;
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(id),
            alg,
            pkcs8,
            created_at: now,
            retired_at: None,
            publish_until: None,
        })
    }

    /// Whether it still belongs in the JWKS at `now`: while active, and once retired until
    /// `publish_until` or `retired_at + window`, whichever is later (`window` being this
    /// server's access-token lifetime plus slack, should the rotation have been made with
    /// other settings).
    pub fn is_published(&self, now: OffsetDateTime, window: time::Duration) -> bool {
        match self.retired_at {
            None => true,
            Some(retired) => {
                let own = retired + window;
                now < self.publish_until.map_or(own, |until| until.max(own))
            }
        }
    }
}

/// A key ready to sign.
#[derive(Clone)]
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    pub(crate) encoding: EncodingKey,
}

/// A key ready to verify, with its public JWK.
#[derive(Clone)]
pub struct VerifyingKey {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    pub(crate) decoding: DecodingKey,
    /// The public JWK as published.
    pub jwk: Value,
}

fn pem(pkcs8: &[u8]) -> String {
    pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec()))
}

impl SigningKey {
    /// Loads the private half of a stored key.
    pub fn load(stored: &StoredKey) -> Result<Self, KeyError> {
        let pem = pem(&stored.pkcs8);
        let encoding = match stored.alg {
            SigningAlg::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            SigningAlg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            SigningAlg::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(|e| KeyError(e.to_string()))?;
        Ok(Self {
            kid: stored.kid.clone(),
            alg: stored.alg,
            encoding,
        })
    }
}

impl VerifyingKey {
    /// Derives the public half of a stored key.
    pub fn load(stored: &StoredKey) -> Result<Self, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError(e.to_string());
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let (decoding, params) = match stored.alg {
            SigningAlg::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8(&stored.pkcs8).map_err(rejected)?;
                let x = b64(kp.public_key().as_ref());
                let dk =
                    DecodingKey::from_ed_components(&x).map_err(|e| KeyError(e.to_string()))?;
                (dk, json!({"kty": "OKP", "crv": "Ed25519", "x": x}))
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &stored.pkcs8)
                    .map_err(rejected)?;
                let point = kp.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(KeyError("unexpected P-256 public key encoding".into()));
                }
                let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
                let dk =
                    DecodingKey::from_ec_components(&x, &y).map_err(|e| KeyError(e.to_string()))?;
                (dk, json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
            }
            SigningAlg::RS256 => {
                let kp = RsaKeyPair::from_pkcs8(&stored.pkcs8).map_err(rejected)?;
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                let (n, e) = (b64(&c.n), b64(&c.e));
                let dk = DecodingKey::from_rsa_components(&n, &e)
                    .map_err(|e| KeyError(e.to_string()))?;
                (dk, json!({"kty": "RSA", "n": n, "e": e}))
            }
        };
        let mut jwk = params;
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), json!(stored.kid));
            obj.insert("alg".into(), json!(stored.alg.as_str()));
            obj.insert("use".into(), json!("sig"));
        }
        Ok(Self {
            kid: stored.kid.clone(),
            alg: stored.alg,
            decoding,
            jwk,
        })
    }
}

/// The active signing key and every key still published.
#[derive(Clone)]
pub struct KeyRing {
    /// Signs new access tokens.
    pub active: SigningKey,
    /// Verifies access tokens; the active key first.
    pub published: Vec<VerifyingKey>,
    /// The published keys by `kid`, as `baton-verify` checks tokens against them.
    pub key_set: baton_verify::KeySet,
    /// Tokens verified against exactly these keys.
    pub verified: std::sync::Arc<baton_verify::VerifiedCache>,
}

impl KeyRing {
    /// Builds the ring from stored keys: `active` must be among them.
    pub fn build(
        active: &StoredKey,
        all: &[StoredKey],
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<Self, KeyError> {
        let mut published = vec![VerifyingKey::load(active)?];
        for k in all
            .iter()
            .filter(|k| k.kid != active.kid && k.is_published(now, window))
        {
            published.push(VerifyingKey::load(k)?);
        }
        let mut key_set = baton_verify::KeySet::new();
        for k in &published {
            key_set
                .insert(k.kid.clone(), k.alg.jwt(), k.decoding.clone())
                .map_err(|e| KeyError(e.to_string()))?;
        }
        Ok(Self {
            active: SigningKey::load(active)?,
            published,
            key_set,
            verified: std::sync::Arc::default(),
        })
    }

    /// Whether `other` publishes the same keys (its verified tokens hold here too).
    pub fn same_keys(&self, other: &Self) -> bool {
        self.active.kid == other.active.kid
            && self.published.len() == other.published.len()
            && self
                .published
                .iter()
                .zip(&other.published)
                .all(|(a, b)| a.kid == b.kid)
    }

    /// The published key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.published.iter().find(|k| k.kid == kid)
    }

    /// The RFC 7517 JWKS document.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.published.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_algorithm_generates_loads_and_publishes() {
        let now = datetime!(2026-01-01 0:00 UTC);
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
            let k = StoredKey::generate(alg, now).expect("generate");
            let ring = KeyRing::build(&k, std::slice::from_ref(&k), now, time::Duration::ZERO)
                .expect("ring");
            let jwks = ring.jwks();
            let jwk = &jwks["keys"][0];
            assert_eq!(jwk["kid"], json!(k.kid));
            assert_eq!(jwk["alg"], json!(alg.as_str()));
            assert_eq!(jwk["use"], json!("sig"));
            assert!(jwk.get("d").is_none(), "no private part in the JWKS");
        }
    }

    #[test]
    fn retired_keys_leave_the_jwks_when_their_tokens_have_expired() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let mut old = StoredKey::generate(SigningAlg::EdDSA, now).expect("generate");
        old.retired_at = Some(now);
        old.publish_until = Some(now + time::Duration::seconds(900));
        let new = StoredKey::generate(SigningAlg::EdDSA, now).expect("generate");
        let both = [old.clone(), new.clone()];
        assert_eq!(
            KeyRing::build(&new, &both, now, time::Duration::ZERO)
                .expect("ring")
                .published
                .len(),
            2
        );
        let later = now + time::Duration::seconds(900);
        assert_eq!(
            KeyRing::build(&new, &both, later, time::Duration::ZERO)
                .expect("ring")
                .published
                .len(),
            1
        );
    }

    #[test]
    fn algorithm_names_parse_exactly() {
        assert_eq!("EdDSA".parse::<SigningAlg>(), Ok(SigningAlg::EdDSA));
        assert!("HS256".parse::<SigningAlg>().is_err());
        assert!("none".parse::<SigningAlg>().is_err());
    }
}
