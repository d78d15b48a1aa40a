//! The rules an access token must pass, and the bearer header.

use crate::claims::{Claims, ClientClaims, Timed};
use crate::keys::KeySet;
use jsonwebtoken::{decode, decode_header, Header, Validation};
use serde::de::DeserializeOwned;

/// The JWT `typ` of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Issuer, audience and leeway a token is checked against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Seconds of tolerance on `exp` and `nbf`.
    pub leeway_secs: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Signature, header or claims are wrong.
    #[error("Invalid token")]
    Invalid,
    /// The `kid` names no known key (a refetch of the JWKS may help).
    #[error("Invalid token")]
    UnknownKey,
    /// Past `exp` (plus leeway).
    #[error("Token has expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("Token is not valid yet")]
    NotYetValid,
    /// The issuer's keys could not be fetched, so nothing can be verified.
    #[error("The issuer's keys are unavailable")]
    KeysUnavailable,
    /// A token bound to a DPoP key (`cnf.jkt`) sent as a bearer token (RFC 9449 §7.2): it
    /// works only with the `DPoP` scheme and a proof ([`crate::DpopBearer`]).
    #[error("This access token is bound to a DPoP key: send it with the DPoP scheme and a proof")]
    DpopBound,
}

/// The header checks that need no key: a JWT with `typ: at+jwt` and a `kid`.
pub(crate) fn checked_header(token: &str) -> Result<(Header, String), VerifyError> {
    let header = decode_header(token).map_err(|_| VerifyError::Invalid)?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(VerifyError::Invalid);
    }
    let kid = header.kid.clone().ok_or(VerifyError::Invalid)?;
    Ok((header, kid))
}

/// Checks a user's `token` against `keys` and `rules` at `now` (seconds since the epoch). A
/// token a client obtained for itself ([`verify_client`]) is refused: it has no user.
pub fn verify(keys: &KeySet, rules: &Rules, token: &str, now: i64) -> Result<Claims, VerifyError> {
    verify_as::<Claims>(keys, rules, token, now)
}

/// Checks a token a client obtained for itself with the client-credentials grant, by the same
/// rules as [`verify`]; a user's token is refused (it names a session).
pub fn verify_client(
    keys: &KeySet,
    rules: &Rules,
    token: &str,
    now: i64,
) -> Result<ClientClaims, VerifyError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(flatten)]
        claims: ClientClaims,
        sid: Option<serde::de::IgnoredAny>,
    }
    impl Timed for Raw {
        fn exp(&self) -> i64 {
            self.claims.exp
        }
        fn nbf(&self) -> Option<i64> {
            self.claims.nbf
        }
    }
    let raw = verify_as::<Raw>(keys, rules, token, now)?;
    if raw.sid.is_some() || raw.claims.sub != raw.claims.client_id {
        return Err(VerifyError::Invalid);
    }
    Ok(raw.claims)
}

fn verify_as<T: DeserializeOwned + Timed>(
    keys: &KeySet,
    rules: &Rules,
    token: &str,
    now: i64,
) -> Result<T, VerifyError> {
    let (header, kid) = checked_header(token)?;
    let kid = kid.as_str();
    let (alg, key) = keys.get(kid).ok_or(VerifyError::UnknownKey)?;
    if header.alg != *alg {
        return Err(VerifyError::Invalid);
    }
    let mut validation = Validation::new(*alg);
    // Time is judged below, against the caller's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_issuer(&[rules.issuer.as_str()]);
    validation.set_audience(&[rules.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = decode::<T>(token, key, &validation)
        .map_err(|_| VerifyError::Invalid)?
        .claims;
    check_time(&claims, rules, now)?;
    Ok(claims)
}

/// The time rules: `exp` passed (plus leeway) is expired, `nbf` to come (less leeway) not yet
/// valid.
pub(crate) fn check_time(claims: &impl Timed, rules: &Rules, now: i64) -> Result<(), VerifyError> {
    if now >= claims.exp().saturating_add(rules.leeway_secs) {
        return Err(VerifyError::Expired);
    }
    if claims
        .nbf()
        .is_some_and(|nbf| now < nbf.saturating_sub(rules.leeway_secs))
    {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

/// The bearer token of an `Authorization` header value: `None` for another scheme or an empty
/// token. The scheme name is case-insensitive (RFC 7235).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    scheme_token(authorization, "bearer")
}

/// The access token of an `Authorization` header value with the `DPoP` scheme (RFC 9449
/// §7.1; the scheme name is case-insensitive), or `None`.
pub fn dpop_token(authorization: &str) -> Option<&str> {
    scheme_token(authorization, "dpop")
}

fn scheme_token<'a>(authorization: &'a str, wanted: &str) -> Option<&'a str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case(wanted) && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bEaReR abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn garbage_and_unknown_kids_are_refused() {
        let rules = Rules {
            issuer: "i".into(),
            audience: "a".into(),
            leeway_secs: 0,
        };
        let keys = KeySet::new();
        assert_eq!(verify(&keys, &rules, "x.y.z", 0), Err(VerifyError::Invalid));
        // {"typ":"at+jwt","alg":"EdDSA","kid":"k"}.{}.sig
        let token = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.c2ln";
        assert_eq!(
            verify(&keys, &rules, token, 0),
            Err(VerifyError::UnknownKey)
        );
    }

    /// A key set with one fresh Ed25519 key, and a signer of claims with it.
    fn signer() -> (KeySet, impl Fn(serde_json::Value) -> String) {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
        use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
        let mut keys = KeySet::new();
        keys.insert(
            "k1",
            Algorithm::EdDSA,
            DecodingKey::from_ed_der(pair.public_key().as_ref()),
        )
        .expect("insert");
        let encoding = EncodingKey::from_ed_der(pkcs8.as_ref());
        let sign = move |claims: serde_json::Value| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.typ = Some("at+jwt".into());
            header.kid = Some("k1".into());
            encode(&header, &claims, &encoding).expect("sign")
        };
        (keys, sign)
    }

    #[test]
    fn user_and_client_tokens_are_each_refused_as_the_other() {
        let (keys, sign) = signer();
        let rules = Rules {
            issuer: "https://auth.example".into(),
            audience: "baton".into(),
            leeway_secs: 0,
        };
        let user = sign(serde_json::json!({
            "iss": "https://auth.example", "aud": "baton", "sub": "u1", "exp": 100, "iat": 0,
            "jti": "j1", "client_id": "web", "sid": "s1", "preferred_username": "alice",
        }));
        let machine = sign(serde_json::json!({
            "iss": "https://auth.example", "aud": "baton", "sub": "reports", "exp": 100,
            "iat": 0, "jti": "j2", "client_id": "reports", "scope": "reports:read",
        }));
        assert_eq!(verify(&keys, &rules, &user, 50).expect("user").sub, "u1");
        assert_eq!(
            verify(&keys, &rules, &machine, 50),
            Err(VerifyError::Invalid)
        );
        let claims = verify_client(&keys, &rules, &machine, 50).expect("machine");
        assert!(claims.has_scope("reports:read"));
        assert_eq!(
            verify_client(&keys, &rules, &user, 50),
            Err(VerifyError::Invalid)
        );
        // A client's token whose sub names someone else is not the client's own.
        let other = sign(serde_json::json!({
            "iss": "https://auth.example", "aud": "baton", "sub": "u1", "exp": 100, "iat": 0,
            "jti": "j3", "client_id": "reports",
        }));
        assert_eq!(
            verify_client(&keys, &rules, &other, 50),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            verify_client(&keys, &rules, &machine, 100),
            Err(VerifyError::Expired)
        );
    }
}
