//! SQL only PostgreSQL runs: its side of [`Dialect`], the one-statement rotation, the limiter's
//! advisory locks and the migration check.

use super::Dialect;

/// PostgreSQL's side of [`Dialect`]: several instances write at once, so the writes that must
/// not interleave lock rows or tables.
pub const DIALECT: Dialect = Dialect {
    // The rotation's compare-and-set relies on READ COMMITTED's re-check of a row it waited
    // for, whatever the server's default.
    begin_write: "BEGIN ISOLATION LEVEL READ COMMITTED",
    // The user's row stays locked until the commit, so a deletion cannot slip in and two
    // logins of one user apply the cap on live sessions one after the other.
    insert_session: concat!(insert_session!(), " FOR NO KEY UPDATE"),
    // Rows another instance is claiming are skipped rather than waited for; the lease then
    // keeps them from being claimed twice.
    claim_mail: claim_mail!(" FOR UPDATE SKIP LOCKED"),
    claim_logouts: claim_logouts!(" FOR UPDATE SKIP LOCKED"),
    // A disabling, deletion or change of address committing meanwhile is waited for and seen.
    insert_account_token: concat!(insert_account_token!(), " FOR SHARE"),
    // Readers (`SELECT`) are not blocked.
    lock_signing_keys: Some("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"),
    scrub_signing_keys: "VACUUM FULL signing_keys",
};

/// The whole rotation when [`baton_core::rotation::decide`] would answer *rotate*: the token is unspent (`$3`), its
/// session not revoked, before its absolute end and its idle end at `$1` (the token is the
/// session's newest, so the idle end is its issue time plus the session's idle timeout), and
/// issued to the presenting client (`$4`, or any when `NULL`), and the session bound to no DPoP
/// key or to the one the request proved (`$6`); a session bound to none is bound to `$7` when
/// given (a public client's refresh with a proof). The session row is locked first
/// (`FOR NO KEY UPDATE`: a revocation committing meanwhile is waited for and seen), then the
/// token is spent (naming its successor `$2`) and the successor stored with its sealed copy
/// (`$5`), marked bound to a key when the session is or now becomes. The session row itself is written only when its checkpoint of the last use is due
/// ([`super::TOUCH_SESSION`]) or it is to be bound to a key, so spending and storing are the whole write in the common case: two token
/// rows, the spent one updated in place (no indexed column changes). The session comes back as
/// it now stands, or no row when any condition fails (nothing is then changed).
pub const ROTATE_FAST: &str = concat!(
    "WITH live AS MATERIALIZED (\
        SELECT s.id, s.user_id, s.client_id, s.created_at, \
        ",
    idle_ttl!(),
    " AS idle_ttl, \
        s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at, s.amr, s.scope, s.audience, s.dpop_jkt, \
        COALESCE(s.auth_time, s.created_at) AS auth_time \
        FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
        WHERE t.hash = $3 AND t.spent_at IS NULL AND s.revoked_at IS NULL \
        AND s.absolute_expires_at > $1 \
        AND t.created_at + ",
    idle_ttl!(),
    " > $1 \
        AND ($4::text IS NULL OR s.client_id = $4) \
        AND (s.dpop_jkt IS NULL OR s.dpop_jkt = $6) FOR NO KEY UPDATE OF s), \
    spent AS (\
        UPDATE refresh_tokens SET spent_at = $1, successor_hash = $2 \
        WHERE hash = $3 AND spent_at IS NULL AND session_id = (SELECT id FROM live) \
        RETURNING session_id), \
    stored AS (INSERT INTO refresh_tokens (hash, session_id, created_at, sealed, dpop_bound) \
        SELECT $2, spent.session_id, $1, $5, live.dpop_jkt IS NOT NULL OR $7::text IS NOT NULL \
        FROM spent JOIN live ON live.id = spent.session_id), \
    touched AS (UPDATE sessions SET \
        last_used_at = CASE WHEN sessions.last_used_at + LEAST(live.idle_ttl / 16, 3600000) < $1 \
            THEN $1 ELSE sessions.last_used_at END, \
        idle_expires_at = CASE WHEN sessions.last_used_at + LEAST(live.idle_ttl / 16, 3600000) < $1 \
            THEN $1 + live.idle_ttl ELSE sessions.idle_expires_at END, \
        dpop_jkt = COALESCE(sessions.dpop_jkt, $7::text) \
        FROM live JOIN spent ON spent.session_id = live.id WHERE sessions.id = live.id \
        AND (sessions.last_used_at + LEAST(live.idle_ttl / 16, 3600000) < $1 \
            OR (sessions.dpop_jkt IS NULL AND $7::text IS NOT NULL))) \
    SELECT s.id, s.user_id, u.username, u.email, u.email_verified_at, s.client_id, s.created_at, \
        $1::bigint AS last_used_at, s.idle_ttl, \
        s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at, s.amr, s.scope, s.audience, \
        COALESCE(s.dpop_jkt, $7::text) AS dpop_jkt, u.roles, s.auth_time \
    FROM live s JOIN spent ON spent.session_id = s.id JOIN users u ON u.id = s.user_id"
);

/// Waits for the limiter's advisory lock `($1, $2)` until the transaction ends.
pub const LOCK_LIMIT_KEY: &str = "SELECT pg_advisory_xact_lock($1, $2)";
/// Takes the limiter's advisory lock `($1, $2)` if it is free; whether it was.
pub const TRY_LOCK_LIMIT_KEY: &str = "SELECT pg_try_advisory_xact_lock($1, $2)";
/// The migrations applied, oldest first.
pub const APPLIED_MIGRATIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// Locks the user of the token `$1` (the row a reset or a confirmation then writes) before the
/// token is used: the same order as every other write that touches both (the user first, then
/// their tokens), so the two cannot deadlock.
pub const LOCK_TOKEN_USER: &str =
    "SELECT u.id FROM account_tokens t JOIN users u ON u.id = t.user_id \
     WHERE t.hash = $1 FOR NO KEY UPDATE OF u";

/// Locks a live user's row until the transaction ends: a passkey's insertion takes it first, so
/// two registrations of one user count their passkeys one after the other.
pub const LOCK_USER: &str = "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE";

/// Records the DPoP proofs `$1` (ids, distinct) with their ends `$2`, used at `$3` (SQLite keeps
/// them in memory), each unless one with its id is remembered still (a row past its end, not yet
/// purged, is taken over). The ids returned are the ones taken; the others were used before.
pub const USE_DPOP_PROOFS: &str = "INSERT INTO dpop_proofs_used (id, expires_at) \
     SELECT * FROM unnest($1::bytea[], $2::bigint[]) AS p(id, expires_at) ORDER BY id \
     ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at \
     WHERE dpop_proofs_used.expires_at < $3 \
     RETURNING id";
/// Forgets used DPoP proofs that expired before `$1`.
pub const PURGE_DPOP_PROOFS: &str = "DELETE FROM dpop_proofs_used WHERE expires_at < $1";
