//! A lean HTTP/1.1 client: one keep-alive connection per virtual client, driven with hyper's
//! low-level `client::conn::http1` API, reconnecting when the server closes the connection
//! (gunicorn's sync workers close after every answer) or when it breaks.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// No single request may take longer than this (a DRF login queue at c64 takes several seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the server is.
#[derive(Debug, Clone)]
pub struct Target {
    /// Socket address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: HeaderValue,
}

impl Target {
    /// Parses `http://HOST:PORT` (an IP address; the benchmark only talks to loopback).
    pub fn parse(base: &str) -> anyhow::Result<Self> {
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("--base must start with http:// (got {base})"))?;
        let authority = rest.trim_end_matches('/');
        let addr: SocketAddr = authority
            .parse()
            .map_err(|e| anyhow::anyhow!("--base must be http://IP:PORT ({authority}: {e})"))?;
        Ok(Self {
            addr,
            host: HeaderValue::from_str(authority)?,
        })
    }
}

/// A response: status and the whole body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// One virtual client's connection.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened (the first one included).
    pub connects: u64,
    /// Requests re-sent once because a reused connection turned out to be closed.
    pub stale_retries: u64,
}

/// A request failed before a status line came back.
pub type TransportError = String;

impl Conn {
    /// A client that connects lazily, on its first request.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            sender: None,
            connects: 0,
            stale_retries: 0,
        }
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the server or the client closes the connection; errors show up on the
            // request that was using it.
            let _ = connection.await;
        });
        self.connects += 1;
        Ok(sender)
    }

    /// Sends one request and reads the whole answer. A reused connection that turns out to be
    /// closed is replaced and the request sent again once (counted in `stale_retries`); any
    /// other failure is returned and the connection dropped.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> Result<Reply, TransportError> {
        self.request_with(method, path, bearer, None, body).await
    }

    /// [`Self::request`] with a `DPoP` proof header.
    pub async fn request_with(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&HeaderValue>,
        dpop: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> Result<Reply, TransportError> {
        for attempt in 0..2 {
            let (mut sender, fresh) = match self.sender.take() {
                Some(s) if !s.is_closed() => (s, false),
                _ => (self.connect().await?, true),
            };
            if sender.ready().await.is_err() {
                if fresh {
                    return Err("a new connection closed at once".into());
                }
                self.stale_retries += 1;
                continue;
            }
            let mut builder = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(HOST, self.target.host.clone());
            if let Some(b) = bearer {
                builder = builder.header(AUTHORIZATION, b.clone());
            }
            if let Some(proof) = dpop {
                builder = builder.header("dpop", proof.clone());
            }
            let req = match &body {
                Some(b) => builder
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(Full::new(b.clone())),
                None => builder.body(Full::new(Bytes::new())),
            }
            .map_err(|e| format!("building the request: {e}"))?;
            let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let resp = sender.send_request(req).await?;
                let status = resp.status().as_u16();
                let close = resp
                    .headers()
                    .get(CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
                    || resp.version() == hyper::Version::HTTP_10;
                let body = resp.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, close, body))
            })
            .await;
            match sent {
                Ok(Ok((status, close, body))) => {
                    if !close {
                        self.sender = Some(sender);
                    }
                    return Ok(Reply { status, body });
                }
                Ok(Err(e))
                    if !fresh && attempt == 0 && (e.is_canceled() || e.is_incomplete_message()) =>
                {
                    // The server closed an idle keep-alive connection as we used it.
                    self.stale_retries += 1;
                }
                Ok(Err(e)) => return Err(format!("{method} {path}: {e}")),
                Err(_) => {
                    return Err(format!(
                        "{method} {path}: no answer within {}s",
                        REQUEST_TIMEOUT.as_secs()
                    ))
                }
            }
        }
        Err(format!("{method} {path}: the connection kept closing"))
    }
}
