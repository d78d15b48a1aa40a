-- OAuth clients added by the operator. The first-party client `baton` is implicit.
CREATE TABLE oauth_clients (
    id           TEXT PRIMARY KEY NOT NULL,
    confidential INTEGER NOT NULL,
    secret_hash  BLOB,
    created_at   INTEGER NOT NULL
);
