-- A rotation writes the token it spends and the one it stores, and nothing else.
--
-- The session's last use is its newest token's issue time, and its idle end that plus the
-- session's own idle timeout (`idle_ttl`, milliseconds, fixed at login like the absolute end).
-- `last_used_at` and `idle_expires_at` on the session become checkpoints, moved only when they
-- fall more than a sixteenth of the idle timeout (at most an hour) behind: the stored idle end
-- stays a lower bound of the true one, which the purge searches by index. `idle_ttl` stays NULL
-- for sessions opened by an older baton during a rolling upgrade; their timeout is then the
-- difference of the two checkpoint columns, which the older baton keeps equal to it.
ALTER TABLE sessions ADD COLUMN idle_ttl BIGINT;
UPDATE sessions SET idle_ttl = idle_expires_at - last_used_at;

-- The successor's sealed copy lives on the successor's own row, written when it is stored, so
-- spending a token changes no indexed column (the partial index on `spent_at` goes). Seals still
-- held move over, found by that index. `sealed_successor` stays for older instances during a
-- rolling upgrade; this version neither reads nor writes it.
ALTER TABLE refresh_tokens ADD COLUMN sealed BYTEA;
UPDATE refresh_tokens SET sealed = p.sealed_successor FROM refresh_tokens AS p
    WHERE p.sealed_successor IS NOT NULL AND refresh_tokens.hash = p.successor_hash;
DROP INDEX refresh_tokens_sealed_spent_at;
CREATE INDEX refresh_tokens_sealed_created_at ON refresh_tokens (created_at)
    WHERE sealed IS NOT NULL;

-- A session's newest token, by index.
DROP INDEX refresh_tokens_session_id;
CREATE INDEX refresh_tokens_session_created_at ON refresh_tokens (session_id, created_at);

-- New tokens leave a fifth of each page free, so spending one (its update adds the successor's
-- hash) fits on its page and PostgreSQL updates it in place without new index entries (HOT).
ALTER TABLE refresh_tokens SET (fillfactor = 80);
