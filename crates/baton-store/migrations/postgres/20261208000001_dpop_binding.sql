-- DPoP (RFC 9449). When a session opened without a key was bound to one by a refresh with a
-- proof (NULL: bound when opened, or not bound): its tokens issued before then were bearer
-- tokens, and one of them presented again after the grace window is reuse, key or no key. And
-- §10: the thumbprint of the key an authorization code is bound to (dpop_jkt at the
-- authorization request, or the key of a pushed request's proof; NULL: not bound).
ALTER TABLE sessions ADD COLUMN dpop_bound_at BIGINT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
