//! DPoP (RFC 9449): checking a proof of possession, and the replay cache its `jti` goes into.
//!
//! A proof is a JWT the client signs with a key pair of its own for each request, carrying
//! that key's public half in its header. [`check_proof`] applies RFC 9449 §4.3: the header
//! (`typ: dpop+jwt`, an asymmetric `alg` baton supports, a public `jwk` and nothing private),
//! the signature by that key, `htm` and `htu` against the request, `iat` within a window, the
//! server's nonce when one is required, and `ath` when the proof comes with an access token.
//! Its answer is the key's RFC 7638 thumbprint (`jkt`), which tokens bound to the key carry as
//! `cnf.jkt`. Nothing here remembers anything: [`ReplayCache`] keeps the `jti`s seen, bounded.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// The `alg`s a proof may use (`dpop_signing_alg_values_supported`).
pub const DPOP_ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];
/// Longest proof taken (an RSA key's JWK makes the largest).
pub const MAX_PROOF_LEN: usize = 8 * 1024;
/// How long after its `iat` a proof is taken, in seconds.
pub const PROOF_MAX_AGE: i64 = 60;
/// How far ahead of the server's clock a proof's `iat` may be, in seconds.
pub const PROOF_MAX_SKEW: i64 = 5;
/// Longest `jti` taken.
const MAX_JTI_LEN: usize = 256;
/// Longest nonce taken.
const MAX_NONCE_LEN: usize = 256;

/// What the request a proof comes with says about itself.
#[derive(Debug, Clone, Copy)]
pub struct ProofContext<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URI as the client addressed it (baton's external URL and the path);
    /// a query or fragment is ignored.
    pub uri: &'a str,
    /// The server's clock, in seconds since the epoch.
    pub now: i64,
    /// The access token the request carries, whose hash the proof must name as `ath`.
    pub access_token: Option<&'a str>,
    /// The nonce the server requires, if it requires one.
    pub nonce: Option<&'a str>,
}

/// A proof that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The key's RFC 7638 thumbprint (SHA-256, base64url).
    pub jkt: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `iat`.
    pub iat: i64,
}

/// Why a proof was refused (`invalid_dpop_proof`, or `use_dpop_nonce` for the nonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not a JWT, too long, or missing a header member or claim.
    #[error("the DPoP proof is malformed")]
    Malformed,
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Typ,
    /// `alg` is not one of [`DPOP_ALGS`].
    #[error("the DPoP proof's alg must be ES256, EdDSA or RS256")]
    Alg,
    /// `jwk` is missing, not a public key of `alg`'s kind, or unusable.
    #[error("the DPoP proof's jwk is not a usable public key")]
    Jwk,
    /// `jwk` holds a private key.
    #[error("the DPoP proof's jwk holds a private key")]
    PrivateKey,
    /// The signature is not the key's.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another method")]
    Htm,
    /// `htu` is not the request's URI.
    #[error("the DPoP proof is for another URI")]
    Htu,
    /// `iat` is too old or too far ahead.
    #[error("the DPoP proof is too old or from the future")]
    Iat,
    /// `ath` is missing or not the access token's hash.
    #[error("the DPoP proof does not name this access token")]
    Ath,
    /// The server's nonce is missing or not the current one.
    #[error("the DPoP proof needs the server's nonce")]
    Nonce,
    /// Its `jti` was seen before.
    #[error("the DPoP proof was used before")]
    Replayed,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Members a private JWK has and a public one does not (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// RFC 9449 §4.3, but for the replay check: the proof's key thumbprint, `jti` and `iat`.
pub fn check_proof(proof: &str, request: &ProofContext<'_>) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_LEN || proof.split('.').count() != 3 {
        return Err(ProofError::Malformed);
    }
    let header = jsonwebtoken::decode_header(proof).map_err(|_| ProofError::Malformed)?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(ProofError::Typ);
    }
    if !matches!(
        header.alg,
        Algorithm::ES256 | Algorithm::EdDSA | Algorithm::RS256
    ) {
        return Err(ProofError::Alg);
    }
    // The header as sent: members a parsed `Jwk` would drop (a private key's) are refused.
    let raw_header: serde_json::Value = proof
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(ProofError::Malformed)?;
    let raw_jwk = raw_header.get("jwk").ok_or(ProofError::Jwk)?;
    if PRIVATE_MEMBERS.iter().any(|m| raw_jwk.get(m).is_some()) {
        return Err(ProofError::PrivateKey);
    }
    let jwk = header.jwk.as_ref().ok_or(ProofError::Jwk)?;
    let jkt = thumbprint(jwk, header.alg).ok_or(ProofError::Jwk)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| ProofError::Jwk)?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => ProofError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => ProofError::Jwk,
            _ => ProofError::Malformed,
        })?
        .claims;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(ProofError::Malformed);
    }
    if !claims.htm.eq_ignore_ascii_case(request.method) {
        return Err(ProofError::Htm);
    }
    match (normalized_htu(&claims.htu), normalized_htu(request.uri)) {
        (Some(claimed), Some(actual)) if claimed == actual => {}
        _ => return Err(ProofError::Htu),
    }
    if claims.iat > request.now + PROOF_MAX_SKEW || claims.iat < request.now - PROOF_MAX_AGE {
        return Err(ProofError::Iat);
    }
    if let Some(expected) = request.nonce {
        let given = claims.nonce.as_deref().filter(|n| n.len() <= MAX_NONCE_LEN);
        if given != Some(expected) {
            return Err(ProofError::Nonce);
        }
    }
    if let Some(token) = request.access_token {
        let expected = URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()));
        if claims.ath.as_deref() != Some(expected.as_str()) {
            return Err(ProofError::Ath);
        }
    }
    Ok(Proof {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
    })
}

/// The RFC 7638 thumbprint (SHA-256) of a public key usable with `alg`: a P-256 key for
/// ES256, an Ed25519 key for EdDSA, an RSA key for RS256; `None` for any other pairing (which
/// the thumbprint of the JWK library would not take either).
pub fn thumbprint(jwk: &Jwk, alg: Algorithm) -> Option<String> {
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        _ => false,
    };
    fits.then(|| jwk.thumbprint(ThumbprintHash::SHA256))
}

/// RFC 9449 §4.3: `htu` compared without query and fragment, after RFC 3986 §6's syntax- and
/// scheme-based normalization (case of scheme and host, default port, dot segments, an empty
/// path as `/`, percent-encoding's case), which the URL parser applies.
pub fn normalized_htu(uri: &str) -> Option<String> {
    if uri.len() > 4096 {
        return None;
    }
    let mut url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// The `jti`s of proofs taken within their window, so a proof works once: bounded, keyed by a
/// hash of key thumbprint and `jti`, each kept until its proof is too old to be taken anyway.
#[derive(Debug)]
pub struct ReplayCache {
    seen: Mutex<HashMap<[u8; 32], i64>>,
    capacity: usize,
}

/// A proof could not be recorded: the cache is full of proofs still within their window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many DPoP proofs at once")]
pub struct ReplayCacheFull;

impl ReplayCache {
    /// A cache of at most `capacity` proofs.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Records `proof` at `now` (seconds): `Ok(true)` the first time, `Ok(false)` for a
    /// replay. When full, proofs past their window are forgotten first; if none is, the
    /// proof is refused rather than another forgotten early.
    pub fn record(&self, proof: &Proof, now: i64) -> Result<bool, ReplayCacheFull> {
        let mut id = [0u8; 32];
        let key = format!("{}\u{0}{}", proof.jkt, proof.jti);
        id.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        let until = proof.iat + PROOF_MAX_AGE + PROOF_MAX_SKEW;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kept) = seen.get(&id) {
            if *kept >= now {
                return Ok(false);
            }
        }
        if seen.len() >= self.capacity && !seen.contains_key(&id) {
            seen.retain(|_, kept| *kept >= now);
            if seen.len() >= self.capacity {
                return Err(ReplayCacheFull);
            }
        }
        seen.insert(id, until);
        Ok(true)
    }

    /// How many proofs it holds.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyRing, SigningAlg, SigningKey, StoredKey};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};
    use time::macros::datetime;

    const NOW: i64 = 1_780_000_000;
    const URI: &str = "https://auth.example/auth/refresh";

    /// A client's key pair: its signing half and its public JWK.
    struct ClientKey {
        alg: SigningAlg,
        encoding: EncodingKey,
        jwk: Value,
    }

    fn client_key(alg: SigningAlg) -> ClientKey {
        let now = datetime!(2026-01-01 0:00 UTC);
        let stored = StoredKey::generate(alg, now).expect("generate");
        let ring = KeyRing::build(
            &stored,
            std::slice::from_ref(&stored),
            now,
            time::Duration::ZERO,
        )
        .expect("ring");
        let mut jwk = ring.jwks()["keys"][0].clone();
        if let Some(map) = jwk.as_object_mut() {
            for member in ["kid", "use", "alg"] {
                map.remove(member);
            }
        }
        ClientKey {
            alg,
            encoding: SigningKey::load(&stored).expect("load").encoding,
            jwk,
        }
    }

    fn sign(key: &ClientKey, jwk: &Value, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(key.alg.jwt());
        header.typ = Some(typ.into());
        header.jwk = Some(serde_json::from_value(jwk.clone()).expect("jwk"));
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
    }

    /// A JWT with exactly this header, signed by `key`.
    fn sign_raw(key: &ClientKey, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg.jwt())
            .expect("sign");
        format!("{input}.{signature}")
    }

    fn claims() -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URI, "iat": NOW})
    }

    fn context() -> ProofContext<'static> {
        ProofContext {
            method: "POST",
            uri: URI,
            now: NOW,
            access_token: None,
            nonce: None,
        }
    }

    #[test]
    fn a_proof_by_each_algorithm_passes_and_names_its_key() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256] {
            let key = client_key(alg);
            let proof = sign(&key, &key.jwk, "dpop+jwt", &claims());
            let checked = check_proof(&proof, &context()).expect("a good proof");
            let jwk: Jwk = serde_json::from_value(key.jwk.clone()).expect("jwk");
            assert_eq!(checked.jkt, jwk.thumbprint(ThumbprintHash::SHA256));
            assert_eq!(checked.jkt.len(), 43, "a base64url SHA-256");
            assert_eq!(checked.jti, "j-1");
        }
    }

    #[test]
    fn rfc_7638s_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .expect("jwk");
        assert_eq!(
            thumbprint(&jwk, Algorithm::RS256).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(thumbprint(&jwk, Algorithm::ES256), None);
    }

    #[test]
    fn every_check_of_rfc_9449_refuses_what_it_should() {
        let key = client_key(SigningAlg::ES256);
        let other = client_key(SigningAlg::ES256);
        let good = |c: Value| sign(&key, &key.jwk, "dpop+jwt", &c);
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            good(c)
        };
        let ctx = context();
        // The header.
        assert_eq!(
            check_proof(&sign(&key, &key.jwk, "JWT", &claims()), &ctx),
            Err(ProofError::Typ)
        );
        let mut private = key.jwk.clone();
        private["d"] = json!("AAAA");
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private});
        assert_eq!(
            check_proof(&sign_raw(&key, &header, &claims()), &ctx),
            Err(ProofError::PrivateKey)
        );
        // The same header without the private member passes: the check is what refused it.
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
        assert!(check_proof(&sign_raw(&key, &header, &claims()), &ctx).is_ok());
        // Signed by another key than the one it names.
        assert_eq!(
            check_proof(&sign(&other, &key.jwk, "dpop+jwt", &claims()), &ctx),
            Err(ProofError::Signature)
        );
        // A key of another kind than alg says.
        let ed = client_key(SigningAlg::EdDSA);
        assert_eq!(
            check_proof(&sign(&key, &ed.jwk, "dpop+jwt", &claims()), &ctx),
            Err(ProofError::Jwk)
        );
        // alg none and HS256, made by hand.
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD
                .encode(json!({"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk}).to_string());
            let body = URL_SAFE_NO_PAD.encode(claims().to_string());
            let forged = format!("{header}.{body}.AAAA");
            assert!(
                matches!(
                    check_proof(&forged, &ctx),
                    Err(ProofError::Alg | ProofError::Malformed)
                ),
                "{alg}"
            );
        }
        // The claims.
        assert_eq!(
            check_proof(&with(&|c| c["htm"] = json!("GET")), &ctx),
            Err(ProofError::Htm)
        );
        assert_eq!(
            check_proof(
                &with(&|c| c["htu"] = json!("https://auth.example/auth/login")),
                &ctx
            ),
            Err(ProofError::Htu)
        );
        assert_eq!(
            check_proof(&with(&|c| c["iat"] = json!(NOW - 61)), &ctx),
            Err(ProofError::Iat)
        );
        assert_eq!(
            check_proof(&with(&|c| c["iat"] = json!(NOW + 6)), &ctx),
            Err(ProofError::Iat)
        );
        assert_eq!(
            check_proof(&with(&|c| c["jti"] = json!("")), &ctx),
            Err(ProofError::Malformed)
        );
        let mut no_jti = claims();
        if let Some(map) = no_jti.as_object_mut() {
            map.remove("jti");
        }
        assert_eq!(check_proof(&good(no_jti), &ctx), Err(ProofError::Malformed));
        // The access token's hash, and the server's nonce.
        let token = ProofContext {
            access_token: Some("an-access-token"),
            ..ctx
        };
        assert_eq!(check_proof(&good(claims()), &token), Err(ProofError::Ath));
        let ath = URL_SAFE_NO_PAD.encode(digest(&SHA256, b"an-access-token"));
        assert!(check_proof(&with(&|c| c["ath"] = json!(ath)), &token).is_ok());
        let nonce = ProofContext {
            nonce: Some("n-1"),
            ..ctx
        };
        assert_eq!(check_proof(&good(claims()), &nonce), Err(ProofError::Nonce));
        assert!(check_proof(&with(&|c| c["nonce"] = json!("n-1")), &nonce).is_ok());
        // Garbage.
        for junk in ["", "a.b", "a.b.c", &"x".repeat(MAX_PROOF_LEN + 1)] {
            assert_eq!(
                check_proof(junk, &ctx),
                Err(ProofError::Malformed),
                "{junk:.20}"
            );
        }
    }

    #[test]
    fn htu_is_compared_normalized_without_query_or_fragment() {
        let key = client_key(SigningAlg::EdDSA);
        for (claimed, actual) in [
            ("HTTPS://Auth.Example:443/auth/refresh", URI),
            ("https://auth.example/auth/refresh?x=1#f", URI),
            ("https://auth.example/auth/./refresh", URI),
        ] {
            let mut c = claims();
            c["htu"] = json!(claimed);
            let proof = sign(&key, &key.jwk, "dpop+jwt", &c);
            let ctx = ProofContext {
                uri: actual,
                ..context()
            };
            assert!(check_proof(&proof, &ctx).is_ok(), "{claimed}");
        }
        assert_eq!(normalized_htu("ftp://auth.example/"), None);
        assert_eq!(normalized_htu("/auth/refresh"), None);
        assert_ne!(
            normalized_htu("http://auth.example/auth/refresh"),
            normalized_htu(URI)
        );
    }

    #[test]
    fn the_replay_cache_takes_a_jti_once_and_stays_bounded() {
        let proof = |jti: &str, iat: i64| Proof {
            jkt: "k".into(),
            jti: jti.into(),
            iat,
        };
        let cache = ReplayCache::new(2);
        assert_eq!(cache.record(&proof("a", NOW), NOW), Ok(true));
        assert_eq!(cache.record(&proof("a", NOW), NOW + 10), Ok(false));
        // Another key's proof with the same jti is another proof.
        let theirs = Proof {
            jkt: "other".into(),
            ..proof("a", NOW)
        };
        assert_eq!(cache.record(&theirs, NOW), Ok(true));
        // Full of live proofs: a new one is refused, not an old one forgotten.
        assert_eq!(cache.record(&proof("b", NOW), NOW), Err(ReplayCacheFull));
        // Once the first ones are past their window they make room.
        let later = NOW + PROOF_MAX_AGE + PROOF_MAX_SKEW + 1;
        assert_eq!(cache.record(&proof("b", later), later), Ok(true));
        assert!(cache.len() <= 2);
    }
}
