//! baton's own HTML pages: sign-in, the second step, consent and errors of the OpenID Connect
//! authorization endpoint. Server-rendered with minijinja (HTML auto-escaped), working without
//! script (baton's own `/assets/pages.js` adds passkeys where passkeys are configured), one
//! stylesheet of baton's own, and a strict Content-Security-Policy.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::LazyLock;

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, text) in [
        ("layout.html", include_str!("pages/layout.html")),
        ("signin.html", include_str!("pages/signin.html")),
        ("mfa.html", include_str!("pages/mfa.html")),
        ("consent.html", include_str!("pages/consent.html")),
        ("error.html", include_str!("pages/error.html")),
        ("logout.html", include_str!("pages/logout.html")),
        ("signed_out.html", include_str!("pages/signed_out.html")),
    ] {
        // The templates are part of the binary; one that does not parse fails every test.
        if let Err(e) = env.add_template(name, text) {
            tracing::error!(template = name, error = %e, "page template does not parse");
        }
    }
    env
});

/// The pages' stylesheet, served at `/assets/pages.css`.
pub const STYLESHEET: &str = include_str!("pages/pages.css");

/// The pages' script, served at `/assets/pages.js`: passkeys on the sign-in and second-step
/// pages, where the browser has them.
pub const SCRIPT: &str = include_str!("pages/pages.js");

/// A page to answer with.
pub struct Page {
    status: StatusCode,
    html: String,
    form_action: Option<String>,
    scripted: bool,
}

impl Page {
    /// Renders `template` with `context`; a template failure becomes a plain error page.
    pub fn render(status: StatusCode, template: &str, context: impl Serialize) -> Self {
        let html = PAGES
            .get_template(template)
            .and_then(|t| t.render(context))
            .unwrap_or_else(|e| {
                tracing::error!(template, error = %e, "page failed to render");
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
            });
        Self {
            status,
            html,
            form_action: None,
            scripted: false,
        }
    }

    /// An error page (the request cannot go back to the application).
    pub fn error(status: StatusCode, message: &str) -> Self {
        Self::render(
            status,
            "error.html",
            serde_json::json!({ "message": message }),
        )
    }

    /// Lets this page's forms lead (by the redirect that answers them) to `redirect_uri`:
    /// browsers apply `form-action` to the redirect as well.
    pub fn leading_to(mut self, redirect_uri: &str) -> Self {
        self.form_action = source_of(redirect_uri);
        self
    }

    /// Lets this page run baton's own page script (`/assets/pages.js`, which offers passkeys
    /// where the browser has them) and let it call baton: `script-src 'self'` and
    /// `connect-src 'self'`. The page works without it.
    pub fn scripted(mut self) -> Self {
        self.scripted = true;
        self
    }
}

/// The CSP source expression of a URI's origin (or private-use scheme).
fn source_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let form_action = match &self.form_action {
            Some(source) => format!("'self' {source}"),
            None => "'self'".into(),
        };
        let script = if self.scripted {
            "script-src 'self'; connect-src 'self'; "
        } else {
            ""
        };
        let csp = format!(
            "default-src 'none'; {script}style-src 'self'; img-src 'self'; \
             form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        );
        let mut response = (self.status, self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // Same-origin requests carry the referrer (and the forms' `POST` a real `Origin`, which
        // the login-CSRF check reads); nothing goes to other sites.
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_and_escapes() {
        let page = Page::render(
            StatusCode::OK,
            "signin.html",
            serde_json::json!({
                "client": "<script>x</script>", "request": "r", "username": "", "error": null,
                "passkey": true,
            }),
        );
        assert!(page.html.contains("&lt;script&gt;"), "{}", page.html);
        assert!(!page.html.contains("<script>"));
        assert!(page
            .html
            .contains(r#"<script src="/assets/pages.js" defer></script>"#));
        for (totp, passkey) in [(true, false), (false, true), (true, true)] {
            let page = Page::render(
                StatusCode::OK,
                "mfa.html",
                serde_json::json!({"client": "c", "request": "r", "mfa_token": "t",
                    "error": null, "totp": totp, "recovery": true, "passkey": passkey,
                    "methods": "totp"}),
            );
            assert_eq!(page.html.contains(r#"id="passkey-button""#), passkey);
            assert!(
                page.html.contains(r#"name="code""#),
                "recovery codes are always taken"
            );
        }
        // A passkey-only second step says what it needs where the script cannot run.
        let page = Page::render(
            StatusCode::OK,
            "mfa.html",
            serde_json::json!({"client": "c", "request": "r", "mfa_token": "t", "error": null,
                "totp": false, "recovery": false, "passkey": true, "methods": "webauthn"}),
        );
        assert!(page.html.contains(r#"id="passkey-needed""#));
        assert!(!page.html.contains(r#"name="code""#));
        for (name, ctx) in [
            (
                "consent.html",
                serde_json::json!({"client": "c", "request": "r", "scopes": ["a"],
                    "username": "u"}),
            ),
            ("error.html", serde_json::json!({"message": "m"})),
            (
                "logout.html",
                serde_json::json!({"client": "c", "client_id": "c", "state": "s",
                    "post_logout_redirect_uri": "https://a.example/"}),
            ),
            ("signed_out.html", serde_json::json!({})),
        ] {
            let page = Page::render(StatusCode::OK, name, ctx);
            assert!(
                page.html.starts_with("<!doctype html>"),
                "{name}: {}",
                page.html
            );
        }
    }

    #[test]
    fn form_action_allows_the_redirect_uris_origin() {
        assert_eq!(
            source_of("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            source_of("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }
}
