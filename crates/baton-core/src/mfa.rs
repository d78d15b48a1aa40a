//! Second factors: TOTP secrets and codes (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one
//! step of drift each way, each step accepted once), one-time recovery codes, the
//! authentication methods a session records (RFC 8176 `amr`), and the short-lived token of a
//! login waiting for its second factor.

use crate::refresh::{RandomError, RefreshToken, TokenHash};
pub use baton_proto::MfaMethod;
use std::fmt;
use time::Duration;
use totp_rs::{Algorithm, Totp};

/// Seconds per TOTP step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: u8 = 6;
/// Steps of drift accepted each way.
pub const TOTP_SKEW: u16 = 1;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 §4 recommends).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Recovery codes in a set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (base32, 5 bits each: 80 bits).
const RECOVERY_CODE_CHARS: usize = 16;
/// The alphabet of recovery codes: RFC 4648 base32, lower case.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// How long a login may wait for its second factor.
pub const MFA_TOKEN_TTL: Duration = Duration::minutes(5);
/// Wrong codes one `mfa_token` takes before it is spent.
pub const MFA_TOKEN_MAX_FAILURES: u32 = 5;
/// Wrong second-factor codes an account's logins take in [`MFA_FAILURE_WINDOW`] before TOTP
/// codes are refused (recovery codes and passkeys still work): a password known to an attacker
/// buys at most this many guesses of a 6-digit code a day.
pub const MFA_DAILY_FAILURES: u32 = 20;
/// The window [`MFA_DAILY_FAILURES`] counts in.
pub const MFA_FAILURE_WINDOW: Duration = Duration::days(1);
/// How long a TOTP setup waits for its confirmation.
pub const TOTP_SETUP_TTL: Duration = Duration::minutes(10);

/// One way the user proved who they are, as RFC 8176 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethod {
    /// A password.
    Pwd,
    /// A one-time password (TOTP, or a recovery code).
    Otp,
    /// A hardware-bound key (a WebAuthn credential that cannot leave its device).
    Hwk,
    /// A software-secured key (a synced passkey).
    Swk,
    /// User presence and verification on the authenticator (PIN or biometric).
    User,
    /// More than one factor.
    Mfa,
}

impl AuthMethod {
    /// The RFC 8176 value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
            Self::User => "user",
            Self::Mfa => "mfa",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [
            Self::Pwd,
            Self::Otp,
            Self::Hwk,
            Self::Swk,
            Self::User,
            Self::Mfa,
        ]
        .into_iter()
        .find(|m| m.as_str() == value)
    }
}

/// The methods a session's user authenticated with (`amr`), sorted and without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Amr(Vec<AuthMethod>);

impl Amr {
    /// A password alone.
    pub fn password() -> Self {
        Self(vec![AuthMethod::Pwd])
    }

    /// These methods; `mfa` is added when they hold two factors (a password and a one-time
    /// code or key, or a key with user verification).
    pub fn of(methods: &[AuthMethod]) -> Self {
        let mut v: Vec<AuthMethod> = methods.to_vec();
        let knows = v.contains(&AuthMethod::Pwd) || v.contains(&AuthMethod::User);
        let has = v
            .iter()
            .any(|m| matches!(m, AuthMethod::Otp | AuthMethod::Hwk | AuthMethod::Swk));
        if knows && has {
            v.push(AuthMethod::Mfa);
        }
        v.sort();
        v.dedup();
        Self(v)
    }

    /// Parses the stored form (space-separated values); a session from before `amr` was stored
    /// (`None`) was opened with a password. Unknown values are skipped.
    pub fn from_stored(stored: Option<&str>) -> Self {
        match stored {
            None => Self::password(),
            Some(s) => {
                let mut v: Vec<AuthMethod> =
                    s.split_whitespace().filter_map(AuthMethod::parse).collect();
                v.sort();
                v.dedup();
                Self(v)
            }
        }
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.values().collect::<Vec<_>>().join(" ")
    }

    /// The RFC 8176 values, for the `amr` claim.
    pub fn values(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|m| m.as_str())
    }

    /// Whether it holds `method`.
    pub fn has(&self, method: AuthMethod) -> bool {
        self.0.contains(&method)
    }
}

/// A TOTP shared secret in the clear: exists only in memory, sealed at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Why a TOTP secret cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid TOTP parameters: {0}")]
pub struct TotpError(String);

impl TotpSecret {
    /// A new secret from the OS CSPRNG.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|_| RandomError)?;
        Ok(Self(bytes))
    }

    /// A secret from its bytes (as unsealed from storage).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes, to seal for storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: Option<&str>, account: &str) -> Result<Totp, TotpError> {
        // The Key Uri Format keeps `:` between issuer and account: neither may hold one.
        let clean = |s: &str| s.replace(':', "_");
        totp_rs::Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS)
            .with_skew(TOTP_SKEW)
            .with_step_duration(TOTP_STEP_SECS)
            .with_secret(self.0.clone())
            .with_issuer(issuer.map(clean))
            .with_account_name(clean(account))
            .build()
            .map_err(|e| TotpError(e.to_string()))
    }

    /// The base32 text an authenticator app takes (no padding).
    pub fn base32(&self) -> Result<String, TotpError> {
        Ok(self.totp(None, "")?.secret().to_base32())
    }

    /// The `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER` URI (Key Uri Format).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, TotpError> {
        self.totp(Some(issuer), account)?
            .to_url()
            .map_err(|e| TotpError(e.to_string()))
    }

    /// The step whose code `code` is, among the one of `unix_secs` and one each side; `None`
    /// for a wrong or malformed code. Compared in constant time by `totp-rs`.
    pub fn check(&self, code: &str, unix_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != usize::from(TOTP_DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.totp(None, "").ok()?.check(code, unix_secs)
    }

    /// The code of `unix_secs` (for tests and the CLI's checks).
    pub fn code_at(&self, unix_secs: u64) -> Result<String, TotpError> {
        Ok(self.totp(None, "")?.generate(unix_secs).to_string())
    }
}

/// The associated data a user's TOTP secret is sealed with: a secret moved to another user's
/// row does not open.
pub fn totp_aad(user: &crate::UserId) -> Vec<u8> {
    format!("totp\0{user}").into_bytes()
}

/// A recovery code in the clear (`abcd-efgh-ijkl-mnop`): shown once, stored as a hash.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    /// A new code: 16 base32 characters (80 bits) from the OS CSPRNG, in groups of four.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; RECOVERY_CODE_CHARS];
        getrandom::getrandom(&mut bytes).map_err(|_| RandomError)?;
        let mut s = String::with_capacity(RECOVERY_CODE_CHARS + 3);
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            // 256 is a multiple of 32: every character equally likely.
            s.push(char::from(RECOVERY_ALPHABET[usize::from(b % 32)]));
        }
        Ok(Self(s))
    }

    /// A set of [`RECOVERY_CODE_COUNT`] codes.
    pub fn generate_set() -> Result<Vec<Self>, RandomError> {
        (0..RECOVERY_CODE_COUNT).map(|_| Self::generate()).collect()
    }

    /// The code as typed, in its stored form: case, spaces and dashes do not matter. `None`
    /// when it cannot be a recovery code.
    pub fn presented(typed: &str) -> Option<Self> {
        let s: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let valid =
            s.len() == RECOVERY_CODE_CHARS && s.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
        valid.then_some(Self(s))
    }

    /// The text to show the user.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash it is stored under (of its form without dashes).
    pub fn hash(&self) -> TokenHash {
        RefreshToken::presented(self.0.replace('-', "")).hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret and vectors (8 digits there; the last 6 here).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let s = TotpSecret::from_bytes(RFC_SECRET.to_vec());
        for (t, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(s.code_at(t).expect("code"), code);
            assert_eq!(s.check(code, t), Some(t / 30));
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_each_way_and_no_more() {
        let s = TotpSecret::generate().expect("secret");
        let now = 1_800_000_000u64;
        let step = now / 30;
        for (offset, accepted) in [
            (-60i64, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let t = now.checked_add_signed(offset).expect("time");
            let code = s.code_at(t).expect("code");
            let matched = s.check(&code, now);
            if accepted {
                assert_eq!(matched, Some(t / 30), "offset {offset}");
            } else {
                // A code of another step may collide by chance with one in the window.
                assert!(
                    matched.is_none() || matched != Some(t / 30),
                    "offset {offset}"
                );
            }
        }
        assert_eq!(s.check(&s.code_at(now).expect("code"), now), Some(step));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let s = TotpSecret::generate().expect("secret");
        for bad in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123 456"] {
            assert_eq!(s.check(bad, 1_800_000_000), None, "{bad:?}");
        }
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_carries_the_secret() {
        let s = TotpSecret::from_bytes(RFC_SECRET.to_vec());
        let uri = s.otpauth_uri("auth.example.com", "ali:ce").expect("uri");
        assert!(
            uri.starts_with("otpauth://totp/auth.example.com:ali_ce?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=auth.example.com"), "{uri}");
        assert_eq!(s.base32().expect("b32"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn recovery_codes_are_read_however_they_are_typed() {
        let code = RecoveryCode::generate().expect("code");
        assert_eq!(code.expose().len(), 19);
        let typed = code.expose().to_uppercase().replace('-', " ");
        let again = RecoveryCode::presented(&typed).expect("valid");
        assert_eq!(again.hash(), code.hash());
        assert!(RecoveryCode::presented("too-short").is_none());
        assert!(RecoveryCode::presented("abcd-efgh-ijkl-mno1").is_none());
        let set = RecoveryCode::generate_set().expect("set");
        assert_eq!(set.len(), RECOVERY_CODE_COUNT);
    }

    #[test]
    fn amr_adds_mfa_only_for_two_factors() {
        assert_eq!(Amr::password().to_stored(), "pwd");
        let two = Amr::of(&[AuthMethod::Pwd, AuthMethod::Otp]);
        assert_eq!(two.to_stored(), "pwd otp mfa");
        assert!(two.has(AuthMethod::Mfa));
        let key = Amr::of(&[AuthMethod::Hwk, AuthMethod::User]);
        assert!(key.has(AuthMethod::Mfa));
        let presence = Amr::of(&[AuthMethod::Swk]);
        assert!(!presence.has(AuthMethod::Mfa));
        assert_eq!(Amr::from_stored(None), Amr::password());
        assert_eq!(Amr::from_stored(Some("otp pwd mfa bogus")), two);
    }
}
