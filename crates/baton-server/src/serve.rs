//! The connection loop: HTTP/1.1 on hyper, with the limits an internet-facing server needs and
//! `axum::serve` does not set: a deadline for a request's head that runs from the connection's
//! first moment (so a socket that never sends a byte is closed too) and ends idle keep-alive
//! connections, a deadline on every write (a client that stops reading its answers cannot hold a
//! connection), a cap on open connections (past it, new ones wait in the kernel's backlog), a
//! hard bound on the head's size, and a shutdown that waits for requests in flight at most
//! [`ServeLimits::shutdown_timeout`] and then closes what is left.
//!
//! HTTP/1.1 only: TLS terminates at the proxy in front of baton, and HTTP/2 without TLS (prior
//! knowledge) would first wait for the client's preface with no deadline at all.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt as _;

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Longest wait for a request's head, from the connection's opening or the end of the
    /// previous response (an idle keep-alive connection is closed after it too), and for any
    /// write to the client to make progress.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest wait for requests in flight once shutdown begins.
    pub shutdown_timeout: Duration,
    /// Largest head (request line and headers) read at all; the router answers `431` from half
    /// of it, with a JSON body.
    pub max_head: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for at most `limits.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head.max(8192));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.header_timeout));
        let app = router.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(axum::body::Body::new))
            },
        ));
        let connection =
            graceful.watch(builder.serve_connection(TokioIo::new(Box::pin(stream)), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open_at_shutdown = graceful.count();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_timeout) => {
            tracing::warn!(
                open_at_shutdown,
                timeout_secs = limits.shutdown_timeout.as_secs_f64(),
                "shutdown deadline passed; closing the connections still open"
            );
        }
    }
}
