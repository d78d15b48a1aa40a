//! Conformance tests of the `Store` contract. Every backend runs the same functions; each test
//! takes a fresh, migrated, empty store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use baton_core::client::{ClaimSource, ClientRecord, ClientSettings, Grant};
use baton_core::email::MailKind;
use baton_core::keys::{SigningAlg, StoredKey};
use baton_core::limits::{LimitKey, LimitOutcome, LimitVerdict};
use baton_core::refresh::RefreshToken;
use baton_core::store::{
    AccountToken, AuthorizationCode, ClaimedLogout, CodeUse, EndSessions, MailedToken,
    MfaChallenge, MfaSummary, NewSession, OutboxMail, PasskeyRecord, RotateOutcome, RotateRequest,
    SessionCursor, Store, StoreError, UserRecord,
};
use baton_core::{RefreshError, SessionId, UserId};
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

struct Fresh {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Option<Fresh> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Some(Fresh {
        store: baton_store::open(&url).await.expect("opens"),
        url,
        _dir: Some(dir),
    })
}

/// A fresh database on the test cluster; `None` (the test is skipped, with a notice) when no
/// cluster is configured and none is required.
async fn postgres() -> Option<Fresh> {
    let Some(admin) = baton_store::testing::postgres_admin_url() else {
        eprintln!("no PostgreSQL test cluster configured; skipping");
        return None;
    };
    let url = baton_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("creates a test database");
    Some(Fresh {
        store: baton_store::open(&url).await.expect("opens"),
        url,
        _dir: None,
    })
}

macro_rules! conformance {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(fresh) = super::$backend().await {
                        super::$test(fresh.store, &fresh.url).await;
                    }
                }
            )*
        }
    };
}

macro_rules! every_backend {
    ($($test:ident),* $(,)?) => {
        conformance!(sqlite: $($test),*);
        conformance!(postgres: $($test),*);
    };
}

every_backend!(
    usernames_are_unique_among_live_users,
    concurrent_rotations_of_one_token_store_one_successor,
    reuse_revokes_the_session_and_the_revocation_is_committed,
    deleting_a_user_revokes_their_sessions_and_frees_the_name,
    revoking_one_session_needs_its_owner,
    purge_deletes_only_sessions_that_ended_before_the_cutoff,
    long_sessions_are_swept_and_purged_whole,
    the_purge_leaves_no_session_it_read_behind,
    activating_a_key_retires_the_previous_one,
    instances_starting_together_agree_on_one_signing_key,
    no_session_is_created_for_a_deleted_user,
    a_password_change_ends_the_sessions_it_names_and_only_over_the_hash_read,
    disabling_a_user_revokes_their_sessions_and_refuses_new_ones,
    mailed_tokens_are_used_once_before_they_expire,
    a_confirmation_holds_only_for_the_address_it_was_sent_to,
    addresses_are_unique_among_live_users,
    mail_is_claimed_by_one_sender_until_its_lease_ends,
    links_are_voided_by_what_makes_them_stale,
    one_reset_token_resets_once_however_many_try,
    successors_sealed_before_the_grace_window_are_dropped,
    a_replay_gets_the_successor_only_while_it_is_unspent,
    a_request_that_read_the_clock_before_the_rotation_is_a_replay,
    dpop_proofs_are_taken_once_within_their_window,
    concurrent_uses_of_dpop_proofs_take_each_once,
    a_bound_session_rotates_only_for_its_key,
    an_unbound_session_is_bound_by_a_refresh_with_a_key,
    a_token_from_before_the_binding_is_still_reuse_without_the_key,
    replays_of_one_token_are_capped,
    a_revocation_committed_during_a_rotation_wins,
    sessions_past_the_limit_are_revoked_oldest_first,
    session_pages_follow_their_cursor,
    a_refresh_writes_the_session_row_only_at_its_checkpoint,
    the_idle_end_follows_the_newest_token,
    sessions_opened_by_an_older_version_keep_their_idle_timeout,
    a_new_idle_timeout_reaches_live_sessions_only,
    a_new_idle_timeout_reaches_every_batch,
    shared_limits_count_failures_and_attempts_in_flight,
    concurrent_logins_keep_to_the_session_cap,
    audit_events_are_read_newest_first_by_filter_and_page,
    the_crash_check_finds_forked_families_and_half_rotations,
    a_pending_totp_factor_is_replaced_until_confirmed,
    each_totp_step_is_accepted_once_and_never_after_a_later_one,
    recovery_codes_are_used_once_and_replaced_whole,
    mfa_challenges_are_used_once_and_spent_by_failures_or_time,
    concurrent_uses_of_one_code_or_challenge_succeed_once,
    a_deleted_users_factors_are_forgotten,
    sessions_keep_how_their_user_authenticated,
    passkeys_are_capped_unique_and_take_the_orphaned_recovery_codes_along,
    a_ceremony_is_finished_once,
    totp_secrets_are_replaced_only_over_the_one_read,
    a_first_second_factor_ends_the_password_only_sessions_but_the_callers,
    clients_keep_their_settings_and_secrets,
    roles_change_by_compare_and_set_and_reach_sessions,
    sessions_keep_their_scope,
    a_clients_own_idle_timeout_wins_over_the_servers,
    authorization_codes_are_used_once_and_a_reuse_names_the_first_session,
    concurrent_uses_of_one_authorization_code_have_one_first,
    browser_sessions_name_their_session_as_it_stands,
    consents_are_remembered_and_disconnecting_revokes_that_clients_sessions,
    pushed_requests_are_used_once_before_they_expire,
    ending_a_browser_session_queues_a_logout_notice_per_application_and_sid,
    every_end_of_a_browser_session_queues_logout_notices,
);

/// One integer read with plain SQL.
async fn scalar(url: &str, sql: &str) -> i64 {
    use sqlx::Connection as _;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).expect("open");
        c.query_row(sql, [], |r| r.get(0)).expect("read")
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(sql)
            .fetch_one(&mut c)
            .await
            .expect("read")
    }
}

/// Runs one statement with plain SQL.
async fn exec(url: &str, sql: &str) {
    use sqlx::Connection as _;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).expect("open");
        c.execute_batch(sql).expect("run");
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&mut c).await.expect("run");
    }
}

/// Rows of `refresh_tokens` still holding a sealed successor, read with plain SQL.
async fn sealed_successors(url: &str) -> i64 {
    scalar(
        url,
        "SELECT COUNT(*) FROM refresh_tokens WHERE sealed IS NOT NULL",
    )
    .await
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: UserId::generate(),
        username: name.to_owned(),
        username_key: name.to_lowercase(),
        password_hash: "$argon2id$placeholder".into(),
        created_at: T0,
        disabled_at: None,
        email: None,
        email_key: None,
        email_verified_at: None,
        roles: Vec::new(),
    }
}

async fn session_for(store: &dyn Store, user: &UserRecord) -> (SessionId, RefreshToken) {
    let id = SessionId::generate();
    let token = RefreshToken::generate().expect("rng");
    let created = store
        .create_session(
            &NewSession {
                id: id.clone(),
                user_id: user.id.clone(),
                client_id: "baton".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: Some("test".into()),
                ip: Some("127.0.0.1".into()),
                live_limit: 0,
                password_hash: user.password_hash.clone(),
                amr: "pwd".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("session")
        .expect("the user exists");
    // The session comes back as stored.
    assert_eq!(created.id, id);
    assert_eq!(created.username, user.username);
    assert_eq!(created.last_used_at, T0);
    assert_eq!(created.idle_expires_at, T0 + Duration::days(7));
    assert_eq!(created.absolute_expires_at, T0 + Duration::days(30));
    assert_eq!(created.user_agent.as_deref(), Some("test"));
    assert!(created.revoked_at.is_none());
    (id, token)
}

fn rotation(presented: &RefreshToken, now: OffsetDateTime) -> (RotateRequest, RefreshToken) {
    let next = RefreshToken::generate().expect("rng");
    let req = RotateRequest {
        presented: presented.hash(),
        successor: next.hash(),
        sealed_successor: presented.seal(&next).expect("seal"),
        now,
        grace: Duration::seconds(10),
        client_id: None,
        dpop_jkt: None,
        bind_jkt: None,
    };
    (req, next)
}

async fn usernames_are_unique_among_live_users(store: Arc<dyn Store>, _url: &str) {
    store.insert_user(&user("alice")).await.expect("first");
    let again = store.insert_user(&user("alice")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert!(store.user_by_key("alice").await.expect("query").is_some());
    assert!(store.user_by_key("bob").await.expect("query").is_none());
}

async fn concurrent_rotations_of_one_token_store_one_successor(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (_, token) = session_for(store.as_ref(), &alice).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, req) = (store.clone(), rotation(&token, T0 + Duration::seconds(1)).0);
            tokio::spawn(async move { store.rotate(&req).await.expect("rotate") })
        })
        .collect();
    let outcomes: Vec<RotateOutcome> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
        .count();
    let replayed: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Replayed(_, sealed) => Some(token.open(sealed).expect("opens")),
            _ => None,
        })
        .collect();
    assert_eq!(rotated, 1, "exactly one rotation");
    assert_eq!(replayed.len(), 15, "the rest replay");
    assert!(replayed.windows(2).all(|w| w[0] == w[1]), "one successor");
}

async fn reuse_revokes_the_session_and_the_revocation_is_committed(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    let (req, second) = rotation(&first, T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let (late, _) = rotation(&first, T0 + Duration::seconds(11));
    assert!(matches!(
        store.rotate(&late).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::ReuseDetected)
    ));
    let (next, _) = rotation(&second, T0 + Duration::seconds(12));
    assert!(matches!(
        store.rotate(&next).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Revoked)
    ));
    let live = store
        .live_sessions(&alice.id, T0 + Duration::seconds(12), None, 100)
        .await
        .expect("list");
    assert!(live.iter().all(|s| s.id != id));
}

async fn deleting_a_user_revokes_their_sessions_and_frees_the_name(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (_, token) = session_for(store.as_ref(), &alice).await;
    assert!(store.delete_user(&alice.id, T0).await.expect("delete"));
    assert!(!store
        .delete_user(&alice.id, T0)
        .await
        .expect("delete twice"));
    let (req, _) = rotation(&token, T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Revoked)
    ));
    store
        .insert_user(&user("alice"))
        .await
        .expect("name is free again");
}

async fn revoking_one_session_needs_its_owner(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    let bob = user("bob");
    store.insert_user(&alice).await.expect("user");
    store.insert_user(&bob).await.expect("user");
    let (id, _) = session_for(store.as_ref(), &alice).await;
    assert!(!store
        .revoke_session(&bob.id, &id, T0)
        .await
        .expect("revoke"));
    assert!(store
        .revoke_session(&alice.id, &id, T0)
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_session(&alice.id, &id, T0)
        .await
        .expect("again"));
}

async fn purge_deletes_only_sessions_that_ended_before_the_cutoff(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (_, old) = session_for(store.as_ref(), &alice).await;
    let purged = store
        .purge_sessions(T0 + Duration::days(6))
        .await
        .expect("purge");
    assert_eq!(purged, 0);
    let purged = store
        .purge_sessions(T0 + Duration::days(8))
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    let (req, _) = rotation(&old, T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Invalid)
    ));
}

/// A session holding more tokens than a step of the purge deletes, and more sealed successors
/// than a batch of the sweep drops, goes whole: every stale seal is dropped, then the session
/// with all its tokens once it has ended idle; a live session beside it keeps everything.
async fn long_sessions_are_swept_and_purged_whole(store: Arc<dyn Store>, url: &str) {
    let (alice, bob) = (user("alice"), user("bob"));
    store.insert_user(&alice).await.expect("user");
    store.insert_user(&bob).await.expect("user");
    let (_, mut token) = session_for(store.as_ref(), &alice).await;
    for step in 0..600 {
        let (req, next) = rotation(&token, T0 + Duration::seconds(step));
        assert!(matches!(
            store.rotate(&req).await.expect("rotate"),
            RotateOutcome::Rotated(_)
        ));
        token = next;
    }
    // Bob's session was refreshed on its sixth day, so it stays live for a week more.
    let (_, first) = session_for(store.as_ref(), &bob).await;
    let (req, live) = rotation(&first, T0 + Duration::days(6));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(sealed_successors(url).await, 601);
    let dropped = store
        .drop_stale_seals(T0 + Duration::seconds(599))
        .await
        .expect("sweep");
    assert_eq!(dropped, 599);
    assert_eq!(sealed_successors(url).await, 2);

    // Alice's session ended idle seven days after its last refresh; Bob's is live.
    let purged = store
        .purge_sessions(T0 + Duration::days(8))
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM refresh_tokens").await, 2);
    let (req, _) = rotation(&live, T0 + Duration::days(8));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let (req, _) = rotation(&token, T0 + Duration::days(8));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Invalid)
    ));
}

/// Unix milliseconds, as the tables store times.
fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).expect("in range")
}

/// More sessions that ended idle than a round of the purge reads, beside one whose stored idle
/// end fell behind its last refresh: every ended one goes with its tokens, and the live one
/// keeps its tokens and gets its checkpoints moved to its last refresh, so that no session the
/// purge read is left where its next run starts reading.
async fn the_purge_leaves_no_session_it_read_behind(store: Arc<dyn Store>, url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, token) = session_for(store.as_ref(), &alice).await;
    let used = T0 + Duration::days(6);
    let (req, next) = rotation(&token, used);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    // The refresh moved the checkpoints; put them back where a slower refresh path could have
    // left them (a lower bound of the idle end is all they promise).
    let (t0, week) = (millis(T0), millis(T0 + Duration::days(7)));
    exec(
        url,
        &format!(
            "UPDATE sessions SET last_used_at = {t0}, idle_expires_at = {week} WHERE id = '{}'",
            id.as_str()
        ),
    )
    .await;
    // 700 copies of the session that were never refreshed: they ended idle a week after T0.
    let hash = if url.starts_with("sqlite://") {
        "CAST('bulk' || x AS BLOB)"
    } else {
        "convert_to('bulk' || x, 'UTF8')"
    };
    exec(
        url,
        &format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 700) \
             INSERT INTO sessions (id, user_id, client_id, created_at, last_used_at, \
             idle_expires_at, absolute_expires_at, user_agent, ip, idle_ttl) \
             SELECT 'bulk' || x, s.user_id, s.client_id, s.created_at, s.last_used_at, \
             s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.ip, s.idle_ttl \
             FROM c, sessions s WHERE s.id = '{}'",
            id.as_str()
        ),
    )
    .await;
    exec(
        url,
        &format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 700) \
             INSERT INTO refresh_tokens (hash, session_id, created_at) \
             SELECT {hash}, 'bulk' || x, {t0} FROM c"
        ),
    )
    .await;

    let cutoff = T0 + Duration::days(8);
    let purged = store.purge_sessions(cutoff).await.expect("purge");
    assert_eq!(purged, 700);
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM refresh_tokens").await, 2);
    let stored = scalar(url, "SELECT idle_expires_at FROM sessions").await;
    assert_eq!(stored, millis(used + Duration::days(7)), "checkpoint moved");
    assert_eq!(
        scalar(url, "SELECT last_used_at FROM sessions").await,
        millis(used)
    );
    let (req, _) = rotation(&next, used + Duration::days(6));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
}

async fn activating_a_key_retires_the_previous_one(store: Arc<dyn Store>, _url: &str) {
    let first = StoredKey::generate(SigningAlg::EdDSA, T0).expect("key");
    store.activate_signing_key(&first, T0).await.expect("first");
    let later = T0 + Duration::hours(1);
    let second = StoredKey::generate(SigningAlg::ES256, later).expect("key");
    store
        .activate_signing_key(&second, later + Duration::seconds(900))
        .await
        .expect("second");
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 2);
    let old = keys
        .iter()
        .find(|k| k.kid == first.kid)
        .expect("old key kept");
    assert_eq!(old.retired_at, Some(later));
    assert_eq!(old.publish_until, Some(later + Duration::seconds(900)));
    let new = keys.iter().find(|k| k.kid == second.kid).expect("new key");
    assert_eq!(new.retired_at, None);
    assert_eq!(new.pkcs8, second.pkcs8);
}

async fn instances_starting_together_agree_on_one_signing_key(store: Arc<dyn Store>, _url: &str) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let candidate = StoredKey::generate(SigningAlg::EdDSA, T0).expect("key");
                store
                    .ensure_signing_key(&candidate, T0 + Duration::minutes(20))
                    .await
                    .expect("ensure")
                    .kid
            })
        })
        .collect();
    let kids: std::collections::HashSet<String> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    assert_eq!(kids.len(), 1, "one active key for all: {kids:?}");
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 1, "no key was created and retired on the way");
}

async fn no_session_is_created_for_a_deleted_user(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    assert!(store.delete_user(&alice.id, T0).await.expect("delete"));
    let token = RefreshToken::generate().expect("rng");
    let created = store
        .create_session(
            &NewSession {
                id: SessionId::generate(),
                user_id: alice.id.clone(),
                client_id: "baton".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: alice.password_hash.clone(),
                amr: "pwd".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await;
    assert!(matches!(created, Ok(None)), "{created:?}");
    let (req, _) = rotation(&token, T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Invalid)
    ));
}

/// Opens a session for `user` as a login checked against `hash` would; whether it was opened.
async fn opens_with(store: &dyn Store, user: &UserRecord, hash: &str) -> bool {
    let token = RefreshToken::generate().expect("rng");
    store
        .create_session(
            &NewSession {
                id: SessionId::generate(),
                user_id: user.id.clone(),
                client_id: "baton".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: hash.to_owned(),
                amr: "pwd".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("create")
        .is_some()
}

/// What rotating `token` now answers: `None` when it rotated.
async fn refused(store: &dyn Store, token: &RefreshToken) -> Option<RefreshError> {
    let (req, _) = rotation(token, T0 + Duration::seconds(1));
    match store.rotate(&req).await.expect("rotate") {
        RotateOutcome::Refused(reason) => Some(reason),
        _ => None,
    }
}

async fn a_password_change_ends_the_sessions_it_names_and_only_over_the_hash_read(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let bob = user("bob");
    store.insert_user(&bob).await.expect("user");
    let (kept, kept_token) = session_for(store.as_ref(), &alice).await;
    let (_, other_token) = session_for(store.as_ref(), &alice).await;
    let (_, bobs_token) = session_for(store.as_ref(), &bob).await;
    let old = alice.password_hash.clone();

    // A rehash writes nothing but the hash.
    assert!(store
        .set_password(
            &alice.id,
            "$argon2id$rehashed",
            Some(&old),
            &EndSessions::None,
            T0
        )
        .await
        .expect("rehash"));
    assert_eq!(
        store
            .user(&alice.id)
            .await
            .expect("read")
            .expect("alice")
            .password_hash,
        "$argon2id$rehashed"
    );
    // Over a hash that is no longer the stored one, nothing is written.
    assert!(!store
        .set_password(
            &alice.id,
            "$argon2id$stale",
            Some(&old),
            &EndSessions::All,
            T0
        )
        .await
        .expect("stale"));
    let (req, other_token) = rotation(&other_token, T0 + Duration::seconds(1));
    assert!(
        matches!(
            store.rotate(&req).await.expect("rotate"),
            RotateOutcome::Rotated(_)
        ),
        "nothing was revoked"
    );

    // A change from one session ends the others, and not another user's.
    assert!(store
        .set_password(
            &alice.id,
            "$argon2id$changed",
            Some("$argon2id$rehashed"),
            &EndSessions::AllExcept(kept.clone()),
            T0,
        )
        .await
        .expect("change"));
    assert_eq!(
        refused(store.as_ref(), &other_token).await,
        Some(RefreshError::Revoked)
    );
    assert_eq!(
        refused(store.as_ref(), &kept_token).await,
        None,
        "the asking session stays"
    );
    assert_eq!(
        refused(store.as_ref(), &bobs_token).await,
        None,
        "bob's stays"
    );

    // A login checked against the old hash opens nothing; one against the new hash does.
    assert!(!opens_with(store.as_ref(), &alice, "$argon2id$rehashed").await);
    assert!(opens_with(store.as_ref(), &alice, "$argon2id$changed").await);

    // A reset ends every session.
    let (_, token) = session_for(
        store.as_ref(),
        &store.user(&alice.id).await.expect("read").expect("alice"),
    )
    .await;
    assert!(store
        .set_password(&alice.id, "$argon2id$reset", None, &EndSessions::All, T0)
        .await
        .expect("reset"));
    assert_eq!(
        refused(store.as_ref(), &token).await,
        Some(RefreshError::Revoked)
    );
    assert!(store
        .live_sessions(&alice.id, T0, None, 10)
        .await
        .expect("list")
        .is_empty());

    // No such live user: nothing happens.
    assert!(!store
        .set_password(
            &UserId::generate(),
            "$argon2id$x",
            None,
            &EndSessions::All,
            T0
        )
        .await
        .expect("unknown"));
    assert!(store
        .user(&UserId::generate())
        .await
        .expect("read")
        .is_none());
}

async fn disabling_a_user_revokes_their_sessions_and_refuses_new_ones(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (_, token) = session_for(store.as_ref(), &alice).await;
    assert!(store
        .set_disabled(&alice.id, true, T0)
        .await
        .expect("disable"));
    assert_eq!(
        refused(store.as_ref(), &token).await,
        Some(RefreshError::Revoked)
    );
    let read = store
        .user_by_key("alice")
        .await
        .expect("read")
        .expect("alice");
    assert_eq!(read.disabled_at, Some(T0));
    assert!(!opens_with(store.as_ref(), &alice, &alice.password_hash).await);
    // Disabling again keeps the first time.
    assert!(store
        .set_disabled(&alice.id, true, T0 + Duration::hours(1))
        .await
        .expect("again"));
    let read = store.user(&alice.id).await.expect("read").expect("alice");
    assert_eq!(read.disabled_at, Some(T0));

    assert!(store
        .set_disabled(&alice.id, false, T0)
        .await
        .expect("enable"));
    let read = store.user(&alice.id).await.expect("read").expect("alice");
    assert_eq!(read.disabled_at, None);
    assert!(opens_with(store.as_ref(), &alice, &alice.password_hash).await);
    // The revoked session stays revoked.
    assert_eq!(
        refused(store.as_ref(), &token).await,
        Some(RefreshError::Revoked)
    );

    assert!(!store
        .set_disabled(&UserId::generate(), true, T0)
        .await
        .expect("unknown"));
    assert!(store.delete_user(&alice.id, T0).await.expect("delete"));
    assert!(!store
        .set_disabled(&alice.id, false, T0)
        .await
        .expect("deleted"));
}

/// A token of `purpose` for `user`, issued at `at` for an hour, with a mail when `to` is given.
fn mailed(
    user: &UserRecord,
    purpose: MailKind,
    email_key: Option<&str>,
    to: Option<&str>,
    at: OffsetDateTime,
) -> (MailedToken, RefreshToken) {
    let secret = RefreshToken::generate().expect("rng");
    let token = AccountToken {
        hash: secret.hash(),
        purpose,
        user_id: user.id.clone(),
        email_key: email_key.map(str::to_owned),
        created_at: at,
        expires_at: at + Duration::hours(1),
    };
    let mail = to.map(|to| OutboxMail {
        id: uuid::Uuid::now_v7().to_string(),
        kind: purpose,
        user_id: user.id.clone(),
        recipient: to.to_owned(),
        sealed: b"sealed".to_vec(),
        created_at: at,
        expires_at: at + Duration::hours(1),
    });
    (MailedToken { token, mail }, secret)
}

async fn mailed_tokens_are_used_once_before_they_expire(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (_, session_token) = session_for(store.as_ref(), &alice).await;
    let (first, first_secret) = mailed(&alice, MailKind::PasswordReset, None, None, T0);
    let (second, second_secret) = mailed(&alice, MailKind::PasswordReset, None, None, T0);
    assert!(store.issue_token(&first).await.expect("issue"));
    assert!(store.issue_token(&second).await.expect("issue"));
    let at = T0 + Duration::minutes(1);
    let found = store
        .token_user(&first_secret.hash(), MailKind::PasswordReset, at)
        .await
        .expect("read");
    assert_eq!(found.map(|u| u.id), Some(alice.id.clone()));
    // A token is only good for its purpose.
    assert!(store
        .token_user(&first_secret.hash(), MailKind::VerifyEmail, at)
        .await
        .expect("read")
        .is_none());
    assert!(store
        .verify_email(&first_secret.hash(), at)
        .await
        .expect("verify")
        .is_none());

    let reset = store
        .reset_password(&first_secret.hash(), "$argon2id$reset", at)
        .await
        .expect("reset");
    assert_eq!(reset, Some(alice.id.clone()));
    let now = store.user(&alice.id).await.expect("read").expect("alice");
    assert_eq!(now.password_hash, "$argon2id$reset");
    assert_eq!(
        refused(store.as_ref(), &session_token).await,
        Some(RefreshError::Revoked)
    );
    // Used: no second time; and the other reset token went with it.
    for secret in [&first_secret, &second_secret] {
        assert!(store
            .reset_password(&secret.hash(), "$argon2id$again", at)
            .await
            .expect("reset")
            .is_none());
    }
    assert_eq!(
        store
            .user(&alice.id)
            .await
            .expect("read")
            .expect("alice")
            .password_hash,
        "$argon2id$reset"
    );

    // Expired: refused, then purged.
    let (late, late_secret) = mailed(&alice, MailKind::PasswordReset, None, None, T0);
    assert!(store.issue_token(&late).await.expect("issue"));
    let after = T0 + Duration::hours(1);
    assert!(store
        .token_user(&late_secret.hash(), MailKind::PasswordReset, after)
        .await
        .expect("read")
        .is_none());
    assert!(store
        .reset_password(&late_secret.hash(), "$argon2id$late", after)
        .await
        .expect("reset")
        .is_none());
    assert!(store.purge_mail(after).await.expect("purge") >= 3);

    // Nobody's token, and a disabled user's: nothing.
    let (ghost, _) = mailed(&user("ghost"), MailKind::PasswordReset, None, None, T0);
    assert!(!store.issue_token(&ghost).await.expect("issue"));
    let (fresh, fresh_secret) = mailed(&alice, MailKind::PasswordReset, None, None, T0);
    assert!(store.issue_token(&fresh).await.expect("issue"));
    assert!(store
        .set_disabled(&alice.id, true, T0)
        .await
        .expect("disable"));
    assert!(store
        .reset_password(&fresh_secret.hash(), "$argon2id$x", at)
        .await
        .expect("reset")
        .is_none());
    let (refused_token, _) = mailed(&alice, MailKind::PasswordReset, None, None, T0);
    assert!(!store.issue_token(&refused_token).await.expect("issue"));
}

async fn a_confirmation_holds_only_for_the_address_it_was_sent_to(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let mut alice = user("alice");
    alice.email = Some("Alice@Example.com".into());
    alice.email_key = Some("alice@example.com".into());
    let (confirm, confirm_secret) = mailed(
        &alice,
        MailKind::VerifyEmail,
        Some("alice@example.com"),
        Some("Alice@Example.com"),
        T0,
    );
    store
        .insert_user_with_token(&alice, Some(&confirm))
        .await
        .expect("user");
    assert_eq!(store.outbox_len().await.expect("len"), 1);
    let read = store
        .user_by_email("alice@example.com")
        .await
        .expect("read")
        .expect("alice");
    assert_eq!(read.email.as_deref(), Some("Alice@Example.com"));
    assert_eq!(read.email_verified_at, None);

    // The address changes before the first link is followed: that link is void.
    let (change, change_secret) = mailed(
        &alice,
        MailKind::VerifyEmail,
        Some("alice@new.example.com"),
        Some("alice@new.example.com"),
        T0,
    );
    assert!(store
        .set_email(
            &alice.id,
            "alice@new.example.com",
            "alice@new.example.com",
            &change
        )
        .await
        .expect("change"));
    assert!(store
        .user_by_email("alice@example.com")
        .await
        .expect("read")
        .is_none());
    let at = T0 + Duration::minutes(1);
    assert!(store
        .verify_email(&confirm_secret.hash(), at)
        .await
        .expect("verify")
        .is_none());
    assert_eq!(
        store
            .verify_email(&change_secret.hash(), at)
            .await
            .expect("verify"),
        Some(alice.id.clone())
    );
    let read = store.user(&alice.id).await.expect("read").expect("alice");
    assert_eq!(read.email_verified_at, Some(at));
    assert!(store
        .verify_email(&change_secret.hash(), at)
        .await
        .expect("again")
        .is_none());
    // Changing it again clears the confirmation.
    let (third, _) = mailed(
        &alice,
        MailKind::VerifyEmail,
        Some("a3@example.com"),
        None,
        T0,
    );
    assert!(store
        .set_email(&alice.id, "a3@example.com", "a3@example.com", &third)
        .await
        .expect("change"));
    let read = store.user(&alice.id).await.expect("read").expect("alice");
    assert_eq!(read.email_verified_at, None);
    assert_eq!(read.email.as_deref(), Some("a3@example.com"));
}

async fn addresses_are_unique_among_live_users(store: Arc<dyn Store>, _url: &str) {
    let mut alice = user("alice");
    alice.email = Some("a@example.com".into());
    alice.email_key = Some("a@example.com".into());
    store.insert_user(&alice).await.expect("alice");
    let mut bob = user("bob");
    bob.email = Some("A@example.com".into());
    bob.email_key = Some("a@example.com".into());
    let taken = store.insert_user(&bob).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    bob.email = Some("b@example.com".into());
    bob.email_key = Some("b@example.com".into());
    store.insert_user(&bob).await.expect("bob");
    let (token, _) = mailed(&bob, MailKind::VerifyEmail, Some("a@example.com"), None, T0);
    let taken = store
        .set_email(&bob.id, "a@example.com", "a@example.com", &token)
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    // Users without an address are many; a deleted user's address is free.
    store.insert_user(&user("carol")).await.expect("carol");
    store.insert_user(&user("dave")).await.expect("dave");
    assert!(store.delete_user(&alice.id, T0).await.expect("delete"));
    assert!(store
        .set_email(&bob.id, "a@example.com", "a@example.com", &token)
        .await
        .expect("free now"));
}

async fn mail_is_claimed_by_one_sender_until_its_lease_ends(store: Arc<dyn Store>, url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (token, _) = mailed(
            &alice,
            MailKind::PasswordReset,
            None,
            Some("a@example.com"),
            T0,
        );
        ids.insert(token.mail.as_ref().expect("mail").id.clone());
        assert!(store.issue_token(&token).await.expect("issue"));
    }
    // A kind of a newer version is left alone.
    exec(
        url,
        "INSERT INTO outbox (id, kind, user_id, recipient, sealed, created_at, expires_at, \
         next_attempt_at) SELECT 'future', 'welcome', id, 'x@example.com', sealed, created_at, \
         expires_at, next_attempt_at FROM outbox LIMIT 1",
    )
    .await;
    assert_eq!(store.outbox_len().await.expect("len"), 41);
    let lease = T0 + Duration::minutes(2);
    // Four senders at once: every mail goes to exactly one of them.
    let claims = futures_join(&store, T0, lease).await;
    let mut claimed = std::collections::BTreeMap::new();
    for batch in &claims {
        for m in batch {
            assert_eq!(m.attempts, 1);
            assert_eq!(m.mail.recipient, "a@example.com");
            assert_eq!(m.mail.user_id, alice.id);
            assert_eq!(m.mail.sealed, b"sealed");
            assert!(
                claimed.insert(m.mail.id.clone(), m.clone()).is_none(),
                "claimed twice: {}",
                m.mail.id
            );
        }
    }
    assert_eq!(
        claimed
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        ids
    );
    // Leased: nobody gets them again before the lease ends.
    assert!(store
        .claim_mail(T0 + Duration::minutes(1), lease, "other", 100)
        .await
        .expect("claim")
        .is_empty());

    let mut claimed = claimed.into_values();
    let sent = claimed.next().expect("one");
    let failed = claimed.next().expect("two");
    // Only the claim's holder finishes a mail.
    assert!(!store
        .mail_sent(&sent.mail.id, "not the claim")
        .await
        .expect("sent"));
    assert!(store
        .mail_sent(&sent.mail.id, &sent.claim)
        .await
        .expect("sent"));
    assert!(store
        .mail_failed(
            &failed.mail.id,
            &failed.claim,
            T0 + Duration::minutes(3),
            "refused"
        )
        .await
        .expect("failed"));
    // At the lease's end, the 38 neither sent nor given back come back (a second attempt,
    // leased until T0 + 4 min); the failed one waits for its retry time (T0 + 3 min), the sent
    // one is gone.
    let again = store
        .claim_mail(lease, lease + Duration::minutes(2), "second", 100)
        .await
        .expect("claim");
    assert_eq!(again.len(), 38);
    assert!(again.iter().all(|m| m.attempts == 2
        && m.claim == "second"
        && m.mail.id != sent.mail.id
        && m.mail.id != failed.mail.id));
    // The first sender's claim lapsed: it can no longer finish or give back what it held.
    let lapsed = claimed.next().expect("three");
    assert!(!store
        .mail_sent(&lapsed.mail.id, &lapsed.claim)
        .await
        .expect("sent"));
    assert!(!store
        .mail_failed(&lapsed.mail.id, &lapsed.claim, lease, "late")
        .await
        .expect("failed"));
    let retry = store
        .claim_mail(
            T0 + Duration::minutes(3),
            T0 + Duration::minutes(5),
            "third",
            100,
        )
        .await
        .expect("claim");
    assert_eq!(retry.len(), 1);
    assert_eq!(
        (retry[0].mail.id.as_str(), retry[0].attempts),
        (failed.mail.id.as_str(), 2)
    );
    // Past their links' end, unsent mail is dropped (the unknown kind too).
    assert_eq!(store.outbox_len().await.expect("len"), 40);
    store
        .purge_mail(T0 + Duration::hours(1))
        .await
        .expect("purge");
    assert_eq!(store.outbox_len().await.expect("len"), 0);
}

async fn links_are_voided_by_what_makes_them_stale(store: Arc<dyn Store>, url: &str) {
    let mut alice = user("alice");
    alice.email = Some("a@example.com".into());
    alice.email_key = Some("a@example.com".into());
    store.insert_user(&alice).await.expect("user");
    let at = T0 + Duration::minutes(1);
    let reset_link = |store: Arc<dyn Store>, alice: UserRecord| async move {
        let (token, secret) = mailed(
            &alice,
            MailKind::PasswordReset,
            None,
            Some("a@example.com"),
            T0,
        );
        assert!(store.issue_token(&token).await.expect("issue"));
        secret
    };
    let usable = |store: Arc<dyn Store>, secret: RefreshToken| async move {
        store
            .token_user(&secret.hash(), MailKind::PasswordReset, at)
            .await
            .expect("read")
            .is_some()
    };

    // A password changed from a session, or set by an operator.
    let (kept, _) = session_for(store.as_ref(), &alice).await;
    for end in [EndSessions::AllExcept(kept), EndSessions::All] {
        let link = reset_link(Arc::clone(&store), alice.clone()).await;
        assert!(usable(Arc::clone(&store), link.clone()).await);
        assert!(store
            .set_password(&alice.id, "$argon2id$new", None, &end, T0)
            .await
            .expect("set"));
        assert!(!usable(Arc::clone(&store), link).await, "{end:?}");
    }
    // A reset with one link ends the others and drops their unsent mail.
    let first = reset_link(Arc::clone(&store), alice.clone()).await;
    let second = reset_link(Arc::clone(&store), alice.clone()).await;
    assert!(store
        .reset_password(&first.hash(), "$argon2id$reset", at)
        .await
        .expect("reset")
        .is_some());
    assert!(!usable(Arc::clone(&store), second).await);
    let waiting = scalar(
        url,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'password_reset'",
    )
    .await;
    assert_eq!(waiting, 0);
    // A rehash does not.
    let link = reset_link(Arc::clone(&store), alice.clone()).await;
    assert!(store
        .set_password(&alice.id, "$argon2id$rehash", None, &EndSessions::None, T0)
        .await
        .expect("rehash"));
    assert!(usable(Arc::clone(&store), link).await);

    // A new address: the links and the unsent mail of before go.
    let link = reset_link(Arc::clone(&store), alice.clone()).await;
    let before = store.outbox_len().await.expect("len");
    assert!(before >= 1);
    let (confirm, _) = mailed(
        &alice,
        MailKind::VerifyEmail,
        Some("b@example.com"),
        Some("b@example.com"),
        T0,
    );
    assert!(store
        .set_email(&alice.id, "b@example.com", "b@example.com", &confirm)
        .await
        .expect("change"));
    assert!(!usable(Arc::clone(&store), link).await);
    assert_eq!(
        store.outbox_len().await.expect("len"),
        1,
        "only the new confirmation"
    );
    // A token bound to the old address is no longer stored at all (a reset mail queued for it
    // meanwhile would otherwise go there).
    let (stale, _) = mailed(
        &alice,
        MailKind::PasswordReset,
        Some("a@example.com"),
        Some("a@example.com"),
        T0,
    );
    assert!(!store.issue_token(&stale).await.expect("issue"));
    let (bound, bound_secret) = mailed(
        &alice,
        MailKind::PasswordReset,
        Some("b@example.com"),
        None,
        T0,
    );
    assert!(store.issue_token(&bound).await.expect("issue"));
    assert!(usable(Arc::clone(&store), bound_secret).await);

    // A disabling; enabling again brings nothing back.
    let link = reset_link(Arc::clone(&store), alice.clone()).await;
    assert!(store
        .set_disabled(&alice.id, true, T0)
        .await
        .expect("disable"));
    assert_eq!(store.outbox_len().await.expect("len"), 0);
    assert!(store
        .set_disabled(&alice.id, false, T0)
        .await
        .expect("enable"));
    assert!(!usable(Arc::clone(&store), link).await);

    // A deletion forgets the address too.
    let link = reset_link(Arc::clone(&store), alice.clone()).await;
    assert!(store.delete_user(&alice.id, T0).await.expect("delete"));
    assert!(!usable(Arc::clone(&store), link).await);
    assert_eq!(store.outbox_len().await.expect("len"), 0);
    assert!(store
        .user_by_email("b@example.com")
        .await
        .expect("read")
        .is_none());
    // Nothing of the address is left: neither on the user nor in tokens.
    let left = scalar(
        url,
        "SELECT COUNT(*) FROM account_tokens WHERE email_key IS NOT NULL",
    )
    .await;
    assert_eq!(left, 0);
    let left = scalar(url, "SELECT COUNT(*) FROM users WHERE email IS NOT NULL").await;
    assert_eq!(left, 0);
}

async fn one_reset_token_resets_once_however_many_try(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (token, secret) = mailed(&alice, MailKind::PasswordReset, None, None, T0);
    assert!(store.issue_token(&token).await.expect("issue"));
    let at = T0 + Duration::minutes(1);
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let (store, hash) = (Arc::clone(&store), secret.hash());
            tokio::spawn(async move {
                store
                    .reset_password(&hash, &format!("$argon2id$try{i}"), at)
                    .await
                    .expect("reset")
            })
        })
        .collect();
    let mut won = 0;
    for t in tries {
        won += usize::from(t.await.expect("join").is_some());
    }
    assert_eq!(won, 1);
}

/// Four claims of at most 16 mails each, at once.
async fn futures_join(
    store: &Arc<dyn Store>,
    now: OffsetDateTime,
    lease: OffsetDateTime,
) -> Vec<Vec<baton_core::store::ClaimedMail>> {
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                store
                    .claim_mail(now, lease, &format!("sender{i}"), 16)
                    .await
                    .expect("claim")
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    out
}

async fn successors_sealed_before_the_grace_window_are_dropped(store: Arc<dyn Store>, url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (_, mut token) = session_for(store.as_ref(), &alice).await;
    for step in 0..4 {
        let (req, next) = rotation(&token, T0 + Duration::seconds(20 * step));
        assert!(matches!(
            store.rotate(&req).await.expect("rotate"),
            RotateOutcome::Rotated(_)
        ));
        token = next;
    }
    assert_eq!(sealed_successors(url).await, 4);
    let dropped = store
        .drop_stale_seals(T0 + Duration::seconds(60) - Duration::seconds(10))
        .await
        .expect("sweep");
    assert_eq!(dropped, 3);
    assert_eq!(
        sealed_successors(url).await,
        1,
        "only the successor sealed within the grace window is kept"
    );
}

async fn a_replay_gets_the_successor_only_while_it_is_unspent(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    let (req, second) = rotation(&first, T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let (again, _) = rotation(&first, T0 + Duration::seconds(1));
    match store.rotate(&again).await.expect("replay") {
        RotateOutcome::Replayed(_, sealed) => assert_eq!(first.open(&sealed), Some(second.clone())),
        other => panic!("expected a replay, got {other:?}"),
    }
    let (req, _third) = rotation(&second, T0 + Duration::seconds(2));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let (late, _) = rotation(&first, T0 + Duration::seconds(3));
    assert!(matches!(
        store.rotate(&late).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::Invalid)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert!(session.revoked_at.is_none(), "the session lives on");
}

/// Two refreshes of one token in flight at once: the one that read the clock first may reach the
/// store second, and then finds the token spent "after" its own now. That is the two tabs of the
/// grace window, not a thief: it gets the successor, and the session lives on.
async fn a_request_that_read_the_clock_before_the_rotation_is_a_replay(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    let (req, second) = rotation(&first, T0 + Duration::milliseconds(40));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let (earlier, _) = rotation(&first, T0);
    match store.rotate(&earlier).await.expect("replay") {
        RotateOutcome::Replayed(_, sealed) => assert_eq!(first.open(&sealed), Some(second)),
        other => panic!("expected a replay, got {other:?}"),
    }
    let session = store.session(&id).await.expect("read").expect("exists");
    assert!(session.revoked_at.is_none(), "the session lives on");
}

/// A DPoP proof's id is taken once while it is remembered, by every instance alike; past its
/// end it is forgotten (by the purge, or by the memory cache itself).
async fn dpop_proofs_are_taken_once_within_their_window(store: Arc<dyn Store>, _url: &str) {
    use baton_core::dpop::Recorded;
    let id = [7u8; 32];
    let until = T0 + Duration::seconds(65);
    assert_eq!(
        store.use_dpop_proof(id, until, T0).await.expect("first"),
        Recorded::Fresh
    );
    assert_eq!(
        store.use_dpop_proof(id, until, T0).await.expect("again"),
        Recorded::Replayed
    );
    assert_eq!(
        store
            .use_dpop_proof(id, until, T0 + Duration::seconds(60))
            .await
            .expect("later, within"),
        Recorded::Replayed
    );
    assert_eq!(
        store
            .use_dpop_proof([8u8; 32], until, T0)
            .await
            .expect("another"),
        Recorded::Fresh
    );
    let after = T0 + Duration::seconds(66);
    assert_eq!(
        store
            .use_dpop_proof(id, after + Duration::seconds(65), after)
            .await
            .expect("past its end"),
        Recorded::Fresh
    );
    store
        .purge_dpop_proofs(after + Duration::seconds(66))
        .await
        .expect("purge");
    // Past every end and purged: each id is taken again.
    let later = after + Duration::seconds(67);
    for id in [id, [8u8; 32]] {
        assert_eq!(
            store
                .use_dpop_proof(id, later + Duration::seconds(65), later)
                .await
                .expect("after the purge"),
            Recorded::Fresh
        );
    }
}

/// Many proofs at once (PostgreSQL records them in batches), each sent several times, some of
/// them used before: each is taken exactly once, whichever batches its uses fall in.
async fn concurrent_uses_of_dpop_proofs_take_each_once(store: Arc<dyn Store>, _url: &str) {
    use baton_core::dpop::Recorded;
    let until = T0 + Duration::seconds(65);
    let id = |n: u16| {
        let mut id = [0u8; 32];
        id[..2].copy_from_slice(&n.to_be_bytes());
        id[2] = 0xd0;
        id
    };
    for n in 0..50 {
        assert_eq!(
            store.use_dpop_proof(id(n), until, T0).await.expect("use"),
            Recorded::Fresh
        );
    }
    let mut uses = Vec::new();
    for _ in 0..4 {
        for n in 0..300u16 {
            let store = store.clone();
            uses.push(tokio::spawn(async move {
                (n, store.use_dpop_proof(id(n), until, T0).await)
            }));
        }
    }
    let mut fresh = std::collections::HashMap::<u16, u32>::new();
    for used in uses {
        let (n, recorded) = used.await.expect("task");
        if recorded.expect("recorded") == Recorded::Fresh {
            *fresh.entry(n).or_default() += 1;
        }
    }
    for n in 0..300u16 {
        let expected = u32::from(n >= 50);
        assert_eq!(fresh.get(&n).copied().unwrap_or(0), expected, "proof {n}");
    }
}

/// A session bound to a DPoP key rotates only for a request that proved that key; without
/// it nothing changes, even for a spent token long after the grace window.
async fn a_bound_session_rotates_only_for_its_key(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let token = RefreshToken::generate().expect("rng");
    let id = SessionId::generate();
    store
        .create_session(
            &NewSession {
                id: id.clone(),
                user_id: alice.id.clone(),
                client_id: "baton".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: alice.password_hash.clone(),
                amr: String::new(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: Some("key-a".into()),
            },
            &token.hash(),
        )
        .await
        .expect("create")
        .expect("created");
    let with = |jkt: Option<&str>, at: OffsetDateTime| {
        let (mut req, next) = rotation(&token, at);
        req.dpop_jkt = jkt.map(str::to_owned);
        (req, next)
    };
    for jkt in [None, Some("key-b")] {
        let (req, _) = with(jkt, T0);
        assert!(matches!(
            store.rotate(&req).await.expect("refused"),
            RotateOutcome::Refused(RefreshError::DpopKey)
        ));
    }
    let (req, _) = with(Some("key-a"), T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    // Within the grace window a thief without the key gets no successor either.
    let (thief, _) = with(Some("key-b"), T0 + Duration::seconds(1));
    assert!(matches!(
        store.rotate(&thief).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::DpopKey)
    ));
    let (owner, _) = with(Some("key-a"), T0 + Duration::seconds(1));
    assert!(matches!(
        store.rotate(&owner).await.expect("replay"),
        RotateOutcome::Replayed(..)
    ));
    let (late, _) = with(None, T0 + Duration::minutes(5));
    assert!(matches!(
        store.rotate(&late).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::DpopKey)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert!(session.revoked_at.is_none(), "no reuse was detected");
    assert_eq!(session.dpop_jkt.as_deref(), Some("key-a"));
}

/// A public client's session opened without a proof is bound by its first refresh with one
/// (RFC 9449 §5): from then on its tokens rotate only with that key.
async fn an_unbound_session_is_bound_by_a_refresh_with_a_key(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    let (mut req, second) = rotation(&first, T0);
    req.dpop_jkt = Some("key-a".into());
    req.bind_jkt = Some("key-a".into());
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert_eq!(session.dpop_jkt.as_deref(), Some("key-a"));
    let (without, _) = rotation(&second, T0 + Duration::seconds(1));
    assert!(matches!(
        store.rotate(&without).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::DpopKey)
    ));
    // Bound once: another key given later binds nothing.
    let (mut other, _) = rotation(&second, T0 + Duration::seconds(2));
    other.dpop_jkt = Some("key-a".into());
    other.bind_jkt = Some("key-b".into());
    assert!(matches!(
        store.rotate(&other).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert_eq!(session.dpop_jkt.as_deref(), Some("key-a"));
}

/// A thief who binds an unbound session to their own key with a stolen token does not escape
/// reuse detection: the tokens issued before the binding were bearer tokens, and one presented
/// again without the thief's key (by its owner), within the grace window or after, revokes the
/// session. Tokens issued bound change nothing without the key.
async fn a_token_from_before_the_binding_is_still_reuse_without_the_key(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    // The owner rotates without DPoP; the thief steals the successor and binds with it.
    let (req, stolen) = rotation(&first, T0 + Duration::seconds(60));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let (mut bind, thiefs) = rotation(&stolen, T0 + Duration::seconds(120));
    bind.dpop_jkt = Some("thief-key".into());
    bind.bind_jkt = Some("thief-key".into());
    assert!(matches!(
        store.rotate(&bind).await.expect("bind"),
        RotateOutcome::Rotated(_)
    ));
    // The thief's own bound token without the key is refused and spends nothing.
    let (thief_without, _) = rotation(&thiefs, T0 + Duration::seconds(121));
    assert!(matches!(
        store.rotate(&thief_without).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::DpopKey)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert!(session.revoked_at.is_none());
    // Within the grace window already, the owner's copy is reuse: the session ends.
    let (soon, _) = rotation(&stolen, T0 + Duration::seconds(125));
    assert!(matches!(
        store.rotate(&soon).await.expect("reuse"),
        RotateOutcome::Refused(RefreshError::ReuseDetected)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert!(session.revoked_at.is_some(), "reuse ends the session");
    let (mut thief_later, _) = rotation(&thiefs, T0 + Duration::seconds(301));
    thief_later.dpop_jkt = Some("thief-key".into());
    assert!(matches!(
        store.rotate(&thief_later).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::Revoked)
    ));
    // The first token, spent by the binding itself in the millisecond it was issued, likewise
    // on another session: what counts is how each token was issued, not clocks.
    let (other, first_b) = session_for(store.as_ref(), &alice).await;
    let (mut bind, _) = rotation(&first_b, T0);
    bind.dpop_jkt = Some("key-a".into());
    bind.bind_jkt = Some("key-a".into());
    assert!(matches!(
        store.rotate(&bind).await.expect("bind"),
        RotateOutcome::Rotated(_)
    ));
    let (late, _) = rotation(&first_b, T0 + Duration::seconds(600));
    assert!(matches!(
        store.rotate(&late).await.expect("reuse"),
        RotateOutcome::Refused(RefreshError::ReuseDetected)
    ));
    let other = store.session(&other).await.expect("read").expect("exists");
    assert!(other.revoked_at.is_some());
}

async fn replays_of_one_token_are_capped(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    let (req, _) = rotation(&first, T0);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    for _ in 0..baton_core::rotation::MAX_REPLAYS {
        let (again, _) = rotation(&first, T0 + Duration::seconds(1));
        assert!(matches!(
            store.rotate(&again).await.expect("replay"),
            RotateOutcome::Replayed(..)
        ));
    }
    let (again, _) = rotation(&first, T0 + Duration::seconds(1));
    assert!(matches!(
        store.rotate(&again).await.expect("refused"),
        RotateOutcome::Refused(RefreshError::Invalid)
    ));
    let session = store.session(&id).await.expect("read").expect("exists");
    assert!(session.revoked_at.is_none(), "the session lives on");
}

/// Revokes `session` in a transaction of its own that commits only after `during` has started and
/// had time to read the session as live.
async fn revoke_while<F: std::future::Future>(
    url: &str,
    session: &SessionId,
    during: F,
) -> F::Output {
    let sql = "UPDATE sessions SET revoked_at = 1, revoke_reason = 'test' WHERE id = $1";
    let pause = std::time::Duration::from_millis(300);
    if let Some(path) = url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).expect("open");
        c.execute_batch("BEGIN IMMEDIATE").expect("begin");
        c.execute(sql, [session.as_str()]).expect("revoke");
        let commit = tokio::task::spawn_blocking(move || {
            std::thread::sleep(pause);
            c.execute_batch("COMMIT").expect("commit");
        });
        let out = during.await;
        commit.await.expect("join");
        out
    } else {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        let mut tx = c.begin().await.expect("begin");
        sqlx::query(sql)
            .bind(session.as_str())
            .execute(&mut *tx)
            .await
            .expect("revoke");
        let (out, ()) = tokio::join!(during, async {
            tokio::time::sleep(pause).await;
            tx.commit().await.expect("commit");
        });
        out
    }
}

async fn a_revocation_committed_during_a_rotation_wins(store: Arc<dyn Store>, url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, first) = session_for(store.as_ref(), &alice).await;
    let (req, _) = rotation(&first, T0);
    let outcome = revoke_while(url, &id, store.rotate(&req))
        .await
        .expect("rotate");
    assert!(
        matches!(outcome, RotateOutcome::Refused(RefreshError::Revoked)),
        "a session revoked while its token was being rotated is not rotated: {outcome:?}"
    );
}

/// A session for `user` opened at `at`, with the given cap on live sessions.
async fn session_at(
    store: &dyn Store,
    user: &UserRecord,
    at: OffsetDateTime,
    limit: u32,
) -> SessionId {
    let id = SessionId::generate();
    let token = RefreshToken::generate().expect("rng");
    store
        .create_session(
            &NewSession {
                id: id.clone(),
                user_id: user.id.clone(),
                client_id: "baton".into(),
                created_at: at,
                idle_expires_at: at + Duration::days(7),
                absolute_expires_at: at + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: limit,
                password_hash: user.password_hash.clone(),
                amr: "pwd".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("session");
    id
}

/// Finding 11: opening a session past the cap revokes the oldest live ones.
async fn sessions_past_the_limit_are_revoked_oldest_first(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let bob = user("bob");
    store.insert_user(&bob).await.expect("user");
    let bobs = session_at(&*store, &bob, T0, 3).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(session_at(&*store, &alice, T0 + Duration::seconds(i), 3).await);
    }
    let now = T0 + Duration::seconds(10);
    let live: Vec<SessionId> = store
        .live_sessions(&alice.id, now, None, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]);
    let oldest = store.session(&ids[0]).await.expect("read").expect("kept");
    assert!(oldest.revoked_at.is_some());
    // Sessions opened in the same millisecond: the new one is never the one revoked.
    for _ in 0..5 {
        let newest = session_at(&*store, &alice, T0 + Duration::seconds(5), 3).await;
        let live = store
            .live_sessions(&alice.id, now, None, 100)
            .await
            .expect("list");
        assert_eq!(live.len(), 3);
        assert!(live.iter().any(|s| s.id == newest));
    }
    // Other users' sessions are untouched.
    let live_bob = store
        .live_sessions(&bob.id, now, None, 100)
        .await
        .expect("list");
    assert_eq!(live_bob.len(), 1);
    assert_eq!(live_bob[0].id, bobs);
}

/// Finding 11: pages of sessions, newest first, each after the previous one's cursor, with ties
/// on the creation time broken by id.
async fn session_pages_follow_their_cursor(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    for i in 0..7 {
        // Two sessions per second: ties on created_at.
        session_at(&*store, &alice, T0 + Duration::seconds(i / 2), 0).await;
    }
    let now = T0 + Duration::seconds(10);
    let all = store
        .live_sessions(&alice.id, now, None, 100)
        .await
        .expect("all");
    assert_eq!(all.len(), 7);
    let mut paged = Vec::new();
    let mut after: Option<SessionCursor> = None;
    loop {
        let page = store
            .live_sessions(&alice.id, now, after.as_ref(), 3)
            .await
            .expect("page");
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(SessionCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        paged.extend(page.iter().map(|s| s.id.clone()));
    }
    let expected: Vec<SessionId> = all.into_iter().map(|s| s.id).collect();
    assert_eq!(paged, expected);
}

fn limit_key(name: &str, limit: u32, cleared_by_success: bool) -> LimitKey {
    let mut key = [0u8; 32];
    key[..name.len()].copy_from_slice(name.as_bytes());
    LimitKey {
        key,
        limit,
        cleared_by_success,
    }
}

/// Finding 17: the failed-login counters in the database follow the in-memory limiter's rules.
async fn shared_limits_count_failures_and_attempts_in_flight(store: Arc<dyn Store>, _url: &str) {
    let window = Duration::minutes(5);
    let user = limit_key("user:alice", 2, true);
    let ip = limit_key("ip:192.0.2.1", 10, false);
    let keys = [user.clone(), ip.clone()];
    let go = |v: LimitVerdict| match v {
        LimitVerdict::Go(id) => id,
        other => panic!("expected go, got {other:?}"),
    };
    // Two attempts in flight fill a limit of two: the third waits.
    let a = go(store.limit_begin(&keys, T0, window).await.expect("begin"));
    let b = go(store.limit_begin(&keys, T0, window).await.expect("begin"));
    assert_eq!(
        store.limit_begin(&keys, T0, window).await.expect("begin"),
        LimitVerdict::Wait
    );
    store
        .limit_finish(&a, &keys, LimitOutcome::Failed, T0)
        .await
        .expect("finish");
    assert_eq!(
        store.limit_begin(&keys, T0, window).await.expect("begin"),
        LimitVerdict::Wait
    );
    store
        .limit_finish(&b, &keys, LimitOutcome::Failed, T0 + Duration::seconds(10))
        .await
        .expect("finish");
    // Two failures: refused until the older one leaves the window.
    let later = T0 + Duration::seconds(20);
    assert_eq!(
        store
            .limit_begin(&keys, later, window)
            .await
            .expect("begin"),
        LimitVerdict::Refuse(280)
    );
    let after = T0 + Duration::seconds(301);
    let c = go(store
        .limit_begin(&keys, after, window)
        .await
        .expect("begin"));
    // A success clears the username's failures, not the address's.
    store
        .limit_finish(&c, &keys, LimitOutcome::Succeeded, after)
        .await
        .expect("finish");
    let d = go(store
        .limit_begin(&keys, after, window)
        .await
        .expect("begin"));
    let e = go(store
        .limit_begin(&keys, after, window)
        .await
        .expect("begin"));
    store
        .limit_finish(&d, &keys, LimitOutcome::Abandoned, after)
        .await
        .expect("finish");
    store
        .limit_finish(&e, &keys, LimitOutcome::Abandoned, after)
        .await
        .expect("finish");
    let only_ip = [ip.clone()];
    let f = go(store
        .limit_begin(&only_ip, after, window)
        .await
        .expect("begin"));
    store
        .limit_finish(&f, &only_ip, LimitOutcome::Succeeded, after)
        .await
        .expect("finish");
    // An attempt its instance never finished stops counting after a minute.
    let g = go(store
        .limit_begin(&keys, after, window)
        .await
        .expect("begin"));
    let _h = go(store
        .limit_begin(&keys, after, window)
        .await
        .expect("begin"));
    assert_eq!(
        store
            .limit_begin(&keys, after, window)
            .await
            .expect("begin"),
        LimitVerdict::Wait
    );
    let much_later = after + Duration::seconds(61);
    let _i = go(store
        .limit_begin(&keys, much_later, window)
        .await
        .expect("begin"));
    store
        .limit_finish(&g, &keys, LimitOutcome::Abandoned, much_later)
        .await
        .expect("finish");
    // The purge forgets what left the window.
    assert!(store.limit_purge(much_later).await.expect("purge") >= 2);
}

/// Finding 11: logins of one user at the same moment still leave at most the cap live.
async fn concurrent_logins_keep_to_the_session_cap(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let opened = (0..20).map(|i| {
        let (store, alice) = (Arc::clone(&store), alice.clone());
        tokio::spawn(async move {
            session_at(&*store, &alice, T0 + Duration::milliseconds(i), 3).await;
        })
    });
    for task in futures::future::join_all(opened).await {
        task.expect("a login");
    }
    let live = store
        .live_sessions(&alice.id, T0 + Duration::seconds(1), None, 100)
        .await
        .expect("list");
    assert_eq!(live.len(), 3);
}

/// The audit log: events come back newest first, filtered by user, time and kind, page by page,
/// and the purge forgets the old ones.
async fn audit_events_are_read_newest_first_by_filter_and_page(store: Arc<dyn Store>, _url: &str) {
    use baton_core::audit::{AuditEvent, EventKind, EventQuery};
    let alice = UserId::generate();
    let bob = UserId::generate();
    let mut recorded = Vec::new();
    for i in 0..7 {
        let kind = if i % 2 == 0 {
            EventKind::LoginFailed
        } else {
            EventKind::LoginSucceeded
        };
        let mut e = AuditEvent::new(kind, T0 + Duration::seconds(i / 2));
        e.user_id = Some(if i == 6 { bob.clone() } else { alice.clone() });
        e.ip = Some("192.0.2.1".into());
        e.user_agent = Some("test".into());
        e.reason = Some("why".into());
        store.record_event(&e).await.expect("record");
        recorded.push(e);
    }
    let all = store
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .expect("all");
    assert_eq!(all.len(), 7);
    assert!(all
        .windows(2)
        .all(|w| (w[0].at, &w[0].id) >= (w[1].at, &w[1].id)));
    assert_eq!(
        all.iter().find(|e| e.id == recorded[0].id),
        Some(&recorded[0])
    );
    let mine = EventQuery {
        user_id: Some(alice.clone()),
        limit: 100,
        ..EventQuery::default()
    };
    assert_eq!(store.events(&mine).await.expect("alice").len(), 6);
    let failed = EventQuery {
        kind: Some(EventKind::LoginFailed),
        ..mine.clone()
    };
    assert_eq!(store.events(&failed).await.expect("failed").len(), 3);
    let recent = EventQuery {
        since: Some(T0 + Duration::seconds(2)),
        ..mine.clone()
    };
    assert_eq!(store.events(&recent).await.expect("recent").len(), 2);
    // Pages of two, each after the previous page's last event, give them all once.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .events(&EventQuery {
                before: before.clone(),
                limit: 2,
                ..mine.clone()
            })
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        before = Some((last.at, last.id.clone()));
        paged.extend(page.iter().map(|e| e.id.clone()));
    }
    let expected: Vec<String> = store
        .events(&mine)
        .await
        .expect("alice")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(paged, expected);
    assert_eq!(
        store
            .purge_events(T0 + Duration::seconds(2))
            .await
            .expect("purge"),
        4
    );
    assert_eq!(
        store
            .events(&EventQuery {
                limit: 100,
                ..EventQuery::default()
            })
            .await
            .expect("left")
            .len(),
        3
    );
}

/// A rotation writes its two tokens and not the session: the session's last use and idle end
/// come from its newest token, and the row keeps a checkpoint moved only when it falls more than
/// a sixteenth of the idle timeout (at most an hour) behind.
async fn a_refresh_writes_the_session_row_only_at_its_checkpoint(store: Arc<dyn Store>, url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, mut token) = session_for(store.as_ref(), &alice).await;
    let stored = format!(
        "SELECT last_used_at FROM sessions WHERE id = '{}'",
        id.as_str()
    );
    let mut last = T0;
    for minutes in [1, 20, 59] {
        last = T0 + Duration::minutes(minutes);
        let (req, next) = rotation(&token, last);
        let RotateOutcome::Rotated(session) = store.rotate(&req).await.expect("rotate") else {
            panic!("not rotated");
        };
        assert_eq!(session.last_used_at, last);
        assert_eq!(session.idle_expires_at, last + Duration::days(7));
        token = next;
    }
    assert_eq!(
        scalar(url, &stored).await,
        T0.unix_timestamp() * 1000,
        "the session row was not written within the hour"
    );
    let session = store.session(&id).await.expect("read").expect("session");
    assert_eq!(
        session.last_used_at, last,
        "the newest token tells the last use"
    );
    assert_eq!(session.idle_expires_at, last + Duration::days(7));

    let checkpoint = T0 + Duration::minutes(61);
    let (req, _) = rotation(&token, checkpoint);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        scalar(url, &stored).await,
        checkpoint.unix_timestamp() * 1000,
        "an hour behind, the checkpoint moves"
    );
}

/// The idle end is the newest token's issue time plus the idle timeout, whatever the session
/// row's checkpoint says: for refreshing, listing, revoking and purging.
async fn the_idle_end_follows_the_newest_token(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, token) = session_for(store.as_ref(), &alice).await;
    // Used 30 minutes after login: the checkpoint (the login) stays, the idle end moves.
    let used = T0 + Duration::minutes(30);
    let (req, next) = rotation(&token, used);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let idle_end = used + Duration::days(7);
    assert_eq!(
        store
            .purge_sessions(idle_end - Duration::minutes(1))
            .await
            .expect("purge"),
        0,
        "past the checkpoint's idle end but not the true one: kept"
    );
    let live = store
        .live_sessions(&alice.id, idle_end - Duration::minutes(1), None, 10)
        .await
        .expect("list");
    assert_eq!(live.len(), 1, "still live");
    assert_eq!(live[0].last_used_at, used);
    let (req, _) = rotation(&next, idle_end - Duration::minutes(1));
    assert!(
        matches!(
            store.rotate(&req).await.expect("rotate"),
            RotateOutcome::Rotated(_)
        ),
        "refreshes until the true idle end"
    );

    // A second session, idle since its login, ends at the login's idle end.
    let (other, other_token) = session_for(store.as_ref(), &alice).await;
    let after = T0 + Duration::days(7) + Duration::minutes(1);
    let (req, _) = rotation(&other_token, after);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Expired)
    ));
    assert!(
        !store
            .revoke_session(&alice.id, &other, after)
            .await
            .expect("revoke"),
        "an ended session is not live to revoke"
    );
    assert_eq!(store.purge_sessions(after).await.expect("purge"), 1);
    assert!(store.session(&other).await.expect("read").is_none());
    assert!(store.session(&id).await.expect("read").is_some());
}

/// During a rolling upgrade an older baton opens sessions without `idle_ttl` (and moves their
/// checkpoint columns on every refresh): their idle timeout is the difference of those columns.
async fn sessions_opened_by_an_older_version_keep_their_idle_timeout(
    store: Arc<dyn Store>,
    url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (id, token) = session_for(store.as_ref(), &alice).await;
    exec(
        url,
        &format!(
            "UPDATE sessions SET idle_ttl = NULL WHERE id = '{}'",
            id.as_str()
        ),
    )
    .await;
    let session = store.session(&id).await.expect("read").expect("session");
    assert_eq!(session.idle_expires_at, T0 + Duration::days(7));
    let used = T0 + Duration::days(6);
    let (req, next) = rotation(&token, used);
    let RotateOutcome::Rotated(session) = store.rotate(&req).await.expect("rotate") else {
        panic!("not rotated");
    };
    assert_eq!(session.idle_expires_at, used + Duration::days(7));
    let live = store
        .live_sessions(&alice.id, used + Duration::days(6), None, 10)
        .await
        .expect("list");
    assert_eq!(live.len(), 1, "the idle end moved with the refresh");
    let (req, _) = rotation(&next, used + Duration::days(7) + Duration::minutes(1));
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Refused(RefreshError::Expired)
    ));
}

/// A changed idle timeout reaches the sessions still live (shorter or longer), and leaves those
/// that ended or were revoked as they are.
async fn a_new_idle_timeout_reaches_live_sessions_only(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (live, token) = session_for(store.as_ref(), &alice).await;
    let (revoked, _) = session_for(store.as_ref(), &alice).await;
    assert!(store
        .revoke_session(&alice.id, &revoked, T0)
        .await
        .expect("revoke"));
    let used = T0 + Duration::hours(1);
    let (req, _) = rotation(&token, used);
    assert!(matches!(
        store.rotate(&req).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));

    let at = T0 + Duration::hours(2);
    assert_eq!(
        store
            .set_idle_timeout(Duration::days(1), at)
            .await
            .expect("set"),
        1
    );
    let session = store.session(&live).await.expect("read").expect("live");
    assert_eq!(session.idle_expires_at, used + Duration::days(1));
    let revoked_now = store.session(&revoked).await.expect("read").expect("kept");
    assert_eq!(revoked_now.idle_expires_at, T0 + Duration::days(7));
    assert_eq!(
        store
            .set_idle_timeout(Duration::days(1), at)
            .await
            .expect("again"),
        0,
        "nothing left to change"
    );
    assert_eq!(
        store
            .purge_sessions(used + Duration::days(1) + Duration::minutes(1))
            .await
            .expect("purge"),
        1,
        "the stored idle end moved with the timeout, so the purge finds it"
    );

    // An ended session is not revived by a longer timeout.
    let (ended, _) = session_for(store.as_ref(), &alice).await;
    let later = T0 + Duration::days(8);
    assert_eq!(
        store
            .set_idle_timeout(Duration::days(30), later)
            .await
            .expect("set"),
        0
    );
    let session = store.session(&ended).await.expect("read").expect("kept");
    assert_eq!(session.idle_expires_at, T0 + Duration::days(7));
}

/// More live sessions than one batch all get the new idle timeout.
async fn a_new_idle_timeout_reaches_every_batch(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    for _ in 0..501 {
        session_for(store.as_ref(), &alice).await;
    }
    assert_eq!(
        store
            .set_idle_timeout(Duration::days(1), T0 + Duration::hours(1))
            .await
            .expect("set"),
        501
    );
    assert_eq!(
        store
            .purge_sessions(T0 + Duration::days(1) + Duration::minutes(1))
            .await
            .expect("purge"),
        501
    );
}

/// The check the crash tests run after each SIGKILL finds what it looks for: a clean database
/// passes; a session with two unspent tokens, a spent token without its successor, and no
/// signing key in use do not.
async fn the_crash_check_finds_forked_families_and_half_rotations(
    store: Arc<dyn Store>,
    url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (session, _) = session_for(store.as_ref(), &alice).await;
    let key = StoredKey::generate(SigningAlg::EdDSA, T0).expect("key");
    store.activate_signing_key(&key, T0).await.expect("key");
    let clean = baton_store::testing::consistency_problems(url, millis(T0))
        .await
        .expect("checked");
    assert!(clean.is_empty(), "{clean:?}");
    let blob = |hex: &str| {
        if url.starts_with("sqlite:") {
            format!("X'{hex}'")
        } else {
            format!("'\\x{hex}'::bytea")
        }
    };
    exec(
        url,
        &format!(
            "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ({}, '{}', 1)",
            blob("00"),
            session.as_str()
        ),
    )
    .await;
    exec(
        url,
        &format!(
            "UPDATE refresh_tokens SET spent_at = 2, successor_hash = {} WHERE hash = {}",
            blob("01"),
            blob("00")
        ),
    )
    .await;
    let problems = baton_store::testing::consistency_problems(url, millis(T0))
        .await
        .expect("checked");
    assert!(
        problems.iter().any(|p| p.contains("half-rotated")),
        "{problems:?}"
    );
    exec(
        url,
        &format!(
            "UPDATE refresh_tokens SET spent_at = NULL, successor_hash = NULL WHERE hash = {}",
            blob("00")
        ),
    )
    .await;
    let problems = baton_store::testing::consistency_problems(url, millis(T0))
        .await
        .expect("checked");
    assert!(
        problems.iter().any(|p| p.contains("two unspent tokens")),
        "{problems:?}"
    );
    exec(url, "UPDATE signing_keys SET retired_at = 1").await;
    let problems = baton_store::testing::consistency_problems(url, millis(T0))
        .await
        .expect("checked");
    assert!(
        problems.iter().any(|p| p.contains("0 signing keys in use")),
        "{problems:?}"
    );
}

fn codes(n: u8) -> Vec<baton_core::refresh::TokenHash> {
    (0..n)
        .map(|i| RefreshToken::presented(format!("code {i}")).hash())
        .collect()
}

async fn a_pending_totp_factor_is_replaced_until_confirmed(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    assert!(store.totp(&alice.id).await.expect("read").is_none());
    assert!(store
        .put_pending_totp(&alice.id, b"first", T0)
        .await
        .expect("put"));
    assert!(store
        .put_pending_totp(&alice.id, b"second", T0)
        .await
        .expect("put"));
    let pending = store.totp(&alice.id).await.expect("read").expect("pending");
    assert_eq!(pending.sealed_secret, b"second");
    assert!(pending.confirmed_at.is_none());
    assert!(store
        .confirm_totp(&alice.id, 100, &codes(10), &SessionId::generate(), T0)
        .await
        .expect("confirm"));
    assert!(!store
        .confirm_totp(&alice.id, 101, &codes(10), &SessionId::generate(), T0)
        .await
        .expect("twice"));
    // A confirmed factor is never replaced by a setup.
    assert!(!store
        .put_pending_totp(&alice.id, b"third", T0)
        .await
        .expect("put"));
    let confirmed = store.totp(&alice.id).await.expect("read").expect("factor");
    assert_eq!(confirmed.sealed_secret, b"second");
    assert_eq!(confirmed.confirmed_at, Some(T0));
    assert_eq!(confirmed.last_step, Some(100));
    assert_eq!(
        store.recovery_codes_left(&alice.id).await.expect("count"),
        10
    );
    // Gone users and disabled ones get no setup.
    let bob = user("bob");
    assert!(!store
        .put_pending_totp(&bob.id, b"x", T0)
        .await
        .expect("put"));
    store.insert_user(&bob).await.expect("user");
    assert!(store
        .set_disabled(&bob.id, true, T0)
        .await
        .expect("disable"));
    assert!(!store
        .put_pending_totp(&bob.id, b"x", T0)
        .await
        .expect("put"));
    // Removing the factor takes the recovery codes with it.
    assert!(store.delete_totp(&alice.id).await.expect("delete"));
    assert!(!store.delete_totp(&alice.id).await.expect("again"));
    assert_eq!(
        store.recovery_codes_left(&alice.id).await.expect("count"),
        0
    );
}

async fn each_totp_step_is_accepted_once_and_never_after_a_later_one(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    store
        .put_pending_totp(&alice.id, b"s", T0)
        .await
        .expect("put");
    // Not before it is confirmed.
    assert!(!store.use_totp_step(&alice.id, 99).await.expect("use"));
    store
        .confirm_totp(&alice.id, 100, &[], &SessionId::generate(), T0)
        .await
        .expect("confirm");
    assert!(!store
        .use_totp_step(&alice.id, 100)
        .await
        .expect("same step"));
    assert!(!store.use_totp_step(&alice.id, 99).await.expect("older"));
    assert!(store.use_totp_step(&alice.id, 102).await.expect("later"));
    assert!(!store
        .use_totp_step(&alice.id, 101)
        .await
        .expect("before the last"));
    assert!(!store.use_totp_step(&alice.id, 102).await.expect("again"));
}

async fn recovery_codes_are_used_once_and_replaced_whole(store: Arc<dyn Store>, _url: &str) {
    let (alice, bob) = (user("alice"), user("bob"));
    store.insert_user(&alice).await.expect("user");
    store.insert_user(&bob).await.expect("user");
    let set = codes(3);
    store
        .replace_recovery_codes(&alice.id, &set, T0)
        .await
        .expect("store");
    assert!(!store
        .use_recovery_code(&bob.id, &set[0], T0)
        .await
        .expect("someone else's"));
    assert!(store
        .use_recovery_code(&alice.id, &set[0], T0)
        .await
        .expect("use"));
    assert!(!store
        .use_recovery_code(&alice.id, &set[0], T0)
        .await
        .expect("again"));
    assert_eq!(
        store.recovery_codes_left(&alice.id).await.expect("count"),
        2
    );
    let fresh: Vec<_> = (0..2)
        .map(|i| RefreshToken::presented(format!("fresh {i}")).hash())
        .collect();
    store
        .replace_recovery_codes(&alice.id, &fresh, T0)
        .await
        .expect("replace");
    assert!(!store
        .use_recovery_code(&alice.id, &set[1], T0)
        .await
        .expect("old"));
    assert!(store
        .use_recovery_code(&alice.id, &fresh[1], T0)
        .await
        .expect("new"));
    assert_eq!(
        store.recovery_codes_left(&alice.id).await.expect("count"),
        1
    );
}

fn challenge(user: &UserRecord, token: &RefreshToken) -> MfaChallenge {
    MfaChallenge {
        hash: token.hash(),
        user_id: user.id.clone(),
        client_id: "baton".into(),
        delivery: "cookie".into(),
        password_hash: user.password_hash.clone(),
        created_at: T0,
        expires_at: T0 + Duration::minutes(5),
        failures: 0,
    }
}

async fn mfa_challenges_are_used_once_and_spent_by_failures_or_time(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let token = RefreshToken::generate().expect("rng");
    store
        .insert_mfa_challenge(&challenge(&alice, &token))
        .await
        .expect("insert");
    let read = store
        .mfa_challenge(&token.hash(), T0, 5)
        .await
        .expect("read")
        .expect("live");
    assert_eq!(read.user_id, alice.id);
    assert_eq!(read.delivery, "cookie");
    assert_eq!(read.password_hash, alice.password_hash);
    assert_eq!(read.expires_at, T0 + Duration::minutes(5));
    for _ in 0..4 {
        store
            .mfa_challenge_failed(&token.hash(), &alice.id, T0)
            .await
            .expect("fail");
    }
    let read = store
        .mfa_challenge(&token.hash(), T0, 5)
        .await
        .expect("read");
    assert_eq!(read.expect("four failures").failures, 4);
    store
        .mfa_challenge_failed(&token.hash(), &alice.id, T0)
        .await
        .expect("fail");
    assert!(store
        .mfa_challenge(&token.hash(), T0, 5)
        .await
        .expect("read")
        .is_none());

    let token = RefreshToken::generate().expect("rng");
    store
        .insert_mfa_challenge(&challenge(&alice, &token))
        .await
        .expect("insert");
    let end = T0 + Duration::minutes(5);
    assert!(store
        .mfa_challenge(&token.hash(), end, 5)
        .await
        .expect("read")
        .is_none());
    assert!(!store
        .use_mfa_challenge(&token.hash(), end)
        .await
        .expect("late"));
    assert!(store
        .use_mfa_challenge(&token.hash(), T0)
        .await
        .expect("use"));
    assert!(!store
        .use_mfa_challenge(&token.hash(), T0)
        .await
        .expect("again"));
    assert!(store
        .mfa_challenge(&token.hash(), T0, 5)
        .await
        .expect("read")
        .is_none());
    let before = T0 - Duration::seconds(1);
    assert_eq!(
        store
            .purge_mfa_challenges(end, before)
            .await
            .expect("purge"),
        2,
        "the two challenges; the wrong codes are younger"
    );
    assert_eq!(
        store
            .mfa_failures_since(&alice.id, before)
            .await
            .expect("n"),
        5
    );
    assert_eq!(store.purge_mfa_challenges(end, T0).await.expect("purge"), 5);
    assert_eq!(
        store
            .mfa_failures_since(&alice.id, before)
            .await
            .expect("n"),
        0
    );
}

async fn concurrent_uses_of_one_code_or_challenge_succeed_once(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    store
        .put_pending_totp(&alice.id, b"s", T0)
        .await
        .expect("put");
    let set = codes(1);
    store
        .confirm_totp(&alice.id, 1, &set, &SessionId::generate(), T0)
        .await
        .expect("confirm");
    let token = RefreshToken::generate().expect("rng");
    store
        .insert_mfa_challenge(&challenge(&alice, &token))
        .await
        .expect("insert");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, id, code, hash) = (
            Arc::clone(&store),
            alice.id.clone(),
            set[0].clone(),
            token.hash(),
        );
        tasks.push(tokio::spawn(async move {
            (
                store.use_totp_step(&id, 5).await.expect("step"),
                store.use_recovery_code(&id, &code, T0).await.expect("code"),
                store.use_mfa_challenge(&hash, T0).await.expect("challenge"),
            )
        }));
    }
    let mut won = (0, 0, 0);
    for t in tasks {
        let (a, b, c) = t.await.expect("task");
        won.0 += u8::from(a);
        won.1 += u8::from(b);
        won.2 += u8::from(c);
    }
    assert_eq!(won, (1, 1, 1));
}

async fn a_deleted_users_factors_are_forgotten(store: Arc<dyn Store>, url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    store
        .put_pending_totp(&alice.id, b"s", T0)
        .await
        .expect("put");
    store
        .confirm_totp(&alice.id, 1, &codes(10), &SessionId::generate(), T0)
        .await
        .expect("confirm");
    let token = RefreshToken::generate().expect("rng");
    store
        .insert_mfa_challenge(&challenge(&alice, &token))
        .await
        .expect("insert");
    assert!(store.delete_user(&alice.id, T0).await.expect("delete"));
    for table in ["totp_factors", "recovery_codes", "mfa_challenges"] {
        let n = scalar(url, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(n, 0, "{table}");
    }
    // An operator's reset says whether there was anything.
    let bob = user("bob");
    store.insert_user(&bob).await.expect("user");
    assert!(!store.reset_mfa(&bob.id).await.expect("reset"));
    store
        .put_pending_totp(&bob.id, b"s", T0)
        .await
        .expect("put");
    assert!(store.reset_mfa(&bob.id).await.expect("reset"));
    assert!(store.totp(&bob.id).await.expect("read").is_none());
}

async fn sessions_keep_how_their_user_authenticated(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let token = RefreshToken::generate().expect("rng");
    let created = store
        .create_session(
            &NewSession {
                id: SessionId::generate(),
                user_id: alice.id.clone(),
                client_id: "baton".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: alice.password_hash.clone(),
                amr: "pwd otp mfa".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("create")
        .expect("created");
    assert_eq!(created.amr.to_stored(), "pwd otp mfa");
    let (req, _) = rotation(&token, T0 + Duration::minutes(1));
    let RotateOutcome::Rotated(rotated) = store.rotate(&req).await.expect("rotate") else {
        panic!("not rotated");
    };
    assert_eq!(rotated.amr.to_stored(), "pwd otp mfa");
    assert_eq!(rotated.created_at, T0);
}

fn passkey(user: &UserRecord, id: &str, at: OffsetDateTime) -> PasskeyRecord {
    PasskeyRecord {
        id: id.to_owned(),
        user_id: user.id.clone(),
        name: format!("key {id}"),
        passkey: format!("{{\"cred\":\"{id}\"}}"),
        backup_eligible: id.ends_with('s'),
        created_at: at,
        last_used_at: None,
    }
}

async fn passkeys_are_capped_unique_and_take_the_orphaned_recovery_codes_along(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let (alice, bob) = (user("alice"), user("bob"));
    store.insert_user(&alice).await.expect("user");
    store.insert_user(&bob).await.expect("user");
    assert_eq!(
        store.mfa_summary(&alice.id).await.expect("summary"),
        MfaSummary::default()
    );
    assert!(store
        .insert_passkey(&passkey(&alice, "k1", T0), 2, &SessionId::generate())
        .await
        .expect("insert"));
    assert!(store
        .insert_passkey(
            &passkey(&alice, "k2s", T0 + Duration::seconds(1)),
            2,
            &SessionId::generate()
        )
        .await
        .expect("insert"));
    assert!(!store
        .insert_passkey(&passkey(&alice, "k3", T0), 2, &SessionId::generate())
        .await
        .expect("over the cap"));
    assert!(matches!(
        store
            .insert_passkey(&passkey(&bob, "k1", T0), 2, &SessionId::generate())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store.passkeys(&alice.id).await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["k1", "k2s"]);
    assert!(listed[1].backup_eligible && !listed[0].backup_eligible);
    assert!(!store
        .touch_passkey("k1", "not what is stored", "{\"cred\":\"new\"}", T0)
        .await
        .expect("touch"));
    assert!(store
        .touch_passkey(
            "k1",
            "{\"cred\":\"k1\"}",
            "{\"cred\":\"new\"}",
            T0 + Duration::hours(1)
        )
        .await
        .expect("touch"));
    let k1 = store.passkey("k1").await.expect("read").expect("k1");
    assert_eq!(k1.passkey, "{\"cred\":\"new\"}");
    assert_eq!(k1.last_used_at, Some(T0 + Duration::hours(1)));
    store
        .replace_recovery_codes(&alice.id, &codes(3), T0)
        .await
        .expect("codes");
    assert_eq!(
        store.mfa_summary(&alice.id).await.expect("summary"),
        MfaSummary {
            totp: false,
            recovery_codes_left: 3,
            passkeys: 2
        }
    );
    // Someone else's id removes nothing.
    assert!(!store.delete_passkey(&bob.id, "k1").await.expect("delete"));
    assert!(store.delete_passkey(&alice.id, "k1").await.expect("delete"));
    assert_eq!(store.recovery_codes_left(&alice.id).await.expect("n"), 3);
    assert!(store
        .delete_passkey(&alice.id, "k2s")
        .await
        .expect("delete"));
    assert_eq!(
        store.mfa_summary(&alice.id).await.expect("summary"),
        MfaSummary::default(),
        "the last factor took the recovery codes along"
    );
    // Disabled users get no passkey; an operator's reset removes them all.
    assert!(store
        .insert_passkey(&passkey(&bob, "b1", T0), 10, &SessionId::generate())
        .await
        .expect("insert"));
    assert!(store.reset_mfa(&bob.id).await.expect("reset"));
    assert!(store.passkeys(&bob.id).await.expect("list").is_empty());
    assert!(store
        .set_disabled(&bob.id, true, T0)
        .await
        .expect("disable"));
    assert!(!store
        .insert_passkey(&passkey(&bob, "b2", T0), 10, &SessionId::generate())
        .await
        .expect("insert"));
}

async fn a_ceremony_is_finished_once(store: Arc<dyn Store>, _url: &str) {
    let hash = RefreshToken::presented("ceremony").hash();
    let end = T0 + Duration::minutes(5);
    assert!(store.use_ceremony(&hash, end).await.expect("use"));
    assert!(!store.use_ceremony(&hash, end).await.expect("again"));
    assert_eq!(store.purge_ceremonies(T0).await.expect("purge"), 0);
    assert_eq!(store.purge_ceremonies(end).await.expect("purge"), 1);
    assert!(store.use_ceremony(&hash, end).await.expect("forgotten"));
}

async fn totp_secrets_are_replaced_only_over_the_one_read(store: Arc<dyn Store>, _url: &str) {
    let (alice, bob) = (user("alice"), user("bob"));
    store.insert_user(&alice).await.expect("user");
    store.insert_user(&bob).await.expect("user");
    store
        .put_pending_totp(&alice.id, b"a-old", T0)
        .await
        .expect("put");
    store
        .put_pending_totp(&bob.id, b"b-old", T0)
        .await
        .expect("put");
    let all = store.totp_factors().await.expect("all");
    assert_eq!(all.len(), 2);
    assert!(!store
        .replace_totp_secret(&alice.id, b"not what is stored", b"a-new")
        .await
        .expect("replace"));
    assert!(store
        .replace_totp_secret(&alice.id, b"a-old", b"a-new")
        .await
        .expect("replace"));
    let read = store.totp(&alice.id).await.expect("read").expect("factor");
    assert_eq!(read.sealed_secret, b"a-new");
    let bobs = store.totp(&bob.id).await.expect("read").expect("factor");
    assert_eq!(bobs.sealed_secret, b"b-old");
}

async fn a_first_second_factor_ends_the_password_only_sessions_but_the_callers(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let open = |amr: &'static str| {
        let (store, alice) = (Arc::clone(&store), alice.clone());
        async move {
            let id = SessionId::generate();
            let token = RefreshToken::generate().expect("rng");
            store
                .create_session(
                    &NewSession {
                        id: id.clone(),
                        user_id: alice.id.clone(),
                        client_id: "baton".into(),
                        created_at: T0,
                        idle_expires_at: T0 + Duration::days(7),
                        absolute_expires_at: T0 + Duration::days(30),
                        user_agent: None,
                        ip: None,
                        live_limit: 0,
                        password_hash: alice.password_hash.clone(),
                        amr: amr.into(),
                        scope: None,
                        auth_time: None,
                        parent_id: None,
                        audience: None,
                        dpop_jkt: None,
                    },
                    &token.hash(),
                )
                .await
                .expect("create")
                .expect("created");
            id
        }
    };
    let caller = open("pwd").await;
    let other = open("pwd").await;
    let strong = open("pwd otp mfa").await;
    store
        .put_pending_totp(&alice.id, b"s", T0)
        .await
        .expect("put");
    assert!(store
        .confirm_totp(&alice.id, 1, &codes(10), &caller, T0)
        .await
        .expect("confirm"));
    let live: Vec<SessionId> = store
        .live_sessions(&alice.id, T0, None, 10)
        .await
        .expect("live")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(live.contains(&caller) && live.contains(&strong), "{live:?}");
    assert!(!live.contains(&other), "{live:?}");
    // A passkey added later ends the password-only sessions opened since, the same way.
    let since = open("pwd").await;
    assert!(store
        .insert_passkey(&passkey(&alice, "p1", T0), 10, &caller)
        .await
        .expect("insert"));
    let live = store
        .live_sessions(&alice.id, T0, None, 10)
        .await
        .expect("live");
    assert!(live.iter().all(|s| s.id != since));
    assert_eq!(live.len(), 2);
}

fn client(id: &str, settings: ClientSettings) -> ClientRecord {
    ClientRecord {
        id: id.to_owned(),
        confidential: true,
        secret_hash: Some(vec![1; 32]),
        created_at: T0,
        settings,
    }
}

/// Clients come back with the settings they were stored with; an update replaces settings and
/// secret; a client stored before settings existed reads as one with the grants of old.
async fn clients_keep_their_settings_and_secrets(store: Arc<dyn Store>, url: &str) {
    let settings = ClientSettings {
        display_name: Some("Billing".into()),
        first_party: true,
        grants: vec![Grant::AuthorizationCode, Grant::RefreshToken],
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec!["https://app.example/".into()],
        scopes: vec!["openid".into(), "billing:read".into()],
        access_ttl: Some(60),
        refresh_idle_ttl: Some(3600),
        require_par: true,
        require_dpop: true,
        backchannel_logout_uri: Some("https://app.example/bcl".into()),
        jwks: None,
        claims: [("groups".to_owned(), ClaimSource::Roles)].into(),
        resources: vec!["https://api.example/".into()],
    };
    let web = client("web", settings.clone());
    store.insert_client(&web).await.expect("insert");
    assert!(matches!(
        store.insert_client(&web).await,
        Err(StoreError::Conflict(_))
    ));
    let read = store.client("web").await.expect("read").expect("there");
    assert_eq!(read.settings, settings);
    assert_eq!(read.secret_hash, web.secret_hash);
    let changed = ClientRecord {
        secret_hash: Some(vec![2; 32]),
        settings: ClientSettings {
            scopes: vec!["openid".into()],
            refresh_idle_ttl: None,
            ..settings
        },
        ..web
    };
    assert!(store.update_client(&changed).await.expect("update"));
    let read = store.client("web").await.expect("read").expect("there");
    assert_eq!(read.settings, changed.settings);
    assert_eq!(read.secret_hash, Some(vec![2; 32]));
    assert!(!store
        .update_client(&client("nobody", ClientSettings::legacy()))
        .await
        .expect("update"));
    exec(
        url,
        &format!(
            "INSERT INTO oauth_clients (id, confidential, secret_hash, created_at) \
             VALUES ('old', FALSE, NULL, {})",
            millis(T0)
        ),
    )
    .await;
    let old = store.client("old").await.expect("read").expect("there");
    assert_eq!(old.settings, ClientSettings::legacy());
    let ids: Vec<String> = store
        .clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["old", "web"]);
}

/// Roles are written only over the value read, and sessions read the owner's roles as they
/// are now.
async fn roles_change_by_compare_and_set_and_reach_sessions(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (session, _) = session_for(store.as_ref(), &alice).await;
    assert!(store
        .set_roles(&alice.id, Some("admin"), None)
        .await
        .expect("set"));
    assert!(!store
        .set_roles(&alice.id, Some("other"), None)
        .await
        .expect("stale"));
    assert!(store
        .set_roles(&alice.id, Some("admin auditor"), Some("admin"))
        .await
        .expect("set"));
    let read = store.user(&alice.id).await.expect("read").expect("there");
    assert_eq!(read.roles, ["admin", "auditor"]);
    let s = store.session(&session).await.expect("read").expect("there");
    assert_eq!(s.roles, ["admin", "auditor"]);
    assert!(store
        .set_roles(&alice.id, None, Some("admin auditor"))
        .await
        .expect("clear"));
    let read = store.user(&alice.id).await.expect("read").expect("there");
    assert!(read.roles.is_empty());
    // Concurrent changes over one read: one wins.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, id) = (store.clone(), alice.id.clone());
            tokio::spawn(async move {
                store
                    .set_roles(&id, Some(&format!("r{i}")), None)
                    .await
                    .expect("set")
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.expect("task"));
    }
    assert_eq!(won, 1);
    store.delete_user(&alice.id, T0).await.expect("delete");
    assert!(!store
        .set_roles(&alice.id, Some("admin"), None)
        .await
        .expect("deleted"));
}

/// A session opened with a scope keeps it through rotations.
async fn sessions_keep_their_scope(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let token = RefreshToken::generate().expect("rng");
    let created = store
        .create_session(
            &NewSession {
                id: SessionId::generate(),
                user_id: alice.id.clone(),
                client_id: "web".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: alice.password_hash.clone(),
                amr: "pwd".into(),
                scope: Some("openid billing:read".into()),
                auth_time: None,
                parent_id: None,
                audience: Some("https://billing.example/".into()),
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("session")
        .expect("created");
    assert_eq!(created.scope.as_deref(), Some("openid billing:read"));
    assert_eq!(
        created.audience.as_deref(),
        Some("https://billing.example/")
    );
    let (req, _) = rotation(&token, T0 + Duration::minutes(1));
    let RotateOutcome::Rotated(rotated) = store.rotate(&req).await.expect("rotate") else {
        panic!("not rotated");
    };
    assert_eq!(rotated.scope.as_deref(), Some("openid billing:read"));
    assert_eq!(
        rotated.audience.as_deref(),
        Some("https://billing.example/")
    );
}

/// The idle timeout applied at start-up gives the sessions of a client with its own timeout
/// that one (also those opened before the client had it), and the others the server's.
async fn a_clients_own_idle_timeout_wins_over_the_servers(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    store
        .insert_client(&client(
            "kiosk",
            ClientSettings {
                refresh_idle_ttl: Some(3600),
                ..ClientSettings::legacy()
            },
        ))
        .await
        .expect("client");
    let token = RefreshToken::generate().expect("rng");
    let kiosk = store
        .create_session(
            &NewSession {
                id: SessionId::generate(),
                user_id: alice.id.clone(),
                client_id: "kiosk".into(),
                created_at: T0,
                // Opened with the server's timeout, before the client had its own.
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: alice.password_hash.clone(),
                amr: "pwd".into(),
                scope: None,
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("session")
        .expect("created");
    let (own, _) = session_for(store.as_ref(), &alice).await;
    let at = T0 + Duration::minutes(1);
    assert_eq!(
        store
            .set_idle_timeout(Duration::days(1), at)
            .await
            .expect("set"),
        2
    );
    assert_eq!(
        store
            .set_idle_timeout(Duration::days(1), at)
            .await
            .expect("again"),
        0,
        "nothing left to change"
    );
    let kiosk = store
        .session(&kiosk.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(kiosk.idle_expires_at, T0 + Duration::hours(1));
    let own = store.session(&own).await.expect("read").expect("there");
    assert_eq!(own.idle_expires_at, T0 + Duration::days(1));
}

fn auth_code(user: &UserRecord, browser: &SessionId) -> (RefreshToken, AuthorizationCode) {
    let code = RefreshToken::generate().expect("rng");
    let record = AuthorizationCode {
        hash: code.hash(),
        client_id: "web".into(),
        user_id: user.id.clone(),
        browser_session: browser.clone(),
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        scope: "openid profile".into(),
        nonce: Some("n".into()),
        resource: Some("https://api.example/".into()),
        dpop_jkt: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
        created_at: T0,
        expires_at: T0 + Duration::seconds(60),
    };
    (code, record)
}

/// A code's first use in time gets it; every later use is a reuse naming the session the first
/// named and marks the code reused; an unknown or expired code is unknown; the purge forgets
/// expired codes.
async fn authorization_codes_are_used_once_and_a_reuse_names_the_first_session(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (browser, _) = session_for(store.as_ref(), &alice).await;
    let (code, record) = auth_code(&alice, &browser);
    store
        .insert_authorization_code(&record)
        .await
        .expect("insert");
    assert!(!store
        .authorization_code_reused(&code.hash())
        .await
        .expect("read"));
    let first_session = SessionId::generate();
    let used = store
        .use_authorization_code(&code.hash(), &first_session, T0 + Duration::seconds(1))
        .await
        .expect("use");
    assert_eq!(used, CodeUse::First(Box::new(record.clone())));
    let again = store
        .use_authorization_code(
            &code.hash(),
            &SessionId::generate(),
            T0 + Duration::seconds(2),
        )
        .await
        .expect("use");
    assert_eq!(
        again,
        CodeUse::Reused {
            user_id: alice.id.clone(),
            session_id: Some(first_session)
        }
    );
    assert!(store
        .authorization_code_reused(&code.hash())
        .await
        .expect("read"));
    // Unknown, and expired before its first use.
    let (unknown, _) = auth_code(&alice, &browser);
    assert_eq!(
        store
            .use_authorization_code(&unknown.hash(), &SessionId::generate(), T0)
            .await
            .expect("use"),
        CodeUse::Unknown
    );
    let (late, record) = auth_code(&alice, &browser);
    store
        .insert_authorization_code(&record)
        .await
        .expect("insert");
    assert_eq!(
        store
            .use_authorization_code(
                &late.hash(),
                &SessionId::generate(),
                T0 + Duration::seconds(60)
            )
            .await
            .expect("use"),
        CodeUse::Unknown
    );
    assert_eq!(
        store
            .purge_authorization_codes(T0 + Duration::seconds(61))
            .await
            .expect("purge"),
        2
    );
    assert!(!store
        .authorization_code_reused(&code.hash())
        .await
        .expect("read"));
}

/// Racing uses of one code: exactly one is first.
async fn concurrent_uses_of_one_authorization_code_have_one_first(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (browser, _) = session_for(store.as_ref(), &alice).await;
    let (code, record) = auth_code(&alice, &browser);
    store
        .insert_authorization_code(&record)
        .await
        .expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), code.hash());
            tokio::spawn(async move {
                store
                    .use_authorization_code(
                        &hash,
                        &SessionId::generate(),
                        T0 + Duration::seconds(1),
                    )
                    .await
                    .expect("use")
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        match t.await.expect("task") {
            CodeUse::First(_) => firsts += 1,
            CodeUse::Reused { .. } => {}
            CodeUse::Unknown => panic!("a known code read as unknown"),
        }
    }
    assert_eq!(firsts, 1);
}

/// A browser session reads its session as it stands (revoked too; the service decides), an
/// unknown cookie nothing, and the purge of its session takes it along.
async fn browser_sessions_name_their_session_as_it_stands(store: Arc<dyn Store>, _url: &str) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    let (session, _) = session_for(store.as_ref(), &alice).await;
    let cookie = RefreshToken::generate().expect("rng");
    store
        .insert_browser_session(&cookie.hash(), &session, T0)
        .await
        .expect("insert");
    let read = store
        .browser_session(&cookie.hash())
        .await
        .expect("read")
        .expect("there");
    assert_eq!(read.id, session);
    assert_eq!(read.username, "alice");
    assert_eq!(read.auth_time, T0);
    let other = RefreshToken::generate().expect("rng");
    assert!(store
        .browser_session(&other.hash())
        .await
        .expect("read")
        .is_none());
    assert!(store
        .revoke_session(&alice.id, &session, T0)
        .await
        .expect("revoke"));
    let read = store
        .browser_session(&cookie.hash())
        .await
        .expect("read")
        .expect("still there");
    assert!(read.revoked_at.is_some());
    // The session's purge takes the browser session with it.
    while store
        .purge_sessions(T0 + Duration::days(400))
        .await
        .expect("purge")
        > 0
    {}
    assert!(store
        .browser_session(&cookie.hash())
        .await
        .expect("read")
        .is_none());
}

/// A consent is stored per user and client (replaced whole, its first time kept); disconnecting
/// forgets it and revokes the user's sessions with that client only.
async fn consents_are_remembered_and_disconnecting_revokes_that_clients_sessions(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    assert!(store
        .consent(&alice.id, "partner")
        .await
        .expect("read")
        .is_none());
    store
        .put_consent(&alice.id, "partner", "openid", T0)
        .await
        .expect("put");
    store
        .put_consent(
            &alice.id,
            "partner",
            "offline_access openid",
            T0 + Duration::hours(1),
        )
        .await
        .expect("put again");
    let c = store
        .consent(&alice.id, "partner")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(c.scope, "offline_access openid");
    assert_eq!(c.granted_at, T0);
    assert_eq!(c.updated_at, T0 + Duration::hours(1));
    store
        .put_consent(&alice.id, "another", "openid", T0)
        .await
        .expect("put");
    let all: Vec<String> = store
        .consents(&alice.id)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(all, ["another", "partner"]);
    // A session with the partner and one of baton's own.
    let token = RefreshToken::generate().expect("rng");
    let theirs = store
        .create_session(
            &NewSession {
                id: SessionId::generate(),
                user_id: alice.id.clone(),
                client_id: "partner".into(),
                created_at: T0,
                idle_expires_at: T0 + Duration::days(7),
                absolute_expires_at: T0 + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: 0,
                password_hash: alice.password_hash.clone(),
                amr: "pwd".into(),
                scope: Some("openid".into()),
                auth_time: None,
                parent_id: None,
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("session")
        .expect("created");
    let (own, _) = session_for(store.as_ref(), &alice).await;
    assert!(store
        .disconnect_app(&alice.id, "partner", T0 + Duration::hours(2))
        .await
        .expect("disconnect"));
    assert!(!store
        .disconnect_app(&alice.id, "partner", T0 + Duration::hours(2))
        .await
        .expect("again"));
    assert!(store
        .consent(&alice.id, "partner")
        .await
        .expect("read")
        .is_none());
    let theirs = store
        .session(&theirs.id)
        .await
        .expect("read")
        .expect("kept");
    assert!(theirs.revoked_at.is_some());
    let own = store.session(&own).await.expect("read").expect("kept");
    assert!(own.revoked_at.is_none());
}

/// A pushed request is used once, before it expires, by any number of racing uses; the purge
/// forgets expired ones.
async fn pushed_requests_are_used_once_before_they_expire(store: Arc<dyn Store>, _url: &str) {
    let handle = RefreshToken::generate().expect("rng");
    store
        .insert_pushed_request(&handle.hash(), "web", "{}", T0, T0 + Duration::seconds(60))
        .await
        .expect("insert");
    // Another client's use leaves it as it is.
    assert!(store
        .use_pushed_request(&handle.hash(), "other", T0 + Duration::seconds(1))
        .await
        .expect("use")
        .is_none());
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (store, hash) = (store.clone(), handle.hash());
            tokio::spawn(async move {
                store
                    .use_pushed_request(&hash, "web", T0 + Duration::seconds(1))
                    .await
                    .expect("use")
            })
        })
        .collect();
    let mut used = Vec::new();
    for t in tasks {
        used.extend(t.await.expect("task"));
    }
    assert_eq!(used, ["{}".to_owned()]);
    let late = RefreshToken::generate().expect("rng");
    store
        .insert_pushed_request(&late.hash(), "web", "{}", T0, T0 + Duration::seconds(60))
        .await
        .expect("insert");
    assert!(store
        .use_pushed_request(&late.hash(), "web", T0 + Duration::seconds(60))
        .await
        .expect("use")
        .is_none());
    assert_eq!(
        store
            .purge_pushed_requests(T0 + Duration::seconds(61))
            .await
            .expect("purge"),
        2
    );
}

/// A session application `client` opened from the browser session `parent` at `at`, capped at
/// `limit` per application (0: no cap).
async fn app_session(
    store: &dyn Store,
    user: &UserRecord,
    client: &str,
    parent: &SessionId,
    scope: &str,
    at: OffsetDateTime,
    limit: u32,
) -> SessionId {
    let id = SessionId::generate();
    let token = RefreshToken::generate().expect("rng");
    store
        .create_session(
            &NewSession {
                id: id.clone(),
                user_id: user.id.clone(),
                client_id: client.into(),
                created_at: at,
                idle_expires_at: at + Duration::days(7),
                absolute_expires_at: at + Duration::days(30),
                user_agent: None,
                ip: None,
                live_limit: limit,
                password_hash: user.password_hash.clone(),
                amr: "pwd".into(),
                scope: Some(scope.into()),
                auth_time: Some(at),
                parent_id: Some(parent.clone()),
                audience: None,
                dpop_jkt: None,
            },
            &token.hash(),
        )
        .await
        .expect("session")
        .expect("created");
    id
}

/// Clients `rp` and `rp2` take back-channel logout notices; `quiet` has no URI.
async fn logout_clients(store: &dyn Store) {
    for (id, uri) in [
        ("rp", Some("https://rp.example/bcl")),
        ("rp2", Some("https://rp2.example/bcl")),
        ("quiet", None),
    ] {
        let settings = ClientSettings {
            backchannel_logout_uri: uri.map(str::to_owned),
            ..ClientSettings::legacy()
        };
        store
            .insert_client(&client(id, settings))
            .await
            .expect("client");
    }
}

/// Every notice due at `at`, claimed under `claim`, as (client, sid) pairs in order.
async fn claim_all(store: &dyn Store, at: OffsetDateTime, claim: &str) -> Vec<ClaimedLogout> {
    let mut claimed = store
        .claim_logouts(at, at + Duration::seconds(60), claim, 100)
        .await
        .expect("claim");
    claimed.sort_by(|a, b| (&a.client_id, &a.sid).cmp(&(&b.client_id, &b.sid)));
    claimed
}

fn pairs(claimed: &[ClaimedLogout]) -> Vec<(String, String)> {
    claimed
        .iter()
        .map(|n| (n.client_id.clone(), n.sid.clone()))
        .collect()
}

/// Ending a browser session queues, in its transaction, one notice per application with a
/// back-channel URI and `sid` it was told (a session moved to a newer browser session keeps the
/// `sid` of the one it was opened from); sessions without `offline_access` end with it. A
/// notice is one sender's until its lease ends, given back for a later attempt, finished only
/// by its claim's holder, and purged a day after it was queued.
async fn ending_a_browser_session_queues_a_logout_notice_per_application_and_sid(
    store: Arc<dyn Store>,
    _url: &str,
) {
    let alice = user("alice");
    store.insert_user(&alice).await.expect("user");
    logout_clients(&*store).await;
    let s = &*store;
    let first = session_at(s, &alice, T0, 0).await;
    let rp = app_session(s, &alice, "rp", &first, "openid", T0, 0).await;
    let rp_again = app_session(s, &alice, "rp", &first, "openid", T0, 0).await;
    let quiet = app_session(s, &alice, "quiet", &first, "openid", T0, 0).await;
    let offline = app_session(s, &alice, "rp2", &first, "openid offline_access", T0, 0).await;
    // One of them ended on its own (its application revoked its token, say).
    assert!(store
        .revoke_session(&alice.id, &rp_again, T0)
        .await
        .expect("revoke"));
    assert!(claim_all(s, T0, "nothing").await.is_empty());
    // The same user signs in again: the applications' sessions, ended ones too, move to the new
    // browser session, and ending the old one tells nobody.
    let second = session_at(s, &alice, T0 + Duration::seconds(1), 0).await;
    assert_eq!(
        store
            .reparent_sessions(&first, &second)
            .await
            .expect("move"),
        4
    );
    assert!(store
        .revoke_session(&alice.id, &first, T0 + Duration::seconds(2))
        .await
        .expect("revoke"));
    assert!(claim_all(s, T0 + Duration::seconds(2), "nothing")
        .await
        .is_empty());
    let later = app_session(s, &alice, "rp", &second, "openid", T0, 0).await;
    let ended = T0 + Duration::seconds(3);
    assert!(store
        .revoke_session(&alice.id, &second, ended)
        .await
        .expect("revoke"));
    for (id, live) in [
        (&rp, false),
        (&rp_again, false),
        (&quiet, false),
        (&later, false),
        (&offline, true),
    ] {
        let read = store.session(id).await.expect("read").expect("kept");
        assert_eq!(read.revoked_at.is_none(), live, "{id}");
    }
    let claimed = claim_all(s, ended, "a").await;
    let mut expected = [
        ("rp".to_owned(), first.to_string()),
        ("rp".to_owned(), second.to_string()),
        ("rp2".to_owned(), first.to_string()),
    ];
    expected.sort();
    assert_eq!(pairs(&claimed), expected);
    assert!(claimed
        .iter()
        .all(|n| n.user_id == alice.id && n.attempts == 1 && n.claim == "a"));
    // Leased: nobody else gets them meanwhile.
    assert!(claim_all(s, ended, "b").await.is_empty());
    // One fails and is given back for later; only its claim's holder can.
    let failed = &claimed[0];
    let retry_at = ended + Duration::seconds(30);
    let stolen = ClaimedLogout {
        claim: "b".into(),
        ..failed.clone()
    };
    assert!(!store
        .logout_failed(&stolen, retry_at, "answered 500")
        .await
        .expect("fail"));
    assert!(store
        .logout_failed(failed, retry_at, "answered 500")
        .await
        .expect("fail"));
    assert!(claim_all(s, retry_at - Duration::seconds(1), "c")
        .await
        .is_empty());
    let again = claim_all(s, retry_at, "c").await;
    assert_eq!(pairs(&again), pairs(&claimed[..1]));
    assert_eq!(again[0].attempts, 2);
    // Its first claim no longer finishes it; the second does.
    assert!(!store.logout_sent(failed).await.expect("sent"));
    assert!(store.logout_sent(&again[0]).await.expect("sent"));
    // The others come back when their lease ends.
    let lapsed = claim_all(s, ended + Duration::seconds(60), "d").await;
    assert_eq!(pairs(&lapsed), pairs(&claimed[1..]));
    for n in &lapsed {
        assert!(store.logout_sent(n).await.expect("sent"));
    }
    assert!(claim_all(s, ended + Duration::hours(2), "e")
        .await
        .is_empty());
    // Undelivered for a day: purged.
    let third = session_at(s, &alice, ended, 0).await;
    app_session(s, &alice, "rp", &third, "openid", ended, 0).await;
    assert!(store
        .revoke_session(&alice.id, &third, ended)
        .await
        .expect("revoke"));
    let day = ended + Duration::days(1);
    assert_eq!(
        store
            .purge_logouts(day - Duration::seconds(1))
            .await
            .expect("purge"),
        0
    );
    assert!(claim_all(s, day, "late").await.is_empty(), "expired");
    assert_eq!(store.purge_logouts(day).await.expect("purge"), 1);
}

/// Every other way a user's browser sessions end queues notices too: signing out everywhere,
/// a password change, disabling, deletion, the cap on live sessions (which also ends the
/// applications' sessions of the browser session it revokes), and disconnecting the
/// application. An application's sessions count toward a cap of their own and never push out
/// a browser session.
async fn every_end_of_a_browser_session_queues_logout_notices(store: Arc<dyn Store>, _url: &str) {
    logout_clients(&*store).await;
    let s = &*store;
    let mut at = T0;
    for way in [
        "all",
        "password",
        "disable",
        "delete",
        "cap",
        "delete client",
        "disconnect",
        "app cap",
    ] {
        at += Duration::minutes(1);
        let alice = user(&format!("alice-{}", way.replace(' ', "-")));
        store.insert_user(&alice).await.expect("user");
        let browser = session_at(s, &alice, at, 2).await;
        let app = app_session(s, &alice, "rp", &browser, "openid", at, 2).await;
        // A second application session of the same client pushes out none: it has a cap of
        // two of its own, and the browser session is not among them.
        let half = at + Duration::milliseconds(500);
        app_session(s, &alice, "rp", &browser, "openid", half, 2).await;
        let ended = at + Duration::seconds(1);
        match way {
            "all" => {
                store
                    .revoke_all_sessions(&alice.id, ended)
                    .await
                    .expect("all");
            }
            "password" => {
                assert!(store
                    .set_password(&alice.id, "new", None, &EndSessions::All, ended)
                    .await
                    .expect("password"));
            }
            "disable" => {
                assert!(store
                    .set_disabled(&alice.id, true, ended)
                    .await
                    .expect("disable"));
            }
            "delete" => {
                assert!(store.delete_user(&alice.id, ended).await.expect("delete"));
            }
            "cap" => {
                // Two more of the user's own sessions: the browser session is the oldest.
                session_at(s, &alice, at + Duration::milliseconds(500), 2).await;
                session_at(s, &alice, ended, 2).await;
            }
            "delete client" => {
                // Its waiting notices go with it: a client added again under the id gets none.
                store
                    .revoke_all_sessions(&alice.id, ended)
                    .await
                    .expect("all");
                store.delete_client("rp").await.expect("delete");
                assert!(claim_all(s, ended, way).await.is_empty(), "{way}");
                store
                    .insert_client(&client(
                        "rp",
                        ClientSettings {
                            backchannel_logout_uri: Some("https://rp.example/bcl".into()),
                            ..ClientSettings::legacy()
                        },
                    ))
                    .await
                    .expect("client again");
                continue;
            }
            "disconnect" => {
                store
                    .put_consent(&alice.id, "rp", "openid", at)
                    .await
                    .expect("consent");
                assert!(store
                    .disconnect_app(&alice.id, "rp", ended)
                    .await
                    .expect("disconnect"));
            }
            _ => {
                // A third application session: the first goes, the browser session stays.
                app_session(s, &alice, "rp", &browser, "openid", ended, 2).await;
                let gone = store.session(&app).await.expect("read").expect("kept");
                assert!(gone.revoked_at.is_some());
                let kept = store.session(&browser).await.expect("read").expect("kept");
                assert!(kept.revoked_at.is_none());
                assert!(claim_all(s, ended, way).await.is_empty(), "{way}");
                continue;
            }
        }
        let app = store.session(&app).await.expect("read").expect("kept");
        assert!(app.revoked_at.is_some(), "{way}");
        let claimed = claim_all(s, ended, way).await;
        assert_eq!(
            pairs(&claimed),
            [("rp".to_owned(), browser.to_string())],
            "{way}"
        );
        assert_eq!(claimed[0].user_id, alice.id, "{way}");
        store.logout_sent(&claimed[0]).await.expect("sent");
    }
}
