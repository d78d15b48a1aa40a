//! Access-token verifications per second, per algorithm (`cargo bench -p baton-verify`).

#![allow(clippy::expect_used, missing_docs)] // set-up failures end the benchmark

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use baton_verify::{verify, Claims, KeySet, Rules};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// A signing key, its verification key, for `alg`.
fn keys(alg: Algorithm) -> (EncodingKey, DecodingKey) {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        Algorithm::EdDSA => {
            let kp = Ed25519KeyPair::generate().expect("key");
            let der = kp.to_pkcs8().expect("pkcs8");
            (
                EncodingKey::from_ed_pem(pem(der.as_ref()).as_bytes()).expect("pem"),
                DecodingKey::from_ed_components(&b64(kp.public_key().as_ref())).expect("x"),
            )
        }
        Algorithm::ES256 => {
            let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key");
            let der = kp.to_pkcs8v1().expect("pkcs8");
            let point = kp.public_key().as_ref();
            (
                EncodingKey::from_ec_pem(pem(der.as_ref()).as_bytes()).expect("pem"),
                DecodingKey::from_ec_components(&b64(&point[1..33]), &b64(&point[33..]))
                    .expect("xy"),
            )
        }
        _ => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("key");
            let der = kp.as_der().expect("pkcs8");
            let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
            (
                EncodingKey::from_rsa_pem(pem(der.as_ref()).as_bytes()).expect("pem"),
                DecodingKey::from_rsa_components(&b64(&c.n), &b64(&c.e)).expect("ne"),
            )
        }
    }
}

fn bench(c: &mut Criterion) {
    let rules = Rules {
        issuer: "https://auth.example.com".into(),
        audience: "baton".into(),
        leeway_secs: 0,
    };
    let claims = Claims {
        iss: rules.issuer.clone(),
        sub: "2f0c8a1e-5b0e-4c1e-9a57-1d9f3f0f6c11".into(),
        aud: "baton".into(),
        exp: 4_000_000_000,
        iat: 1_700_000_000,
        nbf: None,
        jti: "c0ffee".into(),
        client_id: "baton".into(),
        sid: "9b1e2f0c-8a1e-4b0e-9c1e-5a571d9f3f0f".into(),
        preferred_username: "alice".into(),
        email: None,
        email_verified: None,
        auth_time: None,
        amr: Vec::new(),
        scope: None,
        roles: Vec::new(),
        cnf: None,
    };
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let (enc, dec) = keys(alg);
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        let token = encode(&header, &claims, &enc).expect("sign");
        let mut set = KeySet::new();
        set.insert("k1", alg, dec).expect("an accepted algorithm");
        assert!(verify(&set, &rules, &token, 1_800_000_000).is_ok());
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| verify(&set, &rules, &token, 1_800_000_000))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
