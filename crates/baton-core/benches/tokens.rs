//! The per-request work of a login or refresh besides storage: minting an access token with each
//! algorithm, verifying one, and making, hashing and sealing a refresh token
//! (`cargo bench -p baton-core`).

#![allow(clippy::expect_used, missing_docs)] // set-up failures end the benchmark

use baton_core::access::{self, AccessClaims, TokenRules};
use baton_core::keys::{KeyRing, SigningAlg, StoredKey};
use baton_core::refresh::RefreshToken;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "http://127.0.0.1:4000".into(),
        sub: "0190f3a2-5c3e-7b61-9a53-2f4d6c1e8b90".into(),
        aud: "baton".into(),
        exp: NOW.unix_timestamp() + 900,
        iat: NOW.unix_timestamp(),
        nbf: None,
        jti: "5f0c8a4e-58a1-4c52-9b8e-0d8a3c0b1f77".into(),
        client_id: "baton".into(),
        sid: "0190f3a2-5c3e-7b61-9a53-2f4d6c1e8b91".into(),
        preferred_username: "alice".into(),
        email: None,
        email_verified: None,
        auth_time: None,
        amr: Vec::new(),
        scope: None,
        roles: Vec::new(),
        cnf: None,
    }
}

fn ring(alg: SigningAlg) -> KeyRing {
    let key = StoredKey::generate(alg, NOW).expect("key");
    KeyRing::build(&key, std::slice::from_ref(&key), NOW, Duration::minutes(20)).expect("ring")
}

fn access_tokens(c: &mut Criterion) {
    let rules = TokenRules {
        issuer: "http://127.0.0.1:4000".into(),
        audience: "baton".into(),
        leeway_secs: 0,
    };
    let mut group = c.benchmark_group("access token");
    group.throughput(Throughput::Elements(1));
    for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
        let ring = ring(alg);
        let claims = claims();
        group.bench_function(format!("mint {alg}"), |b| {
            b.iter(|| access::mint(&ring, &claims).expect("mint"));
        });
        let token = access::mint(&ring, &claims).expect("mint");
        group.bench_function(format!("verify {alg}"), |b| {
            b.iter(|| access::verify(&ring, &rules, &token, NOW).expect("valid"));
        });
    }
    group.finish();
}

fn refresh_tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("refresh token");
    group.throughput(Throughput::Elements(1));
    let presented = RefreshToken::generate().expect("rng");
    group.bench_function("generate, hash and seal a successor", |b| {
        b.iter(|| {
            let next = RefreshToken::generate().expect("rng");
            let hash = next.hash();
            (hash, presented.seal(&next).expect("seal"))
        });
    });
    let next = RefreshToken::generate().expect("rng");
    let sealed = presented.seal(&next).expect("seal");
    group.bench_function("open a sealed successor (grace replay)", |b| {
        b.iter(|| presented.open(&sealed).expect("opens"));
    });
    group.finish();
}

criterion_group!(benches, access_tokens, refresh_tokens);
criterion_main!(benches);
