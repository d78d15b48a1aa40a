//! DPoP proofs (RFC 9449) as a client makes them: an ES256 or EdDSA key pair per client, a
//! proof per request. Signed with aws-lc-rs directly, not with baton's code.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A client's DPoP key pair, with the proof header that names it.
pub struct ClientKey {
    pair: Pair,
    rng: SystemRandom,
    /// The base64url header: `typ`, `alg` and the public `jwk`.
    header: String,
    /// Distinguishes this key's `jti`s from every other client's.
    id: u64,
    next: u64,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl ClientKey {
    /// A new ES256 key (what browsers use); `id` makes its `jti`s unique.
    pub fn es256(id: u64) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|e| anyhow::anyhow!("P-256 key: {e}"))?;
        // Uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        let (x, y) = point
            .get(1..33)
            .zip(point.get(33..65))
            .ok_or_else(|| anyhow::anyhow!("unexpected P-256 public key"))?;
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
        Ok(Self::with(Pair::Es256(pair), "ES256", jwk, rng, id))
    }

    /// A new Ed25519 key.
    pub fn eddsa(id: u64) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let pair = Ed25519KeyPair::generate()
            .map_err(|_| anyhow::anyhow!("Ed25519 key generation failed"))?;
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
        Ok(Self::with(Pair::EdDsa(pair), "EdDSA", jwk, rng, id))
    }

    fn with(pair: Pair, alg: &str, jwk: serde_json::Value, rng: SystemRandom, id: u64) -> Self {
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        Self {
            pair,
            rng,
            header: b64(header.to_string().as_bytes()),
            id,
            next: 0,
        }
    }

    /// A proof for `htm` `htu` at `iat` (seconds), naming `access_token` (`ath`) when given.
    pub fn proof(
        &mut self,
        htm: &str,
        htu: &str,
        iat: i64,
        access_token: Option<&str>,
    ) -> anyhow::Result<String> {
        self.next += 1;
        let mut claims = json!({
            "jti": format!("{}-{}", self.id, self.next),
            "htm": htm,
            "htu": htu,
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(b64(digest(&SHA256, token.as_bytes()).as_ref()));
        }
        let input = format!("{}.{}", self.header, b64(claims.to_string().as_bytes()));
        let signature = match &self.pair {
            Pair::Es256(p) => p
                .sign(&self.rng, input.as_bytes())
                .map_err(|_| anyhow::anyhow!("signing failed"))?
                .as_ref()
                .to_vec(),
            Pair::EdDsa(p) => p.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", b64(&signature)))
    }
}

/// Seconds since the epoch by the system clock (the server runs on it too).
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
