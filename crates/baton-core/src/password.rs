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
    /// Contains the username it belongs to.
    #[error("password must not contain the username")]
    ContainsUsername,
    /// Scored below the rule's strength (zxcvbn's 0–4 estimate).
    #[error("password is too easy to guess (strength {score} of 4, at least {min} needed){hint}")]
    TooWeak {
        /// Its score.
        score: u8,
        /// The score asked for.
        min: u8,
        /// zxcvbn's warning and suggestions, each sentence led by a space, or empty.
        hint: String,
    },
}

/// Highest strength score zxcvbn gives.
pub const MAX_SCORE: u8 = 4;

/// Usernames shorter than this (in characters) are not looked for inside passwords: a name of
/// one or two letters would refuse a good share of all passwords. zxcvbn still counts them as a
/// known input.
const MIN_NAME_IN_PASSWORD: usize = 3;

/// What a newly chosen password must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRule {
    /// Fewest characters.
    pub min_length: usize,
    /// Lowest strength score (zxcvbn, 0–4); 0 checks the length alone.
    pub min_score: u8,
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

    /// Checks a password chosen for the user whose case-folded username key is `username_key`:
    /// the length rules, then, when `rule` asks for a score, that it does not contain the
    /// username (both compared after NFKC normalisation and case folding) and that zxcvbn,
    /// told the username, scores it at least `rule.min_score`. zxcvbn reads the first 100
    /// characters only, which bounds its work.
    pub fn chosen(
        raw: String,
        username_key: &str,
        rule: PasswordRule,
    ) -> Result<Self, PasswordError> {
        let password = Self::new(raw, rule.min_length)?;
        if rule.min_score == 0 {
            return Ok(password);
        }
        let folded = caseless::default_case_fold_str(
            &unicode_normalization::UnicodeNormalization::nfkc(password.0.as_str())
                .collect::<String>(),
        );
        if username_key.chars().count() >= MIN_NAME_IN_PASSWORD && folded.contains(username_key) {
            return Err(PasswordError::ContainsUsername);
        }
        let estimate = zxcvbn::zxcvbn(&password.0, &[username_key]);
        let score = u8::from(estimate.score());
        if score < rule.min_score {
            let mut hint = String::new();
            if let Some(feedback) = estimate.feedback() {
                if let Some(warning) = feedback.warning() {
                    hint.push_str(&format!(". {warning}"));
                }
                for suggestion in feedback.suggestions() {
                    hint.push_str(&format!(" {suggestion}"));
                }
            }
            return Err(PasswordError::TooWeak {
                score,
                min: rule.min_score,
                hint,
            });
        }
        Ok(password)
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
