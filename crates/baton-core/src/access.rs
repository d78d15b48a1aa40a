//! Access tokens: RFC 9068 JWTs signed with the active key, verified against the published ones.
//! Expiry is checked against the injected clock, not the system clock.

use crate::keys::KeyRing;
use jsonwebtoken::{decode, decode_header, encode, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The JWT `typ` of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of a baton access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer URL.
    pub iss: String,
    /// User id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// OAuth client the token was issued to.
    pub client_id: String,
    /// Session id.
    pub sid: String,
    /// Username at issue time.
    pub preferred_username: String,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Signature, header or claims are wrong.
    #[error("Invalid token")]
    Invalid,
    /// Past `exp` (plus leeway).
    #[error("Token has expired")]
    Expired,
}

/// Issuer and audience an access token must carry.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Seconds of tolerance on `exp`.
    pub leeway_secs: i64,
}

/// Signs `claims` with the ring's active key.
pub fn mint(ring: &KeyRing, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(ring.active.alg.jwt());
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(ring.active.kid.clone());
    encode(&header, claims, &ring.active.encoding)
}

/// Verifies a token: `typ`, a published `kid` with its own algorithm, signature, `iss`, `aud`,
/// then `exp` against `now`.
pub fn verify(
    ring: &KeyRing,
    rules: &TokenRules,
    token: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, AccessError> {
    let claims = verify_ignoring_expiry(ring, rules, token)?;
    if now.unix_timestamp() >= claims.exp.saturating_add(rules.leeway_secs) {
        return Err(AccessError::Expired);
    }
    Ok(claims)
}

/// Everything [`verify`] checks except `exp`: for revoking a token that may have expired.
pub fn verify_ignoring_expiry(
    ring: &KeyRing,
    rules: &TokenRules,
    token: &str,
) -> Result<AccessClaims, AccessError> {
    let header = decode_header(token).map_err(|_| AccessError::Invalid)?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(AccessError::Invalid);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| ring.find(kid))
        .ok_or(AccessError::Invalid)?;
    if header.alg != key.alg.jwt() {
        return Err(AccessError::Invalid);
    }
    let mut validation = Validation::new(key.alg.jwt());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_issuer(&[rules.issuer.as_str()]);
    validation.set_audience(&[rules.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    decode::<AccessClaims>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|_| AccessError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SigningAlg, StoredKey};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn ring(alg: SigningAlg) -> KeyRing {
        let k = StoredKey::generate(alg, NOW).expect("key");
        KeyRing::build(&k, std::slice::from_ref(&k), NOW).expect("ring")
    }

    fn rules() -> TokenRules {
        TokenRules {
            issuer: "http://127.0.0.1:4000".into(),
            audience: "baton".into(),
            leeway_secs: 0,
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "http://127.0.0.1:4000".into(),
            sub: "u1".into(),
            aud: "baton".into(),
            exp: NOW.unix_timestamp() + 900,
            iat: NOW.unix_timestamp(),
            jti: "j1".into(),
            client_id: "baton".into(),
            sid: "s1".into(),
            preferred_username: "alice".into(),
        }
    }

    #[test]
    fn minted_tokens_verify_for_every_algorithm() {
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
            let r = ring(alg);
            let t = mint(&r, &claims()).expect("mint");
            assert_eq!(verify(&r, &rules(), &t, NOW), Ok(claims()));
            let header = decode_header(&t).expect("header");
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        }
    }

    #[test]
    fn expiry_is_judged_by_the_given_clock_with_leeway() {
        let r = ring(SigningAlg::EdDSA);
        let t = mint(&r, &claims()).expect("mint");
        let at_exp = NOW + time::Duration::seconds(900);
        assert_eq!(verify(&r, &rules(), &t, at_exp), Err(AccessError::Expired));
        let lenient = TokenRules {
            leeway_secs: 5,
            ..rules()
        };
        assert!(verify(&r, &lenient, &t, at_exp).is_ok());
    }

    #[test]
    fn wrong_issuer_audience_key_or_alg_none_are_refused() {
        let r = ring(SigningAlg::EdDSA);
        let mut c = claims();
        c.aud = "other".into();
        let t = mint(&r, &c).expect("mint");
        assert_eq!(verify(&r, &rules(), &t, NOW), Err(AccessError::Invalid));
        let mut c = claims();
        c.iss = "http://evil".into();
        let t = mint(&r, &c).expect("mint");
        assert_eq!(verify(&r, &rules(), &t, NOW), Err(AccessError::Invalid));
        let other = ring(SigningAlg::EdDSA);
        let t = mint(&other, &claims()).expect("mint");
        assert_eq!(verify(&r, &rules(), &t, NOW), Err(AccessError::Invalid));
        let good = mint(&r, &claims()).expect("mint");
        let body = good.split('.').nth(1).expect("payload");
        let none_header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
            r.active.kid
        ));
        let forged = format!("{none_header}.{body}.");
        assert_eq!(
            verify(&r, &rules(), &forged, NOW),
            Err(AccessError::Invalid)
        );
    }
}
