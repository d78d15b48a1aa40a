-- Resource indicators (RFC 8707): the API an application asked its access tokens for, which
-- they then name as `aud` instead of baton's audience. NULL: baton's audience.
ALTER TABLE authorization_codes ADD COLUMN resource TEXT;
ALTER TABLE sessions ADD COLUMN audience TEXT;
