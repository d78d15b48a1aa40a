//! Usernames: parsed once at the edge into a normalised form and a comparison key.

use caseless::default_case_fold_str;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest username, in characters after normalisation.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A valid username: NFKC-normalised and trimmed, 1–64 characters, no control characters and
/// nothing invisible (format characters, bidi controls, default-ignorable code points), so two
/// names that look alike on screen are one name.
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
    /// Contains a character that is not displayed (zero-width, bidi control, filler, …).
    #[error("username must not contain invisible or formatting characters")]
    InvisibleCharacter,
}

/// Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt, Unicode 15.1):
/// characters that are not displayed, whatever their general category (U+3164 HANGUL FILLER
/// is a letter, U+034F a combining mark).
const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` is invisible: a format character (Unicode category Cf, which holds the bidi
/// controls and zero-width characters) or a default-ignorable code point.
fn invisible(c: char) -> bool {
    let code = u32::from(c);
    c.general_category() == GeneralCategory::Format
        || DEFAULT_IGNORABLE
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&code))
}

impl Username {
    /// Normalises and checks a username as typed.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let normalised: String = raw.nfkc().collect();
        // Before trimming, which would otherwise quietly drop a leading or trailing \n or \t.
        if normalised.chars().any(char::is_control) {
            return Err(UsernameError::ControlCharacter);
        }
        if normalised.chars().any(invisible) {
            return Err(UsernameError::InvisibleCharacter);
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
    fn finding_07_invisible_characters_are_refused() {
        for name in [
            "Ad\u{200b}mina247",
            "admin\u{202e}",
            "ad\u{00ad}min",
            "\u{feff}admin",
            "\u{3164}admin",
            "\u{200b}",
            "a\u{2066}b\u{2069}",
            "a\u{034f}b",
            "a\u{e0061}",
            "a\u{fe0f}",
        ] {
            assert_eq!(
                Username::parse(name),
                Err(UsernameError::InvisibleCharacter),
                "{name:?}"
            );
        }
        // Letters and marks of other scripts stay welcome.
        for name in ["José", "Zoë", "山田", "Ольга", "नमस्ते", "محمد"] {
            assert!(Username::parse(name).is_ok(), "{name}");
        }
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
