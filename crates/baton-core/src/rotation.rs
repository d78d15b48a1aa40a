//! The refresh-token rotation rules of RFC 9700 §4.14.2 as a pure decision. Each storage backend
//! loads the presented token and its session, asks [`decide`], and applies the answer atomically:
//! SQLite within its single writer's transaction, PostgreSQL with a write that succeeds only if
//! what it read still holds (reading again otherwise).

use crate::error::RefreshError;
use time::{Duration, OffsetDateTime};

/// How many times one spent token may be replayed within the grace window.
pub const MAX_REPLAYS: u32 = 20;

/// What storage knows about the presented token.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenState {
    /// When it was spent (rotated away), if it was.
    pub spent_at: Option<OffsetDateTime>,
    /// Whether its successor has been spent in turn (the newest token is elsewhere).
    pub successor_spent: bool,
    /// How many times it has been replayed within the grace window so far.
    pub replays: u32,
}

impl TokenState {
    /// A token that has never been spent.
    pub fn unspent() -> Self {
        Self::default()
    }
}

/// What storage knows about the token's session.
#[derive(Debug, Clone, Copy)]
pub struct SessionState {
    /// Revoked by logout, reuse detection or user deletion.
    pub revoked: bool,
    /// End of the idle timeout, moved forward by every refresh.
    pub idle_expires_at: OffsetDateTime,
    /// End of the absolute lifetime, fixed at login.
    pub absolute_expires_at: OffsetDateTime,
}

impl SessionState {
    /// The moment the session stops refreshing if unused.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.idle_expires_at.min(self.absolute_expires_at)
    }
}

/// Who presents the token, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presenter {
    /// The token was issued to the client presenting it (or no client was named).
    pub client_matches: bool,
    /// The session is bound to no DPoP key, or the request proved it holds that key.
    pub key_matches: bool,
    /// The token was issued while its session was bound to no key (before a refresh with a
    /// proof bound it): a bearer token, whose reuse is reuse whoever presents it.
    pub before_key: bool,
}

impl Presenter {
    /// Whether the session's client and DPoP key (`client`, `bound`) are the request's
    /// (`wanted_client`, `proved_key`).
    pub fn of(
        client: &str,
        bound: Option<&str>,
        wanted_client: Option<&str>,
        proved_key: Option<&str>,
    ) -> Self {
        Self {
            client_matches: wanted_client.is_none_or(|c| c == client),
            key_matches: bound.is_none_or(|b| proved_key == Some(b)),
            before_key: false,
        }
    }

    /// The same, for a token issued while its session was bound to a key (`bound`) or not.
    /// Stored with each token, not reckoned from clocks, which instances may disagree on.
    #[must_use]
    pub fn issued_bound(self, bound: bool) -> Self {
        Self {
            before_key: !bound,
            ..self
        }
    }

    /// Its own client, proving the key the session is bound to if any.
    pub const OWNER: Self = Self {
        client_matches: true,
        key_matches: true,
        before_key: false,
    };
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Spend it and mint a successor.
    Rotate,
    /// Spent within the grace window, its successor still unspent: hand back that successor
    /// again (and count the replay).
    Replay,
    /// Spent before the grace window: revoke the whole session, answer "reuse detected".
    RevokeForReuse,
    /// Refuse without changing anything.
    Reject(RefreshError),
}

/// Applies the rotation rules. `grace` of zero turns the grace window off. A token presented by
/// another client than the one it was issued to (`client_matches == false`) is refused as
/// invalid without touching anything (RFC 6749 §6).
///
/// Within the grace window a spent token gets its successor back only while that successor is
/// itself unspent, and at most [`MAX_REPLAYS`] times; otherwise it is refused as invalid and the
/// session lives on, because the newest token is in other hands than a thief's old one.
pub fn decide(
    token: TokenState,
    session: SessionState,
    presenter: Presenter,
    now: OffsetDateTime,
    grace: Duration,
) -> Decision {
    if !presenter.client_matches {
        return Decision::Reject(RefreshError::Invalid);
    }
    // Before any rule that changes something: a thief without the key spends nothing and
    // revokes nothing. But a token of the session from before it was bound (by a refresh with
    // a proof) was a bearer token: spent and presented again without the key it is reuse, also
    // within the grace window, or a thief who bound the session to their own key with a stolen
    // one would have it to themselves (baton's client never races itself with and without a
    // key: one key per browser, made under a lock).
    let bearer_reuse = presenter.before_key && token.spent_at.is_some();
    if !(presenter.key_matches || bearer_reuse) {
        return Decision::Reject(RefreshError::DpopKey);
    }
    if session.revoked {
        return Decision::Reject(RefreshError::Revoked);
    }
    if now >= session.expires_at() {
        return Decision::Reject(RefreshError::Expired);
    }
    match token.spent_at {
        None => Decision::Rotate,
        // A bearer token from before the binding, back without the key.
        Some(_) if !presenter.key_matches => Decision::RevokeForReuse,
        // The window reaches as far after the spending as before it: a request that read its
        // clock before another one spent the token (two tabs, two instances) but reached the
        // store after it finds the token spent "after" its now, and is no thief. A token spent
        // further ahead was spent while the wall clock ran ahead and has since been set back
        // past what the server waits for: not inside any window that can be reckoned.
        Some(spent) if grace > Duration::ZERO && (now - spent).abs() <= grace => {
            if token.successor_spent || token.replays >= MAX_REPLAYS {
                Decision::Reject(RefreshError::Invalid)
            } else {
                Decision::Replay
            }
        }
        Some(_) => Decision::RevokeForReuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

    fn live() -> SessionState {
        SessionState {
            revoked: false,
            idle_expires_at: NOW + Duration::days(7),
            absolute_expires_at: NOW + Duration::days(30),
        }
    }

    fn spent(ago: i64) -> TokenState {
        TokenState {
            spent_at: Some(NOW - Duration::seconds(ago)),
            ..TokenState::default()
        }
    }

    #[test]
    fn an_unspent_token_of_a_live_session_rotates() {
        let d = decide(
            TokenState::unspent(),
            live(),
            Presenter::OWNER,
            NOW,
            Duration::seconds(10),
        );
        assert_eq!(d, Decision::Rotate);
    }

    #[test]
    fn a_spent_token_within_the_grace_window_replays() {
        assert_eq!(
            decide(
                spent(10),
                live(),
                Presenter::OWNER,
                NOW,
                Duration::seconds(10)
            ),
            Decision::Replay
        );
    }

    #[test]
    fn a_replay_whose_successor_is_spent_too_gets_nothing_and_leaves_the_session_alone() {
        let token = TokenState {
            successor_spent: true,
            ..spent(1)
        };
        assert_eq!(
            decide(token, live(), Presenter::OWNER, NOW, Duration::seconds(10)),
            Decision::Reject(RefreshError::Invalid)
        );
    }

    #[test]
    fn replays_of_one_token_are_capped() {
        let token = |replays| TokenState {
            replays,
            ..spent(1)
        };
        let grace = Duration::seconds(10);
        assert_eq!(
            decide(token(MAX_REPLAYS - 1), live(), Presenter::OWNER, NOW, grace),
            Decision::Replay
        );
        assert_eq!(
            decide(token(MAX_REPLAYS), live(), Presenter::OWNER, NOW, grace),
            Decision::Reject(RefreshError::Invalid)
        );
    }

    #[test]
    fn a_spent_token_after_the_grace_window_revokes_the_session() {
        assert_eq!(
            decide(
                spent(11),
                live(),
                Presenter::OWNER,
                NOW,
                Duration::seconds(10)
            ),
            Decision::RevokeForReuse
        );
    }

    #[test]
    fn a_bound_token_without_its_key_changes_nothing_whatever_its_state() {
        let thief = Presenter::of("baton", Some("key-a"), Some("baton"), None);
        let other = Presenter::of("baton", Some("key-a"), Some("baton"), Some("key-b"));
        for presenter in [thief, other] {
            for token in [TokenState::unspent(), spent(1), spent(3600)] {
                assert_eq!(
                    decide(token, live(), presenter, NOW, Duration::seconds(10)),
                    Decision::Reject(RefreshError::DpopKey)
                );
            }
        }
        let owner = Presenter::of("baton", Some("key-a"), None, Some("key-a"));
        assert_eq!(owner, Presenter::OWNER);
        let unbound = Presenter::of("baton", None, Some("baton"), Some("key-b"));
        assert_eq!(
            unbound,
            Presenter::OWNER,
            "an unbound session takes any key"
        );
    }

    #[test]
    fn a_bearer_token_from_before_the_session_was_bound_is_reuse_without_the_key() {
        let grace = Duration::seconds(10);
        for proved in [None, Some("key-b")] {
            let presenter =
                Presenter::of("baton", Some("key-a"), Some("baton"), proved).issued_bound(false);
            assert!(presenter.before_key);
            for token in [spent(3600), spent(5)] {
                assert_eq!(
                    decide(token, live(), presenter, NOW, grace),
                    Decision::RevokeForReuse
                );
            }
            // Unspent it cannot be (binding spends it), but were it: nothing changes.
            assert_eq!(
                decide(TokenState::unspent(), live(), presenter, NOW, grace),
                Decision::Reject(RefreshError::DpopKey)
            );
        }
        // Tokens issued bound: nothing without the key, whatever their state.
        let bound = Presenter::of("baton", Some("key-a"), Some("baton"), None).issued_bound(true);
        for token in [spent(3600), spent(5), TokenState::unspent()] {
            assert_eq!(
                decide(token, live(), bound, NOW, grace),
                Decision::Reject(RefreshError::DpopKey)
            );
        }
        // With the key, a bearer token from before the binding follows the usual rules.
        let owner =
            Presenter::of("baton", Some("key-a"), Some("baton"), Some("key-a")).issued_bound(false);
        assert_eq!(
            decide(spent(5), live(), owner, NOW, grace),
            Decision::Replay
        );
    }

    #[test]
    fn a_token_spent_just_after_now_is_a_concurrent_request_inside_the_window() {
        let just_after = TokenState {
            spent_at: Some(NOW + Duration::milliseconds(30)),
            ..TokenState::default()
        };
        assert_eq!(
            decide(
                just_after,
                live(),
                Presenter::OWNER,
                NOW,
                Duration::seconds(10)
            ),
            Decision::Replay
        );
    }

    #[test]
    fn a_token_spent_in_the_future_is_outside_the_grace_window() {
        assert_eq!(
            decide(
                spent(-3600),
                live(),
                Presenter::OWNER,
                NOW,
                Duration::seconds(10)
            ),
            Decision::RevokeForReuse
        );
    }

    #[test]
    fn a_zero_grace_window_treats_every_replay_as_reuse() {
        assert_eq!(
            decide(spent(0), live(), Presenter::OWNER, NOW, Duration::ZERO),
            Decision::RevokeForReuse
        );
    }

    #[test]
    fn revoked_beats_expired_and_expired_beats_reuse() {
        let mut s = live();
        s.idle_expires_at = NOW - Duration::seconds(1);
        assert_eq!(
            decide(spent(100), s, Presenter::OWNER, NOW, Duration::seconds(10)),
            Decision::Reject(RefreshError::Expired)
        );
        s.revoked = true;
        assert_eq!(
            decide(spent(100), s, Presenter::OWNER, NOW, Duration::seconds(10)),
            Decision::Reject(RefreshError::Revoked)
        );
    }

    #[test]
    fn a_token_presented_by_another_client_is_invalid_and_left_alone() {
        let d = decide(
            TokenState::unspent(),
            live(),
            Presenter {
                client_matches: false,
                key_matches: true,
                before_key: false,
            },
            NOW,
            Duration::seconds(10),
        );
        assert_eq!(d, Decision::Reject(RefreshError::Invalid));
    }

    #[test]
    fn the_absolute_lifetime_ends_a_session_even_when_active() {
        let mut s = live();
        s.absolute_expires_at = NOW;
        assert_eq!(
            decide(
                TokenState::unspent(),
                s,
                Presenter::OWNER,
                NOW,
                Duration::seconds(10)
            ),
            Decision::Reject(RefreshError::Expired)
        );
    }
}
