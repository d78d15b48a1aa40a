//! baton's HTTP server: configuration, startup, routes, extractors, the `ApiError` edge,
//! telemetry and graceful shutdown. The binary in `crates/baton` is a thin CLI over this.

pub mod admission;
pub mod app;
pub mod backchannel;
pub mod config;
pub mod cookie;
pub mod dpop;
pub mod error;
pub mod extract;
pub mod limiter;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod pages;
mod routes;
pub mod serve;
pub mod shared_limits;
pub mod state;
pub mod telemetry;
pub mod throttle;

pub use app::{default_issuer, open_service, shutdown_signal, Access, Application};
pub use config::{Config, Settings};
pub use error::ApiError;
pub use routes::BODY_LIMIT;
