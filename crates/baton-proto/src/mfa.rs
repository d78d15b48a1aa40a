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
    /// Or a passkey's answer to the options of `POST /auth/webauthn/login/start` with this
    /// `mfa_token`.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub webauthn: Option<PasskeyAssertion>,
}

/// A passkey's answer to a ceremony's options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyAssertion {
    /// The `ceremony` of the options.
    pub ceremony: String,
    /// The `PublicKeyCredential` the browser gave, as JSON (binary fields base64url).
    pub credential: serde_json::Value,
}

/// The options of a WebAuthn ceremony (`…/start`): `publicKey` is what
/// `navigator.credentials.create()` or `.get()` takes once its base64url fields are decoded;
/// `ceremony` goes back with the answer, within five minutes, once.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyOptions {
    /// The ceremony, sealed by the server.
    pub ceremony: String,
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, binary fields base64url.
    #[serde(rename = "publicKey")]
    pub public_key: serde_json::Value,
}

/// `POST /auth/webauthn/register/start` body: the current password (a passkey signs in alone,
/// so adding one takes what signing in takes), and for an account with a second factor and no
/// recent sign-in with it, a code.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyRegisterStartRequest {
    /// The password now, as typed (required).
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub current_password: Option<String>,
    /// A code from the authenticator app, for step-up.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub code: Option<String>,
}

/// `POST /auth/webauthn/register/finish` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyRegisterFinishRequest {
    /// The `ceremony` of the start's options.
    pub ceremony: String,
    /// The `PublicKeyCredential` the browser created, as JSON (binary fields base64url).
    pub credential: serde_json::Value,
    /// A name to tell it apart (1–64 characters); `Passkey` when absent.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub name: Option<String>,
}

/// One of the caller's passkeys.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyView {
    /// The credential id, base64url (what `DELETE /auth/webauthn/credentials/{id}` takes).
    pub id: String,
    /// Its name.
    pub name: String,
    /// RFC 3339 registration time.
    pub created_at: String,
    /// RFC 3339 time of its last sign-in, if any.
    pub last_used_at: Option<String>,
    /// Whether it can be synced off its device (a synced passkey).
    pub backup_eligible: bool,
}

/// `POST /auth/webauthn/register/finish` answer.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyRegistered {
    /// The new passkey.
    pub credential: PasskeyView,
    /// Ten recovery codes when this was the account's first second factor: shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub recovery_codes: Option<Vec<String>>,
}

/// `GET /auth/webauthn/credentials` answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyList {
    /// The caller's passkeys, oldest first.
    pub credentials: Vec<PasskeyView>,
}

/// `POST /auth/webauthn/login/start` body: empty for a sign-in with a passkey alone, or the
/// `mfa_token` of a login whose second factor is a passkey.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyLoginStartRequest {
    /// From the `mfa_required` answer.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub mfa_token: Option<String>,
}

/// `POST /auth/webauthn/login/finish` body: a sign-in with a passkey alone.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PasskeyLoginFinishRequest {
    /// The `ceremony` of the start's options.
    pub ceremony: String,
    /// The `PublicKeyCredential` the browser gave, as JSON (binary fields base64url).
    pub credential: serde_json::Value,
    /// Where the refresh token goes, as at `/auth/login`.
    #[serde(default)]
    pub delivery: crate::Delivery,
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
            .field("webauthn", &self.webauthn.as_ref().map(|_| "…"))
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

impl std::fmt::Debug for PasskeyRegisterStartRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRegisterStartRequest")
            .field("current_password", &crate::hidden(&self.current_password))
            .field("code", &crate::hidden(&self.code))
            .finish()
    }
}

impl std::fmt::Debug for PasskeyRegistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRegistered")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PasskeyLoginStartRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyLoginStartRequest")
            .field("mfa_token", &crate::hidden(&self.mfa_token))
            .finish()
    }
}
