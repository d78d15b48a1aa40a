//! Unit tests of [`super`].

use super::parse::FILE_KEYS;
use super::*;
use std::io::Write as _;

#[test]
fn defaults_match_the_contract() {
    let c = Config::resolve(&Settings::default()).expect("defaults are valid");
    assert_eq!(c.listen, "127.0.0.1:4000");
    assert_eq!(c.database_url, "sqlite://baton.db");
    assert_eq!(c.audience, "baton");
    assert_eq!(c.access_ttl, Duration::from_secs(900));
    assert_eq!(c.refresh_idle_ttl, days(7));
    assert_eq!(c.refresh_absolute_ttl, days(30));
    assert_eq!(c.refresh_grace, Duration::from_secs(10));
    assert!(c.registration_open);
    assert_eq!(c.signing_alg, SigningAlg::EdDSA);
    assert_eq!(c.password_min_length, 8);
    assert!(c.allowed_origins.is_empty());
    assert!(c.cookie_secure);
    assert_eq!(c.clock_leeway, Duration::ZERO);
    assert_eq!((c.login_limit_user, c.login_limit_ip), (10, 30));
}

#[test]
fn durations_take_seconds_or_units() {
    assert_eq!(parse_duration("900").expect("ok"), Duration::from_secs(900));
    assert_eq!(parse_duration("15m").expect("ok"), Duration::from_secs(900));
    assert_eq!(parse_duration("1h").expect("ok"), Duration::from_secs(3600));
    assert_eq!(parse_duration("7d").expect("ok"), days(7));
    assert!(parse_duration("soon").is_err());
}

#[test]
fn flags_beat_the_file_and_the_file_beats_defaults() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "access_ttl = \"1h\"\naudience = \"from-file\"\ncookie_secure = false\n\
         allowed_origins = [\"https://a.example\", \"https://b.example/\"]"
    )
    .expect("write");
    let settings = Settings {
        audience: Some("from-flag".into()),
        config_file: Some(file.path().to_owned()),
        ..Settings::default()
    };
    let c = Config::resolve(&settings).expect("valid");
    assert_eq!(c.audience, "from-flag");
    assert_eq!(c.access_ttl, Duration::from_secs(3600));
    assert!(!c.cookie_secure);
    assert_eq!(
        c.allowed_origins,
        ["https://a.example", "https://b.example"]
    );
}

#[test]
fn every_setting_may_be_in_the_file() {
    use clap::Args as _;
    let command = Settings::augment_args(clap::Command::new("baton"));
    let ids: Vec<String> = command
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .filter(|id| id != "config_file")
        .collect();
    assert_eq!(ids.len(), FILE_KEYS.len(), "{ids:?}");
    for id in ids {
        assert!(FILE_KEYS.contains(&id.as_str()), "{id} is missing");
    }
}

#[test]
fn finding_14_unknown_keys_in_the_file_stop_startup() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "refresh_absolut_ttl = \"1d\"").expect("write");
    let settings = Settings {
        config_file: Some(file.path().to_owned()),
        ..Settings::default()
    };
    let err = format!("{:#}", Config::resolve(&settings).expect_err("unknown key"));
    assert!(err.contains("refresh_absolut_ttl"), "{err}");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "access_ttl = 1.5").expect("write");
    let settings = Settings {
        config_file: Some(file.path().to_owned()),
        ..Settings::default()
    };
    let err = format!("{:#}", Config::resolve(&settings).expect_err("a float"));
    assert!(err.contains("access_ttl"), "{err}");
}

#[test]
fn finding_13_a_wildcard_origin_is_refused_with_a_message() {
    for bad in [
        "*",
        "https://*.example.com",
        "example.com",
        "https://a.example/path",
    ] {
        let settings = Settings {
            allowed_origins: Some(bad.into()),
            ..Settings::default()
        };
        let err = format!("{:#}", Config::resolve(&settings).expect_err(bad));
        assert!(err.contains("allowed_origins"), "{err}");
    }
    let settings = Settings {
        allowed_origins: Some("https://app.example.com, http://localhost:5173".into()),
        ..Settings::default()
    };
    assert!(Config::resolve(&settings).is_ok());
}

#[test]
fn trusted_proxies_take_addresses_and_cidrs() {
    let settings = Settings {
        trusted_proxies: Some("10.0.0.0/8, 192.0.2.7,::1".into()),
        ..Settings::default()
    };
    let c = Config::resolve(&settings).expect("valid");
    assert_eq!(c.trusted_proxies.len(), 3);
    let settings = Settings {
        trusted_proxies: Some("10.0.0.0/33".into()),
        ..Settings::default()
    };
    assert!(Config::resolve(&settings).is_err());
    let settings = Settings {
        trusted_proxy_header: Some("X-Forwarded-For".into()),
        ..Settings::default()
    };
    let err = format!("{:#}", Config::resolve(&settings).expect_err("replaced"));
    assert!(err.contains("BATON_TRUSTED_PROXIES"), "{err}");
}

#[test]
fn bad_values_are_refused_with_the_setting_named() {
    let settings = Settings {
        access_ttl: Some("soon".into()),
        ..Settings::default()
    };
    let err = Config::resolve(&settings).expect_err("invalid");
    assert!(format!("{err:#}").contains("access_ttl"));
    let settings = Settings {
        signing_alg: Some("HS256".into()),
        ..Settings::default()
    };
    assert!(Config::resolve(&settings).is_err());
}

/// `docs/configuration.md` is the one list of settings: it names every setting the code knows,
/// by its environment variable, and no other.
#[test]
fn the_configuration_doc_names_every_setting_and_no_other() {
    let doc = include_str!("../../../../docs/configuration.md");
    let named: std::collections::BTreeSet<&str> = doc
        .match_indices("BATON_")
        .map(|(at, _)| {
            let rest = &doc[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    // The file's own setting, and every setting the file may hold.
    let known: std::collections::BTreeSet<String> = std::iter::once("config")
        .chain(FILE_KEYS.iter().copied())
        .map(|key| format!("BATON_{}", key.to_uppercase()))
        .collect();
    let named: std::collections::BTreeSet<String> = named.into_iter().map(String::from).collect();
    assert_eq!(named, known);
}
