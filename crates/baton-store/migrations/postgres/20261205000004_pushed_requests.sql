-- Pushed authorization requests (RFC 9126): the request a client pushed, by the SHA-256 of its
-- request_uri's random part; used once, within a minute.
CREATE TABLE pushed_requests (
    hash       BYTEA PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
