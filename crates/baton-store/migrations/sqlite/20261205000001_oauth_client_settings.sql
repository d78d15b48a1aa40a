-- What each OAuth client may do, as JSON (grants, redirect URIs, scopes, lifetimes …). NULL for
-- clients added before: they keep the password and refresh-token grants they always had.
ALTER TABLE oauth_clients ADD COLUMN settings TEXT;
-- The settings' refresh idle timeout in milliseconds, mirrored here so that the idle timeout
-- applied at start-up can leave the sessions of clients with their own alone.
ALTER TABLE oauth_clients ADD COLUMN refresh_idle_ttl INTEGER;

-- The scopes granted to a session opened through OAuth with a scope (space-separated); its
-- access tokens carry them as `scope`. NULL for sessions of baton's own endpoints.
ALTER TABLE sessions ADD COLUMN scope TEXT;

-- The roles an operator gave a user (space-separated); access tokens carry them as `roles`.
ALTER TABLE users ADD COLUMN roles TEXT;
