//! Passwords: length rules at the edge, Argon2id hashing off the async runtime on a bounded pool,
//! and a dummy hash so an unknown user costs the same time as a wrong password.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

/// Longest accepted password, in Unicode code points.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A password as typed; its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than the configured minimum.
    #[error("password must be at least {0} characters")]
    TooShort(usize),
    /// Longer than 1024 characters.
    #[error("password must be at most 1024 characters")]
    TooLong,
}

impl Password {
    /// Checks a new password against the length rules; never truncates.
    pub fn new(raw: String, min_chars: usize) -> Result<Self, PasswordError> {
        let n = raw.chars().count();
        if n < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(raw))
    }

    /// A password presented at login; no rules apply, it is only compared.
    pub fn presented(raw: String) -> Self {
        Self(raw)
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash uses other parameters than today's and should be replaced.
    pub needs_rehash: bool,
}

/// Hashing failed for a reason that is not the caller's input.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Argon2id hashing on a bounded pool of blocking threads.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// OWASP's recommended Argon2id parameters: 19 MiB, 2 passes, 1 lane.
    pub fn owasp_params() -> Params {
        #[allow(clippy::expect_used)] // constant parameters inside Argon2's documented ranges
        Params::new(19_456, 2, 1, None).expect("valid constant Argon2 parameters")
    }

    /// A hasher running at most `concurrency` hashes at once.
    pub fn new(params: Params, concurrency: usize) -> Result<Self, HashError> {
        let dummy = hash_blocking(&params, b"baton dummy password, never matches")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy.into(),
        })
    }

    /// Hashes a new password to a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let params = self.params.clone();
        let pw = password.clone();
        self.run(move || hash_blocking(&params, pw.expose()))
            .await?
    }

    /// Checks a password against a stored PHC string, or against a dummy hash when the user does
    /// not exist (`stored == None`), so both cases take the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, HashError> {
        let user_exists = stored.is_some();
        let phc: Arc<str> = stored.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let params = self.params.clone();
        let pw = password.clone();
        let verified = self
            .run(move || verify_blocking(&params, pw.expose(), &phc))
            .await?;
        Ok(Verified {
            ok: verified.ok && user_exists,
            needs_rehash: verified.needs_rehash && user_exists,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .in_current_span()
            .await
            .map_err(|e| HashError(e.to_string()))
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon(params)
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

fn verify_blocking(params: &Params, password: &[u8], phc: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    let ok = argon(params).verify_password(password, &parsed).is_ok();
    let current = parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == params.m_cost()
                && p.t_cost() == params.t_cost()
                && p.p_cost() == params.p_cost()
        });
    Verified {
        ok,
        needs_rehash: ok && !current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(64, 1, 1, None).expect("valid")
    }

    #[test]
    fn length_rules_count_code_points_and_never_truncate() {
        assert_eq!(
            Password::new("1234567".into(), 8).err(),
            Some(PasswordError::TooShort(8))
        );
        assert!(Password::new("ééééééé€".into(), 8).is_ok());
        assert!(Password::new("é".repeat(1024), 8).is_ok());
        assert_eq!(
            Password::new("a".repeat(1025), 8).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::presented("hunter22".into());
        assert!(!format!("{p:?}").contains("hunter22"));
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::new(cheap(), 2).expect("hasher");
        let pw = Password::presented("correct horse".into());
        let phc = hasher.hash(&pw).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        let good = hasher.verify(&pw, Some(&phc)).await.expect("verify");
        assert_eq!(
            good,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let bad = hasher
            .verify(&Password::presented("wrong".into()), Some(&phc))
            .await
            .expect("verify");
        assert!(!bad.ok);
        let unknown = hasher.verify(&pw, None).await.expect("verify");
        assert!(!unknown.ok);
    }

    #[tokio::test]
    async fn old_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(cheap(), 1).expect("hasher");
        let pw = Password::presented("correct horse".into());
        let phc = old.hash(&pw).await.expect("hash");
        let new =
            PasswordHasher::new(Params::new(128, 1, 1, None).expect("valid"), 1).expect("hasher");
        let v = new.verify(&pw, Some(&phc)).await.expect("verify");
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }
}
