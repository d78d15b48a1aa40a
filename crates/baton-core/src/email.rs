//! E-mail addresses (parsed once at the edge into the form stored and the key compared) and
//! the mail baton sends: what each message is for and the variables it carries.

use email_address::EmailAddress;

/// Longest address, in bytes (RFC 5321 §4.5.3.1.3 caps a path at 256 octets with its brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// A valid address: trimmed, stored as given, compared by [`Email::key`] (case-folded), so
/// `Alice@Example.com` and `alice@example.com` are one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    key: String,
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
    /// RFC 5322 accepts (a domain name or an address literal), no display name, no control
    /// characters.
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
        let literal = domain
            .strip_prefix('[')
            .and_then(|d| d.strip_suffix(']'))
            .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        if !EmailAddress::is_valid_local_part(local)
            || !(literal || EmailAddress::is_valid_domain(domain))
        {
            return Err(EmailError::Invalid);
        }
        Ok(Self {
            display: display.to_owned(),
            key: display.to_lowercase(),
        })
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
    /// How long the link works, in minutes.
    pub valid_minutes: u64,
}

impl std::fmt::Debug for MailVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailVars")
            .field("username", &self.username)
            .field("link", &"***")
            .field("valid_minutes", &self.valid_minutes)
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
        for ok in [
            "a@b",
            "first+tag@sub.example.org",
            "x@[127.0.0.1]",
            "élise@exemple.fr",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
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
        let vars = MailVars {
            username: "alice".into(),
            link: "https://x/#reset=secret".into(),
            valid_minutes: 30,
        };
        assert!(!format!("{vars:?}").contains("secret"));
    }
}
