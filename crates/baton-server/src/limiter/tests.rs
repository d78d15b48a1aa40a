//! Unit tests of [`super`].

use super::*;
use baton_core::ManualClock;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn limiter(user: u32, ip: u32) -> (LoginLimiter, ManualClock) {
    let clock = ManualClock::new(T0);
    (LoginLimiter::new(user, ip, Arc::new(clock.clone())), clock)
}

#[tokio::test]
async fn the_user_limit_holds_for_five_minutes_after_the_oldest_failure() {
    let (l, clock) = limiter(3, 100);
    for _ in 0..3 {
        l.begin("alice", Some("1.1.1.1"))
            .await
            .expect("room")
            .failed();
        clock.advance(std::time::Duration::from_secs(1));
    }
    clock.advance(std::time::Duration::from_secs(7));
    assert_eq!(
        l.begin("alice", None).await.err(),
        Some(Refusal::TooManyFailures { retry_after: 290 })
    );
    assert!(
        l.begin("bob", None).await.is_ok(),
        "other users are unaffected"
    );
    clock.advance(std::time::Duration::from_secs(290));
    assert!(l.begin("alice", None).await.is_ok());
}

#[tokio::test]
async fn attempts_in_flight_make_others_wait_not_fail() {
    let (l, _) = limiter(3, 100);
    let pending: Vec<_> = futures_collect(&l, 3).await;
    let waiting = l.begin("alice", None);
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), waiting.as_mut())
            .await
            .is_err(),
        "three checks in flight fill the limit, so the fourth waits"
    );
    let mut pending = pending.into_iter();
    pending.next().expect("one").succeeded();
    let fourth = tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
        .await
        .expect("goes once one finishes");
    assert!(fourth.is_ok());
}

async fn futures_collect(l: &LoginLimiter, n: usize) -> Vec<Attempt<'_>> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(l.begin("alice", None).await.expect("room"));
    }
    v
}

#[tokio::test]
async fn waiting_attempts_are_refused_once_the_failures_reach_the_limit() {
    let (l, _) = limiter(2, 100);
    let a = l.begin("alice", None).await.expect("room");
    let b = l.begin("alice", None).await.expect("room");
    let waiting = l.begin("alice", None);
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(20), waiting.as_mut())
            .await
            .is_err()
    );
    a.failed();
    b.failed();
    let third = tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
        .await
        .expect("answered");
    assert!(matches!(third, Err(Refusal::TooManyFailures { .. })));
}

#[tokio::test]
async fn waiting_attempts_go_in_the_order_they_arrived() {
    let (l, _) = limiter(1, 100);
    let first = l.begin("alice", None).await.expect("room");
    let order = std::sync::Mutex::new(Vec::new());
    let waiter = |i: usize| {
        let (l, order) = (&l, &order);
        async move {
            let a = l.begin("alice", None).await.expect("admitted");
            order.lock().expect("lock").push(i);
            tokio::task::yield_now().await;
            a.succeeded();
        }
    };
    let all = async {
        tokio::join!(waiter(0), waiter(1), waiter(2), waiter(3));
    };
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        first.succeeded();
    };
    tokio::join!(all, release);
    assert_eq!(*order.lock().expect("lock"), vec![0, 1, 2, 3]);
}

#[test]
fn ipv6_clients_count_by_their_64() {
    assert_eq!(ip_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert_eq!(
        ip_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
        "2001:db8:1:2::/64"
    );
    assert_eq!(ip_key("::ffff:192.0.2.1"), "192.0.2.1");
    assert_eq!(ip_key("192.0.2.1"), "192.0.2.1");
}

/// Finding 10: a username of any length is kept as a 32-byte digest, and the map of
/// counters is swept of expired entries as it grows, not scanned on every insert.
#[tokio::test]
async fn finding_10_limiter_keys_are_digests_and_the_map_is_swept() {
    let (l, clock) = limiter(10, 0);
    let long = "x".repeat(64 * 1024);
    l.begin(&long, None).await.expect("room").failed();
    for i in 0..FIRST_SWEEP {
        l.begin(&format!("user{i}"), None)
            .await
            .expect("room")
            .failed();
    }
    assert_eq!(l.lock().by_user.entries.len(), FIRST_SWEEP + 1);
    // Once the window has passed, the next growth sweeps the expired entries away.
    clock.advance(std::time::Duration::from_secs(301));
    for i in 0..FIRST_SWEEP {
        l.begin(&format!("later{i}"), None)
            .await
            .expect("room")
            .failed();
    }
    let entries = l.lock().by_user.entries.len();
    assert!(
        entries <= FIRST_SWEEP,
        "{entries} entries: nothing was swept"
    );
}

#[tokio::test]
async fn a_success_clears_the_username_but_not_the_ip() {
    let (l, _) = limiter(2, 3);
    l.begin("alice", Some("ip")).await.expect("room").failed();
    l.begin("alice", Some("ip"))
        .await
        .expect("room")
        .succeeded();
    assert!(l.begin("alice", Some("other")).await.is_ok());
    l.begin("carol", Some("ip")).await.expect("room").failed();
    l.begin("dave", Some("ip")).await.expect("room").failed();
    assert!(
        l.begin("erin", Some("ip")).await.is_err(),
        "three failures from one IP"
    );
}

#[tokio::test]
async fn a_dropped_attempt_frees_its_place_and_leaves_nothing_behind() {
    let (l, _) = limiter(1, 1);
    drop(l.begin("alice", Some("ip")).await.expect("room"));
    l.begin("alice", Some("ip"))
        .await
        .expect("room")
        .abandoned();
    let state = l.lock();
    assert!(state.by_user.entries.is_empty() && state.by_ip.entries.is_empty());
}

#[tokio::test]
async fn a_long_username_is_kept_as_a_fixed_size_digest() {
    let (l, _) = limiter(10, 10);
    l.begin(&"x".repeat(64 * 1024), None)
        .await
        .expect("room")
        .failed();
    let state = l.lock();
    assert_eq!(state.by_user.entries.len(), 1);
    assert!(state.by_user.entries.keys().all(|k| k.len() == 32));
}
