//! The TypeScript side of the wire types: `clients/web/src/generated/wire.ts` is generated from
//! the types of this crate, and this test fails when the committed file differs from what they
//! generate now (run it with `BATON_WRITE_TS=1` to write the file, then `npm run build` in
//! `clients/web`).

use super::*;
use std::path::{Path, PathBuf};
use ts_rs::{Config, TS};

/// The generated file.
fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/web/src/generated/wire.ts")
}

/// Types that are not JSON bodies: the OAuth forms are `application/x-www-form-urlencoded`.
const NOT_JSON: &[&str] = &["OAuthTokenForm", "OAuthTokenRefForm"];

/// One declaration, with its doc comment.
fn declare<T: TS>(cfg: &Config) -> (String, String) {
    let docs = T::docs().unwrap_or_default();
    (T::ident(cfg), format!("{docs}export {}\n", T::decl(cfg)))
}

fn generate() -> (Vec<String>, String) {
    // Fixed here rather than read from TS_RS_* variables, so that every machine generates the
    // same file; the seconds and epoch times on the wire are well within a JS number.
    let cfg = Config::new().with_large_int("number");
    let declarations = [
        declare::<ErrorCode>(&cfg),
        declare::<ErrorBody>(&cfg),
        declare::<RegisterRequest>(&cfg),
        declare::<ChangePasswordRequest>(&cfg),
        declare::<ForgotPasswordRequest>(&cfg),
        declare::<ResetPasswordRequest>(&cfg),
        declare::<SetEmailRequest>(&cfg),
        declare::<VerifyEmailRequest>(&cfg),
        declare::<UserResponse>(&cfg),
        declare::<Delivery>(&cfg),
        declare::<LoginRequest>(&cfg),
        declare::<RefreshRequest>(&cfg),
        declare::<TokenResponse>(&cfg),
        declare::<MeResponse>(&cfg),
        declare::<SessionView>(&cfg),
        declare::<SessionList>(&cfg),
        declare::<ConnectedApp>(&cfg),
        declare::<ConnectedAppList>(&cfg),
        declare::<EventKind>(&cfg),
        declare::<EventView>(&cfg),
        declare::<EventList>(&cfg),
        declare::<IntrospectionResponse>(&cfg),
        declare::<ClientTokenResponse>(&cfg),
        declare::<CodeTokenResponse>(&cfg),
        declare::<MfaMethod>(&cfg),
        declare::<MfaRequiredBody>(&cfg),
        declare::<LoginMfaRequest>(&cfg),
        declare::<TotpSetupRequest>(&cfg),
        declare::<TotpSetupResponse>(&cfg),
        declare::<TotpConfirmRequest>(&cfg),
        declare::<StepUpRequest>(&cfg),
        declare::<RecoveryCodesResponse>(&cfg),
        declare::<MfaStatus>(&cfg),
        declare::<serde_json::Value>(&cfg),
        declare::<PasskeyAssertion>(&cfg),
        declare::<PasskeyOptions>(&cfg),
        declare::<PasskeyRegisterStartRequest>(&cfg),
        declare::<PasskeyRegisterFinishRequest>(&cfg),
        declare::<PasskeyView>(&cfg),
        declare::<PasskeyRegistered>(&cfg),
        declare::<PasskeyList>(&cfg),
        declare::<PasskeyLoginStartRequest>(&cfg),
        declare::<PasskeyLoginFinishRequest>(&cfg),
    ];
    let names = declarations.iter().map(|(name, _)| name.clone()).collect();
    let mut text = String::from(
        "// The JSON bodies of baton's HTTP API, generated from crates/baton-proto: do not edit.\n\
         // Regenerate: BATON_WRITE_TS=1 cargo test -p baton-proto --lib typescript\n\n",
    );
    for (_, declaration) in declarations {
        // ts-rs puts each field on a line of its own, some with a blank at the end.
        for line in declaration.lines() {
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text.push('\n');
    }
    text.truncate(text.trim_end().len());
    text.push('\n');
    (names, text)
}

#[test]
fn the_typescript_wire_types_are_generated_from_these() {
    let (_, text) = generate();
    let path = target();
    if std::env::var_os("BATON_WRITE_TS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the folder");
        std::fs::write(&path, &text).expect("write wire.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} differs from what crates/baton-proto generates: run \
         `BATON_WRITE_TS=1 cargo test -p baton-proto --lib typescript`, then `npm run build` in \
         clients/web, and commit both",
        path.display()
    );
}

/// A public type added to this crate is either generated or listed as not JSON.
#[test]
fn every_wire_type_is_generated() {
    let (names, _) = generate();
    let sources = [
        ("auth", include_str!("auth.rs")),
        ("account", include_str!("account.rs")),
        ("error", include_str!("error.rs")),
        ("mfa", include_str!("mfa.rs")),
        ("oauth", include_str!("oauth.rs")),
    ];
    // Every module of wire types is read here.
    let modules: Vec<&str> = include_str!("lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .filter(|m| *m != "typescript")
        .collect();
    let read: Vec<&str> = sources.iter().map(|(name, _)| *name).collect();
    for module in &modules {
        assert!(
            read.contains(module),
            "{module}.rs is not read by this test"
        );
    }
    let sources = sources.map(|(_, text)| text);
    for line in sources.iter().flat_map(|s| s.lines()) {
        let Some(rest) = line
            .strip_prefix("pub struct ")
            .or_else(|| line.strip_prefix("pub enum "))
        else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            names.contains(&name) || NOT_JSON.contains(&name.as_str()),
            "{name} is neither generated for TypeScript nor listed in NOT_JSON"
        );
    }
    assert!(names.len() >= 15, "{names:?}");
}

#[test]
fn optional_fields_and_unions_read_as_the_wire_has_them() {
    let (_, text) = generate();
    for expected in [
        "export type ErrorCode = \"invalid_request\" | \"invalid_credentials\"",
        "refresh_token?: string",
        "error_description?: string",
        "delivery?: Delivery",
        "expires_in: number",
        "user_agent: string | null",
        "type: EventKind",
        "next_cursor?: string",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
