//! Unit tests of [`super`].

use super::{own_origins, redact, webauthn_policy, Config, WebauthnPolicy};

#[test]
fn passwords_are_redacted_wherever_the_url_holds_them() {
    assert_eq!(
        redact("postgres://baton:s3cret@db/baton"),
        "postgres://baton:***@db/baton"
    );
    assert_eq!(
        redact("postgres://db/baton?user=baton&password=s3cret&sslmode=require"),
        "postgres://db/baton?user=baton&password=***&sslmode=require"
    );
    assert_eq!(redact("sqlite://baton.db"), "sqlite://baton.db");
}

fn policy(issuer: &str, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Option<WebauthnPolicy>> {
    let mut config = Config::default();
    tweak(&mut config);
    webauthn_policy(&config, issuer)
}

#[test]
fn passkeys_follow_the_issuer_and_a_loopback_address_becomes_localhost() {
    let p = policy("http://127.0.0.1:4000", |_| {})
        .expect("ok")
        .expect("on");
    assert_eq!(p.rp_id, "localhost");
    assert_eq!(
        p.origins,
        ["http://localhost:4000", "http://127.0.0.1:4000"]
    );
    let p = policy("https://auth.example.com/", |_| {})
        .expect("ok")
        .expect("on");
    assert_eq!(p.rp_id, "auth.example.com");
    assert_eq!(p.origins, ["https://auth.example.com"]);
    // Another IP address leaves passkeys off rather than failing to start.
    assert!(policy("http://10.0.0.5:4000", |_| {})
        .expect("ok")
        .is_none());
}

#[test]
fn configured_passkey_origins_must_sit_on_the_relying_party() {
    let p = policy("https://auth.example.com", |c| {
        c.webauthn_rp_id = Some("example.com".into());
        c.webauthn_origins = vec![
            "https://app.example.com".into(),
            "https://example.com".into(),
        ];
    })
    .expect("ok")
    .expect("on");
    assert_eq!(p.rp_id, "example.com");
    assert_eq!(p.origins.len(), 2);
    let foreign = policy("https://auth.example.com", |c| {
        c.webauthn_origins = vec!["https://evil.example".into()];
    });
    assert!(foreign.is_err());
    let ip_first = policy("https://auth.example.com", |c| {
        c.webauthn_rp_id = Some("example.com".into());
        c.webauthn_origins = vec!["http://10.0.0.5".into()];
    });
    assert!(ip_first.is_err());
}

#[test]
fn a_loopback_issuers_localhost_name_is_its_own_origin() {
    assert_eq!(
        own_origins("http://127.0.0.1:4000"),
        ["http://127.0.0.1:4000", "http://localhost:4000"]
    );
    assert_eq!(
        own_origins("https://auth.example.com"),
        ["https://auth.example.com"]
    );
    assert_eq!(
        own_origins("http://10.0.0.5:4000"),
        ["http://10.0.0.5:4000"]
    );
}
