//! DPoP (RFC 9449) at baton's own endpoints: a proof checked against the request, the server's
//! nonce when one is required, and its `jti` recorded once (in the database, so instances
//! sharing one share the check).

use super::Baton;
use crate::dpop::{check_proof, Proof, ProofContext, ProofError, Recorded};
use crate::error::AuthError;

/// How long one server nonce is made for, in seconds; a nonce is taken in its window and the
/// next, so it works for one to two windows.
pub const DPOP_NONCE_WINDOW: i64 = 60;

/// What a DPoP proof is checked against.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The `DPoP` header's value.
    pub proof: &'a str,
    /// The request's method.
    pub method: &'a str,
    /// The request's URI at baton's external URL (issuer and path).
    pub uri: &'a str,
    /// The access token it comes with, at a protected resource (`ath`).
    pub access_token: Option<&'a str>,
    /// Whether the proof must carry the server's current nonce.
    pub nonce_required: bool,
}

impl Baton {
    /// The server's DPoP nonce now (`DPoP-Nonce`).
    pub fn dpop_nonce(&self) -> String {
        self.vault
            .dpop_nonce(self.now().unix_timestamp().div_euclid(DPOP_NONCE_WINDOW))
    }

    /// Checks a DPoP proof as RFC 9449 §4.3 says, the nonce when required, and records its
    /// `jti`: `Ok(Err(_))` is a refused proof ([`ProofError::Nonce`] answered with a fresh
    /// nonce, the rest `invalid_dpop_proof`), `Err` a failure of storage.
    pub async fn check_dpop(
        &self,
        request: &DpopRequest<'_>,
    ) -> Result<Result<Proof, ProofError>, AuthError> {
        let now = self.now();
        let proof = match check_proof(
            request.proof,
            &ProofContext {
                method: request.method,
                uri: request.uri,
                now: now.unix_timestamp(),
                access_token: request.access_token,
                nonce: None,
            },
        ) {
            Ok(proof) => proof,
            Err(e) => return Ok(Err(e)),
        };
        if request.nonce_required {
            let window = now.unix_timestamp().div_euclid(DPOP_NONCE_WINDOW);
            let fresh = proof.nonce.as_deref().is_some_and(|n| {
                [window, window - 1]
                    .iter()
                    .any(|w| self.vault.is_dpop_nonce(n, *w))
            });
            if !fresh {
                return Ok(Err(ProofError::Nonce));
            }
        }
        let until = time::OffsetDateTime::from_unix_timestamp(proof.replay_until())
            .map_err(AuthError::internal)?;
        match self
            .store
            .use_dpop_proof(proof.replay_id(), until, now)
            .await?
        {
            Recorded::Fresh => Ok(Ok(proof)),
            Recorded::Replayed => {
                tracing::info!("DPoP proof replayed");
                Ok(Err(ProofError::Replayed))
            }
            Recorded::TooOld => Ok(Err(ProofError::Iat)),
        }
    }

    /// Forgets used DPoP proofs past their window; how many.
    pub async fn purge_dpop_proofs(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_dpop_proofs(self.deletion_now()).await?)
    }
}
