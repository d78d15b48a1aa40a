-- DPoP (RFC 9449): the thumbprint of the key a public client's refresh tokens are bound to
-- (NULL: not bound), and the proofs already used, by the SHA-256 of their key and jti, until
-- they are too old to be taken anyway: each is accepted once, across instances. UNLOGGED: a
-- replay cache of a minute needs no write-ahead log, so recording a proof costs no flush to
-- disk; a crash (or a failover to a standby) empties it, which reopens the window of the proofs
-- used in the last minute before it, no more.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
CREATE UNLOGGED TABLE dpop_proofs_used (
    id         BYTEA PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_used_expires_at ON dpop_proofs_used (expires_at);
