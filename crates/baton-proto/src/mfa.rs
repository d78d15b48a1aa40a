//! Second factors: TOTP enrolment, recovery codes, and the login step that asks for a factor.

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// A second factor a login may finish with (`methods` of an `mfa_required` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum MfaMethod {
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// One of the one-time recovery codes.
    RecoveryCode,
    /// A passkey or security key (WebAuthn).
    Webauthn,
}

impl MfaMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Webauthn => "webauthn",
        }
    }
}

/// `401` answer of a correct password for an account with a second factor: the login goes on
/// at `POST /auth/login/mfa` with `mfa_token`.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MfaRequiredBody {
    /// Always `mfa_required`.
    pub error: ErrorCode,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub error_description: Option<String>,
    /// Single-use, for five minutes: what `POST /auth/login/mfa` finishes.
    pub mfa_token: String,
    /// The factors the account has.
    pub methods: Vec<MfaMethod>,
}

/// `POST /auth/login/mfa` body: the `mfa_token` and one factor.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginMfaRequest {
    /// From the `mfa_required` answer.
    pub mfa_token: String,
    /// A code from the authenticator app.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub code: Option<String>,
    /// Or one of the recovery codes.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub recovery_code: Option<String>,
}

/// `POST /auth/mfa/totp/setup` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TotpSetupRequest {
    /// The password now, as typed.
    pub current_password: String,
}

/// `POST /auth/mfa/totp/setup` answer: the secret to enrol, three ways.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TotpSetupResponse {
    /// The secret, base32 without padding (to type into an app).
    pub secret: String,
    /// The `otpauth://totp/…` URI (Key Uri Format).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// `POST /auth/mfa/totp/confirm` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TotpConfirmRequest {
    /// A current code from the app just enrolled.
    pub code: String,
}

/// The fresh proof a sensitive change may carry (`DELETE /auth/mfa/totp`,
/// `POST /auth/mfa/recovery-codes`): the password or a second-factor code.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StepUpRequest {
    /// The password now, as typed.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub current_password: Option<String>,
    /// Or a code from the authenticator app.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub code: Option<String>,
}

/// New recovery codes: shown this once, stored only as hashes.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RecoveryCodesResponse {
    /// Ten one-time codes.
    pub recovery_codes: Vec<String>,
}

/// `GET /auth/mfa` answer: the caller's second factors.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MfaStatus {
    /// Whether an authenticator app is enrolled (and confirmed).
    pub totp: bool,
    /// Unused recovery codes left.
    pub recovery_codes_left: u32,
    /// Passkeys and security keys registered.
    pub webauthn_credentials: u32,
    /// The factors a login asks for, empty when it needs the password only.
    pub methods: Vec<MfaMethod>,
}

/// Codes and secrets never show in debug output.
impl std::fmt::Debug for MfaRequiredBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRequiredBody")
            .field("mfa_token", &"***")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoginMfaRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginMfaRequest")
            .field("mfa_token", &"***")
            .field("code", &crate::hidden(&self.code))
            .field("recovery_code", &crate::hidden(&self.recovery_code))
            .finish()
    }
}

impl std::fmt::Debug for TotpSetupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetupRequest")
            .field("current_password", &"***")
            .finish()
    }
}

impl std::fmt::Debug for TotpSetupResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetupResponse").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TotpConfirmRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpConfirmRequest")
            .field("code", &"***")
            .finish()
    }
}

impl std::fmt::Debug for StepUpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepUpRequest")
            .field("current_password", &crate::hidden(&self.current_password))
            .field("code", &crate::hidden(&self.code))
            .finish()
    }
}

impl std::fmt::Debug for RecoveryCodesResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodesResponse")
            .field("recovery_codes", &self.recovery_codes.len())
            .finish()
    }
}
