//! The `baton_refresh` cookie and the CSRF rule for requests that rely on it.

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue};

/// Name of the refresh-token cookie.
pub const COOKIE_NAME: &str = "baton_refresh";

/// The `Set-Cookie` value carrying `token` for `max_age` seconds (`None` clears it).
pub fn set_cookie(token: Option<&str>, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { " Secure;" } else { "" };
    let value = format!(
        "{COOKIE_NAME}={}; HttpOnly;{secure} SameSite=Strict; Path=/auth; Max-Age={}",
        token.unwrap_or(""),
        if token.is_some() { max_age } else { 0 }
    );
    // Tokens are base64url, so the value is always a valid header; fall back to clearing.
    HeaderValue::from_str(&value).unwrap_or_else(|_| {
        HeaderValue::from_static("baton_refresh=; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=0")
    })
}

/// Clearing `Set-Cookie` values for `baton_refresh` cookies that someone else may have planted
/// beside baton's own: with the paths under `/auth` a browser sends to the refresh and logout
/// endpoints, and with `Domain=` each parent domain of `host` (a sibling subdomain can set a
/// cookie for those). Baton's own cookie is cleared by [`set_cookie`]`(None, …)`.
pub fn clear_planted(host: &str, secure: bool) -> Vec<HeaderValue> {
    let secure = if secure { " Secure;" } else { "" };
    let paths = ["/", "/auth/", "/auth/refresh", "/auth/logout"];
    let mut values: Vec<String> = paths
        .iter()
        .map(|path| {
            format!("{COOKIE_NAME}=; HttpOnly;{secure} SameSite=Strict; Path={path}; Max-Age=0")
        })
        .collect();
    let is_name = host.parse::<std::net::IpAddr>().is_err() && host.contains('.');
    if is_name {
        let labels: Vec<&str> = host.split('.').collect();
        // The host itself and every parent with at least two labels.
        for start in 0..labels.len().saturating_sub(1) {
            let domain = labels[start..].join(".");
            for path in ["/", "/auth", "/auth/refresh"] {
                values.push(format!(
                    "{COOKIE_NAME}=; HttpOnly;{secure} SameSite=Strict; Domain={domain}; \
                     Path={path}; Max-Age=0"
                ));
            }
        }
    }
    values
        .into_iter()
        .filter_map(|v| HeaderValue::from_str(&v).ok())
        .collect()
}

/// The refresh token from the request's cookies: `Ok(None)` without one, an error when there
/// are two or more (one may have been planted by a sibling subdomain, and which of them is the
/// user's own cannot be told).
pub fn refresh_cookie(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match single_cookie(headers, COOKIE_NAME) {
        Err(()) => Err(ApiError::DuplicateCookie),
        Ok(value) => Ok(value.filter(|v| !v.is_empty())),
    }
}

/// The value of the request's one cookie `name`: `Ok(None)` without one, `Err` with two or
/// more (which of them is the one this server set cannot be told).
fn single_cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, ()> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().trim_matches('"'));
    let first = found.next();
    if found.next().is_some() {
        return Err(());
    }
    Ok(first.map(str::to_owned))
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    )
}

/// A request relying on the cookie must carry `X-Requested-With: baton` or an allowed
/// `Origin`; an `Origin` that is neither the issuer's own (`own`) nor allowed is always
/// refused.
pub fn check_csrf(headers: &HeaderMap, own: &[String], allowed: &[String]) -> Result<(), ApiError> {
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(origin) = origin {
        let origin = origin.trim_end_matches('/');
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Ok(());
        }
        if !own.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return Err(ApiError::CsrfRejected);
        }
    }
    let marked = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "baton");
    if marked {
        Ok(())
    } else {
        Err(ApiError::CsrfRejected)
    }
}

/// The browser-session cookie of the sign-in pages (single sign-on): `__Host-` prefixed when
/// cookies are `Secure` (the prefix needs it), `SameSite=Lax` so that it reaches
/// `/oauth/authorize` on a navigation from an application's site, `Path=/`, `HttpOnly`.
pub fn sso_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-baton_sso"
    } else {
        "baton_sso"
    }
}

/// `Set-Cookie` for the browser-session cookie (`None` clears it).
pub fn set_sso_cookie(value: Option<&str>, max_age: u64, secure: bool) -> HeaderValue {
    let name = sso_cookie_name(secure);
    let attrs = if secure { " Secure;" } else { "" };
    let value = format!(
        "{name}={}; HttpOnly;{attrs} SameSite=Lax; Path=/; Max-Age={}",
        value.unwrap_or(""),
        if value.is_some() { max_age } else { 0 }
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("baton_sso=; Max-Age=0"))
}

/// The browser-session cookie's value; `None` without one, or with two or more (which is the
/// user's own cannot be told).
pub fn sso_cookie(headers: &HeaderMap, secure: bool) -> Option<String> {
    single_cookie(headers, sso_cookie_name(secure))
        .ok()
        .flatten()
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    const ISSUER: &str = "http://127.0.0.1:4000";

    #[test]
    fn cookie_attributes_are_exactly_the_contracts() {
        assert_eq!(
            set_cookie(Some("tok"), 604800, true),
            "baton_refresh=tok; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=604800"
        );
        assert_eq!(
            set_cookie(None, 99, false),
            "baton_refresh=; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=0"
        );
    }

    #[test]
    fn the_refresh_cookie_is_found_among_others() {
        let m = h(&[("cookie", "a=1; baton_refresh=xyz; b=2")]);
        assert_eq!(refresh_cookie(&m).expect("one").as_deref(), Some("xyz"));
        assert_eq!(
            refresh_cookie(&h(&[("cookie", "a=1")])).expect("none"),
            None
        );
    }

    #[test]
    fn planted_cookies_are_cleared_for_parent_domains_and_deeper_paths() {
        let values: Vec<String> = clear_planted("auth.example.com", true)
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect();
        assert!(values
            .iter()
            .all(|v| v.contains("Max-Age=0") && v.starts_with("baton_refresh=;")));
        assert!(values
            .iter()
            .any(|v| v.contains("Domain=example.com; Path=/;")));
        assert!(values
            .iter()
            .any(|v| v.contains("Domain=auth.example.com; Path=/auth;")));
        assert!(values
            .iter()
            .any(|v| v.contains("Path=/auth/refresh;") && !v.contains("Domain")));
        assert!(!values.iter().any(|v| v.contains("Domain=com;")));
        let local = clear_planted("127.0.0.1", false);
        assert_eq!(local.len(), 4, "no Domain for an address");
    }

    #[test]
    fn finding_09_two_refresh_cookies_are_refused() {
        let m = h(&[("cookie", "baton_refresh=attacker; baton_refresh=victim")]);
        assert!(refresh_cookie(&m).is_err());
        let m = h(&[
            ("cookie", "baton_refresh=attacker"),
            ("cookie", "baton_refresh=victim"),
        ]);
        assert!(refresh_cookie(&m).is_err());
    }

    #[test]
    fn csrf_needs_the_header_or_an_allowed_origin() {
        let allowed = vec!["https://app.example".to_owned()];
        assert!(check_csrf(&h(&[]), &[ISSUER.to_owned()], &allowed).is_err());
        assert!(check_csrf(
            &h(&[("x-requested-with", "baton")]),
            &[ISSUER.to_owned()],
            &allowed
        )
        .is_ok());
        assert!(check_csrf(
            &h(&[("origin", "https://app.example")]),
            &[ISSUER.to_owned()],
            &allowed
        )
        .is_ok());
        assert!(check_csrf(
            &h(&[("origin", ISSUER), ("x-requested-with", "baton")]),
            &[ISSUER.to_owned()],
            &allowed
        )
        .is_ok());
        assert!(check_csrf(&h(&[("origin", ISSUER)]), &[ISSUER.to_owned()], &allowed).is_err());
    }

    #[test]
    fn a_foreign_origin_is_refused_whatever_else_is_sent() {
        let m = h(&[
            ("origin", "https://evil.example"),
            ("x-requested-with", "baton"),
        ]);
        assert!(check_csrf(&m, &[ISSUER.to_owned()], &[]).is_err());
        let m = h(&[("origin", "null"), ("x-requested-with", "baton")]);
        assert!(check_csrf(&m, &[ISSUER.to_owned()], &[]).is_err());
    }

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("http://127.0.0.1:4000/x"),
            "http://127.0.0.1:4000"
        );
        assert_eq!(origin_of("HTTPS://Auth.Example"), "https://auth.example");
    }
}
