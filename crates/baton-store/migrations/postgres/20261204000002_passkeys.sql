-- Passkeys (WebAuthn credentials): `id` is the credential id (base64url), `passkey` the
-- credential as webauthn-rs keeps it (JSON: public key, signature counter, flags; nothing
-- secret), `backup_eligible` whether it can leave its device (a synced passkey: amr "swk",
-- otherwise "hwk").
CREATE TABLE webauthn_credentials (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    passkey         TEXT NOT NULL,
    backup_eligible BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- WebAuthn ceremonies that finished: the SHA-256 of each ceremony token (a state sealed by
-- the server and handed to the client between start and finish), so that none finishes twice.
-- Kept until the ceremony would have expired anyway.
CREATE TABLE webauthn_ceremonies_used (
    hash       BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_used_expires_at ON webauthn_ceremonies_used (expires_at);
