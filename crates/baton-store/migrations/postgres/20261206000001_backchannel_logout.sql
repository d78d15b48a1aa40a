-- OpenID Connect Back-Channel Logout 1.0: when a browser session ends, each application that
-- signed in through it is told so by a logout token posted to its back-channel URI.

-- The client settings' back-channel logout URI, mirrored here so that the statement ending a
-- browser session can queue a notice for the applications that have one.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;
UPDATE oauth_clients SET backchannel_logout_uri = settings::json ->> 'backchannel_logout_uri'
    WHERE settings IS NOT NULL;

-- The browser session an application's ID token named as `sid`, kept when the session moves to
-- a newer browser session of the same user (`parent_id` changes; the application's `sid` does
-- not). NULL: `parent_id` is the one it was told.
ALTER TABLE sessions ADD COLUMN sid TEXT;

-- Logout notices waiting to be delivered: one per application and browser session, written in
-- the transaction that ends the browser session. Nothing secret is stored: the logout token is
-- signed when it is sent. A notice still undelivered at `expires_at` is dropped.
CREATE TABLE backchannel_logouts (
    client_id       TEXT NOT NULL,
    sid             TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claim           TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    PRIMARY KEY (client_id, sid)
);
CREATE INDEX backchannel_logouts_next_attempt_at ON backchannel_logouts (next_attempt_at);
