-- Users an operator disabled (Unix milliseconds; NULL while enabled). A disabled user's
-- sessions are revoked in the same transaction, and no session is opened for one: a login with
-- the right password is refused, and no refresh token of theirs is live.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
