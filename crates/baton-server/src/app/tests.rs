//! Unit tests of [`super`].

use super::redact;

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
