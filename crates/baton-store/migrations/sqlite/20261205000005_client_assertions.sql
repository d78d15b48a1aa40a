-- Client assertions (private_key_jwt, RFC 7523) already used, by the SHA-256 of their client
-- and jti, until they expire: each is accepted once.
CREATE TABLE client_assertions_used (
    hash       BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX client_assertions_used_expires_at ON client_assertions_used (expires_at);
