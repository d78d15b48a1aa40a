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
    /// The server nonce it carries, if any.
    pub nonce: Option<String>,
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

/// RFC 9449 §7.1's `WWW-Authenticate` challenge: the realm, the error code and description if
/// any, and the proof algorithms taken.
pub fn challenge(realm: &str, error: Option<(&str, &str)>) -> String {
    let algs = DPOP_ALGS.join(" ");
    match error {
        Some((code, description)) => format!(
            "DPoP realm=\"{realm}\", error=\"{code}\", error_description=\"{description}\", \
             algs=\"{algs}\""
        ),
        None => format!("DPoP realm=\"{realm}\", algs=\"{algs}\""),
    }
}

impl ProofError {
    /// A short name of the check that failed, for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Typ => "typ",
            Self::Alg => "alg",
            Self::Jwk => "jwk",
            Self::PrivateKey => "private_key",
            Self::Signature => "signature",
            Self::Htm => "htm",
            Self::Htu => "htu",
            Self::Iat => "iat",
            Self::Ath => "ath",
            Self::Nonce => "nonce",
            Self::Replayed => "replayed",
        }
    }
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    #[serde(deserialize_with = "numeric_date")]
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// A NumericDate (RFC 7519 §2): whole seconds, or a fraction of them (taken down to the second).
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        #[allow(clippy::cast_possible_truncation)] // checked to be in range just before
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(f.floor() as i64),
        _ => Err(serde::de::Error::custom("iat is not a usable NumericDate")),
    }
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
    // RFC 9110 §9.1: methods are case-sensitive.
    if claims.htm != request.method {
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
        nonce: claims.nonce.filter(|n| n.len() <= MAX_NONCE_LEN),
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
/// scheme-based normalization: case of scheme and host, default port, dot segments, an empty
/// path as `/` (the URL parser's), percent-encodings in upper case and those of unreserved
/// characters decoded. Reserved characters stay encoded (`%2F` is not `/`).
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
    // RFC 3986 §6.2.2.1 and §6.2.2.2: percent-encodings in upper case, and those of unreserved
    // characters decoded (the parser did case, default ports and dot segments).
    let path = normalized_percent_encoding(url.path());
    url.set_path(&path);
    Some(url.to_string())
}

/// `path` with each `%XX` of an unreserved character decoded and every other `%xx` upper-cased.
fn normalized_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if let (b'%', Some(&h), Some(&l)) = (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            if let (Some(hi), Some(lo)) = (hex(h), hex(l)) {
                let c = char::from(u8::try_from(hi * 16 + lo).unwrap_or(0));
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                    out.push(c);
                } else {
                    out.push('%');
                    out.push(char::from(h).to_ascii_uppercase());
                    out.push(char::from(l).to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

impl Proof {
    /// What identifies the proof for the replay check: a SHA-256 hash of its key's thumbprint
    /// and its `jti` (a `jti` need only be unique per key), fixed in size whatever was sent.
    pub fn replay_id(&self) -> [u8; 32] {
        let mut id = [0u8; 32];
        let key = format!("{}\u{0}{}", self.jkt, self.jti);
        id.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        id
    }

    /// Until when (seconds since the epoch) the proof must be remembered: after that its `iat`
    /// is too old for it to be taken anyway.
    pub fn replay_until(&self) -> i64 {
        self.iat
            .saturating_add(PROOF_MAX_AGE)
            .saturating_add(PROOF_MAX_SKEW)
    }
}

/// The `jti`s of proofs taken within their window, so a proof works once: bounded, keyed by
/// [`Proof::replay_id`], each kept until [`Proof::replay_until`]. One process's memory: servers
/// that share a database share the check there instead.
///
/// When it is full of proofs still within their window (a flood of valid proofs), it does not
/// refuse everyone: it narrows the window instead. Proofs issued before a floor are refused as
/// too old from then on, so the `jti`s of older ones need not be kept; fresh proofs of honest
/// clients go on being taken. The floor moves up by half of what is left of the window each time
/// the cache fills, so only a flood of more than `capacity` proofs within a few seconds fills it
/// for good.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Seen>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Seen {
    ids: HashMap<[u8; 32], i64>,
    /// Proofs issued before this (seconds) are refused: the window narrowed under a flood.
    floor: i64,
}

/// What [`ReplayCache::record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The first use of the proof: taken.
    Fresh,
    /// Seen before.
    Replayed,
    /// Issued before the window narrowed under a flood: refused as too old.
    TooOld,
}

/// A proof could not be recorded: the cache is full of proofs issued within the last
/// [`MIN_WINDOW`] seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many DPoP proofs at once")]
pub struct ReplayCacheFull;

/// The narrowest the window gets under a flood, in seconds (clocks and networks need some).
pub const MIN_WINDOW: i64 = 5;

impl ReplayCache {
    /// A cache of at most `capacity` proofs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Seen::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records `proof` at `now` (seconds).
    pub fn record(&self, proof: &Proof, now: i64) -> Result<Recorded, ReplayCacheFull> {
        self.record_id(proof.replay_id(), proof.replay_until(), now)
    }

    /// [`Self::record`] by [`Proof::replay_id`] and [`Proof::replay_until`].
    pub fn record_id(
        &self,
        id: [u8; 32],
        until: i64,
        now: i64,
    ) -> Result<Recorded, ReplayCacheFull> {
        let issued = until.saturating_sub(PROOF_MAX_AGE + PROOF_MAX_SKEW);
        let mut seen = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A floor is never above the narrowest window, also after the clock stepped back.
        seen.floor = seen.floor.min(now - MIN_WINDOW);
        if issued < seen.floor {
            return Ok(Recorded::TooOld);
        }
        if let Some(kept) = seen.ids.get(&id) {
            if *kept >= now {
                return Ok(Recorded::Replayed);
            }
        }
        while seen.ids.len() >= self.capacity && !seen.ids.contains_key(&id) {
            let oldest_taken = now - PROOF_MAX_AGE;
            let narrowest = now - MIN_WINDOW;
            if seen.floor >= narrowest {
                return Err(ReplayCacheFull);
            }
            // Forget what is past its window, or failing that, narrow the window by half.
            let before = seen.ids.len();
            seen.ids.retain(|_, kept| *kept >= now);
            if seen.ids.len() < before && seen.ids.len() < self.capacity {
                break;
            }
            let from = seen.floor.max(oldest_taken);
            let floor = (from + (now - from) / 2).min(narrowest).max(from + 1);
            seen.floor = floor;
            let keep_from = floor + PROOF_MAX_AGE + PROOF_MAX_SKEW;
            seen.ids.retain(|_, kept| *kept >= keep_from);
            if issued < floor {
                return Ok(Recorded::TooOld);
            }
        }
        seen.ids.insert(id, until);
        Ok(Recorded::Fresh)
    }

    /// How many proofs it holds.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ids
            .len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
