-- How the user authenticated when a session was opened (RFC 8176 values, space-separated:
-- "pwd", "pwd otp mfa" ...); the access tokens of the session carry it as `amr`. NULL on
-- sessions from before: a password.
ALTER TABLE sessions ADD COLUMN amr TEXT;

-- A user's TOTP factor (RFC 6238). The secret is sealed under the key-encryption key with the
-- user's id as associated data. Pending until a code confirms it (`confirmed_at`);
-- `last_step` is the last time step a code was accepted for, so each code works once.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    secret       BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT
);

-- One-time recovery codes: only their SHA-256 hash is kept (80 random bits each).
CREATE TABLE recovery_codes (
    hash       BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Logins waiting for their second factor: the `mfa_token`'s SHA-256 hash, single-use, five
-- minutes. `password_hash` is the hash the first step checked: the session opens only while
-- it is still the user's.
CREATE TABLE mfa_challenges (
    hash          BYTEA PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    client_id     TEXT NOT NULL,
    delivery      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    failures      BIGINT NOT NULL DEFAULT 0,
    used_at       BIGINT
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- Wrong second-factor codes at logins, one row each, kept a day: past a daily cap per account
-- TOTP codes are refused (recovery codes and passkeys still work), so a password known to an
-- attacker buys a bounded number of code guesses however long they try. Bounded by the
-- failed-login limits.
CREATE TABLE mfa_failures (
    user_id TEXT NOT NULL REFERENCES users (id),
    at      BIGINT NOT NULL
);
CREATE INDEX mfa_failures_user ON mfa_failures (user_id, at);
CREATE INDEX mfa_failures_at ON mfa_failures (at);
