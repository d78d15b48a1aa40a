//! The forms of the sign-in pages: `POST /oauth/authorize/login`, `…/mfa` and `…/consent`.

use super::super::flows;
use super::{browser_session, failure, proceed, redirect_error, sign_in_page};
use crate::cookie::{set_sso_cookie, sso_cookie};
use crate::error::ApiError;
use crate::extract::Origin;
use crate::pages::Page;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_core::audit::EventKind;
use baton_core::client::ClientRecord;
use baton_core::service::Issued;
use baton_core::service::{Factor, PendingRequest, FIRST_PARTY_CLIENT};
use baton_core::AuthError;
use baton_proto::Delivery;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

/// A form of the sign-in pages is refused when the browser says it was sent from another
/// origin: `Sec-Fetch-Site` must be `same-origin` when present, `Origin` baton's own when present
/// (the pages' `Referrer-Policy: same-origin` lets browsers send it). A request with neither
/// comes from no browser, which no login CSRF can use.
pub(super) fn same_site_form(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return false;
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        return state
            .own_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin));
    }
    true
}

/// A form's fields; `None` when it is malformed ([`malformed`] answers it).
fn fields<T: DeserializeOwned>(body: &Bytes) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

/// The page for a malformed form.
fn malformed() -> Response {
    Page::error(
        StatusCode::BAD_REQUEST,
        "The form is incomplete or malformed.",
    )
    .into_response()
}

/// The pending request a page's form carries, with its client as it is now; or the page that
/// says why not. The request is checked again against the client, which the operator may have
/// changed while the user was on the page.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    sealed: &str,
) -> Result<(PendingRequest, ClientRecord), Response> {
    if !same_site_form(state, headers) {
        return Err(Page::error(
            StatusCode::FORBIDDEN,
            "This form was sent from another site.",
        )
        .into_response());
    }
    let Some(pending) = state.baton.open_request(sealed) else {
        return Err(Page::error(
            StatusCode::BAD_REQUEST,
            "This sign-in page has expired. Go back to the application and start again.",
        )
        .into_response());
    };
    let gone = || {
        Page::error(
            StatusCode::BAD_REQUEST,
            "The application's settings changed. Go back to it and start again.",
        )
        .into_response()
    };
    match state.baton.client(&pending.request.client_id).await {
        Ok(client) if pending.request.still_allowed(&client) => Ok((pending, client)),
        Ok(_) | Err(AuthError::UnknownClient) => Err(gone()),
        Err(e) => Err(failure(e.into())),
    }
}

/// A form of the pages: it carries the pending request it answers.
trait PageForm: DeserializeOwned {
    /// The sealed pending request.
    fn request(&self) -> &str;
}

macro_rules! page_forms {
    ($($form:ty),*) => {
        $(impl PageForm for $form {
            fn request(&self) -> &str {
                &self.request
            }
        })*
    };
}
page_forms!(SignInForm, MfaForm, PasskeyForm, ConsentForm);

/// A page's form, the pending request it carries and its client as it is now; or the page
/// that says why not ([`malformed`], [`pending`]).
async fn opened<T: PageForm>(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(T, PendingRequest, ClientRecord), Response> {
    let form = fields::<T>(body).ok_or_else(malformed)?;
    let (pending, client) = pending(state, headers, form.request()).await?;
    Ok((form, pending, client))
}

/// The sign-in form.
#[derive(Deserialize)]
struct SignInForm {
    request: String,
    username: String,
    password: String,
}

/// `POST /oauth/authorize/login`.
pub(in crate::routes) async fn login(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, pending, client) = match opened::<SignInForm>(&state, &headers, &body).await {
        Ok(opened) => opened,
        Err(page) => return page,
    };
    let outcome = flows::password_login(
        &state,
        &form.username,
        form.password,
        FIRST_PARTY_CLIENT,
        Delivery::Body,
        origin,
    )
    .await;
    match outcome {
        Ok(issued) => signed_in(&state, &headers, &client, &pending, &issued).await,
        Err(ApiError::MfaRequired { mfa_token, methods }) => {
            let methods = Methods::of(&methods);
            mfa_page(&state, &client, &pending, &mfa_token, methods, None)
        }
        Err(e) => {
            let (status, message) = sign_in_refusal(&e);
            let mut page = sign_in_page(
                &state,
                &client,
                &pending,
                status,
                Some(message),
                Some(&form.username),
            );
            if let ApiError::TooManyRequests { retry_after } = e {
                page.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            page
        }
    }
}

/// The status and words of a refused sign-in.
fn sign_in_refusal(e: &ApiError) -> (StatusCode, &'static str) {
    match e {
        ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "Wrong username or password."),
        ApiError::AccountDisabled => (StatusCode::FORBIDDEN, "This account is disabled."),
        ApiError::TooManyRequests { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
        ApiError::InvalidCode { .. } => (StatusCode::UNAUTHORIZED, "Wrong or already used code."),
        ApiError::InvalidMfaToken => (
            StatusCode::UNAUTHORIZED,
            "This sign-in took too long or had too many wrong codes. Sign in again.",
        ),
        ApiError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is busy. Try again in a moment.",
        ),
        ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "Check what you entered."),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Try again in a moment.",
        ),
    }
}

/// The second factors an account has, as the second-step page offers them. They travel with
/// the page's forms (`methods`) so that a page shown again after a wrong code offers the same;
/// they only choose what the page shows: the factor itself is checked against the account.
#[derive(Debug, Clone, Copy, Default)]
struct Methods {
    totp: bool,
    recovery: bool,
    passkey: bool,
}

impl Methods {
    fn of(methods: &[baton_proto::MfaMethod]) -> Self {
        use baton_proto::MfaMethod as M;
        Self {
            totp: methods.contains(&M::Totp),
            recovery: methods.contains(&M::RecoveryCode),
            passkey: methods.contains(&M::Webauthn),
        }
    }

    /// From a form's `methods` field (wire names, space-separated); a page from before it
    /// existed offers codes.
    fn parse(field: Option<&str>) -> Self {
        let Some(field) = field else {
            return Self {
                totp: true,
                recovery: true,
                passkey: false,
            };
        };
        let has = |name: &str| field.split(' ').any(|m| m == name);
        Self {
            totp: has("totp"),
            recovery: has("recovery_code"),
            passkey: has("webauthn"),
        }
    }

    fn field(self) -> String {
        [
            (self.totp, "totp"),
            (self.recovery, "recovery_code"),
            (self.passkey, "webauthn"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(" ")
    }
}

fn mfa_page(
    state: &AppState,
    client: &ClientRecord,
    pending: &PendingRequest,
    mfa_token: &str,
    methods: Methods,
    error: Option<(StatusCode, &str)>,
) -> Response {
    let sealed = match state.baton.seal_request(pending) {
        Ok(sealed) => sealed,
        Err(e) => return failure(e.into()),
    };
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let passkey = methods.passkey && state.baton.passkeys_enabled();
    let page = Page::render(
        status,
        "mfa.html",
        json!({
            "client": client.display_name(),
            "request": sealed,
            "mfa_token": mfa_token,
            "totp": methods.totp,
            "recovery": methods.recovery,
            "passkey": passkey,
            "methods": methods.field(),
            "error": error,
        }),
    );
    let page = page.leading_to(&pending.request.redirect_uri);
    if passkey { page.scripted() } else { page }.into_response()
}

/// After a sign-in on the page: a browser session for the session just opened (the one the
/// cookie named before, if any, ends: one browser, one sign-in), its cookie, and on with the
/// request.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    client: &ClientRecord,
    pending: &PendingRequest,
    issued: &Issued,
) -> Response {
    if let Some(previous) = sso_cookie(headers, state.config.cookie_secure) {
        if let Err(e) = state
            .baton
            .replace_browser_session(&previous, &issued.session_id, &issued.user_id)
            .await
        {
            return failure(e.into());
        }
    }
    let cookie = match state.baton.start_browser_session(&issued.session_id).await {
        Ok(cookie) => cookie,
        Err(e) => return failure(e.into()),
    };
    let browser = match state.baton.browser_session(cookie.expose()).await {
        Ok(Some(browser)) => browser,
        Ok(None) => {
            return Page::error(
                StatusCode::CONFLICT,
                "The sign-in ended at once. Sign in again.",
            )
            .into_response()
        }
        Err(e) => return failure(e.into()),
    };
    let max_age = (browser.expires_at() - state.baton.now())
        .whole_seconds()
        .max(0);
    let mut response = proceed(state, client, &pending.signed_in(), Some(browser), false).await;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_sso_cookie(
            Some(cookie.expose()),
            u64::try_from(max_age).unwrap_or(0),
            state.config.cookie_secure,
        ),
    );
    response
}

/// The second-step form: a code, or a passkey's answer (`ceremony` and `credential`, which the
/// page's script fills in).
#[derive(Deserialize)]
struct MfaForm {
    request: String,
    mfa_token: String,
    #[serde(default)]
    code: String,
    methods: Option<String>,
    ceremony: Option<String>,
    credential: Option<String>,
}

/// Longest `credential` field (a passkey's answer as JSON) taken from a page's form.
const MAX_CREDENTIAL_LEN: usize = 16 * 1024;

/// A passkey's answer from a form's fields: `None` when they are missing, too long or not
/// JSON.
fn passkey_answer(ceremony: Option<&str>, credential: Option<&str>) -> Option<serde_json::Value> {
    let (ceremony, credential) = (ceremony?, credential?);
    if ceremony.is_empty() || ceremony.len() > baton_core::service::MAX_CEREMONY_LEN {
        return None;
    }
    if credential.len() > MAX_CREDENTIAL_LEN {
        return None;
    }
    serde_json::from_str(credential).ok()
}

/// `POST /oauth/authorize/mfa`: a TOTP code (six digits), a recovery code, or a passkey.
pub(in crate::routes) async fn mfa(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, pending, client) = match opened::<MfaForm>(&state, &headers, &body).await {
        Ok(opened) => opened,
        Err(page) => return page,
    };
    if form.mfa_token.is_empty() || form.mfa_token.len() > 256 || form.code.len() > 64 {
        let (status, message) = sign_in_refusal(&ApiError::InvalidMfaToken);
        return sign_in_page(&state, &client, &pending, status, Some(message), None);
    }
    let methods = Methods::parse(form.methods.as_deref());
    let passkey = form.ceremony.is_some() || form.credential.is_some();
    let answer = passkey_answer(form.ceremony.as_deref(), form.credential.as_deref());
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let factor = match (&answer, form.ceremony.as_deref()) {
        (Some(credential), Some(ceremony)) => Factor::Passkey {
            ceremony,
            credential,
        },
        _ if passkey => {
            let refusal = (StatusCode::BAD_REQUEST, PASSKEY_MALFORMED);
            return mfa_page(
                &state,
                &client,
                &pending,
                &form.mfa_token,
                methods,
                Some(refusal),
            );
        }
        _ if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) => Factor::Totp(&code),
        _ => Factor::RecoveryCode(&code),
    };
    // Its session's tokens go to no one: it stands behind the browser session, and the
    // application's come from the code exchange, where its proof is asked for.
    match flows::mfa_login(&state, &form.mfa_token, factor, origin, false).await {
        Ok((issued, _)) => signed_in(&state, &headers, &client, &pending, &issued).await,
        // A passkey refused, or its ceremony not this login's, expired or forged.
        Err(
            ApiError::InvalidCode { .. }
            | ApiError::PasskeyRefused { .. }
            | ApiError::InvalidRequest(_),
        ) if passkey => {
            let refusal = (StatusCode::UNAUTHORIZED, PASSKEY_REFUSED);
            mfa_page(
                &state,
                &client,
                &pending,
                &form.mfa_token,
                methods,
                Some(refusal),
            )
        }
        Err(e @ ApiError::InvalidCode { .. }) => {
            let refusal = sign_in_refusal(&e);
            mfa_page(
                &state,
                &client,
                &pending,
                &form.mfa_token,
                methods,
                Some(refusal),
            )
        }
        Err(e) => {
            let (status, message) = sign_in_refusal(&e);
            sign_in_page(&state, &client, &pending, status, Some(message), None)
        }
    }
}

/// What a page says when its passkey form came back without a usable answer.
const PASSKEY_MALFORMED: &str = "The answer from the passkey was incomplete. Try again.";
/// What a page says when a passkey was refused.
const PASSKEY_REFUSED: &str = "This passkey was not accepted.";

/// The passkey sign-in form, which the page's script fills in with the passkey's answer.
#[derive(Deserialize)]
struct PasskeyForm {
    request: String,
    ceremony: Option<String>,
    credential: Option<String>,
}

/// `POST /oauth/authorize/passkey`: signs in with a passkey alone (its ceremony started at
/// `POST /auth/webauthn/login/start`), then on with the request as a password sign-in goes.
pub(in crate::routes) async fn passkey(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, pending, client) = match opened::<PasskeyForm>(&state, &headers, &body).await {
        Ok(opened) => opened,
        Err(page) => return page,
    };
    let (Some(ceremony), Some(credential)) = (
        form.ceremony.as_deref(),
        passkey_answer(form.ceremony.as_deref(), form.credential.as_deref()),
    ) else {
        let status = StatusCode::BAD_REQUEST;
        return sign_in_page(
            &state,
            &client,
            &pending,
            status,
            Some(PASSKEY_MALFORMED),
            None,
        );
    };
    match flows::passkey_login(&state, ceremony, &credential, origin).await {
        Ok(issued) => signed_in(&state, &headers, &client, &pending, &issued).await,
        Err(e) => {
            let (status, message) = match e {
                ApiError::PasskeyRefused { .. } | ApiError::InvalidRequest(_) => {
                    (StatusCode::UNAUTHORIZED, PASSKEY_REFUSED)
                }
                e => sign_in_refusal(&e),
            };
            sign_in_page(&state, &client, &pending, status, Some(message), None)
        }
    }
}

/// The consent form.
#[derive(Deserialize)]
struct ConsentForm {
    request: String,
    decision: String,
}

/// `POST /oauth/authorize/consent`: `decision=allow` issues the code, anything else answers
/// `access_denied`. Only the browser session the page was shown to can answer it, and it must
/// still satisfy the request (`max_age`, `prompt=login`).
pub(in crate::routes) async fn consent(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, pending, client) = match opened::<ConsentForm>(&state, &headers, &body).await {
        Ok(opened) => opened,
        Err(page) => return page,
    };
    if form.decision != "allow" {
        return redirect_error(&state, &pending, "access_denied", "the user denied access");
    }
    let browser = match browser_session(&state, &headers).await {
        Ok(browser) => browser,
        Err(e) => return failure(e),
    };
    let Some(browser) = browser
        .filter(|b| pending.browser.as_deref() == Some(b.id.as_str()) && pending.satisfied_by(b))
    else {
        // Signed out, signed in again, or another user meanwhile: start over from the request.
        return sign_in_page(&state, &client, &pending, StatusCode::OK, None, None);
    };
    if let Err(e) = state
        .baton
        .remember_consent(&browser.user_id, &client.id, &pending.request.scopes)
        .await
    {
        return failure(e.into());
    }
    let mut granted = super::super::event(&state, EventKind::ConsentGranted, &origin);
    granted.user_id = Some(browser.user_id.clone());
    granted.username = Some(browser.username.clone());
    granted.session_id = Some(browser.id.clone());
    granted.reason = Some(format!("{}: {}", client.id, pending.request.scope()));
    super::super::audit(&state, granted).await;
    proceed(&state, &client, &pending, Some(browser), true).await
}
