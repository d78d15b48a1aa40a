-- DPoP (RFC 9449): the thumbprint of the key a public client's refresh tokens are bound to
-- (NULL: not bound). The proofs already used are kept in the server's memory (one process
-- owns a SQLite database).
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
