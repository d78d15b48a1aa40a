//! Unit tests of [`super`].

use super::*;

fn admission(running: usize, waiting: usize, max_wait_ms: u64) -> Admission {
    Admission::new(Capacity {
        running,
        waiting,
        max_wait: Duration::from_millis(max_wait_ms),
    })
}

#[tokio::test]
async fn requests_past_the_running_and_waiting_room_are_shed_at_once() {
    let a = Arc::new(admission(2, 1, 60_000));
    let first = a.admit().await.expect("room");
    let _second = a.admit().await.expect("room");
    let waiter = tokio::spawn({
        let a = Arc::clone(&a);
        async move { a.admit().await.map(drop) }
    });
    while a.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    // The line holds one: the next is shed without waiting.
    let shed = tokio::time::timeout(Duration::from_secs(5), a.admit())
        .await
        .expect("answered at once");
    assert_eq!(shed.map(drop), Err(Shed::LineFull));
    drop(first);
    assert_eq!(
        waiter.await.expect("joined"),
        Ok(()),
        "the waiting one got room"
    );
}

#[tokio::test]
async fn a_request_that_waits_too_long_is_shed_and_leaves_the_line() {
    let a = admission(1, 4, 100);
    let _running = a.admit().await.expect("room");
    assert_eq!(a.admit().await.map(drop), Err(Shed::WaitedTooLong));
    assert_eq!(a.waiting(), 0);
}

#[tokio::test]
async fn a_cancelled_wait_leaves_the_line_and_room_comes_back_when_a_request_ends() {
    let a = Arc::new(admission(1, 1, 60_000));
    let running = a.admit().await.expect("room");
    let waiter = tokio::spawn({
        let a = Arc::clone(&a);
        async move { a.admit().await.map(drop) }
    });
    while a.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    waiter.abort();
    let _ = waiter.await;
    assert_eq!(a.waiting(), 0, "the cancelled request left the line");
    drop(running);
    let _again = a.admit().await.expect("room came back");
}

#[tokio::test]
async fn waiting_requests_are_admitted_in_the_order_they_came() {
    let a = Arc::new(admission(1, 8, 60_000));
    let running = a.admit().await.expect("room");
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for n in 0..5 {
        let (admission, order) = (Arc::clone(&a), Arc::clone(&order));
        waiters.push(tokio::spawn(async move {
            let permit = admission.admit().await.expect("admitted");
            order.lock().expect("lock").push(n);
            drop(permit);
        }));
        while a.waiting() <= n {
            tokio::task::yield_now().await;
        }
    }
    drop(running);
    for w in waiters {
        w.await.expect("joined");
    }
    assert_eq!(*order.lock().expect("lock"), [0, 1, 2, 3, 4]);
}
