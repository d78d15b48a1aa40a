-- Client assertions (private_key_jwt, RFC 7523) already used, by the SHA-256 of their client
-- and jti, until they expire: each is accepted once.
CREATE TABLE client_assertions_used (
    hash       BYTEA PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX client_assertions_used_expires_at ON client_assertions_used (expires_at);
