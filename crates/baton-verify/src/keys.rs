//! Verification keys by `kid`, from an RFC 7517 JWKS document or from keys in hand.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;

/// The asymmetric algorithms a verification key may have.
const ACCEPTED: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

/// Public keys by `kid`, each with the one algorithm it may verify.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A JWKS document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid JWKS: {0}")]
pub struct KeySetError(String);

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key for one of the asymmetric algorithms EdDSA, ES256 and RS256; any other
    /// algorithm (HMAC above all) is refused.
    pub fn insert(
        &mut self,
        kid: impl Into<String>,
        alg: Algorithm,
        key: DecodingKey,
    ) -> Result<(), KeySetError> {
        if !ACCEPTED.contains(&alg) {
            return Err(KeySetError(format!("{alg:?} is not an accepted algorithm")));
        }
        self.keys.insert(kid.into(), (alg, key));
        Ok(())
    }

    /// The key and algorithm of `kid`.
    pub fn get(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.keys.get(kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads a JWKS document. Keys without a `kid`, for encryption, symmetric, of another
    /// algorithm than EdDSA, ES256 and RS256, or of a kind this library cannot read are skipped.
    pub fn from_jwks(json: &[u8]) -> Result<Self, KeySetError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let doc: Document = serde_json::from_slice(json).map_err(|e| KeySetError(e.to_string()))?;
        let mut keys = Self::new();
        for jwk in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(jwk) else {
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let inferred = match &jwk.algorithm {
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    Some(Algorithm::EdDSA)
                }
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Some(Algorithm::ES256)
                }
                AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
                _ => None,
            };
            let alg = match jwk.common.key_algorithm {
                Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
                Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
                Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
                Some(_) => None,
                None => inferred,
            };
            let Some(alg) = alg.filter(|a| ACCEPTED.contains(a) && Some(*a) == inferred) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(&jwk) {
                keys.keys.insert(kid, (alg, key));
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_mismatched_keys_are_skipped() {
        let jwks = br#"{"keys":[
            {"kty":"oct","kid":"h","alg":"HS256","k":"c2VjcmV0"},
            {"kty":"OKP","crv":"Ed25519","kid":"e","alg":"EdDSA","use":"sig","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"liar","alg":"RS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"enc","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"AKP","kid":"future","alg":"ML-DSA-44","pub":"AAAA"},
            {"kty":"OKP","crv":"X25519","kid":"x","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let keys = KeySet::from_jwks(jwks).expect("valid JWKS");
        assert_eq!(keys.len(), 1);
        assert!(keys.get("e").is_some());
    }

    #[test]
    fn hmac_keys_cannot_be_inserted_by_hand() {
        let mut keys = KeySet::new();
        let hmac = DecodingKey::from_secret(b"secret");
        assert!(keys.insert("h", Algorithm::HS256, hmac).is_err());
        assert!(keys.is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(KeySet::from_jwks(b"not json").is_err());
    }
}
