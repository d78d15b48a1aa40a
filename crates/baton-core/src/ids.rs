//! Identifier newtypes, so that a session id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Text that is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }
            /// Reads an id that came from outside (a URL path, a page cursor): only the form
            /// ids are made in, a hyphenated lower-case UUID, is one.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                match uuid::Uuid::try_parse(s) {
                    Ok(u) if u.hyphenated().to_string() == s => Ok(Self(s.to_owned())),
                    _ => Err(InvalidId),
                }
            }
            /// Wraps an id read from storage or a verified token.
            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user's stable id; the `sub` claim.
    UserId
);
id_type!(
    /// A session (token family) id; the `sid` claim.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_form_ids_are_made_in_parses() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(id.as_str()), Ok(id.clone()));
        for bad in [
            "",
            "unknown",
            &id.as_str().to_uppercase(),
            &id.as_str().replace('-', ""),
            &format!("{{{id}}}"),
            &format!("urn:uuid:{id}"),
            &format!("{id} "),
        ] {
            assert_eq!(SessionId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }
}
