//! The security audit's findings, one test each (named after the finding), as
//! `docs/security.md` lists them.

#![allow(clippy::expect_used)] // a failed expectation is a failed test

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use std::time::Duration;

async fn metrics_text(app: &TestApp) -> String {
    let r = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.expect("body")
}

/// Finding 1: made-up methods and paths must not add metric series.
#[tokio::test]
async fn finding_01_metrics_labels_are_bounded() {
    let app = TestApp::spawn().await;
    for i in 0..200 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).expect("token");
        for path in ["/api/me", &format!("/no/such/path/{i}")] {
            let r = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("request");
            assert!(r.status().is_client_error(), "{}", r.status());
        }
    }
    let text = metrics_text(&app).await;
    assert!(!text.contains("MADEUP"), "a made-up method became a label");
    assert!(!text.contains("/no/such/path"), "a raw path became a label");
    assert!(text.contains("method=\"_OTHER\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    // A handful of series per route, whatever was sent.
    assert!(
        text.len() < 64 * 1024,
        "/metrics grew to {} bytes",
        text.len()
    );
}

/// Finding 1: the request line counts toward the head size limit.
#[tokio::test]
async fn finding_01_the_request_line_counts_toward_the_head_limit() {
    let app = TestApp::spawn().await;
    let long = "A".repeat(40 * 1024);
    let method = Method::from_bytes(long.as_bytes()).expect("token");
    let r = app
        .client
        .request(method, app.url("/api/me"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let path = format!("/api/me?{}", "q".repeat(40 * 1024));
    let r = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(body(r).await["error"], "request_header_fields_too_large");
}

/// Finding 2: behind a trusted proxy, the client is the right-most untrusted
/// `X-Forwarded-For` address; what the client wrote to the left of it changes nothing.
#[tokio::test]
async fn finding_02_forged_forwarded_for_entries_do_not_escape_the_ip_limit() {
    let app = TestApp::spawn_with(|s| {
        s.login_limit_ip = Some(3);
        s.trusted_proxies = Some("127.0.0.0/8, ::1".parse().expect("a list"));
    })
    .await;
    app.create_user("alice").await;
    let attempt = |forwarded: String, username: &'static str, password: &'static str| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..6 {
        // Different usernames, so only the IP limit can stop them.
        let r = attempt(format!("203.0.113.{i}, 198.51.100.7"), "nobody", "wrong")
            .await
            .expect("request");
        statuses.push(r.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        3,
        "{statuses:?}"
    );
    // Another client behind the same proxy is not affected, and its session shows its address.
    let r = attempt("203.0.113.1, 192.0.2.44".into(), "alice", PASSWORD)
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let t = Tokens::from(body(r).await);
    assert_eq!(app.sessions(&t.access).await[0]["ip"], "192.0.2.44");
    // IPv6 clients count by /64: the rest of the limit is the same network's.
    for i in 1..=3 {
        let r = attempt(format!("2001:db8:5:6::{i}"), "nobody", "wrong")
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt("2001:db8:5:6:ffff::9".into(), "nobody", "wrong")
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Finding 2: without trusted proxies, `X-Forwarded-For` is ignored.
#[tokio::test]
async fn finding_02_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(|s| s.login_limit_ip = Some(2)).await;
    app.create_user("alice").await;
    for i in 0..2 {
        let r = app
            .client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&serde_json::json!({"username": "nobody", "password": "wrong"}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", "198.51.100.99")
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Finding 3: connections that never finish their headers are closed.
#[tokio::test]
async fn finding_03_stalled_heads_are_closed() {
    use tokio::io::AsyncWriteExt as _;
    let app =
        TestApp::spawn_with(|s| s.header_timeout = Some(std::time::Duration::from_secs(1))).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        stalled.push(s);
    }
    for s in &mut stalled {
        assert!(
            closed_within(s, Duration::from_secs(10)).await,
            "a stalled connection stayed open"
        );
    }
    // The server still answers.
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("up");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Finding 3: a connection that never sends a byte is closed too, so silent sockets cannot fill
/// the connection cap.
#[tokio::test]
async fn finding_03_silent_connections_are_closed() {
    let app = TestApp::spawn_with(|s| {
        s.header_timeout = Some(std::time::Duration::from_secs(1));
        s.max_connections = Some(4);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    for s in &mut silent {
        assert!(
            closed_within(s, Duration::from_secs(10)).await,
            "a silent connection stayed open"
        );
    }
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("up");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Finding 3: a body that does not arrive in time gets `408` and the connection is closed.
#[tokio::test]
async fn finding_03_a_trickled_body_times_out() {
    use tokio::io::AsyncWriteExt as _;
    let app =
        TestApp::spawn_with(|s| s.body_timeout = Some(std::time::Duration::from_secs(1))).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"user",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt as _;
        let _ = s.read_to_end(&mut answer).await;
    })
    .await;
    assert!(read.is_ok(), "the connection stayed open");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"invalid_request\""), "{text}");
}

/// Finding 3: shutdown waits for stalled connections at most the shutdown timeout.
#[tokio::test]
async fn finding_03_shutdown_ends_despite_a_stalled_connection() {
    use tokio::io::AsyncWriteExt as _;
    let app = TestApp::spawn_with(|s| {
        s.shutdown_timeout = Some(std::time::Duration::from_secs(1));
        s.header_timeout = Some(std::time::Duration::from_secs(60));
        s.body_timeout = Some(std::time::Duration::from_secs(60));
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .await
    .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(15), app.stop()).await;
    assert!(stopped.is_ok(), "the server did not stop");
}

/// Finding 3: past the connection cap, new connections wait instead of being served.
#[tokio::test]
async fn finding_03_open_connections_are_capped() {
    let app = TestApp::spawn_with(|s| s.max_connections = Some(2)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let _a = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let _b = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::new();
    let waited = tokio::time::timeout(
        Duration::from_millis(1500),
        fresh.get(app.url("/healthz")).send(),
    )
    .await;
    assert!(waited.is_err(), "a third connection was served");
    drop((_a, _b));
    let r = fresh.get(app.url("/healthz")).send().await.expect("served");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Finding 9: two refresh cookies are refused and cleared, and nobody is signed in.
#[tokio::test]
async fn finding_09_duplicate_refresh_cookies_are_refused() {
    let app = TestApp::spawn().await;
    let attacker = app.user_session("mallory").await;
    let victim = app.user_session("alice").await;
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .header("x-requested-with", "baton")
        .header(
            "cookie",
            format!(
                "baton_refresh={}; baton_refresh={}",
                attacker.refresh, victim.refresh
            ),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let cleared = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cleared.starts_with("baton_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(body(r).await["error"], "invalid_request");
    // Neither token was spent.
    app.refresh_ok(&attacker.refresh).await;
    app.refresh_ok(&victim.refresh).await;
}

/// Finding 13: a path segment that is not UTF-8 gets a JSON `400`, like all bad input.
#[tokio::test]
async fn finding_13_an_invalid_path_segment_gets_a_json_400() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let r = app
        .client
        .delete(app.url("/auth/sessions/%FF%FE%00"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let ct = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(body(r).await["error"], "invalid_request");
}

/// Finding 5: taken usernames count against the client IP like failed logins (the same limit,
/// counted apart), then every registration from that IP gets `429`.
#[tokio::test]
async fn finding_05_registration_is_no_free_enumeration_oracle() {
    let app = TestApp::spawn_with(|s| s.login_limit_ip = Some(3)).await;
    app.create_user("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.register("alice", PASSWORD).await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let r = app.register("bob", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Counted apart from logins: the user can still sign in from there.
    app.login_ok("alice").await;
    // The window passes.
    app.advance(301);
    assert_eq!(
        app.register("bob", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

/// Finding 5: successful registrations are not limited by default.
#[tokio::test]
async fn finding_05_successful_registrations_are_not_limited() {
    let app = TestApp::spawn_with(|s| s.login_limit_ip = Some(2)).await;
    for i in 0..6 {
        let r = app.register(&format!("user{i}"), PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
}

/// Finding 5: the optional cap on successful registrations per client IP.
#[tokio::test]
async fn finding_05_successful_registrations_can_be_capped_per_ip() {
    let app = TestApp::spawn_with(|s| s.register_limit_ip = Some(3)).await;
    for i in 0..3 {
        let r = app.register(&format!("user{i}"), PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = app.register("user3", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    app.advance(301);
    assert_eq!(
        app.register("user3", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

/// Finding 7: look-alike usernames with invisible characters are refused.
#[tokio::test]
async fn finding_07_invisible_characters_in_usernames_are_refused() {
    let app = TestApp::spawn().await;
    app.create_user("Admina247").await;
    for name in [
        "Ad\u{200b}mina247",
        "Admina247\u{202e}",
        "Ad\u{00ad}mina247",
        "\u{feff}Admina247",
        "\u{3164}Admina247",
        "\u{200b}",
    ] {
        let r = app.register(name, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(body(r).await["error"], "invalid_request");
    }
}

/// Security headers on every answer; `no-store` on `/auth` and `/oauth`; HSTS with an https
/// issuer only.
#[tokio::test]
async fn security_headers_are_on_every_answer() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/healthz"),
        (Method::GET, "/.well-known/jwks.json"),
        (Method::POST, "/auth/register"),
        (Method::POST, "/auth/logout"),
        (Method::POST, "/oauth/token"),
        (Method::GET, "/no/such/path"),
    ] {
        let r = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .expect("request");
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        if path.starts_with("/auth") || path.starts_with("/oauth") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
        assert!(!h.contains_key("strict-transport-security"), "{path}");
    }
    let app = TestApp::spawn_with(|s| s.issuer = Some("https://auth.example.com".into())).await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert!(r.headers()["strict-transport-security"]
        .to_str()
        .expect("ascii")
        .starts_with("max-age="));
}

/// Finding 11: live sessions per user are capped (the oldest is revoked) and listed by pages.
#[tokio::test]
async fn finding_11_sessions_per_user_are_capped_and_paginated() {
    let app = TestApp::spawn_with(|s| s.sessions_per_user = Some(3)).await;
    let first = app.user_session("alice").await;
    let mut last = first.clone();
    for _ in 0..4 {
        app.advance(1);
        last = app.login_ok("alice").await;
    }
    assert_eq!(app.sessions(&last.access).await.len(), 3);
    assert_error(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        Some("Refresh token has been revoked"),
    )
    .await;

    let page = |query: String| {
        let app = &app;
        let access = last.access.clone();
        async move {
            app.client
                .get(app.url(&format!("/auth/sessions{query}")))
                .bearer_auth(access)
                .send()
                .await
                .expect("request")
        }
    };
    let r = page("?limit=2".into()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let one = body(r).await;
    assert_eq!(one["sessions"].as_array().expect("array").len(), 2);
    let cursor = one["next_cursor"].as_str().expect("a cursor").to_owned();
    let two = body(page(format!("?limit=2&cursor={cursor}")).await).await;
    assert_eq!(two["sessions"].as_array().expect("array").len(), 1);
    assert!(two.get("next_cursor").is_none(), "{two}");
    let everything = body(page(String::new()).await).await;
    assert!(everything.get("next_cursor").is_none());
    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=%%%",
        "?cursor=bm9wZQ",
    ] {
        let r = page(bad.into()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body(r).await["error"], "invalid_request", "{bad}");
    }
}

/// Finding 4: whatever the algorithm, no private key is readable in the database: every byte
/// stored (SQLite files, or every PostgreSQL value) is free of PKCS#8 key structures.
#[tokio::test]
async fn finding_04_the_database_holds_no_private_key() {
    // The DER of each algorithm's key identifier as PKCS#8 carries it.
    let markers: [(&str, &[u8]); 3] = [
        (
            "EdDSA",
            &[0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
        ),
        (
            "ES256",
            &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
        ),
        (
            "RS256",
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            ],
        ),
    ];
    for (alg, marker) in markers {
        let app =
            TestApp::spawn_with(|s| s.signing_alg = Some(alg.parse().expect("an algorithm"))).await;
        app.user_session("alice").await;
        app.state
            .baton
            .rotate_signing_key(None)
            .await
            .expect("a second key");
        let dump = app.stop_and_dump().await;
        assert!(!dump.is_empty());
        assert!(
            !dump.windows(marker.len()).any(|w| w == marker),
            "a plain {alg} private key is in the database"
        );
        assert!(!dump.windows(11).any(|w| w == b"PRIVATE KEY"));
    }
}

/// Finding 4: the SQLite files and the generated secret are readable by their owner only.
#[cfg(unix)]
#[tokio::test]
async fn finding_04_database_files_and_the_secret_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    if postgres_backend() {
        return;
    }
    let app = TestApp::spawn().await;
    app.user_session("alice").await;
    for name in ["baton.db", "baton.db-wal", "baton.db-shm", "baton.secret"] {
        let path = app.dir.path().join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
    }
}

/// Finding 17: on PostgreSQL the login limits are counted in the database, so two instances
/// together allow what one does.
#[tokio::test]
async fn finding_17_instances_count_failed_logins_together() {
    if !postgres_backend() {
        return;
    }
    let a = TestApp::spawn_with(|s| s.login_limit_user = Some(4)).await;
    let b = TestApp::spawn_in(a.dir.clone(), |s| s.login_limit_user = Some(4)).await;
    a.create_user("alice").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b };
        statuses.push(app.login("alice", "wrong password").await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(
        b.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Finding 17: concurrent attempts spread over two instances still reach at most the limit's
/// worth of password checks, and concurrent correct logins all succeed.
#[tokio::test]
async fn finding_17_concurrent_attempts_over_two_instances_respect_the_limit() {
    if !postgres_backend() {
        return;
    }
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_in(a.dir.clone(), |_| {}).await;
    a.create_user("alice").await;
    a.create_user("bob").await;
    let wrong = (0..20).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.login("alice", "wrong password")
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(wrong)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(refused, 10, "{statuses:?}");
    let right = (0..16).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.login("bob", PASSWORD)
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(right)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

/// Finding 4: a database from before encryption has its keys sealed on the next start, with no
/// plain copy left in its files; a plain key planted later is refused, not used.
#[tokio::test]
async fn finding_04_plain_keys_are_sealed_on_upgrade_and_refused_after() {
    use baton_core::keys::{SigningAlg, StoredKey};
    let marker = [0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    let old = TestApp::spawn().await;
    old.create_user("alice").await;
    let now = baton_core::Clock::now(&old.clock);
    // What a version before encryption stored: the private key in clear, active.
    let plain = StoredKey::generate(SigningAlg::EdDSA, now).expect("key");
    old.store
        .activate_signing_key(&plain, now + time::Duration::hours(1))
        .await
        .expect("planted");
    let dir = old.stop().await;

    let upgraded = TestApp::spawn_in(dir, |_| {}).await;
    let t = upgraded.login_ok("alice").await;
    let header = jsonwebtoken::decode_header(&t.access).expect("header");
    assert_eq!(
        header.kid.as_deref(),
        Some(plain.kid.as_str()),
        "the sealed key signs"
    );
    // Planted again while the server runs: the next reload refuses it.
    let later = StoredKey::generate(SigningAlg::EdDSA, now).expect("key");
    upgraded
        .store
        .activate_signing_key(&later, now + time::Duration::hours(1))
        .await
        .expect("planted");
    assert!(upgraded.state.baton.reload_signing_keys().await.is_err());
    let t = upgraded.login_ok("alice").await;
    let header = jsonwebtoken::decode_header(&t.access).expect("header");
    assert_eq!(
        header.kid.as_deref(),
        Some(plain.kid.as_str()),
        "the planted key is not used"
    );
    // Sealed before the dump: only the planted key, the test's own doing, is plain now.
    upgraded
        .store
        .replace_private_key(&later.kid, b"BTNK1 sealed elsewhere")
        .await
        .expect("replace");
    upgraded.store.scrub_signing_keys().await.expect("scrub");
    let dump = upgraded.stop_and_dump().await;
    assert!(
        !dump.windows(marker.len()).any(|w| w == marker),
        "a plain private key survived the upgrade"
    );
}

/// The audit log: a user reads their own security events, newest first; nobody else's; and
/// every event is counted by kind.
#[tokio::test]
async fn audit_events_are_recorded_and_each_user_reads_their_own() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    app.create_user("bob").await;
    assert_eq!(
        app.login("alice", "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let first = app.login_ok("alice").await;
    let second = app.refresh_ok(&first.refresh).await;
    // A replay within the grace window, then the next rotation.
    app.refresh_ok(&first.refresh).await;
    let third = app.refresh_ok(&second.refresh).await;
    let bob = app.login_ok("bob").await;
    let r = app
        .client
        .get(app.url("/auth/events"))
        .bearer_auth(&third.access)
        .header("user-agent", "audit-test")
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let events = body(r).await["events"].as_array().expect("array").clone();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "grace_replay",
            "login_succeeded",
            "login_failed",
            "registered"
        ],
        "{events:?}"
    );
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(events[0]["session_id"], first_session(&first));
    // Logging out records the end of the session.
    let r = app
        .post_json(
            "/auth/logout",
            &serde_json::json!({"refresh_token": third.refresh}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get_bearer("/auth/events?limit=1", &bob.access).await;
    let page = body(r).await;
    assert_eq!(page["events"][0]["type"], "login_succeeded");
    assert!(page["next_cursor"].is_string());
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for kind in [
        "login_failed",
        "login_succeeded",
        "registered",
        "grace_replay",
        "logout",
    ] {
        assert!(
            metrics.contains(&format!("baton_audit_events_total{{kind=\"{kind}\"}}")),
            "{kind} not counted:\n{metrics}"
        );
    }
    // Failed logins and replays carry no account in the user's list, but are recorded.
    let all = app
        .state
        .baton
        .events(&baton_core::audit::EventQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("all events");
    let all_kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["login_failed", "grace_replay", "logout"] {
        assert!(all_kinds.contains(&kind), "{all_kinds:?}");
    }
    let failed = all
        .iter()
        .find(|e| e.kind.as_str() == "login_failed")
        .expect("failed");
    assert_eq!(failed.username.as_deref(), Some("alice"));
    assert_eq!(failed.reason.as_deref(), Some("invalid_credentials"));
}

fn first_session(t: &Tokens) -> String {
    jwt_claims(&t.access)["sid"]
        .as_str()
        .expect("sid")
        .to_owned()
}

/// A client retrying while a limit holds adds one lockout event per window, not one per
/// refusal; and a name that is no account is not kept (it may be a password typed in the
/// wrong field).
#[tokio::test]
async fn audit_lockouts_are_recorded_once_and_unknown_names_not_at_all() {
    let app = TestApp::spawn_with(|s| s.login_limit_user = Some(2)).await;
    app.create_user("alice").await;
    for _ in 0..2 {
        app.login("alice", "wrong password").await;
    }
    for _ in 0..5 {
        assert_eq!(
            app.login("alice", PASSWORD).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    app.login("Tr0ub4dor&3", "whatever").await;
    let all = app
        .state
        .baton
        .events(&baton_core::audit::EventQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("events");
    let count = |kind: &str| all.iter().filter(|e| e.kind.as_str() == kind).count();
    assert_eq!(count("locked_out"), 1);
    assert_eq!(count("login_failed"), 3);
    let locked = all
        .iter()
        .find(|e| e.kind.as_str() == "locked_out")
        .expect("lockout");
    assert!(locked.user_id.is_some(), "filed under alice");
    assert!(
        all.iter()
            .all(|e| e.username.as_deref() != Some("Tr0ub4dor&3")),
        "a name that is no account was kept"
    );
}
