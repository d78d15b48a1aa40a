//! E-mail addresses (parsed once at the edge into the form stored and the key compared) and
//! the mail baton sends: what each message is for and the variables it carries.

use email_address::EmailAddress;

/// Longest address, in bytes (RFC 5321 §4.5.3.1.3 caps a path at 256 octets with its brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// A valid address: trimmed, stored as given, compared by [`Email::key`], so
/// `Alice@Example.com` and `alice@example.com` are one address, and so are the composed and
/// decomposed forms of `é` and a domain written in Unicode or as its `xn--` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    key: String,
    /// The local part as given and the domain in its ASCII (IDNA) form.
    sendable: String,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("email must not be empty")]
    Empty,
    /// Over 254 bytes.
    #[error("email must be at most 254 bytes")]
    TooLong,
    /// Not `local-part@domain` as RFC 5321 and 5322 have it.
    #[error("email is not a valid address")]
    Invalid,
}

impl Email {
    /// Checks an address as typed: trimmed, at most 254 bytes, one `local@domain` whose parts
    /// RFC 5322 accepts, no display name, no control characters or blanks. The domain must be a
    /// name: an address literal (`user@[10.0.0.5]`) is refused, so that nobody can have baton
    /// mail a host of the internal network by its address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let display = raw.trim();
        if display.is_empty() {
            return Err(EmailError::Empty);
        }
        if display.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        if display.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::Invalid);
        }
        let (local, domain) = display.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if domain.starts_with('[')
            || !EmailAddress::is_valid_local_part(local)
            || !EmailAddress::is_valid_domain(domain)
        {
            return Err(EmailError::Invalid);
        }
        // The key: the local part NFC-normalised and in lower case, the domain in its ASCII
        // (IDNA, with STD3's rules on what a host name holds) form, in lower case.
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::Invalid)?;
        // A name, not an address: no label of digits alone (`10.0.0.5`, however it was
        // written before conversion).
        let numeric = domain
            .split('.')
            .all(|label| label.chars().all(|c| c.is_ascii_digit()));
        if numeric || domain.is_empty() {
            return Err(EmailError::Invalid);
        }
        let local: String = unicode_normalization::UnicodeNormalization::nfc(local).collect();
        let (given_local, _) = display.rsplit_once('@').ok_or(EmailError::Invalid)?;
        Ok(Self {
            display: display.to_owned(),
            key: format!("{}@{}", local.to_lowercase(), domain.to_ascii_lowercase()),
            sendable: format!("{given_local}@{domain}"),
        })
    }

    /// The address to give a mail server: the local part as given, the domain in its ASCII
    /// (IDNA) form, which every server takes.
    pub fn sendable(&self) -> &str {
        &self.sendable
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The comparison key: the address in lower case.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// What a mail is for; each has its own templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A password-reset link.
    PasswordReset,
    /// A link confirming a new address.
    VerifyEmail,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [Self; 2] = [Self::PasswordReset, Self::VerifyEmail];

    /// The stored name, also the templates' base name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
        }
    }

    /// The kind a stored name names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The variables of one mail, sealed in the outbox (the link holds a token).
#[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct MailVars {
    /// The user's name.
    pub username: String,
    /// The link to follow.
    pub link: String,
    /// How long the link still works, in minutes.
    pub valid_minutes: u64,
    /// The same in words: `30 minutes`, `2 hours`, `1 day`.
    #[serde(default)]
    pub valid_for: String,
}

impl MailVars {
    /// Sets how long the link still works, from its end and the time now (at least a minute).
    pub fn valid_until(&mut self, expires_at: time::OffsetDateTime, now: time::OffsetDateTime) {
        let minutes = u64::try_from((expires_at - now).whole_minutes())
            .unwrap_or(0)
            .max(1);
        self.valid_minutes = minutes;
        let (n, unit) = match minutes {
            m if m < 120 => (m, "minute"),
            m if m < 48 * 60 => (m / 60, "hour"),
            m => (m / (24 * 60), "day"),
        };
        self.valid_for = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    }
}

impl std::fmt::Debug for MailVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailVars")
            .field("username", &self.username)
            .field("link", &"***")
            .field("valid_minutes", &self.valid_minutes)
            .field("valid_for", &self.valid_for)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_kept_as_given_and_compared_in_lower_case() {
        let e = Email::parse("  Alice.Smith@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "Alice.Smith@Example.COM");
        assert_eq!(e.key(), "alice.smith@example.com");
        for ok in ["a@b", "first+tag@sub.example.org", "élise@exemple.fr"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        // One address, however it is written.
        let composed = Email::parse("\u{e9}lise@Exemple.fr").expect("composed");
        let decomposed = Email::parse("e\u{301}lise@exemple.FR").expect("decomposed");
        assert_eq!(composed.key(), decomposed.key());
        let unicode = Email::parse("bob@Bücher.example").expect("unicode domain");
        let ascii = Email::parse("bob@xn--bcher-kva.example").expect("ascii domain");
        assert_eq!(unicode.key(), ascii.key());
        assert_eq!(unicode.key(), "bob@xn--bcher-kva.example");
        assert_eq!(unicode.as_str(), "bob@Bücher.example", "kept as given");
        assert_eq!(unicode.sendable(), "bob@xn--bcher-kva.example");
    }

    #[test]
    fn what_is_no_address_is_refused() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "alice@@example.com",
            "Alice <alice@example.com>",
            "alice@exa mple.com",
            "alice@example.com\r\nBcc: eve@example.com",
            "al\u{0}ice@example.com",
            "alice@-example.com",
            "x@[127.0.0.1]",
            "x@[IPv6:::1]",
            "x@10.0.0.5",
            "x@127.1",
            "x@\u{ff11}\u{ff10}.\u{ff10}.\u{ff10}.\u{ff15}",
            "x@10\u{3002}0\u{3002}0\u{3002}5",
            "x@exa\u{ff3b}mple.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn mail_kinds_round_trip_and_vars_hide_the_link() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        }
        let mut vars = MailVars {
            username: "alice".into(),
            link: "https://x/#reset=secret".into(),
            valid_minutes: 30,
            valid_for: String::new(),
        };
        assert!(!format!("{vars:?}").contains("secret"));
        let t0 = time::macros::datetime!(2026-01-01 0:00 UTC);
        for (left, minutes, words) in [
            (time::Duration::minutes(30), 30, "30 minutes"),
            (time::Duration::seconds(61), 1, "1 minute"),
            (time::Duration::seconds(-5), 1, "1 minute"),
            (time::Duration::hours(24), 1440, "24 hours"),
            (time::Duration::days(3), 4320, "3 days"),
        ] {
            vars.valid_until(t0 + left, t0);
            assert_eq!(
                (vars.valid_minutes, vars.valid_for.as_str()),
                (minutes, words)
            );
        }
    }
}
