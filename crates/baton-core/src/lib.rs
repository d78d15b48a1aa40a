//! baton's domain: who users are, how passwords are checked, how access tokens are signed and
//! verified, and how refresh tokens rotate. No HTTP and no SQL live here: the server calls
//! [`service::Baton`], and storage is reached through the [`store::Store`] trait.

pub mod access;
pub mod audit;
pub mod client;
pub mod clock;
pub mod dpop;
pub mod email;
pub mod error;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod mfa;
pub mod oidc;
pub mod password;
pub mod refresh;
pub mod roles;
pub mod rotation;
pub mod service;
pub mod store;
pub mod username;
pub mod vault;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, RefreshError};
pub use ids::{SessionId, UserId};
pub use service::{Baton, Policy};
pub use username::Username;
