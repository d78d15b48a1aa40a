//! OAuth clients. The first-party client `baton` (the `/auth/*` endpoints) always exists and is
//! public; others are added by the operator, public (id only) or confidential (id and secret).
//! A secret has 256 random bits, so a SHA-256 of it is stored rather than a slow password hash.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::fmt;
use time::OffsetDateTime;

/// An OAuth client as stored.
#[derive(Clone)]
pub struct ClientRecord {
    /// The `client_id`.
    pub id: String,
    /// Whether it authenticates with a secret.
    pub confidential: bool,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<Vec<u8>>,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRecord")
            .field("id", &self.id)
            .field("confidential", &self.confidential)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Why a client id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    /// Empty, too long or with characters outside `A-Z a-z 0-9 . _ -`.
    #[error("client ids are 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    Malformed,
    /// `baton` names the first-party client.
    #[error("the client id 'baton' is reserved")]
    Reserved,
}

/// Checks an operator-chosen client id.
pub fn parse_client_id(id: &str) -> Result<&str, ClientIdError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 64 || !id.chars().all(ok_char) {
        return Err(ClientIdError::Malformed);
    }
    if id == crate::service::FIRST_PARTY_CLIENT {
        return Err(ClientIdError::Reserved);
    }
    Ok(id)
}

/// A new client secret and its stored hash.
pub fn generate_secret() -> Result<(String, Vec<u8>), crate::refresh::RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|_| crate::refresh::RandomError)?;
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_secret(&secret);
    Ok((secret, hash))
}

fn hash_secret(secret: &str) -> Vec<u8> {
    digest(&SHA256, secret.as_bytes()).as_ref().to_vec()
}

impl ClientRecord {
    /// Whether `secret` is this client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash
            .as_deref()
            .is_some_and(|stored| verify_slices_are_equal(stored, &hash_secret(secret)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves() {
        let (secret, hash) = generate_secret().expect("rng");
        let client = ClientRecord {
            id: "api".into(),
            confidential: true,
            secret_hash: Some(hash),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(client.secret_matches(&secret));
        assert!(!client.secret_matches("guess"));
        assert!(!format!("{client:?}").contains(&secret));
    }

    #[test]
    fn client_ids_are_plain_and_baton_is_reserved() {
        assert_eq!(parse_client_id("billing-api"), Ok("billing-api"));
        assert_eq!(parse_client_id("baton"), Err(ClientIdError::Reserved));
        assert_eq!(parse_client_id("a b"), Err(ClientIdError::Malformed));
        assert_eq!(parse_client_id(""), Err(ClientIdError::Malformed));
    }
}
