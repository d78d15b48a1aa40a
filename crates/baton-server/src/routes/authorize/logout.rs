//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET|POST /oauth/logout`, the
//! provider's `end_session_endpoint`. It ends the browser session of the request's cookie
//! (and the sessions applications opened from it, but those granted `offline_access`), clears
//! the cookie, and sends the browser to the client's registered `post_logout_redirect_uri`.
//! Without an `id_token_hint` naming that browser session, the user confirms first, so no
//! other site can sign them out (logout CSRF).

use super::failure;
use super::forms::same_site_form;
use crate::cookie::{set_sso_cookie, sso_cookie};
use crate::pages::Page;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use baton_core::client::ClientRecord;
use baton_core::AuthError;
use serde::Deserialize;
use serde_json::json;

/// The parameters of a logout request.
#[derive(Debug, Default, Deserialize)]
pub(in crate::routes) struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// Where the browser goes after the logout: the client, and its registered redirect URI.
struct Target {
    client: Option<ClientRecord>,
    redirect: Option<String>,
    state: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The client and redirect the parameters name, checked: the hint's audience and `client_id`
/// must agree, and the redirect URI must be registered for that client (exactly).
async fn target(
    state: &AppState,
    params: &LogoutParams,
    hint_client: Option<&str>,
) -> Result<Target, Response> {
    let bad = |m: &str| Page::error(StatusCode::BAD_REQUEST, m).into_response();
    let named = present(&params.client_id);
    if let (Some(a), Some(b)) = (named, hint_client) {
        if a != b {
            return Err(bad(
                "client_id and id_token_hint name different applications.",
            ));
        }
    }
    let client = match named.or(hint_client) {
        Some(id) if id.len() <= 64 => match state.baton.client(id).await {
            Ok(client) => Some(client),
            Err(AuthError::UnknownClient) => return Err(bad("The application is not known.")),
            Err(e) => return Err(failure(e.into())),
        },
        Some(_) => return Err(bad("The application is not known.")),
        None => None,
    };
    let redirect = match present(&params.post_logout_redirect_uri) {
        None => None,
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|c| {
                c.settings
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri)
            });
            if !registered {
                return Err(bad(
                    "The post_logout_redirect_uri is not registered for this application.",
                ));
            }
            Some(uri.to_owned())
        }
    };
    let st = present(&params.state)
        .filter(|s| s.len() <= 1024)
        .map(str::to_owned);
    Ok(Target {
        client,
        redirect,
        state: st,
    })
}

/// `GET|POST /oauth/logout`.
pub(in crate::routes) async fn logout(
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
    let Ok(params) = serde_urlencoded::from_str::<LogoutParams>(&source) else {
        return Page::error(
            StatusCode::BAD_REQUEST,
            "The sign-out request is malformed.",
        )
        .into_response();
    };
    let hint = match present(&params.id_token_hint) {
        None => None,
        Some(token) => match state.baton.id_token_hint(token) {
            Some(claims) => Some(claims),
            None => {
                return Page::error(StatusCode::BAD_REQUEST, "The id_token_hint is not valid.")
                    .into_response()
            }
        },
    };
    let target = match target(&state, &params, hint.as_ref().map(|h| h.aud.as_str())).await {
        Ok(target) => target,
        Err(page) => return page,
    };
    let secure = state.config.cookie_secure;
    let browser = match sso_cookie(&headers, secure) {
        Some(cookie) => match state.baton.browser_session(&cookie).await {
            Ok(browser) => browser,
            Err(e) => return failure(e.into()),
        },
        None => None,
    };
    let Some(browser) = browser else {
        // Nobody is signed in here: nothing to end.
        return finish(&state, &target, false);
    };
    // A hint for this very browser session is the application asking for its own user.
    let named = hint.is_some_and(|h| h.sid == browser.id.as_str());
    if !named {
        return Page::render(
            StatusCode::OK,
            "logout.html",
            json!({
                "client": target.client.as_ref().map(ClientRecord::display_name),
                "client_id": target.client.as_ref().map(|c| c.id.clone()),
                "post_logout_redirect_uri": target.redirect,
                "state": target.state,
            }),
        )
        .leading_to(target.redirect.as_deref().unwrap_or(""))
        .into_response();
    }
    end(&state, &headers, &target).await
}

/// Ends the browser session of the cookie and answers.
async fn end(state: &AppState, headers: &HeaderMap, target: &Target) -> Response {
    let secure = state.config.cookie_secure;
    if let Some(cookie) = sso_cookie(headers, secure) {
        if let Err(e) = state.baton.end_browser_session(&cookie).await {
            return failure(e.into());
        }
    }
    finish(state, target, true)
}

/// The answer after a logout: the redirect (with `state`), or a page saying so; clears the
/// cookie when one was ended.
fn finish(state: &AppState, target: &Target, ended: bool) -> Response {
    let mut response = match &target.redirect {
        Some(uri) => match url::Url::parse(uri) {
            Ok(mut url) => {
                if let Some(st) = &target.state {
                    url.query_pairs_mut().append_pair("state", st);
                }
                Redirect::to(url.as_str()).into_response()
            }
            Err(_) => Page::error(StatusCode::BAD_REQUEST, "The redirect URI is not valid.")
                .into_response(),
        },
        None => Page::render(StatusCode::OK, "signed_out.html", json!({})).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if ended {
        headers.append(
            header::SET_COOKIE,
            set_sso_cookie(None, 0, state.config.cookie_secure),
        );
    }
    response
}

/// `POST /oauth/logout/confirm`: the user confirmed on the page.
pub(in crate::routes) async fn confirm_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_site_form(&state, &headers) {
        return Page::error(
            StatusCode::FORBIDDEN,
            "This form was sent from another site.",
        )
        .into_response();
    }
    let Ok(params) = serde_urlencoded::from_bytes::<LogoutParams>(&body) else {
        return Page::error(StatusCode::BAD_REQUEST, "The form is malformed.").into_response();
    };
    let target = match target(&state, &params, None).await {
        Ok(target) => target,
        Err(page) => return page,
    };
    end(&state, &headers, &target).await
}
