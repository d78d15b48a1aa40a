//! The OAuth 2.0 endpoints, form-encoded, for standard client libraries: `/oauth/token`
//! (RFC 6749 password, refresh-token and client-credentials grants), `/oauth/revoke` (RFC 7009)
//! and `/oauth/introspect` (RFC 7662).

use super::auth::token_response;
use super::flows;
use crate::dpop::{first_party_required, TokenProof};
use crate::error::ApiError;
use crate::extract::{basic_credentials, FormBody, Origin};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::client::{ClientRecord, Grant};
use baton_core::oidc::{AuthorizeError, AuthorizeParams};
use baton_core::service::{ClientIssued, CodeError, CodeIssued, TokenHint, FIRST_PARTY_CLIENT};
use baton_core::RefreshError;
use baton_proto::{
    ClientTokenResponse, CodeTokenResponse, Delivery, OAuthTokenForm, OAuthTokenRefForm,
};

/// How a request names and authenticates its client, from its form.
pub(super) struct ClientAuth<'a> {
    /// `client_id`.
    pub id: Option<&'a str>,
    /// `client_secret` (`client_secret_post`).
    pub secret: Option<&'a str>,
    /// `client_assertion_type`.
    pub assertion_type: Option<&'a str>,
    /// `client_assertion` (`private_key_jwt`).
    pub assertion: Option<&'a str>,
}

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Authenticates the calling client: HTTP Basic, `client_id` (+ `client_secret`) in the form,
/// a `private_key_jwt` assertion (its audience the issuer or `endpoint`'s URL), or nobody (the
/// first-party client `baton`). Only one method at a time.
async fn client_of(
    state: &AppState,
    headers: &HeaderMap,
    auth: ClientAuth<'_>,
    endpoint: &str,
) -> Result<ClientRecord, ApiError> {
    // Libraries send an empty secret for public clients (`Basic base64("id:")`).
    let present = |s: &&str| !s.is_empty();
    let basic = basic_credentials(headers)?;
    if let Some(assertion) = auth.assertion.filter(present) {
        if auth.assertion_type != Some(JWT_BEARER) {
            return Err(ApiError::InvalidRequest(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        if basic.is_some() || auth.secret.is_some() {
            return Err(ApiError::InvalidRequest(
                "use one client authentication method".into(),
            ));
        }
        let audiences = [
            state.issuer.to_string(),
            format!("{}{endpoint}", state.issuer),
        ];
        return Ok(state
            .baton
            .authenticate_client_assertion(assertion, auth.id, &audiences)
            .await?);
    }
    if let Some(basic) = basic {
        if auth.id.is_some_and(|id| id != basic.id) {
            return Err(ApiError::InvalidRequest(
                "client_id differs from the authenticated client".into(),
            ));
        }
        let secret = Some(basic.secret.as_str()).filter(present);
        return Ok(state
            .baton
            .authenticate_client(Some(&basic.id), secret)
            .await?);
    }
    let secret = auth.secret.filter(present);
    Ok(state.baton.authenticate_client(auth.id, secret).await?)
}

fn required(value: Option<String>, name: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest(format!("{name} is required")))
}

pub(super) async fn token(
    State(state): State<AppState>,
    Origin(mut origin): Origin,
    proof: TokenProof,
    headers: HeaderMap,
    FormBody(form): FormBody<OAuthTokenForm>,
) -> Result<Response, ApiError> {
    let grant = required(form.grant_type.clone(), "grant_type")?;
    let client = client_of(
        &state,
        &headers,
        ClientAuth {
            id: form.client_id.as_deref(),
            secret: form.client_secret.as_deref(),
            assertion_type: form.client_assertion_type.as_deref(),
            assertion: form.client_assertion.as_deref(),
        },
        "/oauth/token",
    )
    .await?;
    let client_id = client.id.as_str();
    proof.require(if client_id == FIRST_PARTY_CLIENT {
        first_party_required(&state)
    } else {
        client.settings.require_dpop && state.config.dpop != crate::config::Dpop::Off
    })?;
    origin.dpop_jkt = proof.jkt();
    // RFC 6749 §5.2: a grant baton does not know is `unsupported_grant_type`; one this client
    // was not given, `unauthorized_client`.
    let grant = match Grant::parse(&grant) {
        None => return Err(ApiError::UnsupportedGrantType),
        Some(g) if !client.settings.allows(g) => return Err(ApiError::UnauthorizedClient),
        Some(g) => g,
    };
    // RFC 8707: one resource at most (a repeated one is a malformed form); an empty one is none.
    let resource = form.resource.as_deref().filter(|r| !r.is_empty());
    let issued = match grant {
        Grant::ClientCredentials => {
            let issued = state.baton.client_credentials(
                &client,
                form.scope.as_deref(),
                resource,
                origin.dpop_jkt.as_deref(),
            )?;
            return Ok(client_token_response(issued));
        }
        Grant::Password => {
            if resource.is_some() {
                return Err(ApiError::InvalidTarget);
            }
            let username = required(form.username, "username")?;
            let password = required(form.password, "password")?;
            // An account with a second factor gets `401 mfa_required`; the login finishes at
            // `/auth/login/mfa` for this client, in the body.
            flows::password_login(
                &state,
                &username,
                password,
                client_id,
                Delivery::Body,
                origin,
            )
            .await
            .map_err(|e| match e {
                ApiError::InvalidCredentials => {
                    ApiError::InvalidGrant("Invalid username or password".into())
                }
                ApiError::AccountDisabled => {
                    ApiError::InvalidGrant("This account is disabled".into())
                }
                other => other,
            })?
        }
        Grant::RefreshToken => {
            let token = required(form.refresh_token, "refresh_token")?;
            // A refresh keeps its session's audience; asking for another one is refused
            // before the token is spent.
            if let Some(resource) = resource {
                if !state
                    .baton
                    .refresh_keeps_resource(client_id, &token, resource)
                    .await?
                {
                    return Err(ApiError::InvalidTarget);
                }
            }
            flows::refresh(&state, &token, client_id, &origin)
                .await?
                .map_err(|reason| match reason {
                    RefreshError::DpopKey => ApiError::Refresh(reason),
                    reason => ApiError::InvalidGrant(reason.to_string()),
                })?
        }
        Grant::AuthorizationCode => {
            let code = required(form.code, "code")?;
            let exchanged = state
                .baton
                .exchange_code(
                    &client,
                    &code,
                    form.redirect_uri.as_deref(),
                    form.code_verifier.as_deref(),
                    resource,
                    origin,
                )
                .await?;
            return match exchanged {
                Ok(done) => Ok(code_token_response(done)),
                Err(e) => {
                    tracing::info!(client_id = %client.id, reason = %e, "authorization code refused");
                    Err(match e {
                        CodeError::Target => ApiError::InvalidTarget,
                        e => ApiError::InvalidGrant(e.to_string()),
                    })
                }
            };
        }
    };
    Ok(token_response(&state, issued, Delivery::Body))
}

/// RFC 6749 §5.1 and OpenID Connect Core §3.1.3.3: an authorization-code answer.
fn code_token_response(done: CodeIssued) -> Response {
    let scope = done.issued.scope.clone().unwrap_or_default();
    let body = CodeTokenResponse {
        token_type: super::auth::token_type(done.issued.dpop_bound).into(),
        access_token: done.issued.access_token,
        expires_in: done.issued.expires_in,
        refresh_token: done
            .refresh
            .then(|| done.issued.refresh_token.expose().to_owned()),
        refresh_expires_in: done.refresh.then_some(done.issued.refresh_expires_in),
        id_token: done.id_token,
        scope,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 6749 §4.4.3 / §5.1: a client-credentials answer, without a refresh token.
fn client_token_response(issued: ClientIssued) -> Response {
    let body = ClientTokenResponse {
        access_token: issued.access_token,
        token_type: super::auth::token_type(issued.dpop_bound).into(),
        expires_in: issued.expires_in,
        scope: issued.scope,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn hint(form: &OAuthTokenRefForm) -> TokenHint {
    match form.token_type_hint.as_deref() {
        Some("access_token") => TokenHint::Access,
        _ => TokenHint::Refresh,
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormBody(form): FormBody<OAuthTokenRefForm>,
) -> Result<Response, ApiError> {
    let token = required(form.token.clone(), "token")?;
    // RFC 7009 §2.1: a client that authenticates may only revoke its own tokens; an anonymous
    // request (a public client, the first-party app included) only a public client's.
    let authenticated = basic_credentials(&headers)?.is_some()
        || form.client_id.is_some()
        || form.client_assertion.is_some();
    let client = if authenticated {
        Some(
            client_of(
                &state,
                &headers,
                ClientAuth {
                    id: form.client_id.as_deref(),
                    secret: form.client_secret.as_deref(),
                    assertion_type: form.client_assertion_type.as_deref(),
                    assertion: form.client_assertion.as_deref(),
                },
                "/oauth/revoke",
            )
            .await?
            .id,
        )
    } else {
        None
    };
    state
        .baton
        .revoke_token(&token, hint(&form), client.as_deref())
        .await?;
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response())
}

pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormBody(form): FormBody<OAuthTokenRefForm>,
) -> Result<Response, ApiError> {
    // Only a confidential client passes: a secret is always given here, and a public client
    // presenting one is refused.
    let basic = basic_credentials(&headers)?.ok_or(ApiError::InvalidClient)?;
    state
        .baton
        .authenticate_client(Some(&basic.id), Some(&basic.secret))
        .await?;
    let token = required(form.token, "token")?;
    let answer = state.baton.introspect(&token).await?;
    let mut response = Json(answer).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /oauth/par` form: the authorization request's parameters and the client's
/// credentials.
#[derive(serde::Deserialize)]
pub(super) struct PushedForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /oauth/par` (RFC 9126): a client pushes its authorization request, authenticated as at
/// the token endpoint, and gets a `request_uri` to send the user to `/oauth/authorize` with.
/// The request is checked now; refusals are JSON (`400 invalid_request`, `invalid_scope`,
/// `unauthorized_client`; `401 invalid_client`).
pub(super) async fn par(
    State(state): State<AppState>,
    Origin(origin): Origin,
    proof: TokenProof,
    headers: HeaderMap,
    FormBody(form): FormBody<PushedForm>,
) -> Result<Response, ApiError> {
    let PushedForm {
        mut params,
        client_secret,
        client_assertion_type,
        client_assertion,
    } = form;
    let client = client_of(
        &state,
        &headers,
        ClientAuth {
            id: params.client_id.as_deref(),
            secret: client_secret.as_deref(),
            assertion_type: client_assertion_type.as_deref(),
            assertion: client_assertion.as_deref(),
        },
        "/oauth/par",
    )
    .await?;
    if client.id == baton_core::service::FIRST_PARTY_CLIENT {
        return Err(ApiError::InvalidClient);
    }
    if !client.confidential {
        // Anyone can push as a public client: its pushes are counted per client IP (its line
        // is that address, so one address at its cap holds up no other).
        let ip = origin.ip.as_deref();
        let push = state
            .public_pushes
            .begin(ip.unwrap_or_default(), ip)
            .await?;
        push.failed().await;
    }
    params.client_id = Some(client.id.clone());
    // RFC 9449 §10.1: a proof at the pushed request binds the code to its key, as `dpop_jkt`
    // does; given both, they must name the same key.
    if state.config.dpop == crate::config::Dpop::Off {
        params.dpop_jkt = None;
    } else if let Some(jkt) = proof.jkt() {
        match params.dpop_jkt.as_deref().filter(|j| !j.is_empty()) {
            Some(given) if given != jkt => {
                return Err(ApiError::InvalidDpopProof(
                    "dpop_jkt is not the thumbprint of the DPoP proof's key".into(),
                ))
            }
            _ => params.dpop_jkt = Some(jkt),
        }
    }
    match state.baton.push_request(&client, &params).await? {
        Ok((request_uri, expires_in)) => {
            let mut response = (
                StatusCode::CREATED,
                Json(serde_json::json!({ "request_uri": request_uri, "expires_in": expires_in })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(AuthorizeError::Page(message)) => Err(ApiError::InvalidRequest(message)),
        Err(AuthorizeError::Redirect {
            error, description, ..
        }) => Err(match error {
            "invalid_scope" => ApiError::InvalidScope(description),
            "invalid_target" => ApiError::InvalidTarget,
            "unauthorized_client" => ApiError::UnauthorizedClient,
            _ => ApiError::InvalidRequest(description),
        }),
    }
}
