//! `POST /auth/password/forgot` answers in the same time whether or not the account exists:
//! the handler's time for an account with a confirmed address (whose mail is then queued) and
//! for an address nobody has, side by side, through the whole router on a real SQLite database.
//! The clock moves past the limits' window before each request, so no request is refused.
//! `cargo bench -p baton-server --bench forgot`; docs/api.md has the figures.

#![allow(
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout
)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use baton_core::{Clock as _, ManualClock};
use baton_server::{Application, Config, Settings};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

fn forgot(email: &str) -> Request<Body> {
    Request::post("/auth/password/forgot")
        .header("content-type", "application/json")
        .body(Body::from(format!("{{\"email\":\"{email}\"}}")))
        .expect("request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let clock = ManualClock::new(baton_core::SystemClock.now());
    let (router, state) = rt.block_on(async {
        let settings = Settings {
            listen: Some("127.0.0.1:0".into()),
            database_url: Some(format!("sqlite://{}", dir.path().join("b.db").display()).into()),
            // Mail is queued, never sent: no worker runs in this process.
            smtp_url: Some("smtp://127.0.0.1:9".into()),
            ..Settings::default()
        };
        let app = Application::build_with_clock(
            Config::resolve(&settings).expect("config"),
            Arc::new(clock.clone()),
        )
        .await
        .expect("app");
        let state = app.state().clone();
        // An account with a confirmed address, confirmed with the token of its queued mail.
        state
            .baton
            .register(
                "known",
                "a long enough password".into(),
                Some("known@example.com"),
            )
            .await
            .expect("register");
        let mail = state
            .baton
            .claim_mail(1, time::Duration::minutes(1))
            .await
            .expect("claim")
            .pop()
            .expect("the confirmation");
        let vars = state.baton.open_mail(&mail).expect("open");
        let token = vars.link.split_once("#verify=").expect("link").1;
        state.baton.verify_email(token).await.expect("verify");
        (app.router(), state)
    });

    let mut group = c.benchmark_group("forgot");
    group.measurement_time(Duration::from_secs(8));
    // Both measurements run the same interleaved load (a request for the account, then one for
    // nobody); each times only its own kind, so whatever the work after the answers costs falls
    // on both alike.
    for (name, timed) in [("confirmed account", 0), ("no such account", 1)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (router, state, clock) = (router.clone(), state.clone(), clock.clone());
                async move {
                    let mut answering = Duration::ZERO;
                    for _ in 0..iters {
                        for (i, email) in ["known@example.com", "nobody@example.com"]
                            .into_iter()
                            .enumerate()
                        {
                            clock.advance(Duration::from_secs(301));
                            let started = std::time::Instant::now();
                            let r = router.clone().oneshot(forgot(email)).await.expect("answer");
                            if i == timed {
                                answering += started.elapsed();
                            }
                            assert_eq!(r.status(), StatusCode::ACCEPTED);
                            // The lookup (and, for the account, the queued mail) runs after
                            // the answer; it finishes before the next request.
                            while state.reset_slots.available_permits() < RESET_SLOTS {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                    answering
                }
            });
        });
    }
    group.finish();
    let queued = rt.block_on(state.baton.outbox_len()).expect("outbox");
    println!("reset mails queued meanwhile: {queued}");
    // The mailer's connection pool must be dropped inside the runtime.
    rt.block_on(async move {
        drop(router);
        drop(state);
    });
}

/// `baton-server`'s room for lookups after the answer (`app.rs`).
const RESET_SLOTS: usize = 64;

criterion_group!(benches, bench);
criterion_main!(benches);
