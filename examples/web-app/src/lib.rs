//! A tiny server-rendered web app that signs its users in through baton with OpenID Connect's
//! authorization code flow: PKCE (S256), `state` bound to the browser that started the sign-in
//! (a cookie, so nobody can finish their own sign-in in someone else's browser), `nonce`, RFC
//! 9207's `iss` checked on the way back, the ID token verified against baton's JWKS, a session
//! cookie of its own that expires, and RP-initiated logout. Everything an app needs fits here; a
//! real one would use a library such as `openidconnect` and keep its sessions in a store.

use aws_lc_rs::digest::{digest, SHA256};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where baton is and who this app is to it.
#[derive(Debug, Clone)]
pub struct Config {
    /// baton's issuer URL.
    pub issuer: String,
    /// This app's client id.
    pub client_id: String,
    /// This app's client secret.
    pub client_secret: String,
    /// Where the browser reaches this app (its redirect URI is `{public_url}/callback`).
    pub public_url: String,
}

/// Sign-ins started and not finished, and sessions, each bounded.
const MAX_PENDING: usize = 10_000;
const MAX_SESSIONS: usize = 100_000;
/// How long a started sign-in may take.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const SESSION_COOKIE: &str = "web_app_session";
/// Names the sign-in this browser started (its `state`).
const STATE_COOKIE: &str = "web_app_signin";

struct Pending {
    verifier: String,
    nonce: String,
    started: Instant,
}

#[derive(Clone)]
struct Signed {
    username: String,
    sub: String,
    id_token: String,
    since: Instant,
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
    sessions: Mutex<HashMap<String, Signed>>,
}

type AppState = Arc<Inner>;

/// The app's routes: `/`, `/login`, `/callback`, `/logout`.
pub fn app(config: Config) -> Router {
    let state = Arc::new(Inner {
        config,
        http: reqwest::Client::new(),
        pending: Mutex::new(HashMap::new()),
        sessions: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .with_state(state)
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    // The system's CSPRNG; it does not fail on the platforms this runs on.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Example app</title>\
         <body><main>{body}</main></body></html>"
    );
    // The sign-out form leads (by redirect) to baton, which browsers check against form-action;
    // `https:` and `http:` cover any issuer (a real app names its issuer's origin).
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; form-action 'self' https: http:; frame-ancestors 'none'",
        )],
        Html(html),
    )
        .into_response()
}

/// A cookie of this app: `Secure` (and `__Host-`-worthy) when it is served over https.
fn cookie(state: &Inner, name: &str, value: &str, max_age: Option<u64>) -> String {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/{secure}{age}")
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn fail(status: StatusCode, why: &str) -> Response {
    let mut response = page(&format!(
        "<h1>Sign-in failed</h1><p id=\"error\">{}</p>",
        escape(why)
    ));
    *response.status_mut() = status;
    response
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn session_of(state: &Inner, headers: &HeaderMap) -> Option<(String, Signed)> {
    let id = cookie_value(headers, SESSION_COOKIE)?;
    let signed = lock(&state.sessions)
        .get(&id)
        .filter(|s| s.since.elapsed() < SESSION_TTL)
        .cloned()?;
    Some((id, signed))
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_of(&state, &headers) {
        Some((_, signed)) => page(&format!(
            "<h1>Hello, <span id=\"user\">{}</span></h1><p>Your id at baton: <code>{}</code></p>\
             <form method=\"post\" action=\"/logout\"><button>Sign out</button></form>",
            escape(&signed.username),
            escape(&signed.sub)
        )),
        None => page(
            "<h1>Example app</h1><p><a id=\"login\" href=\"/login\">Sign in with baton</a></p>",
        ),
    }
}

/// The provider's metadata (fetched each time: a real app caches it).
async fn metadata(state: &Inner) -> Result<serde_json::Value, String> {
    let url = format!("{}/.well-known/openid-configuration", state.config.issuer);
    let meta: serde_json::Value = state
        .http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if meta["issuer"] != state.config.issuer.as_str() {
        return Err("the metadata names another issuer".into());
    }
    Ok(meta)
}

fn endpoint<'a>(meta: &'a serde_json::Value, name: &str) -> Result<&'a str, String> {
    meta[name].as_str().ok_or_else(|| format!("no {name}"))
}

async fn login(State(state): State<AppState>) -> Response {
    let meta = match metadata(&state).await {
        Ok(meta) => meta,
        Err(e) => return fail(StatusCode::BAD_GATEWAY, &e),
    };
    let Ok(authorize) = endpoint(&meta, "authorization_endpoint") else {
        return fail(StatusCode::BAD_GATEWAY, "no authorization endpoint");
    };
    let (verifier, nonce, st) = (random(), random(), random());
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    {
        let mut pending = lock(&state.pending);
        pending.retain(|_, p| p.started.elapsed() < PENDING_TTL);
        if pending.len() >= MAX_PENDING {
            return fail(StatusCode::SERVICE_UNAVAILABLE, "too many sign-ins at once");
        }
        pending.insert(
            st.clone(),
            Pending {
                verifier,
                nonce: nonce.clone(),
                started: Instant::now(),
            },
        );
    }
    let Ok(mut url) = url::Url::parse(authorize) else {
        return fail(StatusCode::BAD_GATEWAY, "bad authorization endpoint");
    };
    let bind = cookie(&state, STATE_COOKIE, &st, Some(PENDING_TTL.as_secs()));
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &state.config.client_id)
        .append_pair(
            "redirect_uri",
            &format!("{}/callback", state.config.public_url),
        )
        .append_pair("scope", "openid profile")
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    ([(header::SET_COOKIE, bind)], Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    preferred_username: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    // RFC 9207: the answer must come from the issuer this app sent the user to (mix-up).
    if q.iss.as_deref() != Some(state.config.issuer.as_str()) {
        return fail(StatusCode::BAD_REQUEST, "the answer names another issuer");
    }
    // The sign-in must be the one this browser started: otherwise someone could finish their
    // own sign-in here and have this browser use the app as them (login CSRF).
    let started_here = cookie_value(&headers, STATE_COOKIE);
    let Some(st) = q
        .state
        .filter(|s| started_here.as_deref() == Some(s.as_str()))
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "this sign-in was not started in this browser",
        );
    };
    let Some(pending) = lock(&state.pending).remove(&st) else {
        return fail(StatusCode::BAD_REQUEST, "unknown or expired sign-in");
    };
    if let Some(error) = q.error {
        return fail(StatusCode::BAD_REQUEST, &format!("baton answered {error}"));
    }
    let Some(code) = q.code else {
        return fail(StatusCode::BAD_REQUEST, "no code");
    };
    match finish(&state, &code, &pending).await {
        Ok(signed) => {
            let id = random();
            {
                let mut sessions = lock(&state.sessions);
                sessions.retain(|_, s| s.since.elapsed() < SESSION_TTL);
                if sessions.len() >= MAX_SESSIONS {
                    return fail(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
                }
                sessions.insert(id.clone(), signed);
            }
            let session = cookie(&state, SESSION_COOKIE, &id, Some(SESSION_TTL.as_secs()));
            let done = cookie(&state, STATE_COOKIE, "", Some(0));
            (
                AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, done)]),
                Redirect::to("/"),
            )
                .into_response()
        }
        Err(e) => fail(StatusCode::BAD_GATEWAY, &e),
    }
}

/// Exchanges the code and verifies the ID token.
async fn finish(state: &Inner, code: &str, pending: &Pending) -> Result<Signed, String> {
    let meta = metadata(state).await?;
    let tokens: serde_json::Value = state
        .http
        .post(endpoint(&meta, "token_endpoint")?)
        .basic_auth(&state.config.client_id, Some(&state.config.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            (
                "redirect_uri",
                &format!("{}/callback", state.config.public_url),
            ),
            ("code_verifier", &pending.verifier),
        ])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("token request: {e}"))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let id_token = tokens["id_token"].as_str().ok_or("no id_token")?.to_owned();
    let jwks = state
        .http
        .get(endpoint(&meta, "jwks_uri")?)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    let keys = baton_verify::KeySet::from_jwks(&jwks).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(&id_token).map_err(|e| e.to_string())?;
    let (alg, key) = keys
        .get(header.kid.as_deref().ok_or("no kid")?)
        .ok_or("unknown key")?;
    if header.alg != *alg {
        return Err("wrong algorithm".into());
    }
    let mut validation = jsonwebtoken::Validation::new(*alg);
    validation.set_issuer(&[state.config.issuer.as_str()]);
    validation.set_audience(&[state.config.client_id.as_str()]);
    let claims = jsonwebtoken::decode::<IdClaims>(&id_token, key, &validation)
        .map_err(|e| format!("ID token: {e}"))?
        .claims;
    if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
        return Err("the ID token's nonce is not this sign-in's".into());
    }
    Ok(Signed {
        username: claims
            .preferred_username
            .unwrap_or_else(|| claims.sub.clone()),
        sub: claims.sub,
        id_token,
        since: Instant::now(),
    })
}

/// Ends this app's session, then baton's (RP-initiated logout), back to the home page.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some((id, signed)) = session_of(&state, &headers) else {
        return Redirect::to("/").into_response();
    };
    lock(&state.sessions).remove(&id);
    let clear = cookie(&state, SESSION_COOKIE, "", Some(0));
    let target = match metadata(&state).await {
        Ok(meta) => match endpoint(&meta, "end_session_endpoint").map(url::Url::parse) {
            Ok(Ok(mut url)) => {
                url.query_pairs_mut()
                    .append_pair("id_token_hint", &signed.id_token)
                    .append_pair("client_id", &state.config.client_id)
                    .append_pair(
                        "post_logout_redirect_uri",
                        &format!("{}/", state.config.public_url),
                    );
                url.to_string()
            }
            _ => "/".into(),
        },
        Err(_) => "/".into(),
    };
    ([(header::SET_COOKIE, clear)], Redirect::to(&target)).into_response()
}
