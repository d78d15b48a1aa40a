//! The OpenID Connect authorization endpoint (`GET /oauth/authorize`, RFC 6749 §4.1 with PKCE
//! and RFC 9207's `iss`) and the pages behind it: sign-in, the second step, consent. A user who
//! signs in here gets a browser session (the `__Host-baton_sso` cookie), so the next
//! application that sends them here is answered at once (single sign-on).
//!
//! The pages carry the checked request sealed under the key-encryption key, so nothing is
//! stored until a code is issued; their forms are refused when a browser says they come from
//! another site (login CSRF).

use super::flows;
use crate::cookie::{set_sso_cookie, sso_cookie};
use crate::error::ApiError;
use crate::extract::{FormBody, Origin};
use crate::pages::Page;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use baton_core::client::ClientRecord;
use baton_core::oidc::{check_request, AuthorizeError, AuthorizeParams, AuthorizeRequest};
use baton_core::service::{Factor, FIRST_PARTY_CLIENT};
use baton_core::store::SessionRecord;
use baton_core::AuthError;
use baton_proto::Delivery;
use serde::Deserialize;
use serde_json::json;

/// `GET /oauth/authorize`.
pub(super) async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = serde_urlencoded::from_str::<AuthorizeParams>(query.as_deref().unwrap_or(""))
    else {
        return Page::error(StatusCode::BAD_REQUEST, "The sign-in request is malformed.")
            .into_response();
    };
    let client = match params.client_id.as_deref().filter(|id| id.len() <= 64) {
        Some(id) => match state.baton.client(id).await {
            Ok(client) => Some(client),
            Err(AuthError::UnknownClient) => None,
            Err(e) => return failure(e.into()),
        },
        None => None,
    };
    let request = match check_request(&params, client.as_ref()) {
        Ok(request) => request,
        Err(AuthorizeError::Page(message)) => {
            return Page::error(StatusCode::BAD_REQUEST, &message).into_response()
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: st,
            error,
            description,
        }) => {
            return redirect_with(
                &state,
                &redirect_uri,
                &[("error", error), ("error_description", &description)],
                st.as_deref(),
            )
        }
    };
    let Some(client) = client else {
        return Page::error(StatusCode::BAD_REQUEST, "The application is not known.")
            .into_response();
    };
    let browser = match browser_session(&state, &headers).await {
        Ok(browser) => browser,
        Err(e) => return failure(e),
    };
    proceed(&state, &client, &request, browser, Step::Request).await
}

/// Where in the flow [`proceed`] is called from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The authorization request itself.
    Request,
    /// The user just signed in on the page.
    SignedIn,
    /// The user just allowed access.
    Consented,
}

/// The live browser session of the request's cookie, if any.
async fn browser_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, ApiError> {
    match sso_cookie(headers, state.config.cookie_secure) {
        Some(cookie) => Ok(state.baton.browser_session(&cookie).await?),
        None => Ok(None),
    }
}

/// Goes on from a checked request: sign-in when there is no usable browser session, consent
/// when the client needs it, else a code sent to the redirect URI.
async fn proceed(
    state: &AppState,
    client: &ClientRecord,
    request: &AuthorizeRequest,
    browser: Option<SessionRecord>,
    step: Step,
) -> Response {
    let now = state.baton.now();
    let usable = browser.filter(|b| {
        let fresh_enough = request.max_age.is_none_or(|max| {
            (now - b.auth_time).whole_seconds() <= i64::try_from(max).unwrap_or(i64::MAX)
        });
        // `prompt=login` asks for a sign-in even with a session; the one just made counts.
        let login_ok = !request.prompt.login || step != Step::Request;
        fresh_enough && login_ok
    });
    let Some(browser) = usable else {
        if request.prompt.none {
            return redirect_error(
                state,
                request,
                "login_required",
                "the user is not signed in",
            );
        }
        return sign_in_page(state, client, request, StatusCode::OK, None, None);
    };
    let consent_needed =
        (!client.settings.first_party || request.prompt.consent) && step != Step::Consented;
    if consent_needed {
        if request.prompt.none {
            return redirect_error(
                state,
                request,
                "consent_required",
                "the user has not allowed this application",
            );
        }
        return consent_page(state, client, request, &browser);
    }
    match state.baton.issue_code(request, &browser).await {
        Ok(code) => {
            tracing::info!(client_id = %client.id, session_id = %browser.id, "authorization code issued");
            redirect_with(
                state,
                &request.redirect_uri,
                &[("code", code.expose())],
                request.state.as_deref(),
            )
        }
        Err(e) => failure(e.into()),
    }
}

/// The sign-in page for `request`.
fn sign_in_page(
    state: &AppState,
    client: &ClientRecord,
    request: &AuthorizeRequest,
    status: StatusCode,
    error: Option<&str>,
    username: Option<&str>,
) -> Response {
    let sealed = match state.baton.seal_request(request) {
        Ok(sealed) => sealed,
        Err(e) => return failure(e.into()),
    };
    let username = username.or(request.login_hint.as_deref()).unwrap_or("");
    Page::render(
        status,
        "signin.html",
        json!({
            "client": client.display_name(),
            "request": sealed,
            "username": username,
            "error": error,
        }),
    )
    .leading_to(&request.redirect_uri)
    .into_response()
}

/// What a scope lets the application do, in words.
fn describe(scope: &str) -> String {
    match scope {
        "openid" => "know who you are".into(),
        "profile" => "see your username".into(),
        "email" => "see your e-mail address".into(),
        "offline_access" => "stay signed in when you are not using it".into(),
        "roles" => "see your roles".into(),
        other => format!("use {other}"),
    }
}

fn consent_page(
    state: &AppState,
    client: &ClientRecord,
    request: &AuthorizeRequest,
    browser: &SessionRecord,
) -> Response {
    let sealed = match state.baton.seal_request(request) {
        Ok(sealed) => sealed,
        Err(e) => return failure(e.into()),
    };
    let scopes: Vec<String> = request.scopes.iter().map(|s| describe(s)).collect();
    Page::render(
        StatusCode::OK,
        "consent.html",
        json!({
            "client": client.display_name(),
            "request": sealed,
            "scopes": scopes,
            "username": browser.username,
        }),
    )
    .leading_to(&request.redirect_uri)
    .into_response()
}

/// `303 See Other` to `redirect_uri` with `params`, `state` and `iss` (RFC 9207) added to its
/// query.
fn redirect_with(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    st: Option<&str>,
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return Page::error(StatusCode::BAD_REQUEST, "The redirect_uri is not valid.")
            .into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(st) = st {
            query.append_pair("state", st);
        }
        query.append_pair("iss", &state.issuer);
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect_error(
    state: &AppState,
    request: &AuthorizeRequest,
    error: &str,
    description: &str,
) -> Response {
    redirect_with(
        state,
        &request.redirect_uri,
        &[("error", error), ("error_description", description)],
        request.state.as_deref(),
    )
}

/// An unexpected failure, as a page (its cause logged by [`ApiError`]'s own answer).
fn failure(e: ApiError) -> Response {
    let status = match &e {
        ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    // Let the error log itself as it does everywhere else.
    drop(e.into_response());
    Page::error(
        status,
        "Something went wrong on our side. Try again in a moment.",
    )
    .into_response()
}

/// A form of the sign-in pages is refused when the browser says it was sent from another site.
/// Browsers send `Origin` with every form `POST` (and `Sec-Fetch-Site`); a request with neither
/// comes from no browser, which no login CSRF can use.
fn same_site_form(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        return state
            .own_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

/// The request a page's form carries, with its client; or the page that says why not.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    sealed: &str,
) -> Result<(AuthorizeRequest, ClientRecord), Response> {
    if !same_site_form(state, headers) {
        return Err(Page::error(
            StatusCode::FORBIDDEN,
            "This form was sent from another site.",
        )
        .into_response());
    }
    let Some(request) = state.baton.open_request(sealed) else {
        return Err(Page::error(
            StatusCode::BAD_REQUEST,
            "This sign-in page has expired. Go back to the application and start again.",
        )
        .into_response());
    };
    match state.baton.client(&request.client_id).await {
        Ok(client) => Ok((request, client)),
        Err(AuthError::UnknownClient) => Err(Page::error(
            StatusCode::BAD_REQUEST,
            "The application is not known any more.",
        )
        .into_response()),
        Err(e) => Err(failure(e.into())),
    }
}

/// The sign-in form.
#[derive(Deserialize)]
pub(super) struct SignInForm {
    request: String,
    username: String,
    password: String,
}

/// `POST /oauth/authorize/login`.
pub(super) async fn login(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    FormBody(form): FormBody<SignInForm>,
) -> Response {
    let (request, client) = match pending(&state, &headers, &form.request).await {
        Ok(found) => found,
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
        Ok(issued) => signed_in(&state, &client, &request, &issued.session_id).await,
        Err(ApiError::MfaRequired { mfa_token, methods }) => {
            let recovery = methods
                .iter()
                .any(|m| matches!(m, baton_proto::MfaMethod::RecoveryCode));
            mfa_page(&state, &client, &request, &mfa_token, recovery, None)
        }
        Err(e) => {
            let (status, message) = sign_in_refusal(&e);
            let mut page = sign_in_page(
                &state,
                &client,
                &request,
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

fn mfa_page(
    state: &AppState,
    client: &ClientRecord,
    request: &AuthorizeRequest,
    mfa_token: &str,
    recovery: bool,
    error: Option<(StatusCode, &str)>,
) -> Response {
    let sealed = match state.baton.seal_request(request) {
        Ok(sealed) => sealed,
        Err(e) => return failure(e.into()),
    };
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    Page::render(
        status,
        "mfa.html",
        json!({
            "client": client.display_name(),
            "request": sealed,
            "mfa_token": mfa_token,
            "recovery": recovery,
            "error": error,
        }),
    )
    .leading_to(&request.redirect_uri)
    .into_response()
}

/// After a sign-in on the page: a browser session for the session just opened, its cookie, and
/// on with the request.
async fn signed_in(
    state: &AppState,
    client: &ClientRecord,
    request: &AuthorizeRequest,
    session: &baton_core::SessionId,
) -> Response {
    let cookie = match state.baton.start_browser_session(session).await {
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
    let mut response = proceed(state, client, request, Some(browser), Step::SignedIn).await;
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

/// The second-step form.
#[derive(Deserialize)]
pub(super) struct MfaForm {
    request: String,
    mfa_token: String,
    code: String,
}

/// `POST /oauth/authorize/mfa`: a TOTP code (six digits) or a recovery code.
pub(super) async fn mfa(
    State(state): State<AppState>,
    Origin(origin): Origin,
    headers: HeaderMap,
    FormBody(form): FormBody<MfaForm>,
) -> Response {
    let (request, client) = match pending(&state, &headers, &form.request).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if form.mfa_token.is_empty() || form.mfa_token.len() > 256 {
        let (status, message) = sign_in_refusal(&ApiError::InvalidMfaToken);
        return sign_in_page(&state, &client, &request, status, Some(message), None);
    }
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let factor = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Factor::Totp(&code)
    } else {
        Factor::RecoveryCode(&code)
    };
    match flows::mfa_login(&state, &form.mfa_token, factor, origin).await {
        Ok((issued, _)) => signed_in(&state, &client, &request, &issued.session_id).await,
        Err(e @ ApiError::InvalidCode { .. }) => {
            let refusal = sign_in_refusal(&e);
            mfa_page(
                &state,
                &client,
                &request,
                &form.mfa_token,
                true,
                Some(refusal),
            )
        }
        Err(e) => {
            let (status, message) = sign_in_refusal(&e);
            sign_in_page(&state, &client, &request, status, Some(message), None)
        }
    }
}

/// The consent form.
#[derive(Deserialize)]
pub(super) struct ConsentForm {
    request: String,
    decision: String,
}

/// `POST /oauth/authorize/consent`: `decision=allow` issues the code, anything else answers
/// `access_denied`. The browser session must still be there.
pub(super) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormBody(form): FormBody<ConsentForm>,
) -> Response {
    let (request, client) = match pending(&state, &headers, &form.request).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if form.decision != "allow" {
        return redirect_error(&state, &request, "access_denied", "the user denied access");
    }
    let browser = match browser_session(&state, &headers).await {
        Ok(browser) => browser,
        Err(e) => return failure(e),
    };
    if browser.is_none() {
        return sign_in_page(&state, &client, &request, StatusCode::OK, None, None);
    }
    proceed(&state, &client, &request, browser, Step::Consented).await
}
