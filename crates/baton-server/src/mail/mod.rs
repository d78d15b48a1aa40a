//! baton's mail: templates an operator can replace, the SMTP transport (lettre), and the worker
//! that empties the outbox.
//!
//! Requests never talk to the mail server. A mail is a row of the outbox, written in the same
//! transaction as the token its link carries; the worker claims due rows for a lease, sends them
//! and deletes them, or gives them back with an exponential backoff. A slow or absent mail
//! server therefore slows no request, a restart or a crash loses no mail (a claimed row comes
//! back when its lease runs out), and on PostgreSQL each row goes to one instance (claimed with
//! `FOR UPDATE SKIP LOCKED`). A mail still unsent when its link expires is dropped.

use crate::config::Config;
use crate::state::AppState;
use anyhow::{anyhow, bail, Context as _};
use baton_core::email::{MailKind, MailVars};
use baton_core::store::ClaimedMail;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Mails claimed at a time.
const BATCH: u32 = 4;
/// How long a claimed mail is the claimer's: past it, another sender may claim it again.
const LEASE: time::Duration = time::Duration::minutes(2);
/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(2);
/// Longest one SMTP command may take (lettre's own timeout).
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one mail may take, all commands together. A batch therefore ends well within its
/// lease ([`BATCH`] × this < [`LEASE`]), and a mail is not begun when its lease could run out
/// meanwhile: another sender never takes a mail this one may still send.
const SEND_TIMEOUT: Duration = Duration::from_secs(25);
/// Room kept at the end of a lease for recording the outcome and for clocks that differ
/// between instances.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// How often the worker counts the mails waiting (for the gauge).
const COUNT_EVERY: Duration = Duration::from_secs(30);
/// First retry delay; doubled at each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: time::Duration = time::Duration::seconds(15);
/// Longest retry delay.
const MAX_BACKOFF: time::Duration = time::Duration::minutes(15);
/// Largest template file read.
const MAX_TEMPLATE_BYTES: u64 = 64 * 1024;

/// The built-in templates, each replaceable by a file of the same name in `BATON_MAIL_TEMPLATES`.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "password_reset.subject",
        include_str!("templates/password_reset.subject"),
    ),
    (
        "password_reset.txt",
        include_str!("templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("templates/password_reset.html"),
    ),
    (
        "verify_email.subject",
        include_str!("templates/verify_email.subject"),
    ),
    (
        "verify_email.txt",
        include_str!("templates/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
];

/// A mail as rendered.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The templates in effect (MiniJinja; variables `username`, `link`, `valid_for` (`30
/// minutes`, `1 day`) and `valid_minutes`; the `.html` ones escape what they insert).
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each replaced by the file of its name in `dir` when there is
    /// one. Every template is rendered once with sample values, so a broken one stops the
    /// start rather than a mail.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // A misspelt variable is an error, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, built_in) in BUILT_IN {
            let text = match dir {
                Some(dir) => read_template(&dir.join(name))?,
                None => None,
            };
            let text = text.unwrap_or_else(|| (*built_in).to_owned());
            env.add_template_owned(*name, text)
                .with_context(|| format!("mail template {name}"))?;
        }
        let templates = Self { env };
        let sample = MailVars {
            username: "sample".into(),
            link: "https://example.com/#reset=sample".into(),
            valid_minutes: 30,
            valid_for: "30 minutes".into(),
        };
        for kind in MailKind::ALL {
            templates
                .render(kind, &sample)
                .with_context(|| format!("mail templates {}.*", kind.as_str()))?;
        }
        Ok(templates)
    }

    /// The mail of `kind` with `vars`.
    pub fn render(&self, kind: MailKind, vars: &MailVars) -> Result<Rendered, minijinja::Error> {
        let render = |part: &str| {
            self.env
                .get_template(&format!("{}.{part}", kind.as_str()))
                .and_then(|t| t.render(vars))
        };
        // One line, whatever the template did: a header never takes a line break.
        let subject = render("subject")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

/// A template file's text, `None` when there is no such file.
fn read_template(path: &Path) -> anyhow::Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if meta.len() > MAX_TEMPLATE_BYTES {
        bail!("{} is larger than 64 KiB", path.display());
    }
    std::fs::read_to_string(path)
        .map(Some)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))
}

/// The parts of an SMTP URL baton looks at.
struct SmtpUrl<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    rest: &'a str,
}

fn split_smtp_url(url: &str) -> anyhow::Result<SmtpUrl<'_>> {
    let (scheme, after) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("an SMTP URL is smtp://host[:port] or smtps://host[:port]"))?;
    if !matches!(scheme, "smtp" | "smtps") {
        bail!("the scheme must be smtp:// (STARTTLS when offered) or smtps:// (TLS)");
    }
    let (userinfo, rest) = match after.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, after),
    };
    let (user, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((user, password)) => (Some(user), Some(password)),
            None => (Some(info), None),
        },
        None => (None, None),
    };
    Ok(SmtpUrl {
        scheme,
        user,
        password,
        rest,
    })
}

/// Checks an SMTP URL as lettre reads it (after baton's own defaults).
pub fn check_smtp_url(url: &str) -> anyhow::Result<()> {
    let parts = split_smtp_url(url)?;
    if parts.rest.is_empty() || parts.rest.starts_with([':', '/', '?']) {
        bail!("the SMTP URL names no host");
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&with_tls_default(url, false)?)
        .map(drop)
        .map_err(|e| anyhow!("{e}"))
}

/// `url` with baton's TLS rule applied to a `smtp://` URL: without a `tls` parameter,
/// STARTTLS whenever the server offers it (`tls=opportunistic`), or required
/// (`tls=required`) when credentials are to be sent, so that someone on the path cannot strip
/// the offer and read them; with credentials, any other `tls` value is refused.
/// `credentials_apart`: a password comes from BATON_SMTP_PASSWORD.
fn with_tls_default(url: &str, credentials_apart: bool) -> anyhow::Result<String> {
    if !url.starts_with("smtp://") {
        return Ok(url.to_owned());
    }
    let credentials = credentials_apart
        || split_smtp_url(url).is_ok_and(|p| p.user.is_some() || p.password.is_some());
    // Read as lettre reads it: the first pair whose percent-decoded key is `tls`.
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let tls = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key) == "tls").then(|| decode(value))
    });
    let tls = tls.as_deref();
    match (tls, credentials) {
        (None, _) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let tls = if credentials {
                "required"
            } else {
                "opportunistic"
            };
            Ok(format!("{url}{sep}tls={tls}"))
        }
        (Some("required"), _) | (Some(_), false) => Ok(url.to_owned()),
        (Some(other), true) => bail!(
            "tls={other} would let the SMTP credentials travel unencrypted; use tls=required \
             or smtps://"
        ),
    }
}

/// An SMTP URL with its password hidden, for `baton config check` and logs.
pub fn redact_smtp_url(url: &str) -> String {
    match split_smtp_url(url) {
        Ok(SmtpUrl {
            scheme,
            user: Some(user),
            password: Some(_),
            rest,
        }) => format!("{scheme}://{user}:***@{rest}"),
        Ok(_) => url.to_owned(),
        Err(_) => "(invalid)".into(),
    }
}

/// Checks a sender (`addr@example.com` or `Name <addr@example.com>`).
pub fn check_sender(from: &str) -> anyhow::Result<()> {
    from.parse::<Mailbox>()
        .map(drop)
        .map_err(|e| anyhow!("{e}"))
}

/// Why a mail was not sent.
#[derive(Debug)]
pub struct SendError {
    /// The server refused it for good (a 5xx answer, an address it cannot take): retrying will
    /// not help.
    pub permanent: bool,
    /// What went wrong, without the mail's content.
    pub message: String,
}

/// Sends baton's mail.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Templates,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer the configuration asks for; `None` without `BATON_SMTP_URL`.
    pub fn from_config(config: &Config, issuer: &str) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        let url = url.expose_str();
        let parts = split_smtp_url(url).context("invalid smtp_url")?;
        let apart = config.smtp_password.is_some();
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(&with_tls_default(url, apart)?)
                .map_err(|e| anyhow!("invalid smtp_url: {e}"))?
                .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), None, Some(password)) =
            (parts.user, parts.password, &config.smtp_password)
        {
            let user = percent_encoding::percent_decode_str(user)
                .decode_utf8()
                .context("the SMTP user name is not UTF-8")?;
            builder = builder.credentials(Credentials::new(
                user.into_owned(),
                password.expose_str().to_owned(),
            ));
        }
        let from = match &config.mail_from {
            Some(from) => from
                .parse::<Mailbox>()
                .map_err(|e| anyhow!("invalid mail_from: {e}"))?,
            None => default_sender(issuer)?,
        };
        let templates = Templates::load(config.mail_templates.as_deref())?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
            templates,
        }))
    }

    /// Renders and sends one mail.
    pub async fn send(&self, kind: MailKind, to: &str, vars: &MailVars) -> Result<(), SendError> {
        let permanent = |message: String| SendError {
            permanent: true,
            message,
        };
        // The domain in its ASCII form: servers without SMTPUTF8 take it too.
        let to = baton_core::email::Email::parse(to)
            .map(|e| e.sendable().to_owned())
            .unwrap_or_else(|_| to.to_owned());
        let to: Mailbox = to
            .parse()
            .map_err(|e| permanent(format!("the address cannot be sent to: {e}")))?;
        let rendered = self
            .templates
            .render(kind, vars)
            .map_err(|e| permanent(format!("template: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| permanent(format!("message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
        }
    }
}

/// `baton@` the issuer's host (`localhost` when it is an address).
fn default_sender(issuer: &str) -> anyhow::Result<Mailbox> {
    let authority = issuer.split_once("://").map_or(issuer, |(_, a)| a);
    let authority = authority.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_matches(['[', ']']);
    let domain = if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        "localhost"
    } else {
        host
    };
    format!("baton <baton@{domain}>")
        .parse()
        .map_err(|e| anyhow!("no default sender from the issuer ({e}); set BATON_MAIL_FROM"))
}

/// The delay before attempt `attempts + 1`: 15 s, doubled at each failure, at most 15 minutes.
fn backoff(attempts: u32) -> time::Duration {
    let doublings = attempts.saturating_sub(1).min(10);
    (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF)
}

/// Empties the outbox until the task is aborted: claims due mails, sends them, and deletes
/// them or sets their next attempt. Wakes at `wake` (a mail was queued here) or every
/// two seconds (one queued by another instance, or due again).
pub async fn run_outbox(state: AppState, mailer: Arc<Mailer>, wake: Arc<Notify>) {
    let mut counted: Option<std::time::Instant> = None;
    loop {
        let claimed_at = std::time::Instant::now();
        let claimed = match state.baton.claim_mail(BATCH, LEASE).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the outbox");
                Vec::new()
            }
        };
        let full = claimed.len() == BATCH as usize;
        let lease = Duration::try_from(LEASE).unwrap_or(Duration::ZERO);
        for mail in claimed {
            if claimed_at.elapsed() + SEND_TIMEOUT + LEASE_MARGIN >= lease {
                // Too late to begin within the lease: given back at once, for the next round.
                let _ = state
                    .baton
                    .mail_failed(&mail, state.baton.now(), "lease ran short")
                    .await;
                continue;
            }
            deliver(&state, &mailer, mail).await;
        }
        if counted.is_none_or(|at| at.elapsed() >= COUNT_EVERY) {
            if let Ok(n) = state.baton.outbox_len().await {
                state.metrics.outbox(n);
            }
            counted = Some(std::time::Instant::now());
        }
        if !full {
            let _ = tokio::time::timeout(POLL, wake.notified()).await;
        }
    }
}

async fn deliver(state: &AppState, mailer: &Mailer, claimed: ClaimedMail) {
    let id = claimed.mail.id.clone();
    let kind = claimed.mail.kind;
    let vars = match state.baton.open_mail(&claimed) {
        Ok(vars) => vars,
        Err(e) => {
            // Sealed under a secret no longer configured, damaged, or edited in the database
            // (its recipient, kind or expiry are sealed with it): it is never sent.
            tracing::error!(mail_id = %id, error = %baton_core::error::chain(&e),
                "a queued mail cannot be opened; dropped");
            state.metrics.mail(kind.as_str(), "dropped");
            let _ = state.baton.mail_sent(&claimed).await;
            return;
        }
    };
    let sent = tokio::time::timeout(
        SEND_TIMEOUT,
        mailer.send(kind, &claimed.mail.recipient, &vars),
    )
    .await
    .unwrap_or_else(|_| {
        Err(SendError {
            permanent: false,
            message: format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
        })
    });
    match sent {
        Ok(()) => {
            tracing::info!(mail_id = %id, kind = kind.as_str(), attempts = claimed.attempts, "mail sent");
            state.metrics.mail(kind.as_str(), "sent");
            match state.baton.mail_sent(&claimed).await {
                Ok(true) => {}
                // Deleted meanwhile (its links voided by a change of password or address, a
                // disabling or a deletion), or its claim lapsed.
                Ok(false) => tracing::info!(mail_id = %id,
                    "a mail went out that the outbox no longer held for this sender"),
                // It went out; the lease's end will send it again, once.
                Err(e) => {
                    tracing::warn!(mail_id = %id, error = %e, "a sent mail stays in the outbox")
                }
            }
        }
        Err(e) if e.permanent => {
            tracing::warn!(mail_id = %id, kind = kind.as_str(), error = %e.message,
                "the mail server refused a mail for good; dropped");
            state.metrics.mail(kind.as_str(), "rejected");
            let _ = state.baton.mail_sent(&claimed).await;
        }
        Err(e) => {
            let delay = backoff(claimed.attempts);
            tracing::warn!(mail_id = %id, kind = kind.as_str(), attempts = claimed.attempts,
                retry_in_secs = delay.whole_seconds(), error = %e.message, "mail not sent; will retry");
            state.metrics.mail(kind.as_str(), "retry");
            let retry_at = state.baton.now() + delay;
            if let Err(e) = state
                .baton
                .mail_failed(&claimed, retry_at, &e.message)
                .await
            {
                tracing::warn!(mail_id = %id, error = %e, "could not record a failed mail");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> MailVars {
        MailVars {
            username: "<b>alice</b>".into(),
            link: "https://auth.example.com/#reset=abc".into(),
            valid_minutes: 30,
            valid_for: "30 minutes".into(),
        }
    }

    #[test]
    fn built_in_templates_render_and_escape_html_only() {
        let t = Templates::load(None).expect("built in");
        let r = t.render(MailKind::PasswordReset, &vars()).expect("render");
        assert_eq!(r.subject, "Reset your password");
        assert!(r.text.contains("Hello <b>alice</b>,"));
        assert!(r.text.contains("https://auth.example.com/#reset=abc"));
        assert!(r.text.contains("within 30 minutes"));
        assert!(
            r.html.contains("Hello &lt;b&gt;alice&lt;&#x2f;b&gt;,")
                || r.html.contains("Hello &lt;b&gt;alice&lt;/b&gt;,"),
            "{}",
            r.html
        );
        let r = t.render(MailKind::VerifyEmail, &vars()).expect("render");
        assert_eq!(r.subject, "Confirm your e-mail address");
    }

    #[test]
    fn operator_templates_replace_built_in_ones_and_bad_ones_stop_the_start() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("verify_email.subject"),
            "Welcome,\n{{ username }}!\r\nBcc: eve@example.com",
        )
        .expect("write");
        let t = Templates::load(Some(dir.path())).expect("load");
        let r = t.render(MailKind::VerifyEmail, &vars()).expect("render");
        assert_eq!(r.subject, "Welcome, <b>alice</b>! Bcc: eve@example.com");
        // Untouched ones stay built in.
        let r = t.render(MailKind::PasswordReset, &vars()).expect("render");
        assert_eq!(r.subject, "Reset your password");

        std::fs::write(dir.path().join("password_reset.txt"), "{{ usernme }}").expect("write");
        let e = Templates::load(Some(dir.path())).expect_err("a misspelt variable");
        assert!(format!("{e:#}").contains("password_reset"), "{e:#}");
        std::fs::write(dir.path().join("password_reset.txt"), "{% if %}").expect("write");
        assert!(Templates::load(Some(dir.path())).is_err(), "a syntax error");
    }

    #[test]
    fn smtp_urls_are_checked_defaulted_and_redacted() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com",
            "smtps://user:pa%40ss@mail.example.com:465",
            "smtp://mail.example.com:587?tls=required",
        ] {
            assert!(check_smtp_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "mail.example.com",
            "smtp://:25",
        ] {
            assert!(check_smtp_url(bad).is_err(), "{bad}");
        }
        let tls = |url: &str, apart: bool| with_tls_default(url, apart).expect("accepted");
        assert_eq!(tls("smtp://h:25", false), "smtp://h:25?tls=opportunistic");
        assert_eq!(
            tls("smtp://h:25?tls=required", false),
            "smtp://h:25?tls=required"
        );
        // Credentials are never sent in the clear: TLS becomes required.
        assert_eq!(
            tls("smtp://user:pw@h:587", false),
            "smtp://user:pw@h:587?tls=required"
        );
        assert_eq!(
            tls("smtp://user@h:587", true),
            "smtp://user@h:587?tls=required"
        );
        // `tls=` inside the credentials is no parameter.
        assert_eq!(
            tls("smtp://tls=x:pw@h:587", false),
            "smtp://tls=x:pw@h:587?tls=required"
        );
        assert!(with_tls_default("smtp://user:pw@h:587?tls=opportunistic", false).is_err());
        assert!(with_tls_default("smtp://user:pw@h:587?%74ls=opportunistic", false).is_err());
        assert!(with_tls_default("smtp://user:pw@h:587?tls=%72equired", false).is_ok());
        assert!(with_tls_default("smtp://h:587?tls=opportunistic", true).is_err());
        assert_eq!(tls("smtps://user:pw@h", false), "smtps://user:pw@h");
        assert_eq!(
            redact_smtp_url("smtps://user:secret@mail.example.com:465"),
            "smtps://user:***@mail.example.com:465"
        );
        assert_eq!(redact_smtp_url("smtp://h:25"), "smtp://h:25");
    }

    #[test]
    fn the_default_sender_follows_the_issuer() {
        let from = |issuer: &str| default_sender(issuer).expect("sender").to_string();
        assert_eq!(
            from("https://auth.example.com"),
            "baton <baton@auth.example.com>"
        );
        assert_eq!(from("http://127.0.0.1:4000"), "baton <baton@localhost>");
        assert_eq!(from("http://[::1]:4000"), "baton <baton@localhost>");
        assert!(check_sender("Example <no-reply@example.com>").is_ok());
        assert!(check_sender("not an address").is_err());
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(backoff(1), time::Duration::seconds(15));
        assert_eq!(backoff(2), time::Duration::seconds(30));
        assert_eq!(backoff(4), time::Duration::minutes(2));
        assert_eq!(backoff(7), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
