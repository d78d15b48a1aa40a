-- OpenID Connect sign-in through baton's own pages.
--
-- A browser session: the `__Host-baton_sso` cookie's SHA-256, naming the baton session the
-- user opened on the sign-in page. It lives and ends with that session (logout, revocation,
-- expiry), which is what single sign-on across clients rests on.
CREATE TABLE browser_sessions (
    hash       BYTEA PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_session_id ON browser_sessions (session_id);

-- Authorization codes (RFC 6749 section 4.1), by SHA-256 only: single-use, short-lived, bound
-- to their client, redirect URI and PKCE challenge. Their first use records the id of the
-- session it opens (`issued_session_id`); a later use sets `reused_at` and revokes it.
CREATE TABLE authorization_codes (
    hash              BYTEA PRIMARY KEY NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users (id),
    browser_session   TEXT NOT NULL,
    redirect_uri      TEXT NOT NULL,
    code_challenge    TEXT NOT NULL,
    scope             TEXT NOT NULL,
    nonce             TEXT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT,
    reused_at         BIGINT,
    issued_session_id TEXT
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- When the user authenticated, for a session opened from another one (a client's session
-- opened from a browser session keeps the browser session's sign-in time); NULL: created_at.
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
-- The browser session a client's session was opened from, if any.
ALTER TABLE sessions ADD COLUMN parent_id TEXT;
CREATE INDEX sessions_parent_id ON sessions (parent_id);
