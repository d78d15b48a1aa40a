//! The claims of a baton access token.

use serde::{Deserialize, Serialize};

/// The claims of a baton access token (RFC 9068 plus baton's `sid` and `preferred_username`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer URL.
    pub iss: String,
    /// User id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Not-before time, seconds since the epoch (baton does not set it; other issuers may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// OAuth client the token was issued to.
    pub client_id: String,
    /// Session id.
    pub sid: String,
    /// Username at issue time.
    pub preferred_username: String,
    /// The user's e-mail address at issue time (OpenID Connect's claim), when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether that address was confirmed at issue time; present with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// When the user authenticated for this session, seconds since the epoch (OpenID Connect
    /// Core §2); refreshes keep it. Absent from tokens of older issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the user authenticated (RFC 8176 values: `pwd`, `otp`, `hwk`, `swk`, `user`, `mfa`);
    /// refreshes keep it. Empty in tokens of older issuers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The scopes granted, space-separated (RFC 9068 §2.2.3): present on tokens issued through
    /// OAuth with a `scope`; absent on tokens of baton's own `/auth` endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user's roles (RFC 9068 §7.2.1.1), as an operator gave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The key the token is bound to (RFC 9449 §6.1): present on DPoP-bound tokens, which
    /// work only with a proof by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800's confirmation claim, as DPoP uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 thumbprint (SHA-256, base64url) of the key the token is bound to.
    pub jkt: String,
}

/// The thumbprint of the key `cnf` binds a token to, if it does.
pub(crate) fn bound_key(cnf: Option<&Confirmation>) -> Option<&str> {
    cnf.map(|c| c.jkt.as_str())
}

impl Claims {
    /// Whether the user proved more than one factor (`amr` holds `mfa`): a password and a
    /// second factor, or a passkey with user verification.
    pub fn is_multi_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    /// Whether the user authenticated no more than `max_age_secs` before `now` (seconds since
    /// the epoch). A token without `auth_time` never is.
    pub fn authenticated_within(&self, max_age_secs: i64, now: i64) -> bool {
        self.auth_time
            .is_some_and(|t| now.saturating_sub(t) <= max_age_secs)
    }

    /// Whether the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        has_scope(self.scope.as_deref(), scope)
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The thumbprint of the DPoP key the token is bound to, if it is bound.
    pub fn dpop_jkt(&self) -> Option<&str> {
        bound_key(self.cnf.as_ref())
    }
}

/// The claims of a token a client obtained for itself with the client-credentials grant
/// (RFC 9068 §2.2: `sub` is the client id); no user and no session stand behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientClaims {
    /// Issuer URL.
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Not-before time, seconds since the epoch (baton does not set it; other issuers may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// The client id, as in `sub`.
    pub client_id: String,
    /// The scopes granted, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The key the token is bound to (RFC 9449 §6.1), on DPoP-bound tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl ClientClaims {
    /// Whether the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        has_scope(self.scope.as_deref(), scope)
    }

    /// The thumbprint of the DPoP key the token is bound to, if it is bound.
    pub fn dpop_jkt(&self) -> Option<&str> {
        bound_key(self.cnf.as_ref())
    }
}

fn has_scope(granted: Option<&str>, scope: &str) -> bool {
    granted.is_some_and(|g| g.split(' ').any(|s| s == scope))
}

/// The time claims the rules judge, of either kind of token.
pub(crate) trait Timed {
    fn exp(&self) -> i64;
    fn nbf(&self) -> Option<i64>;
}

impl Timed for Claims {
    fn exp(&self) -> i64 {
        self.exp
    }
    fn nbf(&self) -> Option<i64> {
        self.nbf
    }
}

impl Timed for ClientClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
    fn nbf(&self) -> Option<i64> {
        self.nbf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_whole_words() {
        let mut c: ClientClaims = serde_json::from_str(
            r#"{"iss":"i","sub":"c","aud":"a","exp":1,"iat":0,"jti":"j","client_id":"c",
                "scope":"billing:read billing"}"#,
        )
        .expect("claims");
        assert!(c.has_scope("billing"));
        assert!(c.has_scope("billing:read"));
        assert!(!c.has_scope("bill"));
        c.scope = None;
        assert!(!c.has_scope("billing"));
    }
}
