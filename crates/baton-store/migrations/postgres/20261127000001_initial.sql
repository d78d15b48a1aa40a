-- Users. Deleted users are kept (without their password hash) so that their sessions can still
-- answer "revoked"; the username becomes free again.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE UNIQUE INDEX users_live_username_key ON users (username_key) WHERE deleted_at IS NULL;

-- Sessions (token families). Times are Unix milliseconds.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id),
    client_id           TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    last_used_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    user_agent          TEXT,
    ip                  TEXT,
    revoked_at          BIGINT,
    revoke_reason       TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_absolute_expires_at ON sessions (absolute_expires_at);

-- Refresh tokens, by SHA-256 only. A spent token keeps its successor sealed under a key derived
-- from the spent token itself, for the grace window.
CREATE TABLE refresh_tokens (
    hash             BYTEA PRIMARY KEY,
    session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    spent_at         BIGINT,
    sealed_successor BYTEA
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- Signing keys, PKCS#8 DER.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private_pkcs8 BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    publish_until BIGINT
);
