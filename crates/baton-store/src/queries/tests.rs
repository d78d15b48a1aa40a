//! Checks on the SQL text itself, needing no database.

use super::*;

/// Every statement both backends run (SQLite binds by position; PostgreSQL's own, such as
/// `postgres::ROTATE_FAST`, bind by number and may use them in any order).
const ALL: &[&str] = &[
    PING,
    INSERT_USER,
    USER_BY_KEY,
    USER_BY_ID,
    SET_ROLES,
    USER_BY_EMAIL,
    SET_EMAIL,
    CONFIRM_EMAIL,
    INSERT_ACCOUNT_TOKEN,
    ACCOUNT_TOKEN_USER,
    USE_ACCOUNT_TOKEN,
    SPEND_USER_TOKENS,
    SPEND_ALL_USER_TOKENS,
    DROP_USER_MAIL,
    DROP_USER_MAIL_OF_KIND,
    DELETE_USER_TOKENS,
    RESET_PASSWORD,
    PURGE_ACCOUNT_TOKENS,
    INSERT_MAIL,
    CLAIM_MAIL,
    MAIL_SENT,
    MAIL_RETRY,
    PURGE_MAIL,
    OUTBOX_LEN,
    USERS,
    SET_PASSWORD,
    REVOKE_FOR_PASSWORD,
    DISABLE_USER,
    REVOKE_FOR_DISABLE,
    ENABLE_USER,
    DELETE_USER,
    REVOKE_USER_SESSIONS,
    INSERT_SESSION,
    INSERT_TOKEN,
    INSERT_SUCCESSOR,
    ROTATION_STATE,
    SPEND_TOKEN,
    TOUCH_SESSION,
    COUNT_REPLAY,
    REVOKE_FOR_REUSE,
    TOKEN_SESSION,
    REVOKE_FOR_LOGOUT,
    REVOKE_SESSION,
    REVOKE_ALL_SESSIONS,
    LIVE_SESSIONS,
    REVOKE_OVER_LIMIT,
    REVOKE_APP_OVER_LIMIT,
    SESSION,
    REFRESH_TOKEN,
    INSERT_CLIENT,
    CLIENT,
    CLIENTS,
    DELETE_CLIENT,
    DELETE_CLIENT_CONSENTS,
    SPEND_CLIENT_CODES,
    UPDATE_CLIENT,
    SIGNING_KEYS,
    ACTIVE_KEY_OF_ALG,
    RETIRE_KEYS,
    INSERT_KEY,
    REPLACE_PRIVATE_KEY,
    END_IDLE_SESSIONS,
    PURGE_ENDED_TOKENS,
    PURGE_ENDED_SESSIONS,
    INSERT_EVENT,
    EVENTS,
    EVENTS_OF_USER,
    PURGE_EVENTS,
    DROP_STALE_ATTEMPTS,
    RECENT_FAILURES,
    ATTEMPTS_IN_FLIGHT,
    INSERT_ATTEMPT,
    DELETE_ATTEMPT,
    INSERT_FAILURE,
    CLEAR_FAILURES,
    PURGE_FAILURES,
    PURGE_ATTEMPTS,
    DROP_STALE_SEALS,
    SET_IDLE_TIMEOUT,
    FORKED_SESSIONS,
    HALF_ROTATED,
    PUT_PENDING_TOTP,
    TOTP_FACTOR,
    TOTP_FACTORS,
    REPLACE_TOTP_SECRET,
    CONFIRM_TOTP,
    USE_TOTP_STEP,
    DELETE_TOTP,
    DELETE_RECOVERY_CODES,
    INSERT_RECOVERY_CODE,
    USE_RECOVERY_CODE,
    RECOVERY_CODES_LEFT,
    INSERT_MFA_CHALLENGE,
    MFA_CHALLENGE,
    MFA_CHALLENGE_FAILED,
    USE_MFA_CHALLENGE,
    DELETE_USER_MFA_CHALLENGES,
    PURGE_MFA_CHALLENGES,
    DELETE_ORPHAN_RECOVERY_CODES,
    MFA_SUMMARY,
    INSERT_PASSKEY,
    PASSKEYS_OF_USER,
    PASSKEY,
    TOUCH_PASSKEY_OVER,
    INSERT_MFA_FAILURE,
    MFA_FAILURES_SINCE,
    PURGE_MFA_FAILURES,
    DELETE_USER_MFA_FAILURES,
    REVOKE_PASSWORD_ONLY_SESSIONS,
    DELETE_PASSKEY,
    DELETE_USER_PASSKEYS,
    USE_CEREMONY,
    PURGE_CEREMONIES,
    INSERT_BROWSER_SESSION,
    BROWSER_SESSION,
    INSERT_AUTHORIZATION_CODE,
    USE_AUTHORIZATION_CODE,
    REUSE_AUTHORIZATION_CODE,
    AUTHORIZATION_CODE_REUSED,
    PURGE_AUTHORIZATION_CODES,
    CONSENT,
    PUT_CONSENT,
    CONSENTS,
    DELETE_CONSENT,
    REVOKE_CLIENT_SESSIONS,
    INSERT_PUSHED_REQUEST,
    USE_PUSHED_REQUEST,
    PURGE_PUSHED_REQUESTS,
    REVOKE_CHILD_SESSIONS,
    REPARENT_SESSIONS,
    QUEUE_LOGOUTS,
    QUEUE_SESSION_LOGOUTS,
    QUEUE_APP_LOGOUTS,
    CLAIM_LOGOUTS,
    LOGOUT_SENT,
    LOGOUT_RETRY,
    PURGE_LOGOUTS,
    DELETE_CLIENT_LOGOUTS,
    USE_CLIENT_ASSERTION,
    PURGE_CLIENT_ASSERTIONS,
    BIND_SESSION_KEY,
];

/// The placeholders in order of first appearance.
fn first_appearances(sql: &str) -> Vec<u32> {
    let mut seen = Vec::new();
    let bytes = sql.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'$' {
            continue;
        }
        let digits: String = sql[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse::<u32>() {
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
    }
    seen
}

#[test]
fn placeholders_first_appear_in_order_so_positional_binding_works_on_sqlite() {
    for sql in ALL {
        let seen = first_appearances(sql);
        let expected: Vec<u32> = (1..=u32::try_from(seen.len()).unwrap_or(0)).collect();
        assert_eq!(seen, expected, "{sql}");
    }
}

#[test]
fn batched_statements_use_the_batch_size() {
    assert!(SET_IDLE_TIMEOUT.contains(&format!("LIMIT {PURGE_BATCH}) ")));
    // The purge's statements take their batch as a parameter: PostgreSQL deletes
    // `PURGE_BATCH` at a time, SQLite fewer, often, within a time budget.
    for sql in [
        END_IDLE_SESSIONS,
        PURGE_ENDED_TOKENS,
        PURGE_ENDED_SESSIONS,
        DROP_STALE_SEALS,
        PURGE_EVENTS,
    ] {
        assert!(!sql.contains("LIMIT 5"), "{sql}");
        assert!(sql.contains("LIMIT $2"), "{sql}");
    }
}

#[test]
fn the_dialects_differ_only_where_they_must() {
    assert_eq!(sqlite::DIALECT.insert_session, INSERT_SESSION);
    assert_eq!(
        postgres::DIALECT.insert_session,
        format!("{INSERT_SESSION} FOR NO KEY UPDATE")
    );
    assert!(sqlite::DIALECT.lock_signing_keys.is_none());
    assert!(postgres::DIALECT.lock_signing_keys.is_some());
}

/// Words that start a statement.
const SQL_STARTS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "WITH",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "LOCK",
    "PRAGMA",
    "VACUUM",
    "CREATE",
    "ALTER",
    "DROP",
];

/// The string literals in `source` before its tests that start like a statement.
fn sql_literals(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    code.split('"')
        .skip(1)
        .step_by(2)
        .filter(|text| {
            let first = text
                .trim_start()
                .split([' ', '(', ';'])
                .next()
                .unwrap_or_default();
            SQL_STARTS.contains(&first)
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_backends_hold_no_sql_of_their_own() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for backend in ["sqlite", "postgres"] {
        let dir = std::fs::read_dir(src.join(backend)).expect("backend folder");
        for entry in dir {
            let path = entry.expect("entry").path();
            let source = std::fs::read_to_string(&path).expect("source");
            let found = sql_literals(&source);
            assert!(
                found.is_empty(),
                "{} holds SQL; move it to src/queries: {found:?}",
                path.display()
            );
            // Each backend speaks its own dialect only.
            let other = if backend == "sqlite" {
                "postgres"
            } else {
                "sqlite"
            };
            for foreign in [format!("q::{other}"), format!("queries::{other}")] {
                assert!(
                    !source.contains(&foreign),
                    "{} uses {foreign}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} backend files found");
    // The check itself finds SQL where there is some.
    assert_eq!(
        sql_literals("fn f() { run(\"SELECT 1\"); run(\"x\"); }"),
        ["SELECT 1"]
    );
}

/// The claim takes exactly the kinds this version can send.
#[test]
fn the_claim_names_every_mail_kind_and_no_other() {
    let listed = CLAIM_MAIL
        .split_once("kind IN (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list)
        .expect("a kind list");
    let listed: Vec<&str> = listed
        .split(',')
        .map(|k| k.trim().trim_matches('\''))
        .collect();
    let known: Vec<&str> = baton_core::email::MailKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(listed, known);
}
