//! Unit tests of [`super`].

use super::values::days;
use super::*;
use clap::Parser;
use std::io::Write as _;

#[test]
fn defaults_match_the_contract() {
    let c = Config::resolve(&Settings::default()).expect("defaults are valid");
    assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
    assert_eq!(c.listen, "127.0.0.1:4000");
    assert_eq!(c.database_url.as_str(), "sqlite://baton.db");
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

/// The settings as clap reads them from flags (environment variables take the same path).
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    settings: Settings,
}

fn flags(args: &[&str]) -> Result<Settings, String> {
    Flags::try_parse_from(std::iter::once("baton").chain(args.iter().copied()))
        .map(|f| f.settings)
        .map_err(|e| e.to_string())
}

fn resolve_flags(args: &[&str]) -> anyhow::Result<Config> {
    Config::resolve(&flags(args).map_err(anyhow::Error::msg)?)
}

fn resolve_file(toml: &str) -> anyhow::Result<Config> {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(toml.as_bytes()).expect("write");
    Config::resolve(&Settings {
        config_file: Some(file.path().to_owned()),
        ..Settings::default()
    })
}

/// Every setting's key, as clap knows it (`config_file` is the file itself).
fn keys() -> Vec<String> {
    use clap::Args as _;
    Settings::augment_args(clap::Command::new("baton"))
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .filter(|id| id != "config_file")
        .collect()
}

#[test]
fn every_setting_may_be_in_the_file() {
    let keys = keys();
    assert!(keys.len() >= 38, "{keys:?}");
    for key in keys {
        // A table fits no setting: the error must be about the value, not an unknown key.
        let err = format!(
            "{:#}",
            resolve_file(&format!("{key} = {{}}\n")).expect_err(&key)
        );
        assert!(!err.contains("unknown"), "{key}: {err}");
        assert!(err.contains(&key), "{key}: {err}");
    }
}

#[test]
fn a_value_means_the_same_as_a_flag_and_in_the_file() {
    let from_flags = resolve_flags(&[
        "--access-ttl=15m",
        "--cookie-secure=no",
        "--trusted-proxies=10.0.0.0/8, ::1",
        "--allowed-origins=https://a.example/,https://b.example",
        "--login-limit-user=7",
        "--signing-alg=ES256",
        "--registration=closed",
        "--log-format=json",
        "--refresh-grace=0",
    ])
    .expect("valid flags");
    let from_file = resolve_file(
        "access_ttl = \"15m\"\ncookie_secure = false\n\
         trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
         allowed_origins = \"https://a.example/,https://b.example\"\n\
         login_limit_user = 7\nsigning_alg = \"ES256\"\nregistration = \"closed\"\n\
         log_format = \"json\"\nrefresh_grace = 0\n",
    )
    .expect("valid file");
    assert_eq!(format!("{from_flags:?}"), format!("{from_file:?}"));
    assert_eq!(from_flags.access_ttl, Duration::from_secs(900));
    assert!(!from_flags.cookie_secure && !from_flags.registration_open);
    assert_eq!(from_flags.trusted_proxies.len(), 2);
    assert_eq!(
        from_flags.allowed_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(
        (
            from_flags.login_limit_user,
            from_flags.signing_alg,
            from_flags.log_format
        ),
        (7, SigningAlg::ES256, LogFormat::Json)
    );
    assert_eq!(from_flags.refresh_grace, Duration::ZERO);
    // Numbers and booleans may also be quoted in the file, as they are in the environment.
    let quoted = resolve_file("login_limit_user = \"7\"\ncookie_secure = \"no\"\n").expect("valid");
    assert_eq!((quoted.login_limit_user, quoted.cookie_secure), (7, false));
}

#[test]
fn strings_and_secrets_in_the_file_may_be_bare_numbers_and_bad_ones_are_not_shown() {
    let c = resolve_file("secret = 12345678901234567\naudience = 123\n").expect("valid");
    assert_eq!(c.secret, Some(Secret::new("12345678901234567")));
    assert_eq!(c.audience, "123");
    let err = format!(
        "{:#}",
        resolve_file("audience = \"a\"\nsecret = 1.25e3\n").expect_err("a float")
    );
    assert!(err.contains("line 2") && err.contains("secret"), "{err}");
    assert!(!err.contains("1.25"), "{err}");
    let err = format!(
        "{:#}",
        resolve_file("trusted_proxy_header = \"X-Real-IP\"\n").expect_err("retired")
    );
    assert!(err.contains("BATON_TRUSTED_PROXIES"), "{err}");
    let err = format!(
        "{:#}",
        resolve_file("acess_ttl = 1\n").expect_err("unknown")
    );
    assert!(!err.contains("trusted_proxy_header"), "{err}");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let settings = flags(&[
        "--secret=hunter2hunter2hunter2",
        "--database-url=postgres://baton:pw-in-url@db/baton",
    ])
    .expect("valid");
    let shown = format!("{settings:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("pw-in-url"),
        "{shown}"
    );
    let config = Config::resolve(&settings).expect("valid");
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("pw-in-url"),
        "{shown}"
    );
    assert!(shown.contains("postgres://baton:***@db/baton"), "{shown}");
}

#[test]
fn finding_14_unknown_keys_in_the_file_stop_startup() {
    let err = format!(
        "{:#}",
        resolve_file("refresh_absolut_ttl = \"1d\"\n").expect_err("unknown key")
    );
    assert!(err.contains("refresh_absolut_ttl"), "{err}");
    let err = format!(
        "{:#}",
        resolve_file("access_ttl = 1.5\n").expect_err("a float")
    );
    assert!(err.contains("access_ttl"), "{err}");
    let err = format!(
        "{:#}",
        resolve_file("config = \"other.toml\"\nacess_ttl = 1\n").expect_err("no nesting")
    );
    assert!(
        err.contains("unknown setting(s) acess_ttl, config"),
        "{err}"
    );
}

#[test]
fn finding_13_a_wildcard_origin_is_refused_with_a_message() {
    for bad in [
        "*",
        "https://*.example.com",
        "example.com",
        "https://a.example/path",
    ] {
        let err = format!(
            "{:#}",
            resolve_flags(&["--allowed-origins", bad]).expect_err(bad)
        );
        assert!(err.contains("allowed_origins"), "{err}");
    }
    assert!(
        resolve_flags(&["--allowed-origins=https://app.example.com, http://localhost:5173"])
            .is_ok()
    );
}

#[test]
fn trusted_proxies_take_addresses_and_cidrs() {
    let c = resolve_flags(&["--trusted-proxies=10.0.0.0/8, 192.0.2.7,::1"]).expect("valid");
    assert_eq!(c.trusted_proxies.len(), 3);
    let err = flags(&["--trusted-proxies=10.0.0.0/33"]).expect_err("a bad CIDR");
    assert!(err.contains("trusted_proxies"), "{err}");
    let settings = Settings {
        trusted_proxy_header: Some("X-Forwarded-For".into()),
        ..Settings::default()
    };
    let err = format!("{:#}", Config::resolve(&settings).expect_err("replaced"));
    assert!(err.contains("BATON_TRUSTED_PROXIES"), "{err}");
}

#[test]
fn bad_values_are_refused_with_the_setting_named() {
    for (args, key) in [
        (["--access-ttl=soon"], "access_ttl"),
        (["--login-limit-user=-1"], "login_limit_user"),
        (["--cookie-secure=maybe"], "cookie_secure"),
        (["--signing-alg=HS256"], "signing_alg"),
    ] {
        let err = flags(&args).expect_err(key);
        assert!(err.contains(key), "{err}");
    }
    assert!(flags(&["--registration=sometimes"]).is_err());
    assert!(flags(&["--log-format=xml"]).is_err());
    let err = format!(
        "{:#}",
        resolve_file("signing_alg = \"HS256\"\n").expect_err("HS256")
    );
    assert!(err.contains("signing_alg"), "{err}");
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
        .map(str::to_owned)
        .chain(keys())
        .map(|key| format!("BATON_{}", key.to_uppercase()))
        .collect();
    let named: std::collections::BTreeSet<String> = named.into_iter().map(String::from).collect();
    assert_eq!(named, known);
}

/// The `[default: …]` each flag's help names is the default in effect ([`Config::default`]),
/// except for the defaults that are a rule rather than a value.
#[test]
fn the_help_states_the_defaults_in_effect() {
    use clap::Args as _;
    let defaults = Config::default().describe();
    let mut rules = Vec::new();
    for arg in Settings::augment_args(clap::Command::new("baton")).get_arguments() {
        let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) else {
            continue;
        };
        let help = help.to_string();
        let Some(stated) = help
            .split_once("[default: ")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(value, _)| value.to_owned())
        else {
            continue;
        };
        let key = arg.get_id().as_str();
        let in_effect = flags(&[&format!("--{long}={stated}")])
            .ok()
            .and_then(|s| Config::resolve(&s).ok())
            .map(|c| c.describe())
            .and_then(|d| d.into_iter().find(|(k, _)| *k == key));
        let default = defaults.iter().find(|(k, _)| *k == key);
        match (in_effect, default) {
            (Some(stated), Some(default)) if stated == *default => {}
            _ => rules.push(key.to_owned()),
        }
    }
    assert_eq!(
        rules,
        [
            "issuer",
            "allowed_origins",
            "trusted_proxies",
            "hash_concurrency"
        ]
    );
}
