-- Failed-login counters shared by every instance (PostgreSQL; SQLite's single instance counts in
-- memory). Keys are SHA-256 digests of a username's comparison key or a client address.
CREATE TABLE login_failures (
    key       BLOB NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
CREATE INDEX login_failures_failed_at ON login_failures (failed_at);

-- Attempts whose password is being checked, one row per key they count under.
CREATE TABLE login_attempts (
    id         TEXT NOT NULL,
    key        BLOB NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (id, key)
);
CREATE INDEX login_attempts_key ON login_attempts (key);
