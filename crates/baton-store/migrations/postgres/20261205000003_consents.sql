-- What users allowed third-party clients ("connected apps"): the scopes granted, remembered so
-- that the consent page is not shown again for them, until the user disconnects the app.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id),
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
