-- E-mail addresses: stored as given (trimmed), compared by `email_key` (case-folded), unique
-- among live users. `email_verified_at` is set when the address is confirmed and cleared when
-- it changes.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE UNIQUE INDEX users_live_email_key ON users (email_key)
    WHERE deleted_at IS NULL AND email_key IS NOT NULL;

-- One-time tokens sent by mail (password resets, address confirmations): only their SHA-256
-- hash is kept. A verification token names the address it confirms. Used or expired tokens
-- are purged.
CREATE TABLE account_tokens (
    hash       BYTEA PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    email_key  TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);

-- Mail waiting to be sent, written in the same transaction as the token it carries. The
-- message's variables (its link holds the token) are sealed under the key-encryption key, with
-- the row's id, kind, user, recipient and expiry as associated data. A worker claims due rows for a
-- lease (`claim` names the claim, so only its holder can finish the row), sends, and deletes
-- them; a failure sets the next attempt. Rows whose link has expired are dropped unsent.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    sealed          BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    claim           TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_next_attempt_at ON outbox (next_attempt_at);
CREATE INDEX outbox_user ON outbox (user_id);
