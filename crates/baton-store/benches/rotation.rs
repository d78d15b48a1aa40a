//! One refresh-token rotation through the `Store`, as the service calls it: on SQLite (the
//! writer thread, one transaction per rotation when run one at a time, and group commit when 64
//! run at once) and, when `BATON_TEST_POSTGRES_URL` names a cluster, on PostgreSQL
//! (`cargo bench -p baton-store`).

#![allow(clippy::expect_used, missing_docs)] // set-up failures end the benchmark

use baton_core::refresh::RefreshToken;
use baton_core::store::{NewSession, RotateOutcome, RotateRequest, Store, UserRecord};
use baton_core::{SessionId, UserId};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::{Arc, Mutex};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

/// A store with one user and `chains` sessions; the current token of each.
async fn seeded(store: &Arc<dyn Store>, chains: usize) -> Vec<RefreshToken> {
    let user = UserRecord {
        id: UserId::generate(),
        username: "bench".into(),
        username_key: "bench".into(),
        password_hash: "$argon2id$placeholder".into(),
        created_at: T0,
        disabled_at: None,
        email: None,
        email_key: None,
        email_verified_at: None,
        roles: Vec::new(),
    };
    store.insert_user(&user).await.expect("user");
    let mut tokens = Vec::new();
    for _ in 0..chains {
        let token = RefreshToken::generate().expect("rng");
        let session = NewSession {
            id: SessionId::generate(),
            user_id: user.id.clone(),
            client_id: "baton".into(),
            created_at: T0,
            idle_expires_at: T0 + Duration::days(7),
            absolute_expires_at: T0 + Duration::days(30),
            user_agent: None,
            ip: None,
            live_limit: 0,
            password_hash: user.password_hash.clone(),
            amr: "pwd".into(),
            scope: None,
            auth_time: None,
            parent_id: None,
            audience: None,
            dpop_jkt: None,
        };
        store
            .create_session(&session, &token.hash())
            .await
            .expect("session");
        tokens.push(token);
    }
    tokens
}

/// Rotates `token` once; returns its successor.
async fn rotate(store: &dyn Store, token: &RefreshToken) -> RefreshToken {
    let next = RefreshToken::generate().expect("rng");
    let request = RotateRequest {
        presented: token.hash(),
        successor: next.hash(),
        sealed_successor: token.seal(&next).expect("seal"),
        now: T0 + Duration::seconds(1),
        grace: Duration::seconds(10),
        client_id: None,
        dpop_jkt: None,
        bind_jkt: None,
    };
    match store.rotate(&request).await.expect("rotate") {
        RotateOutcome::Rotated(_) => next,
        other => panic!("expected a rotation, got {other:?}"),
    }
}

fn bench_store(c: &mut Criterion, name: &str, open: impl Fn() -> Arc<dyn Store>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime.block_on(async { open() });
    let chains = runtime.block_on(seeded(&store, 64));
    let mut group = c.benchmark_group(format!("rotation {name}"));
    group.throughput(Throughput::Elements(1));
    let all = Mutex::new(chains);
    group.bench_function("one at a time", |b| {
        b.to_async(&runtime).iter(|| async {
            let token = all.lock().expect("lock")[0].clone();
            let next = rotate(store.as_ref(), &token).await;
            all.lock().expect("lock")[0] = next;
        });
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("64 concurrent chains", |b| {
        b.to_async(&runtime).iter(|| async {
            let tokens = all.lock().expect("lock").clone();
            let tasks: Vec<_> = tokens
                .into_iter()
                .map(|t| {
                    let store = store.clone();
                    tokio::spawn(async move { rotate(store.as_ref(), &t).await })
                })
                .collect();
            let mut next = Vec::with_capacity(tasks.len());
            for t in tasks {
                next.push(t.await.expect("join"));
            }
            *all.lock().expect("lock") = next;
        });
    });
    group.finish();
}

fn rotations(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(baton_store::open(&url))
        .expect("opens");
    bench_store(c, "SQLite", || sqlite.clone());
    if let Some(admin) = baton_store::testing::postgres_admin_url() {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let pg = rt.block_on(async {
            let url = baton_store::testing::fresh_postgres_database(&admin)
                .await
                .expect("a fresh database");
            baton_store::open(&url).await.expect("opens")
        });
        bench_store(c, "PostgreSQL", || pg.clone());
    }
}

criterion_group!(benches, rotations);
criterion_main!(benches);
