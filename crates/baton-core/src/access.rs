//! Access tokens: RFC 9068 JWTs signed with the active key, verified against the published ones.
//! Expiry is checked against the injected clock, not the system clock.

use crate::keys::KeyRing;
use baton_verify::VerifyError;
use jsonwebtoken::{encode, Header};
use time::OffsetDateTime;

/// The JWT `typ` of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of a baton access token; the same type resource servers get from `baton-verify`.
pub type AccessClaims = baton_verify::Claims;

/// The claims of an access token a client obtained for itself (client credentials).
pub type ClientAccessClaims = baton_verify::ClientClaims;

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Signature, header or claims are wrong.
    #[error("Invalid token")]
    Invalid,
    /// Past `exp` (plus leeway).
    #[error("Token has expired")]
    Expired,
    /// Signed with a key this server does not (yet) know.
    #[error("Invalid token")]
    UnknownKey,
}

/// Issuer, audience and leeway an access token is checked against: the rules of
/// `baton-verify`, held once so that no token check rebuilds them.
pub type TokenRules = baton_verify::Rules;

/// Signs `claims` (a user's [`AccessClaims`] or a client's [`ClientAccessClaims`]) with the
/// ring's active key.
pub fn mint(
    ring: &KeyRing,
    claims: &impl serde::Serialize,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(ring.active.alg.jwt());
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(ring.active.kid.clone());
    encode(&header, claims, &ring.active.encoding)
}

/// Signs an OpenID Connect ID token (`typ: JWT`) with the ring's active key, the key access
/// tokens are signed with (a relying party finds it in the same JWKS).
pub fn mint_id_token(
    ring: &KeyRing,
    claims: &crate::oidc::IdTokenClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(ring.active.alg.jwt());
    header.typ = Some("JWT".into());
    header.kid = Some(ring.active.kid.clone());
    encode(&header, claims, &ring.active.encoding)
}

/// Signs an OpenID Connect logout token (`typ: logout+jwt`, Back-Channel Logout 1.0 §2.4, so
/// that it cannot be taken for an ID or access token) with the ring's active key.
pub fn mint_logout_token(
    ring: &KeyRing,
    claims: &crate::oidc::LogoutTokenClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(ring.active.alg.jwt());
    header.typ = Some("logout+jwt".into());
    header.kid = Some(ring.active.kid.clone());
    encode(&header, claims, &ring.active.encoding)
}

/// Verifies a token with `baton-verify`'s rules (the ones resource servers apply): `typ`, a
/// published `kid` with its own algorithm, signature, `iss`, `aud`, then `exp` against `now`.
/// A token verified before against the same keys skips to the time check (the ring's cache).
pub fn verify(
    ring: &KeyRing,
    rules: &TokenRules,
    token: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, AccessError> {
    ring.verified
        .verify(&ring.key_set, rules, token, now.unix_timestamp())
        .map_err(|e| match e {
            VerifyError::Expired => AccessError::Expired,
            VerifyError::UnknownKey => AccessError::UnknownKey,
            _ => AccessError::Invalid,
        })
}

/// Verifies a token a client obtained for itself (client credentials) by the same rules as
/// [`verify`]; a user's token is refused.
pub fn verify_client(
    ring: &KeyRing,
    rules: &TokenRules,
    token: &str,
    now: OffsetDateTime,
) -> Result<ClientAccessClaims, AccessError> {
    baton_verify::verify_client(&ring.key_set, rules, token, now.unix_timestamp()).map_err(|e| {
        match e {
            VerifyError::Expired => AccessError::Expired,
            VerifyError::UnknownKey => AccessError::UnknownKey,
            _ => AccessError::Invalid,
        }
    })
}

/// Everything [`verify`] checks except `exp`: for revoking a token that may have expired.
pub fn verify_ignoring_expiry(
    ring: &KeyRing,
    rules: &TokenRules,
    token: &str,
) -> Result<AccessClaims, AccessError> {
    // At the dawn of time nothing has expired yet; baton's tokens carry no `nbf`.
    baton_verify::verify(&ring.key_set, rules, token, i64::MIN).map_err(|_| AccessError::Invalid)
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
        KeyRing::build(&k, std::slice::from_ref(&k), NOW, time::Duration::ZERO).expect("ring")
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
            email: None,
            email_verified: None,
            auth_time: None,
            amr: Vec::new(),
            scope: None,
            roles: Vec::new(),
            nbf: None,
            cnf: None,
        }
    }

    #[test]
    fn minted_tokens_verify_for_every_algorithm() {
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
            let r = ring(alg);
            let t = mint(&r, &claims()).expect("mint");
            assert_eq!(verify(&r, &rules(), &t, NOW), Ok(claims()));
            let header = jsonwebtoken::decode_header(&t).expect("header");
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        }
    }

    #[test]
    fn a_remembered_token_is_still_judged_by_the_clock() {
        let r = ring(SigningAlg::EdDSA);
        let t = mint(&r, &claims()).expect("mint");
        assert_eq!(verify(&r, &rules(), &t, NOW), Ok(claims()));
        assert_eq!(r.verified.len(), 1);
        assert_eq!(verify(&r, &rules(), &t, NOW), Ok(claims()));
        let at_exp = NOW + time::Duration::seconds(900);
        assert_eq!(verify(&r, &rules(), &t, at_exp), Err(AccessError::Expired));
        let other_audience = TokenRules {
            audience: "another".into(),
            ..rules()
        };
        assert_eq!(
            verify(&r, &other_audience, &t, NOW),
            Err(AccessError::Invalid)
        );
    }

    #[test]
    fn a_remembered_signature_does_not_vouch_for_another_payload() {
        let r = ring(SigningAlg::EdDSA);
        let t = mint(&r, &claims()).expect("mint");
        assert!(verify(&r, &rules(), &t, NOW).is_ok());
        let parts: Vec<&str> = t.split('.').collect();
        let mut forged = claims();
        forged.sub = "admin".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        let token = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verify(&r, &rules(), &token, NOW), Err(AccessError::Invalid));
    }

    #[test]
    fn the_cache_is_bounded() {
        let r = ring(SigningAlg::EdDSA);
        for i in 0..(baton_verify::VERIFIED_CACHE_ENTRIES + 10) {
            let mut c = claims();
            c.jti = format!("j{i}");
            let t = mint(&r, &c).expect("mint");
            assert!(verify(&r, &rules(), &t, NOW).is_ok());
        }
        assert!(r.verified.len() <= baton_verify::VERIFIED_CACHE_ENTRIES);
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
        assert_eq!(verify(&r, &rules(), &t, NOW), Err(AccessError::UnknownKey));
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
