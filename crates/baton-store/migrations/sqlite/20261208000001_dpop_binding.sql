-- DPoP (RFC 9449). Whether a refresh token was issued while its session was bound to a key:
-- a session opened without one and bound by a refresh with a proof had bearer tokens until
-- then, and one of those presented again without the key is reuse (it revokes the session), so
-- that someone who stole a bearer token and bound the session to their own key does not keep
-- it. Tokens issued before this migration count as bearer tokens. And §10: the thumbprint of
-- the key an authorization code is bound to (dpop_jkt at the authorization request, or the key
-- of a pushed request's proof; NULL: not bound).
ALTER TABLE refresh_tokens ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
