//! `/.well-known/jwks.json` (RFC 7517), `/.well-known/oauth-authorization-server` (RFC 8414),
//! `/.well-known/openid-configuration` (OpenID Connect Discovery) and the userinfo endpoint.

use crate::error::ApiError;
use crate::extract::AnyUser;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_core::access::AccessError;
use serde_json::json;

pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.baton.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// The metadata both documents share: every endpoint, grant, scope, claim, algorithm and
/// client authentication method baton supports.
fn common(state: &AppState) -> serde_json::Map<String, serde_json::Value> {
    let iss = &*state.issuer;
    let alg = state.baton.policy().signing_alg.as_str();
    let auth_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ];
    let value = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "pushed_authorization_request_endpoint": format!("{iss}/oauth/par"),
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "require_pushed_authorization_requests": false,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": baton_core::client::STANDARD_SCOPES,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "access_token_signing_alg_values_supported": [alg],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    match value {
        serde_json::Value::Object(mut map) => {
            // RFC 9449 §5.1.
            if state.config.dpop != crate::config::Dpop::Off {
                map.insert(
                    "dpop_signing_alg_values_supported".into(),
                    json!(baton_core::dpop::DPOP_ALGS),
                );
            }
            map
        }
        _ => serde_json::Map::new(),
    }
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub(super) async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::Value::Object(common(&state)))
}

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3).
pub(super) async fn openid_configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    let alg = state.baton.policy().signing_alg.as_str();
    let mut map = common(&state);
    for (k, v) in [
        ("subject_types_supported", json!(["public"])),
        ("id_token_signing_alg_values_supported", json!([alg])),
        (
            "claims_supported",
            json!([
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "azp",
                "sid",
                "preferred_username",
                "email",
                "email_verified",
                "roles"
            ]),
        ),
        ("claims_parameter_supported", json!(false)),
    ] {
        map.insert(k.into(), v);
    }
    Json(serde_json::Value::Object(map))
}

/// `GET|POST /oauth/userinfo` (OpenID Connect Core §5.3): the claims the bearer token's scopes
/// release, read now. A token without `openid` → `403 insufficient_scope`.
pub(super) async fn userinfo(
    State(state): State<AppState>,
    AnyUser(caller): AnyUser,
) -> Result<Response, ApiError> {
    if !caller.claims.has_scope("openid") {
        return Err(ApiError::InsufficientScope("openid".into()));
    }
    match state.baton.userinfo(&caller.claims).await? {
        Some(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        None => Err(ApiError::Access(AccessError::Invalid)),
    }
}
