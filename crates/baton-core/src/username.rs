//! Usernames: parsed once at the edge into a normalised form and a comparison key.

use caseless::default_case_fold_str;
use unicode_normalization::UnicodeNormalization;

/// Longest username, in characters after normalisation.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A valid username: NFKC-normalised and trimmed, 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
}

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Empty after trimming.
    #[error("username must not be empty")]
    Empty,
    /// Over the length limit.
    #[error("username must be at most 64 characters")]
    TooLong,
    /// Contains NUL or another control character.
    #[error("username must not contain control characters")]
    ControlCharacter,
}

impl Username {
    /// Normalises and checks a username as typed.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let normalised: String = raw.nfkc().collect();
        // Before trimming, which would otherwise quietly drop a leading or trailing \n or \t.
        if normalised.chars().any(char::is_control) {
            return Err(UsernameError::ControlCharacter);
        }
        let display = normalised.trim().to_owned();
        if display.is_empty() {
            return Err(UsernameError::Empty);
        }
        if display.chars().count() > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        let key = comparison_key(&display);
        Ok(Self { display, key })
    }

    /// Rebuilds a username read back from storage.
    pub fn from_trusted(display: impl Into<String>) -> Self {
        let display = display.into();
        let key = comparison_key(&display);
        Self { display, key }
    }

    /// The form stored and shown (case kept).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The form compared: NFKC, full Unicode case folding, NFKC again (Unicode's NFKC_Casefold
    /// recipe), so `Straße` and `STRASSE` are one user.
    pub fn key(&self) -> &str {
        &self.key
    }
}

fn comparison_key(display: &str) -> String {
    let folded = default_case_fold_str(display);
    folded.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_normalises_but_keeps_case() {
        let u = Username::parse("  Ｂob  ").expect("valid");
        assert_eq!(u.as_str(), "Bob");
        assert_eq!(u.key(), "bob");
    }

    #[test]
    fn case_folding_joins_sharp_s_and_umlauts() {
        let a = Username::parse("Straße").expect("valid");
        let b = Username::parse("STRASSE").expect("valid");
        assert_eq!(a.key(), b.key());
        let c = Username::parse("Ärger").expect("valid");
        let d = Username::parse("ärger").expect("valid");
        assert_eq!(c.key(), d.key());
    }

    #[test]
    fn refuses_empty_long_and_control_characters() {
        assert_eq!(Username::parse("   "), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(&"a".repeat(65)),
            Err(UsernameError::TooLong)
        );
        assert!(Username::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            Username::parse("a\0b"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse("a\u{7}b"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse("alice\n"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse("\tbob"),
            Err(UsernameError::ControlCharacter)
        );
    }
}
