//! What `baton config check` prints.

use super::{Config, LogFormat};
use std::time::Duration;

impl Config {
    /// Every setting in effect as `key = value` lines (the config file's keys), secrets
    /// redacted: what `baton config check` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let list = |items: &[String]| items.join(", ");
        vec![
            ("listen", self.listen.clone()),
            ("database_url", crate::app::redact(&self.database_url)),
            (
                "secret",
                if self.secret.is_some() {
                    "(set)"
                } else {
                    "(not set: on SQLite, baton.secret beside the database)"
                }
                .into(),
            ),
            (
                "secret_previous",
                if self.secret_previous.is_some() {
                    "(set)"
                } else {
                    "(not set)"
                }
                .into(),
            ),
            (
                "issuer",
                self.issuer
                    .clone()
                    .unwrap_or_else(|| format!("http://{} (the listen address)", self.listen)),
            ),
            ("audience", self.audience.clone()),
            ("access_ttl", secs(self.access_ttl)),
            ("refresh_idle_ttl", secs(self.refresh_idle_ttl)),
            ("refresh_absolute_ttl", secs(self.refresh_absolute_ttl)),
            ("refresh_grace", secs(self.refresh_grace)),
            (
                "registration",
                if self.registration_open {
                    "open"
                } else {
                    "closed"
                }
                .into(),
            ),
            ("signing_alg", self.signing_alg.to_string()),
            ("password_min_length", self.password_min_length.to_string()),
            ("password_min_score", self.password_min_score.to_string()),
            ("register_min_score", self.register_min_score.to_string()),
            ("allowed_origins", list(&self.allowed_origins)),
            ("cookie_secure", self.cookie_secure.to_string()),
            ("dpop", self.dpop.to_string()),
            ("dpop_nonce", self.dpop_nonce.to_string()),
            ("clock_leeway", secs(self.clock_leeway)),
            ("login_limit_user", self.login_limit_user.to_string()),
            ("login_limit_ip", self.login_limit_ip.to_string()),
            (
                "trusted_proxies",
                list(
                    &self
                        .trusted_proxies
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                ),
            ),
            ("header_timeout", secs(self.header_timeout)),
            ("body_timeout", secs(self.body_timeout)),
            ("max_connections", self.max_connections.to_string()),
            ("shutdown_timeout", secs(self.shutdown_timeout)),
            ("sessions_per_user", self.sessions_per_user.to_string()),
            ("register_limit_ip", self.register_limit_ip.to_string()),
            ("hash_concurrency", self.hash_concurrency.to_string()),
            ("hash_queue", self.hash_queue.to_string()),
            ("refresh_concurrency", self.refresh_concurrency.to_string()),
            ("verify_concurrency", self.verify_concurrency.to_string()),
            ("queue_timeout", secs(self.queue_timeout)),
            (
                "database_max_connections",
                self.database_pool.max_connections.to_string(),
            ),
            (
                "database_acquire_timeout",
                secs(self.database_pool.acquire_timeout),
            ),
            (
                "database_statement_timeout",
                secs(self.database_pool.statement_timeout),
            ),
            ("key_reload_interval", secs(self.key_reload_interval)),
            ("purge_interval", secs(self.purge_interval)),
            ("audit_retention", secs(self.audit_retention)),
            (
                "public_url",
                self.public_url
                    .clone()
                    .unwrap_or_else(|| "(the issuer)".into()),
            ),
            ("reset_ttl", secs(self.reset_ttl)),
            ("email_verify_ttl", secs(self.email_verify_ttl)),
            ("step_up_max_age", secs(self.step_up_max_age)),
            (
                "webauthn_rp_id",
                self.webauthn_rp_id
                    .clone()
                    .unwrap_or_else(|| "(the issuer's host; localhost for an IP)".into()),
            ),
            (
                "webauthn_origins",
                if self.webauthn_origins.is_empty() {
                    "(the issuer's origin)".into()
                } else {
                    list(&self.webauthn_origins)
                },
            ),
            (
                "totp_issuer",
                self.totp_issuer
                    .clone()
                    .unwrap_or_else(|| "(the issuer's host)".into()),
            ),
            (
                "smtp_url",
                self.smtp_url.as_ref().map_or_else(
                    || "(not set: no mail is sent)".into(),
                    |u| crate::mail::redact_smtp_url(u.expose_str()),
                ),
            ),
            (
                "smtp_password",
                if self.smtp_password.is_some() {
                    "(set)"
                } else {
                    "(not set)"
                }
                .into(),
            ),
            (
                "mail_from",
                self.mail_from
                    .clone()
                    .unwrap_or_else(|| "(baton@ the issuer's host)".into()),
            ),
            (
                "mail_templates",
                self.mail_templates
                    .as_ref()
                    .map_or_else(|| "(built in)".into(), |p| p.display().to_string()),
            ),
            (
                "log_format",
                match self.log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }
                .into(),
            ),
        ]
    }
}
