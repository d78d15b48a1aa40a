//! Passwords: length rules at the edge, and Argon2id on a fixed pool of hashing threads.
//!
//! Each hashing thread owns one Argon2 memory area (19 MiB at OWASP's parameters) and reuses it
//! from one hash to the next, releasing it after a moment without work: the process holds at
//! most one area per thread whatever the login rate, and none once the logins stop. Jobs wait in
//! a bounded queue; when it is full the request is refused at once ([`HashError::Busy`], a `503`
//! with `Retry-After`) rather than queued without bound. The threads run at a lower scheduling
//! priority than the request threads, so a login flood slows logins, not token checks. A dummy
//! hash makes an unknown user cost the same as a wrong password.

use std::fmt;

mod hasher;
pub use hasher::{HashError, HashingLimits, PasswordHasher, Verified};

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

#[cfg(test)]
mod tests;
