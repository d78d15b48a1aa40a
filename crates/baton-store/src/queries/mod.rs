//! The SQL text, written once for every backend. `$N` placeholders are understood by SQLite and
//! PostgreSQL alike (each first appears in increasing order, so positional binding works on
//! both); times are Unix milliseconds in 64-bit integers. What truly differs between the
//! dialects is in [`Dialect`], one value per backend, beside the statements only that backend runs
//! ([`sqlite`], [`postgres`]). The backends hold no SQL text of their own (a test checks).

/// When session `s` was last used: its newest token's issue time (the login's, or the last
/// refresh's), found on the `(session_id, created_at)` index. A refresh writes only tokens, never
/// the session row; `s.last_used_at` is a checkpoint of this, at most `TOUCH_SESSION`'s slack
/// behind it.
macro_rules! last_used {
    () => {
        "(SELECT max(h.created_at) FROM refresh_tokens h WHERE h.session_id = s.id)"
    };
}

/// Session `s`'s idle timeout: fixed at login, or for a session opened by an older baton (no
/// `idle_ttl`), the difference of its checkpoint columns, which that version keeps equal to it.
macro_rules! idle_ttl {
    () => {
        "COALESCE(s.idle_ttl, s.idle_expires_at - s.last_used_at)"
    };
}

/// When session `s` stops refreshing if unused: its last use plus its idle timeout.
macro_rules! idle_end {
    () => {
        concat!(last_used!(), " + ", idle_ttl!())
    };
}

/// `idle_ttl!` in a statement on `sessions` itself (no alias).
macro_rules! touch_idle_ttl {
    () => {
        "COALESCE(idle_ttl, idle_expires_at - last_used_at)"
    };
}

/// Columns of a session joined with its user (`s`, `u`), as both backends read them; the
/// backends add `idle_ttl` to `last_used_at` for the idle end.
macro_rules! session_columns {
    () => {
        concat!(
            "s.id, s.user_id, u.username, u.email, u.email_verified_at, s.client_id, \
             s.created_at, ",
            last_used!(),
            " AS last_used_at, ",
            idle_ttl!(),
            " AS idle_ttl, s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at, s.amr, \
             s.scope, s.audience, s.dpop_jkt, u.roles, \
             COALESCE(s.auth_time, s.created_at) AS auth_time"
        )
    };
}

/// What the dialects write differently, and nothing else: each backend takes these texts from
/// its own value ([`sqlite::DIALECT`], [`postgres::DIALECT`]) and every other statement from
/// this module, so a difference between them is a field here, never a literal in a backend.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Starts a transaction that writes.
    pub begin_write: &'static str,
    /// [`INSERT_SESSION`], with a lock on the user's row where several instances write.
    pub insert_session: &'static str,
    /// [`CLAIM_MAIL`], skipping rows another instance is claiming where several instances send.
    pub claim_mail: &'static str,
    /// [`CLAIM_LOGOUTS`], skipping rows another instance is claiming where several instances
    /// send.
    pub claim_logouts: &'static str,
    /// [`INSERT_ACCOUNT_TOKEN`], locking the user's row where several instances write.
    pub insert_account_token: &'static str,
    /// Serialises key activation across instances; `None` where one writer does everything.
    pub lock_signing_keys: Option<&'static str>,
    /// Rewrites the storage so replaced private keys survive nowhere in free space.
    pub scrub_signing_keys: &'static str,
}

/// Checks that the database answers.
pub const PING: &str = "SELECT 1";

/// Adds a user.
pub const INSERT_USER: &str =
    "INSERT INTO users (id, username, username_key, password_hash, created_at, email, email_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// The columns of a user as both backends read them.
macro_rules! user_columns {
    () => {
        "id, username, username_key, password_hash, created_at, disabled_at, email, email_key, \
         email_verified_at, roles"
    };
}
/// A live user by case-folded username key.
pub const USER_BY_KEY: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username_key = $1 AND deleted_at IS NULL"
);
/// A live user by id.
pub const USER_BY_ID: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = $1 AND deleted_at IS NULL"
);
/// Sets the roles of the live user `$2` to `$1` while they are still `$3` (`IS NOT DISTINCT
/// FROM`: `NULL` compares equal to itself).
pub const SET_ROLES: &str = "UPDATE users SET roles = $1 \
     WHERE id = $2 AND deleted_at IS NULL AND roles IS NOT DISTINCT FROM $3";
/// A live user by case-folded e-mail address.
pub const USER_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE email_key = $1 AND deleted_at IS NULL"
);
/// All live users, oldest first.
pub const USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE deleted_at IS NULL ORDER BY created_at, username"
);
/// Sets a live user's password hash to `$1`, only while the stored one is still `$3` unless
/// `$3` is `''` (no live user has an empty hash): a rehash at login and a change checked
/// against the current password must not undo a change committed since they read it.
pub const SET_PASSWORD: &str = "UPDATE users SET password_hash = $1 \
     WHERE id = $2 AND deleted_at IS NULL AND ($3 = '' OR password_hash = $3)";
/// Revokes a user's sessions after a password change, but the one `$3` (`''`: none).
pub const REVOKE_FOR_PASSWORD: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'password_changed' \
     WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3";
/// Disables a live user (keeping the first time it was disabled).
pub const DISABLE_USER: &str = "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) \
     WHERE id = $2 AND deleted_at IS NULL";
/// Revokes every session of a user just disabled.
pub const REVOKE_FOR_DISABLE: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'user_disabled' \
     WHERE user_id = $2 AND revoked_at IS NULL";
/// Enables a live user again.
pub const ENABLE_USER: &str =
    "UPDATE users SET disabled_at = NULL WHERE id = $1 AND deleted_at IS NULL";
/// Sets a live, enabled user's address, unconfirmed.
pub const SET_EMAIL: &str =
    "UPDATE users SET email = $1, email_key = $2, email_verified_at = NULL \
     WHERE id = $3 AND deleted_at IS NULL AND disabled_at IS NULL";
/// Confirms a user's address `$3` (from a token just used), keeping the first confirmation.
pub const CONFIRM_EMAIL: &str =
    "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) \
     WHERE id = $2 AND email_key = $3 AND deleted_at IS NULL";

/// The text of [`INSERT_ACCOUNT_TOKEN`], which PostgreSQL extends with a row lock.
macro_rules! insert_account_token {
    () => {
        "INSERT INTO account_tokens (hash, purpose, user_id, email_key, created_at, expires_at) \
         SELECT $1, $2, $3, $4, $5, $6 FROM users \
         WHERE id = $3 AND deleted_at IS NULL AND disabled_at IS NULL \
         AND ($4 IS NULL OR email_key = $4)"
    };
}
/// Stores a one-time token for a live, enabled user who (for a token naming an address) still
/// has that address. PostgreSQL appends `FOR SHARE`: a disabling, deletion or change of address
/// committing meanwhile is waited for and seen, so it cannot miss a token stored beside it.
pub const INSERT_ACCOUNT_TOKEN: &str = insert_account_token!();
/// The live, enabled user an unused, unexpired token of purpose `$2` belongs to (for a token
/// naming an address, only while it is still the user's): two key lookups.
pub const ACCOUNT_TOKEN_USER: &str =
    "SELECT u.id, u.username, u.username_key, u.password_hash, u.created_at, u.disabled_at, \
     u.email, u.email_key, u.email_verified_at, u.roles \
     FROM account_tokens t JOIN users u ON u.id = t.user_id \
     WHERE t.hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > $3 \
     AND u.deleted_at IS NULL AND u.disabled_at IS NULL \
     AND (t.email_key IS NULL OR t.email_key = u.email_key)";
/// Uses a token: only an unused, unexpired one of purpose `$3` whose user is live and enabled
/// (and, for a token naming an address, still has it); its user and address.
pub const USE_ACCOUNT_TOKEN: &str = "UPDATE account_tokens SET used_at = $1 \
     WHERE hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $4 \
     AND EXISTS (SELECT 1 FROM users u WHERE u.id = account_tokens.user_id \
     AND u.deleted_at IS NULL AND u.disabled_at IS NULL \
     AND (account_tokens.email_key IS NULL OR u.email_key = account_tokens.email_key)) \
     RETURNING user_id, email_key";
/// Uses every unused token of purpose `$3` of a user (one reset ends the others; a password
/// changed or set voids the reset links sent before).
pub const SPEND_USER_TOKENS: &str = "UPDATE account_tokens SET used_at = $1 \
     WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL";
/// Uses every unused token of a user, whatever its purpose (a new address, a disabling or a
/// deletion voids every link mailed before).
pub const SPEND_ALL_USER_TOKENS: &str = "UPDATE account_tokens SET used_at = $1 \
     WHERE user_id = $2 AND used_at IS NULL";
/// Drops a user's unsent mails (their links were just voided).
pub const DROP_USER_MAIL: &str = "DELETE FROM outbox WHERE user_id = $1";
/// Drops a user's unsent mails of kind `$2` (their links were just voided).
pub const DROP_USER_MAIL_OF_KIND: &str = "DELETE FROM outbox WHERE user_id = $1 AND kind = $2";
/// Forgets a deleted user's tokens (and the addresses they name).
pub const DELETE_USER_TOKENS: &str = "DELETE FROM account_tokens WHERE user_id = $1";
/// Sets a password with a reset token just used: only for a live, enabled user.
pub const RESET_PASSWORD: &str = "UPDATE users SET password_hash = $1 \
     WHERE id = $2 AND deleted_at IS NULL AND disabled_at IS NULL";
/// Forgets tokens past their end.
pub const PURGE_ACCOUNT_TOKENS: &str = "DELETE FROM account_tokens WHERE expires_at <= $1";

/// Queues a mail.
pub const INSERT_MAIL: &str = "INSERT INTO outbox \
     (id, kind, user_id, recipient, sealed, created_at, expires_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $6)";
/// The text of [`CLAIM_MAIL`], which PostgreSQL extends to skip rows another instance is
/// claiming.
macro_rules! claim_mail {
    ($lock:literal) => {
        concat!(
            "UPDATE outbox SET claimed_until = $1, claim = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= $3 \
             AND (claimed_until IS NULL OR claimed_until <= $4) AND expires_at > $5 \
             AND kind IN ('password_reset', 'verify_email') \
             ORDER BY next_attempt_at LIMIT $6",
            $lock,
            ") RETURNING id, kind, user_id, recipient, sealed, created_at, expires_at, attempts"
        )
    };
}
/// Claims up to `$6` due mails of the kinds this version sends, until `$1` (a lease: one that
/// is neither sent nor given back by then is claimed again) under the claim id `$2`, counting
/// the attempt. Kinds of a newer version are left to it.
pub const CLAIM_MAIL: &str = claim_mail!("");
/// A mail went out (only its claim's holder finishes it).
pub const MAIL_SENT: &str = "DELETE FROM outbox WHERE id = $1 AND claim = $2";
/// A mail failed: it is tried again at `$1` (only its claim's holder gives it back).
pub const MAIL_RETRY: &str = "UPDATE outbox SET claimed_until = NULL, claim = NULL, \
     next_attempt_at = $1, last_error = $2 WHERE id = $3 AND claim = $4";
/// Drops mail whose link has expired, unsent.
pub const PURGE_MAIL: &str = "DELETE FROM outbox WHERE expires_at <= $1";
/// Mails waiting.
pub const OUTBOX_LEN: &str = "SELECT COUNT(*) FROM outbox";

/// Marks a user deleted and forgets the password hash and the address.
pub const DELETE_USER: &str = "UPDATE users SET deleted_at = $1, password_hash = '', \
     email = NULL, email_key = NULL, email_verified_at = NULL \
     WHERE id = $2 AND deleted_at IS NULL";
/// Revokes every session of a deleted user.
pub const REVOKE_USER_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'user_deleted' \
     WHERE user_id = $2 AND revoked_at IS NULL";

/// The text of [`INSERT_SESSION`], which PostgreSQL extends with a row lock.
macro_rules! insert_session {
    () => {
        "INSERT INTO sessions (id, user_id, client_id, created_at, last_used_at, \
         idle_expires_at, absolute_expires_at, user_agent, ip, idle_ttl, amr, scope, \
         auth_time, parent_id, audience, dpop_jkt) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $6 - $5, $10, $11, $12, $13, $14, $15 \
         FROM users \
         WHERE id = $2 AND deleted_at IS NULL AND disabled_at IS NULL AND password_hash = $16"
    };
}

/// Creates a session only for a user that still exists, is not disabled and still has the
/// password hash `$16` the login was checked against (a deletion, a disabling or a password
/// change committed while the password was being checked must not leave a live session
/// behind); its idle timeout is the idle end given less the login time. PostgreSQL appends `FOR NO KEY UPDATE`: the user's row
/// stays locked until the commit, so two logins of one user apply the cap on live sessions one
/// after the other.
pub const INSERT_SESSION: &str = insert_session!();
/// Stores a session's first refresh token's hash, and whether the session is bound to a DPoP
/// key (`$4`).
pub const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (hash, session_id, created_at, \
     dpop_bound) VALUES ($1, $2, $3, $4)";
/// Stores a successor's hash with its sealed copy (sealed under the token it replaces, kept for
/// the grace window on this new row, so that spending a token changes no indexed column), and
/// whether its session is bound to a DPoP key (`$5`).
pub const INSERT_SUCCESSOR: &str = "INSERT INTO refresh_tokens (hash, session_id, created_at, \
     sealed, dpop_bound) VALUES ($1, $2, $3, $4, $5)";

/// The presented token, its successor's state and sealed copy, and its session, for the
/// rotation rules. Only key lookups: the cost does not grow with the session's age.
pub const ROTATION_STATE: &str = concat!(
    "SELECT t.spent_at AS token_spent_at, t.dpop_bound AS token_dpop_bound, t.replays, \
     n.sealed AS sealed_successor, n.spent_at AS successor_spent_at, ",
    session_columns!(),
    " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
     JOIN users u ON u.id = s.user_id \
     LEFT JOIN refresh_tokens n ON n.hash = t.successor_hash WHERE t.hash = $1"
);
/// Spends the presented token and names its successor; only if unspent. No indexed column
/// changes (PostgreSQL can update the row in place, "HOT").
pub const SPEND_TOKEN: &str = "UPDATE refresh_tokens SET spent_at = $1, successor_hash = $2 \
     WHERE hash = $3 AND spent_at IS NULL";
/// Checkpoints a session's last use and idle end at `$1`, only when the stored ones are more
/// than a sixteenth of its idle timeout (at most an hour) behind: the true values come from its
/// newest token (`last_used!`), and the stored idle end stays a lower bound of the true one
/// that the purge can search by index.
pub const TOUCH_SESSION: &str = concat!(
    "UPDATE sessions SET last_used_at = $1, idle_expires_at = $1 + ",
    touch_idle_ttl!(),
    " WHERE id = $2 AND last_used_at + CASE WHEN ",
    touch_idle_ttl!(),
    " / 16 < 3600000 THEN ",
    touch_idle_ttl!(),
    " / 16 ELSE 3600000 END < $1"
);
/// Binds the session `$2` to the DPoP key `$1` unless it is bound already.
pub const BIND_SESSION_KEY: &str =
    "UPDATE sessions SET dpop_jkt = $1 WHERE id = $2 AND dpop_jkt IS NULL";
/// Counts one grace-window replay of a spent token, only while its successor is unspent, its
/// session live (at `$3`) and fewer than `$2` replays were counted: no row changes otherwise,
/// and nothing is handed out.
pub const COUNT_REPLAY: &str = concat!(
    "UPDATE refresh_tokens SET replays = replays + 1 \
     WHERE hash = $1 AND replays < $2 \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens n \
         WHERE n.hash = refresh_tokens.successor_hash AND n.spent_at IS NOT NULL) \
     AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id \
         AND s.revoked_at IS NULL AND s.absolute_expires_at > $3 AND ",
    idle_end!(),
    " > $3)"
);
/// Revokes a session whose spent token came back after the grace window.
pub const REVOKE_FOR_REUSE: &str = "UPDATE sessions SET revoked_at = $1, revoke_reason = 'reuse' \
     WHERE id = $2 AND revoked_at IS NULL";

/// The session of a token, spent or not.
pub const TOKEN_SESSION: &str = "SELECT session_id FROM refresh_tokens WHERE hash = $1";
/// Revokes a session at logout.
pub const REVOKE_FOR_LOGOUT: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout' \
     WHERE id = $2 AND revoked_at IS NULL";
/// Revokes one live session of a user.
pub const REVOKE_SESSION: &str = concat!(
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'revoked' \
     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
     AND id IN (SELECT s.id FROM sessions s WHERE s.id = $2 AND ",
    idle_end!(),
    " > $4 AND s.absolute_expires_at > $5)"
);
/// Revokes every session of a user.
pub const REVOKE_ALL_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout_all' \
     WHERE user_id = $2 AND revoked_at IS NULL";
/// A page of a user's live sessions, newest first: those after the cursor (`created_at`, `id`)
/// of the previous page's last one (`$4 = $5 = i64::MAX` for the first page), at most `$7`.
pub const LIVE_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.user_id = $1 AND s.revoked_at IS NULL AND ",
    idle_end!(),
    " > $2 AND s.absolute_expires_at > $3 \
     AND (s.created_at < $4 OR (s.created_at = $5 AND s.id > $6)) \
     ORDER BY s.created_at DESC, s.id LIMIT $7"
);
/// Revokes a user's oldest live sessions other than the new one `$3` beyond the newest `$6`
/// (the cap on live sessions per user, less the new one); their ids (a browser session among
/// them then ends as a logout ends it). Sessions applications opened from a browser session
/// are left to [`REVOKE_APP_OVER_LIMIT`]. `OFFSET` needs a `LIMIT` in SQLite; no user has a
/// million live sessions.
pub const REVOKE_OVER_LIMIT: &str = concat!(
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'session_limit' \
     WHERE id IN (SELECT s.id FROM sessions s WHERE s.user_id = $2 AND s.id <> $3 \
     AND s.parent_id IS NULL AND s.revoked_at IS NULL AND ",
    idle_end!(),
    " > $4 AND s.absolute_expires_at > $5 \
     ORDER BY s.created_at DESC, s.id LIMIT 1000000 OFFSET $6) RETURNING id"
);
/// Like [`REVOKE_OVER_LIMIT`], for the sessions application `$3` opened from browser sessions
/// of user `$2` (each application's are capped on their own: they never push out the user's
/// browser sessions, whose end would end them too).
pub const REVOKE_APP_OVER_LIMIT: &str = concat!(
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'session_limit' \
     WHERE id IN (SELECT s.id FROM sessions s WHERE s.user_id = $2 AND s.client_id = $3 \
     AND s.id <> $4 AND s.parent_id IS NOT NULL AND s.revoked_at IS NULL AND ",
    idle_end!(),
    " > $5 AND s.absolute_expires_at > $6 \
     ORDER BY s.created_at DESC, s.id LIMIT 1000000 OFFSET $7)"
);
/// A session by id, live or not.
pub const SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
);
/// A refresh token by hash, with its session.
pub const REFRESH_TOKEN: &str = concat!(
    "SELECT t.created_at AS token_created_at, t.spent_at AS token_spent_at, ",
    session_columns!(),
    " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
     JOIN users u ON u.id = s.user_id WHERE t.hash = $1"
);

/// Adds an OAuth client.
pub const INSERT_CLIENT: &str =
    "INSERT INTO oauth_clients (id, confidential, secret_hash, created_at, settings, \
     refresh_idle_ttl, backchannel_logout_uri) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// An OAuth client by id.
pub const CLIENT: &str =
    "SELECT id, confidential, secret_hash, created_at, settings FROM oauth_clients WHERE id = $1";
/// All OAuth clients.
pub const CLIENTS: &str =
    "SELECT id, confidential, secret_hash, created_at, settings FROM oauth_clients ORDER BY id";
/// Replaces the secret hash (`$1`) and settings (`$2`, with the refresh idle timeout and the
/// back-channel logout URI mirrored in `$3` and `$4`) of the client `$5`.
pub const UPDATE_CLIENT: &str =
    "UPDATE oauth_clients SET secret_hash = $1, settings = $2, refresh_idle_ttl = $3, \
     backchannel_logout_uri = $4 WHERE id = $5";
/// Removes an OAuth client.
pub const DELETE_CLIENT: &str = "DELETE FROM oauth_clients WHERE id = $1";
/// Forgets every consent given to client `$1` (with its deletion: a client added again under
/// the id inherits none).
pub const DELETE_CLIENT_CONSENTS: &str = "DELETE FROM consents WHERE client_id = $1";
/// Spends at `$1` the codes of user `$2` for client `$3` not exchanged yet (an app
/// disconnected must not open a session with a code issued just before).
pub const SPEND_CLIENT_CODES: &str = "UPDATE authorization_codes SET used_at = $1 \
     WHERE user_id = $2 AND client_id = $3 AND used_at IS NULL";

/// Every signing key, oldest first.
pub const SIGNING_KEYS: &str =
    "SELECT kid, alg, private_pkcs8, created_at, retired_at, publish_until \
     FROM signing_keys ORDER BY created_at";
/// The newest active key of one algorithm.
pub const ACTIVE_KEY_OF_ALG: &str =
    "SELECT kid, alg, private_pkcs8, created_at, retired_at, publish_until \
     FROM signing_keys WHERE retired_at IS NULL AND alg = $1 \
     ORDER BY created_at DESC LIMIT 1";
/// Retires every active key, publishing it until a given time.
pub const RETIRE_KEYS: &str =
    "UPDATE signing_keys SET retired_at = $1, publish_until = $2 WHERE retired_at IS NULL";
/// Replaces a key's stored private part (sealed anew).
pub const REPLACE_PRIVATE_KEY: &str = "UPDATE signing_keys SET private_pkcs8 = $1 WHERE kid = $2";
/// Stores a new (active) signing key.
pub const INSERT_KEY: &str =
    "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at) VALUES ($1, $2, $3, $4)";

/// Attempts in flight on a limiter key that their instance never finished.
pub const DROP_STALE_ATTEMPTS: &str =
    "DELETE FROM login_attempts WHERE key = $1 AND started_at < $2";
/// A limiter key's failures inside the window, newest first, as many as its limit.
pub const RECENT_FAILURES: &str = "SELECT failed_at FROM login_failures \
     WHERE key = $1 AND failed_at > $2 ORDER BY failed_at DESC LIMIT $3";
/// A limiter key's attempts in flight.
pub const ATTEMPTS_IN_FLIGHT: &str = "SELECT count(*) FROM login_attempts WHERE key = $1";
/// Reserves an attempt under a limiter key.
pub const INSERT_ATTEMPT: &str =
    "INSERT INTO login_attempts (id, key, started_at) VALUES ($1, $2, $3)";
/// Ends an attempt's reservations.
pub const DELETE_ATTEMPT: &str = "DELETE FROM login_attempts WHERE id = $1";
/// Records a failure under a limiter key.
pub const INSERT_FAILURE: &str = "INSERT INTO login_failures (key, failed_at) VALUES ($1, $2)";
/// Clears a limiter key's failures (a successful login clears its username's).
pub const CLEAR_FAILURES: &str = "DELETE FROM login_failures WHERE key = $1";
/// Forgets failures that left the window.
pub const PURGE_FAILURES: &str = "DELETE FROM login_failures WHERE failed_at < $1";
/// Forgets reservations their instances never ended.
pub const PURGE_ATTEMPTS: &str = "DELETE FROM login_attempts WHERE started_at < $1";

/// Records an audit event.
pub const INSERT_EVENT: &str = "INSERT INTO audit_events \
     (id, at, kind, user_id, username, session_id, ip, user_agent, reason) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// A page of audit events, newest first: since `$1`, of one kind (`$2`, or all), older than the
/// cursor (`$3`, `$4`: the previous page's last event's time and id; `i64::MAX` and `''` for the
/// first page), at most `$5`.
pub const EVENTS: &str = "SELECT id, at, kind, user_id, username, session_id, ip, user_agent, \
     reason FROM audit_events \
     WHERE at >= $1 AND ($2 IS NULL OR kind = $2) \
     AND (at < $3 OR (at = $3 AND id < $4)) \
     ORDER BY at DESC, id DESC LIMIT $5";
/// The same for one user (`$1`), on the `(user_id, at, id)` index.
pub const EVENTS_OF_USER: &str = "SELECT id, at, kind, user_id, username, session_id, ip, \
     user_agent, reason FROM audit_events \
     WHERE user_id = $1 AND at >= $2 AND ($3 IS NULL OR kind = $3) \
     AND (at < $4 OR (at = $4 AND id < $5)) \
     ORDER BY at DESC, id DESC LIMIT $6";
/// Forgets up to `$2` audit events older than the retention (`$1`); the purge runs it over and
/// over, so the write lock is never held long.
pub const PURGE_EVENTS: &str = "DELETE FROM audit_events WHERE id IN \
     (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)";

/// How many rows one purge transaction deletes or changes on PostgreSQL (ten times that many
/// tokens), and one batch of [`SET_IDLE_TIMEOUT`] on either backend.
pub const PURGE_BATCH: u64 = 500;

// The purge of ended sessions, in three statements so that no step's work grows with the size
// of a session: a session refreshed every few minutes for a month holds thousands of tokens,
// and deleting it with its tokens in one statement would hold the write lock that long.
//
// 1. `PURGE_ENDED_TOKENS` deletes a bounded number of tokens of the first sessions (in order of
//    their absolute end) that ended before the cutoff,
// 2. `PURGE_ENDED_SESSIONS` then deletes those of them left without tokens, and the first
//    sessions are new ones. Both start at the head of the absolute end's index, where every
//    session they find is theirs to delete, so each costs what it deletes.
// 3. When those find nothing, `END_IDLE_SESSIONS` reads the next sessions at the head of the
//    idle end's index. It gives those that ended idle before the cutoff their idle end as their
//    absolute end, so steps 1 and 2 delete them next, and moves the checkpoints of the others
//    to their true last use, past the cutoff. Either way no session it reads is at the head of
//    that index when it runs again, so it too costs what it changes, and the purge of a backlog
//    takes time in proportion to the backlog.

/// Reads up to `$2` sessions whose stored idle end (a lower bound of the true one) is before
/// `$1` and whose absolute end is not, and moves each out of that range: the absolute end of
/// one that ended idle before `$1` becomes its idle end, and the checkpoints of every one
/// (`last_used_at`, `idle_expires_at`) move to its newest token, never back (on PostgreSQL a
/// rotation committed meanwhile may have moved them further than this statement's snapshot
/// sees). Each session's newest token is looked up once, in the `FROM` list. (The unary `+`
/// keeps SQLite from reading the candidates off the absolute end's index: every live session
/// is there.)
pub const END_IDLE_SESSIONS: &str = concat!(
    "UPDATE sessions AS s SET idle_ttl = ",
    idle_ttl!(),
    ", last_used_at = CASE WHEN n.used > s.last_used_at THEN n.used ELSE s.last_used_at END, \
     idle_expires_at = CASE WHEN COALESCE(n.used + ",
    idle_ttl!(),
    ", s.absolute_expires_at) > s.idle_expires_at THEN COALESCE(n.used + ",
    idle_ttl!(),
    ", s.absolute_expires_at) ELSE s.idle_expires_at END, \
     absolute_expires_at = CASE WHEN n.used + ",
    idle_ttl!(),
    " < $1 THEN n.used + ",
    idle_ttl!(),
    " ELSE s.absolute_expires_at END \
     FROM (SELECT s.id, ",
    last_used!(),
    " AS used FROM sessions s \
     WHERE s.idle_expires_at < $1 AND +s.absolute_expires_at >= $1 LIMIT $2) AS n \
     WHERE s.id = n.id"
);
/// Deletes up to `$3` refresh tokens of the first `$2` sessions that ended before `$1`.
pub const PURGE_ENDED_TOKENS: &str = "DELETE FROM refresh_tokens WHERE hash IN \
     (SELECT t.hash FROM refresh_tokens t WHERE t.session_id IN \
     (SELECT s.id FROM sessions s WHERE s.absolute_expires_at < $1 \
     ORDER BY s.absolute_expires_at LIMIT $2) LIMIT $3)";
/// Deletes those of the first `$2` sessions that ended before `$1` that hold no token any more.
pub const PURGE_ENDED_SESSIONS: &str = "DELETE FROM sessions WHERE id IN \
     (SELECT h.id FROM (SELECT s.id FROM sessions s WHERE s.absolute_expires_at < $1 \
     ORDER BY s.absolute_expires_at LIMIT $2) h \
     WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = h.id))";
/// Gives a batch of up to [`PURGE_BATCH`] sessions live at `$2` the idle timeout `$1` (or their
/// client's own, when it has one), those
/// after `$3` in id order (`''` first), and names them. The stored idle end becomes the
/// checkpoint plus the new timeout, so it stays a lower bound of the true one.
pub const SET_IDLE_TIMEOUT: &str = concat!(
    "UPDATE sessions SET \
     idle_ttl = COALESCE((SELECT c.refresh_idle_ttl FROM oauth_clients c \
     WHERE c.id = sessions.client_id), $1), \
     idle_expires_at = last_used_at + COALESCE((SELECT c.refresh_idle_ttl FROM oauth_clients c \
     WHERE c.id = sessions.client_id), $1) \
     WHERE id IN (SELECT s.id FROM sessions s LEFT JOIN oauth_clients c ON c.id = s.client_id \
     WHERE s.revoked_at IS NULL AND s.absolute_expires_at > $2 \
     AND (s.idle_ttl IS NULL OR s.idle_ttl <> COALESCE(c.refresh_idle_ttl, $1)) AND ",
    idle_end!(),
    " > $2 AND s.id > $3 ORDER BY s.id LIMIT 500) RETURNING id"
);
/// Successors sealed before the grace window are never handed out again; dropping them keeps an
/// old leaked token from opening its chain's next token even with a copy of the database. A
/// successor is sealed when it is stored, so the partial index on `created_at` makes this touch
/// only tokens that still hold a seal; like the purge, it works on up to `$2` at a time.
pub const DROP_STALE_SEALS: &str = "UPDATE refresh_tokens SET sealed = NULL \
     WHERE hash IN (SELECT hash FROM refresh_tokens \
     WHERE sealed IS NOT NULL AND created_at < $1 LIMIT $2)";

/// Sessions holding more than one unspent refresh token: a forked family, which no sequence of
/// rotations may leave behind (the consistency check after a crash).
pub const FORKED_SESSIONS: &str = "SELECT session_id FROM refresh_tokens WHERE spent_at IS NULL \
     GROUP BY session_id HAVING count(*) > 1";
/// Spent tokens of sessions open at `$1` whose named successor was never stored: a half-done
/// rotation. (The purge deletes an ended session's tokens in any order, several jobs apart.)
pub const HALF_ROTATED: &str = "SELECT count(*) FROM refresh_tokens t \
     WHERE t.successor_hash IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.hash = t.successor_hash) \
     AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = t.session_id \
     AND s.absolute_expires_at > $1)";

/// Signing keys in use: exactly one, whatever rotation was cut off (the consistency check after
/// a crash).
pub const ACTIVE_SIGNING_KEYS: &str = "SELECT count(*) FROM signing_keys WHERE retired_at IS NULL";

/// Stores a pending TOTP secret (`$1`, at `$2`) for the live, enabled user `$3`, replacing a pending one but never a
/// confirmed one.
pub const PUT_PENDING_TOTP: &str = "INSERT INTO totp_factors (user_id, secret, created_at) \
     SELECT id, $1, $2 FROM users WHERE id = $3 AND deleted_at IS NULL AND disabled_at IS NULL \
     ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
     created_at = excluded.created_at, last_step = NULL \
     WHERE totp_factors.confirmed_at IS NULL";
/// A user's TOTP factor.
pub const TOTP_FACTOR: &str =
    "SELECT user_id, secret, created_at, confirmed_at, last_step FROM totp_factors \
     WHERE user_id = $1";
/// Every TOTP factor.
pub const TOTP_FACTORS: &str =
    "SELECT user_id, secret, created_at, confirmed_at, last_step FROM totp_factors ORDER BY user_id";
/// Replaces a TOTP factor's sealed secret while it is still `$3`.
pub const REPLACE_TOTP_SECRET: &str =
    "UPDATE totp_factors SET secret = $1 WHERE user_id = $2 AND secret = $3";
/// Confirms a pending TOTP factor with the code of step `$2`.
pub const CONFIRM_TOTP: &str = "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 \
     WHERE user_id = $3 AND confirmed_at IS NULL";
/// Accepts the code of step `$1` once: only after every step accepted before.
pub const USE_TOTP_STEP: &str = "UPDATE totp_factors SET last_step = $1 \
     WHERE user_id = $2 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)";
/// Removes a user's TOTP factor.
pub const DELETE_TOTP: &str = "DELETE FROM totp_factors WHERE user_id = $1";
/// Removes a user's recovery codes when no second factor is left (no confirmed TOTP, no
/// passkey).
pub const DELETE_ORPHAN_RECOVERY_CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = $1 \
     AND f.confirmed_at IS NOT NULL) \
     AND NOT EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = $1)";
/// A user's second factors at a glance: a confirmed TOTP factor (0 or 1), unused recovery
/// codes, passkeys.
pub const MFA_SUMMARY: &str = "SELECT \
     (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) AS totp, \
     (SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL) AS codes, \
     (SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = $1) AS passkeys";
/// Removes a user's recovery codes.
pub const DELETE_RECOVERY_CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
/// Stores one recovery code's hash.
pub const INSERT_RECOVERY_CODE: &str =
    "INSERT INTO recovery_codes (hash, user_id, created_at) VALUES ($1, $2, $3)";
/// Uses one of a user's unused recovery codes.
pub const USE_RECOVERY_CODE: &str =
    "UPDATE recovery_codes SET used_at = $1 WHERE hash = $2 AND user_id = $3 AND used_at IS NULL";
/// How many unused recovery codes a user has.
pub const RECOVERY_CODES_LEFT: &str =
    "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";
/// Stores a login waiting for its second factor.
pub const INSERT_MFA_CHALLENGE: &str =
    "INSERT INTO mfa_challenges (hash, user_id, client_id, delivery, password_hash, created_at, \
     expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// An unused, unexpired challenge with fewer than `$3` wrong codes.
pub const MFA_CHALLENGE: &str =
    "SELECT hash, user_id, client_id, delivery, password_hash, created_at, expires_at, failures \
     FROM mfa_challenges \
     WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 AND failures < $3";
/// Counts a wrong code against a challenge.
pub const MFA_CHALLENGE_FAILED: &str =
    "UPDATE mfa_challenges SET failures = failures + 1 WHERE hash = $1";
/// Records a wrong second-factor code of a user's login.
pub const INSERT_MFA_FAILURE: &str = "INSERT INTO mfa_failures (user_id, at) VALUES ($1, $2)";
/// A user's wrong second-factor codes since `$2`.
pub const MFA_FAILURES_SINCE: &str =
    "SELECT COUNT(*) AS n FROM mfa_failures WHERE user_id = $1 AND at > $2";
/// Forgets wrong codes from before `$1`.
pub const PURGE_MFA_FAILURES: &str = "DELETE FROM mfa_failures WHERE at <= $1";
/// Forgets a user's wrong codes.
pub const DELETE_USER_MFA_FAILURES: &str = "DELETE FROM mfa_failures WHERE user_id = $1";
/// Ends a user's sessions opened without a second factor, but `$3` (the caller's), when they
/// add one: a session stolen before no longer refreshes.
pub const REVOKE_PASSWORD_ONLY_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'second_factor_added' \
     WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3 \
     AND (amr IS NULL OR amr NOT LIKE '%mfa%')";
/// Replaces a passkey's stored state only over the state read.
pub const TOUCH_PASSKEY_OVER: &str =
    "UPDATE webauthn_credentials SET passkey = $1, last_used_at = $2 WHERE id = $3 AND passkey = $4";
/// Uses an unused, unexpired challenge.
pub const USE_MFA_CHALLENGE: &str = "UPDATE mfa_challenges SET used_at = $1 \
     WHERE hash = $2 AND used_at IS NULL AND expires_at > $1";
/// Removes a user's waiting logins.
pub const DELETE_USER_MFA_CHALLENGES: &str = "DELETE FROM mfa_challenges WHERE user_id = $1";
/// Deletes challenges past their end.
pub const PURGE_MFA_CHALLENGES: &str = "DELETE FROM mfa_challenges WHERE expires_at <= $1";

/// The columns of a passkey.
macro_rules! passkey_columns {
    () => {
        "id, user_id, name, passkey, backup_eligible, created_at, last_used_at"
    };
}
/// Stores a passkey for a live, enabled user with fewer than `$8` of them.
pub const INSERT_PASSKEY: &str = concat!(
    "INSERT INTO webauthn_credentials (",
    passkey_columns!(),
    ") SELECT $1, $2, $3, $4, $5, $6, $7 FROM users u WHERE u.id = $2 \
     AND u.deleted_at IS NULL AND u.disabled_at IS NULL \
     AND (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.user_id = $2) < $8"
);
/// A user's passkeys, oldest first.
pub const PASSKEYS_OF_USER: &str = concat!(
    "SELECT ",
    passkey_columns!(),
    " FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id"
);
/// A passkey by credential id.
pub const PASSKEY: &str = concat!(
    "SELECT ",
    passkey_columns!(),
    " FROM webauthn_credentials WHERE id = $1"
);
/// Removes one of a user's passkeys.
pub const DELETE_PASSKEY: &str = "DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2";
/// Removes every passkey of a user.
pub const DELETE_USER_PASSKEYS: &str = "DELETE FROM webauthn_credentials WHERE user_id = $1";
/// Marks a WebAuthn ceremony finished; a second time conflicts.
pub const USE_CEREMONY: &str =
    "INSERT INTO webauthn_ceremonies_used (hash, expires_at) VALUES ($1, $2)";
/// Forgets finished ceremonies past their end.
pub const PURGE_CEREMONIES: &str = "DELETE FROM webauthn_ceremonies_used WHERE expires_at <= $1";

/// Records a browser session.
pub const INSERT_BROWSER_SESSION: &str =
    "INSERT INTO browser_sessions (hash, session_id, created_at) VALUES ($1, $2, $3)";
/// The session behind a browser session cookie's hash.
pub const BROWSER_SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM browser_sessions b JOIN sessions s ON s.id = b.session_id \
     JOIN users u ON u.id = s.user_id WHERE b.hash = $1"
);
/// Stores an authorization code.
pub const INSERT_AUTHORIZATION_CODE: &str = "INSERT INTO authorization_codes \
     (hash, client_id, user_id, browser_session, redirect_uri, code_challenge, scope, nonce, \
     created_at, expires_at, resource, dpop_jkt) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// Uses the unused, unexpired code `$3` at `$1`, naming the session `$2` its exchange opens.
pub const USE_AUTHORIZATION_CODE: &str = "UPDATE authorization_codes \
     SET used_at = $1, issued_session_id = $2 \
     WHERE hash = $3 AND used_at IS NULL AND expires_at > $1 \
     RETURNING client_id, user_id, browser_session, redirect_uri, code_challenge, scope, nonce, \
     created_at, expires_at, resource, dpop_jkt";
/// Marks the used code `$2` reused at `$1`; its user and the session its first use opened.
pub const REUSE_AUTHORIZATION_CODE: &str = "UPDATE authorization_codes SET reused_at = $1 \
     WHERE hash = $2 AND used_at IS NOT NULL RETURNING user_id, issued_session_id";
/// Whether the code `$1` was presented again after its first use.
pub const AUTHORIZATION_CODE_REUSED: &str =
    "SELECT reused_at IS NOT NULL AS reused FROM authorization_codes WHERE hash = $1";
/// Forgets codes that expired before `$1`.
pub const PURGE_AUTHORIZATION_CODES: &str = "DELETE FROM authorization_codes WHERE expires_at < $1";
/// What user `$1` allowed client `$2`.
pub const CONSENT: &str = "SELECT client_id, scope, granted_at, updated_at FROM consents \
     WHERE user_id = $1 AND client_id = $2";
/// Records what user `$1` allowed client `$2` (`$3`) at `$4`.
pub const PUT_CONSENT: &str = "INSERT INTO consents (user_id, client_id, scope, granted_at, \
     updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, client_id) \
     DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at";
/// Every consent of user `$1`.
pub const CONSENTS: &str = "SELECT client_id, scope, granted_at, updated_at FROM consents \
     WHERE user_id = $1 ORDER BY client_id";
/// Forgets what user `$1` allowed client `$2`.
pub const DELETE_CONSENT: &str = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";
/// Revokes at `$1` the live sessions of user `$2` with client `$3`.
pub const REVOKE_CLIENT_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'app_disconnected' \
     WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL";
/// Stores a pushed authorization request.
pub const INSERT_PUSHED_REQUEST: &str = "INSERT INTO pushed_requests \
     (hash, client_id, params, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
/// Uses the unused, unexpired pushed request `$2` of client `$3` at `$1`: its parameters.
pub const USE_PUSHED_REQUEST: &str = "UPDATE pushed_requests SET used_at = $1 \
     WHERE hash = $2 AND client_id = $3 AND used_at IS NULL AND expires_at > $1 \
     RETURNING params";
/// Forgets pushed requests that expired before `$1`.
pub const PURGE_PUSHED_REQUESTS: &str = "DELETE FROM pushed_requests WHERE expires_at < $1";
/// Revokes at `$1` the live sessions opened from the browser session `$2` (run with its
/// revocation), but those granted `offline_access` (`_` escaped: it is LIKE's one-character
/// wildcard).
pub const REVOKE_CHILD_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout' \
     WHERE parent_id = $2 AND revoked_at IS NULL \
     AND (scope IS NULL OR ' ' || scope || ' ' NOT LIKE '% offline!_access %' ESCAPE '!')";
/// Moves the sessions opened from browser session `$2` to browser session `$1`, ended ones too
/// (their applications may still hold the sign-in): the old one then has none left to end. The
/// `sid` their applications were told stays what it was.
pub const REPARENT_SESSIONS: &str =
    "UPDATE sessions SET sid = COALESCE(sid, parent_id), parent_id = $1 WHERE parent_id = $2";
/// The text of the statements queueing back-channel logout notices for the browser sessions
/// `$condition` names (`p`): created at `$1`, dropped at `$2`, due at `$3`, one for each
/// application with a back-channel URI that signed in through one of them, per application and
/// `sid` it was told, whether its own session is still live or not (its sign-in is what ends).
/// A notice already waiting for the same application and `sid` is kept.
macro_rules! queue_logouts {
    ($condition:literal) => {
        concat!(
            "INSERT INTO backchannel_logouts \
             (client_id, sid, user_id, created_at, expires_at, next_attempt_at) \
             SELECT DISTINCT s.client_id, COALESCE(s.sid, s.parent_id), s.user_id, $1, $2, $3 \
             FROM sessions p JOIN sessions s ON s.parent_id = p.id \
             JOIN oauth_clients c ON c.id = s.client_id \
             WHERE ",
            $condition,
            " AND c.backchannel_logout_uri IS NOT NULL \
             ON CONFLICT (client_id, sid) DO NOTHING"
        )
    };
}
/// Queues the notices of the browser session `$4` (just revoked).
pub const QUEUE_SESSION_LOGOUTS: &str = queue_logouts!("p.id = $4");
/// Queues the notices of the browser sessions of user `$4` revoked at `$5` (by this
/// transaction; one revoked by another at the same millisecond is told twice).
pub const QUEUE_LOGOUTS: &str = queue_logouts!("p.user_id = $4 AND p.revoked_at = $5");
/// Like [`QUEUE_LOGOUTS`], for the sessions of user `$4` and application `$5` revoked at `$6`
/// (the user disconnected the application).
pub const QUEUE_APP_LOGOUTS: &str = "INSERT INTO backchannel_logouts \
     (client_id, sid, user_id, created_at, expires_at, next_attempt_at) \
     SELECT DISTINCT s.client_id, COALESCE(s.sid, s.parent_id), s.user_id, $1, $2, $3 \
     FROM sessions s JOIN oauth_clients c ON c.id = s.client_id \
     WHERE s.user_id = $4 AND s.client_id = $5 AND s.revoked_at = $6 \
     AND s.parent_id IS NOT NULL AND c.backchannel_logout_uri IS NOT NULL \
     ON CONFLICT (client_id, sid) DO NOTHING";
/// The text of [`CLAIM_LOGOUTS`], which PostgreSQL extends to skip rows another instance is
/// claiming.
macro_rules! claim_logouts {
    ($lock:literal) => {
        concat!(
            "UPDATE backchannel_logouts SET claimed_until = $1, claim = $2, \
             attempts = attempts + 1 \
             WHERE (client_id, sid) IN (SELECT client_id, sid FROM backchannel_logouts \
             WHERE next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $4) \
             AND expires_at > $5 ORDER BY next_attempt_at LIMIT $6",
            $lock,
            ") RETURNING client_id, sid, user_id, attempts"
        )
    };
}
/// Claims up to `$6` due logout notices until `$1` (a lease) under the claim id `$2`, counting
/// the attempt.
pub const CLAIM_LOGOUTS: &str = claim_logouts!("");
/// A logout notice was delivered, or refused for good (only its claim's holder finishes it).
pub const LOGOUT_SENT: &str =
    "DELETE FROM backchannel_logouts WHERE client_id = $1 AND sid = $2 AND claim = $3";
/// A logout notice failed: it is tried again at `$1` (only its claim's holder gives it back).
pub const LOGOUT_RETRY: &str = "UPDATE backchannel_logouts SET claimed_until = NULL, \
     claim = NULL, next_attempt_at = $1, last_error = $2 \
     WHERE client_id = $3 AND sid = $4 AND claim = $5";
/// Drops logout notices past their end, undelivered.
pub const PURGE_LOGOUTS: &str = "DELETE FROM backchannel_logouts WHERE expires_at <= $1";
/// Drops the logout notices of client `$1` (with its deletion).
pub const DELETE_CLIENT_LOGOUTS: &str = "DELETE FROM backchannel_logouts WHERE client_id = $1";
/// Records a used client assertion; a conflict means it was used before.
pub const USE_CLIENT_ASSERTION: &str =
    "INSERT INTO client_assertions_used (hash, expires_at) VALUES ($1, $2)";
/// Forgets used client assertions that expired before `$1`.
pub const PURGE_CLIENT_ASSERTIONS: &str =
    "DELETE FROM client_assertions_used WHERE expires_at < $1";

// Last: the dialects expand the macros above.
pub mod postgres;
pub mod sqlite;

#[cfg(test)]
mod tests;
