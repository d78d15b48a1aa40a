//! Wire types of baton's public HTTP contract (`shared/API.md`): request and response bodies and
//! the JSON error body. Nothing here knows about HTTP frameworks or storage.

mod account;
mod auth;
mod error;
mod mfa;
mod oauth;

pub use account::{
    ConnectedApp, ConnectedAppList, EventKind, EventList, EventView, MeResponse, SessionList,
    SessionView,
};
pub use auth::{
    ChangePasswordRequest, Delivery, ForgotPasswordRequest, LoginRequest, RefreshRequest,
    RegisterRequest, ResetPasswordRequest, SetEmailRequest, TokenResponse, UserResponse,
    VerifyEmailRequest,
};
pub use error::{ErrorBody, ErrorCode};
pub use mfa::{
    LoginMfaRequest, MfaMethod, MfaRequiredBody, MfaStatus, PasskeyAssertion, PasskeyList,
    PasskeyLoginFinishRequest, PasskeyLoginStartRequest, PasskeyOptions,
    PasskeyRegisterFinishRequest, PasskeyRegisterStartRequest, PasskeyRegistered, PasskeyView,
    RecoveryCodesResponse, StepUpRequest, TotpConfirmRequest, TotpSetupRequest, TotpSetupResponse,
};
pub use oauth::{
    ClientTokenResponse, CodeTokenResponse, IntrospectionResponse, OAuthTokenForm,
    OAuthTokenRefForm,
};

/// Shows `Some("***")` for a password, token or secret that is set: what debug output prints
/// in its place.
fn hidden(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| "***")
}

#[cfg(test)]
mod typescript;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_defaults_to_body_and_rejects_unknown_values() {
        let req: LoginRequest =
            serde_json::from_str(r#"{"username":"a","password":"b"}"#).expect("valid json");
        assert_eq!(req.delivery, Delivery::Body);
        let bad = serde_json::from_str::<LoginRequest>(
            r#"{"username":"a","password":"b","delivery":"pigeon"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn event_kinds_serialise_as_their_stored_names() {
        for kind in EventKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).expect("serialisable"),
                format!("\"{}\"", kind.as_str())
            );
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn passwords_tokens_and_secrets_never_show_in_debug_output() {
        let login: LoginRequest =
            serde_json::from_str(r#"{"username":"alice","password":"hunter2-pw"}"#).expect("json");
        let register: RegisterRequest =
            serde_json::from_str(r#"{"username":"alice","password":"hunter2-pw"}"#).expect("json");
        let form = OAuthTokenForm {
            password: Some("hunter2-pw".into()),
            refresh_token: Some("rt-secret".into()),
            client_secret: Some("cs-secret".into()),
            ..OAuthTokenForm::default()
        };
        let reference = OAuthTokenRefForm {
            token: Some("rt-secret".into()),
            client_secret: Some("cs-secret".into()),
            ..OAuthTokenRefForm::default()
        };
        let refresh = RefreshRequest {
            refresh_token: Some("rt-secret".into()),
        };
        let answer = TokenResponse {
            access_token: "at-secret".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_token: Some("rt-secret".into()),
            refresh_expires_in: 60,
            scope: None,
        };
        let machine = ClientTokenResponse {
            access_token: "at-secret".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            scope: Some("reports:read".into()),
        };
        let shown = format!(
            "{login:?} {register:?} {form:?} {reference:?} {refresh:?} {answer:?} {machine:?}"
        );
        for secret in ["hunter2-pw", "rt-secret", "cs-secret", "at-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("alice"), "{shown}");
    }

    #[test]
    fn error_codes_serialise_in_snake_case() {
        let body = ErrorBody {
            error: ErrorCode::UnsupportedMediaType,
            error_description: None,
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serialisable"),
            r#"{"error":"unsupported_media_type"}"#
        );
    }
}
