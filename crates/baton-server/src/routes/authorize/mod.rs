//! The OpenID Connect authorization endpoint (`GET|POST /oauth/authorize`, RFC 6749 §4.1 with
//! PKCE and RFC 9207's `iss`) and the pages behind it: sign-in, the second step, consent. A
//! user who signs in here gets a browser session (the `__Host-baton_sso` cookie), so the next
//! application that sends them here is answered at once (single sign-on).
//!
//! The pages carry the pending request sealed under the key-encryption key, so nothing is
//! stored until a code is issued; their forms are refused when a browser says they come from
//! another site (login CSRF). The forms' handlers are in [`forms`].

mod forms;
mod logout;

pub(super) use forms::{consent, login, mfa, passkey};
pub(super) use logout::{confirm_logout, logout};

use crate::cookie::sso_cookie;
use crate::error::ApiError;
use crate::pages::Page;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use baton_core::client::ClientRecord;
use baton_core::oidc::{check_request, AuthorizeError, AuthorizeParams};
use baton_core::service::PendingRequest;
use baton_core::store::SessionRecord;
use baton_core::AuthError;
use serde_json::json;

/// `GET /oauth/authorize`, and `POST` with the parameters form-encoded (OpenID Connect Core
/// §3.1.2.1 asks for both).
pub(super) async fn authorize(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let source = if method == Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        query.unwrap_or_default()
    };
    // RFC 8707 lets a request name several resources; baton takes one, and answers more with
    // `invalid_target` once the client and redirect URI are known good.
    let resources = url::form_urlencoded::parse(source.as_bytes())
        .filter(|(k, _)| k == "resource")
        .count();
    let parsed = if resources > 1 {
        let kept: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(source.as_bytes()).filter(|(k, _)| k != "resource"),
            )
            .finish();
        serde_urlencoded::from_str::<AuthorizeParams>(&kept).map(|mut p| {
            p.resource_repeated = true;
            p
        })
    } else {
        serde_urlencoded::from_str::<AuthorizeParams>(&source)
    };
    let Ok(params) = parsed else {
        return Page::error(StatusCode::BAD_REQUEST, "The sign-in request is malformed.")
            .into_response();
    };
    // A pushed request (RFC 9126): only its own parameters count.
    let (params, pushed) =
        match params.request_uri.as_deref().filter(|u| !u.is_empty()) {
            None => (params, false),
            Some(uri) => {
                let Some(client_id) = params.client_id.as_deref() else {
                    return Page::error(StatusCode::BAD_REQUEST, "client_id is missing.")
                        .into_response();
                };
                match state.baton.pushed_request(uri, client_id).await {
                    Ok(Some(pushed)) => (pushed, true),
                    Ok(None) => return Page::error(
                        StatusCode::BAD_REQUEST,
                        "The pushed sign-in request is unknown, used or expired. Go back to the \
                         application and start again.",
                    )
                    .into_response(),
                    Err(e) => return failure(e.into()),
                }
            }
        };
    // With DPoP off no exchange carries a proof: a code bound to a key could never be used.
    let mut params = params;
    if state.config.dpop == crate::config::Dpop::Off {
        params.dpop_jkt = None;
    }
    let client = match params.client_id.as_deref().filter(|id| id.len() <= 64) {
        Some(id) => match state.baton.client(id).await {
            Ok(client) => Some(client),
            Err(AuthError::UnknownClient) => None,
            Err(e) => return failure(e.into()),
        },
        None => None,
    };
    let request = match check_request(&params, client.as_ref(), pushed) {
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
    let pending = PendingRequest::new(request, state.baton.now().unix_timestamp());
    proceed(&state, &client, &pending, browser, false).await
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

/// Goes on from a pending request: sign-in when no browser session satisfies it (`max_age` and
/// `prompt=login` are judged against the request's arrival), consent when the client needs it
/// and it was not just given, else a code sent to the redirect URI.
async fn proceed(
    state: &AppState,
    client: &ClientRecord,
    pending: &PendingRequest,
    browser: Option<SessionRecord>,
    consented: bool,
) -> Response {
    let request = &pending.request;
    let Some(browser) = browser.filter(|b| pending.satisfied_by(b)) else {
        if request.prompt.none {
            return redirect_error(
                state,
                pending,
                "login_required",
                "the user is not signed in",
            );
        }
        return sign_in_page(state, client, pending, StatusCode::OK, None, None);
    };
    let consent_needed = match needs_consent(state, client, request, &browser, consented).await {
        Ok(needed) => needed,
        Err(e) => return failure(e),
    };
    if consent_needed {
        if request.prompt.none {
            return redirect_error(
                state,
                pending,
                "consent_required",
                "the user has not allowed this application",
            );
        }
        return consent_page(state, client, pending, &browser);
    }
    match state.baton.issue_code(request, &browser).await {
        Ok(code) => {
            tracing::info!(client_id = %client.id, session_id = %browser.id,
                "authorization code issued");
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

/// Whether the consent page must be shown: always for `prompt=consent` (unless just given),
/// else for a third-party client the user has not allowed every requested scope before.
async fn needs_consent(
    state: &AppState,
    client: &ClientRecord,
    request: &baton_core::oidc::AuthorizeRequest,
    browser: &SessionRecord,
    consented: bool,
) -> Result<bool, ApiError> {
    if consented {
        return Ok(false);
    }
    if request.prompt.consent {
        return Ok(true);
    }
    if client.settings.first_party {
        return Ok(false);
    }
    let remembered = state
        .baton
        .consented(&browser.user_id, &client.id, &request.scopes)
        .await?;
    Ok(!remembered)
}

/// The sign-in page for a pending request.
fn sign_in_page(
    state: &AppState,
    client: &ClientRecord,
    pending: &PendingRequest,
    status: StatusCode,
    error: Option<&str>,
    username: Option<&str>,
) -> Response {
    let request = &pending.request;
    let sealed = match state.baton.seal_request(&pending.bound_to(None)) {
        Ok(sealed) => sealed,
        Err(e) => return failure(e.into()),
    };
    let username = username.or(request.login_hint.as_deref()).unwrap_or("");
    let passkey = state.baton.passkeys_enabled();
    let page = Page::render(
        status,
        "signin.html",
        json!({
            "client": client.display_name(),
            "request": sealed,
            "username": username,
            "error": error,
            "passkey": passkey,
        }),
    )
    .leading_to(&request.redirect_uri);
    if passkey { page.scripted() } else { page }.into_response()
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

/// The consent page; its request is bound to the browser session it is shown to, so only that
/// session's consent counts.
fn consent_page(
    state: &AppState,
    client: &ClientRecord,
    pending: &PendingRequest,
    browser: &SessionRecord,
) -> Response {
    let request = &pending.request;
    let sealed = match state
        .baton
        .seal_request(&pending.bound_to(Some(&browser.id)))
    {
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
    pending: &PendingRequest,
    error: &str,
    description: &str,
) -> Response {
    redirect_with(
        state,
        &pending.request.redirect_uri,
        &[("error", error), ("error_description", description)],
        pending.request.state.as_deref(),
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
