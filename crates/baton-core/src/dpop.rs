//! DPoP (RFC 9449) proofs: [`baton_verify::dpop`], which resource servers share, checked
//! here against keys of every kind baton can make.

pub use baton_verify::dpop::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyRing, SigningAlg, SigningKey, StoredKey};
    use aws_lc_rs::digest::{digest, SHA256};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    use jsonwebtoken::Algorithm;
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
        // A NumericDate may have a fraction (RFC 7519 §2).
        #[allow(clippy::cast_precision_loss)]
        let fractional = NOW as f64 + 0.25;
        assert_eq!(
            check_proof(&with(&|c| c["iat"] = json!(fractional)), &ctx).map(|p| p.iat),
            Ok(NOW)
        );
        assert_eq!(
            check_proof(&with(&|c| c["iat"] = json!("soon")), &ctx),
            Err(ProofError::Malformed)
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
            ("https://auth.example/auth/%72efresh", URI),
            ("https://auth.example/%61uth/refresh", URI),
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
        // Percent-encodings compare in either case; reserved ones stay encoded.
        assert_eq!(
            normalized_htu("https://a.example/x%2fy%7e%41"),
            normalized_htu("https://a.example/x%2Fy~A")
        );
        assert_ne!(
            normalized_htu("https://a.example/x%2Fy"),
            normalized_htu("https://a.example/x/y")
        );
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
            nonce: None,
        };
        let cache = ReplayCache::new(2);
        assert_eq!(cache.record(&proof("a", NOW), NOW), Ok(Recorded::Fresh));
        assert_eq!(
            cache.record(&proof("a", NOW), NOW + 10),
            Ok(Recorded::Replayed)
        );
        // Another key's proof with the same jti is another proof.
        let theirs = Proof {
            jkt: "other".into(),
            ..proof("a", NOW)
        };
        assert_eq!(cache.record(&theirs, NOW), Ok(Recorded::Fresh));
        // Full of proofs of the last seconds: a new one is refused, none forgotten early.
        assert_eq!(cache.record(&proof("b", NOW), NOW), Err(ReplayCacheFull));
        assert_eq!(
            cache.record(&proof("a", NOW), NOW + 1),
            Ok(Recorded::Replayed)
        );
        // Once the first ones are past their window they make room.
        let later = NOW + PROOF_MAX_AGE + PROOF_MAX_SKEW + 1;
        assert_eq!(cache.record(&proof("b", later), later), Ok(Recorded::Fresh));
        assert!(cache.len() <= 2);

        // Full of older proofs still within their window: the window narrows, so that fresh
        // proofs are taken and the older ones refused as too old (never taken twice).
        let flooded = ReplayCache::new(2);
        assert_eq!(
            flooded.record(&proof("x", NOW - 50), NOW),
            Ok(Recorded::Fresh)
        );
        assert_eq!(
            flooded.record(&proof("y", NOW - 40), NOW),
            Ok(Recorded::Fresh)
        );
        assert_eq!(flooded.record(&proof("z", NOW), NOW), Ok(Recorded::Fresh));
        assert_eq!(
            flooded.record(&proof("x", NOW - 50), NOW),
            Ok(Recorded::TooOld)
        );
        assert_eq!(
            flooded.record(&proof("w", NOW - 45), NOW),
            Ok(Recorded::TooOld)
        );
        assert_eq!(
            flooded.record(&proof("z", NOW), NOW + 1),
            Ok(Recorded::Replayed)
        );
        assert!(flooded.len() <= 2);
    }

    #[test]
    fn the_replay_cache_recovers_from_a_clock_step_back_and_holds_at_least_one() {
        let proof = |jti: &str, iat: i64| Proof {
            jkt: "k".into(),
            jti: jti.into(),
            iat,
            nonce: None,
        };
        // A flood narrows the window (proofs before NOW - 30 are too old from then on)...
        let cache = ReplayCache::new(3);
        for (jti, iat) in [
            ("x", NOW - 50),
            ("y", NOW - 40),
            ("z", NOW - 30),
            ("w", NOW),
        ] {
            assert_eq!(cache.record(&proof(jti, iat), NOW), Ok(Recorded::Fresh));
        }
        assert_eq!(
            cache.record(&proof("v", NOW - 35), NOW),
            Ok(Recorded::TooOld)
        );
        // ...then the clock steps back a minute: fresh proofs by the new clock are taken.
        let back = NOW - 60;
        assert_eq!(cache.record(&proof("c", back), back), Ok(Recorded::Fresh));
        assert_eq!(
            cache.record(&proof("c", back), back),
            Ok(Recorded::Replayed)
        );

        // A capacity of 0 is taken as 1 rather than refusing every proof.
        let empty = ReplayCache::new(0);
        assert_eq!(empty.record(&proof("a", NOW), NOW), Ok(Recorded::Fresh));
        assert_eq!(empty.record(&proof("a", NOW), NOW), Ok(Recorded::Replayed));
    }
}
