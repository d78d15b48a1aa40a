-- OAuth clients added by the operator. The first-party client `baton` is implicit.
CREATE TABLE oauth_clients (
    id           TEXT PRIMARY KEY,
    confidential BOOLEAN NOT NULL,
    secret_hash  BYTEA,
    created_at   BIGINT NOT NULL
);
