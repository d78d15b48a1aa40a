-- The audit log: security events, never a token, a password or a secret. Times are Unix
-- milliseconds; ids are UUIDv7 text.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    username   TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    reason     TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_at ON audit_events (user_id, at, id);
