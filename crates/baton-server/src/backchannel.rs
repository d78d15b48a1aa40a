//! OpenID Connect Back-Channel Logout 1.0: the worker that tells applications a sign-in ended.
//!
//! Requests never talk to applications. Ending a browser session (a logout, a revocation, a
//! password change, a disabling, a deletion, the cap on live sessions) queues a notice for each
//! application with a back-channel URI that signed in through it, in the same transaction; a
//! user disconnecting an application queues one for it. This worker claims due notices for a
//! lease, signs a logout token for each at every attempt (nothing secret waits in the
//! database), and posts it as `logout_token` to the URI the client's settings name at that
//! moment. A `2xx` answer delivers it; anything else, or no answer within 10 seconds, is
//! tried again after a backoff that doubles from 30 seconds up to an hour, until
//! the notice is a day old ([`baton_core::oidc::LOGOUT_NOTICE_TTL`]). On PostgreSQL each notice
//! goes to one instance (claimed with `FOR UPDATE SKIP LOCKED`); a crash loses none (a claimed
//! notice comes back when its lease runs out), so a notice may arrive twice, which a receiver
//! treats as the same logout.

use crate::state::AppState;
use baton_core::store::ClaimedLogout;
use std::time::Duration;

/// Notices claimed, and sent at once, per round.
const BATCH: u32 = 8;
/// How long a claimed notice is the claimer's: past it, another sender may claim it again. A
/// round (its notices are sent at once, each within [`SEND_TIMEOUT`]) ends well within it.
const LEASE: time::Duration = time::Duration::minutes(1);
/// How often the queue is looked at.
const POLL: Duration = Duration::from_secs(2);
/// Longest one delivery may take, connecting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// First retry delay; doubled at each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: time::Duration = time::Duration::seconds(30);
/// Longest retry delay.
const MAX_BACKOFF: time::Duration = time::Duration::hours(1);
/// Longest error text kept with a notice.
const MAX_ERROR_LEN: usize = 200;

// A round (its notices sent at once, each within the send timeout) ends well within its lease.
const _: () = assert!(SEND_TIMEOUT.as_secs() * 3 <= LEASE.whole_seconds().unsigned_abs());

/// The delay before attempt `attempts + 1`: 30 s, doubled at each failure, at most an hour.
fn backoff(attempts: u32) -> time::Duration {
    let doublings = attempts.saturating_sub(1).min(10);
    (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF)
}

/// The HTTP client deliveries use: no redirects followed (a receiver answers where it is
/// registered), bounded in time, rustls on the workspace's one crypto provider.
fn http_client() -> reqwest_client::Result<reqwest_client::Client> {
    reqwest_client::Client::builder()
        .redirect(reqwest_client::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(SEND_TIMEOUT)
        .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Delivers back-channel logout notices until the task is aborted.
pub async fn run(state: AppState) {
    let http = match http_client() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for back-channel logout; notices wait");
            return;
        }
    };
    loop {
        let claimed = match state.baton.claim_logouts(BATCH, LEASE).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the back-channel logout queue");
                Vec::new()
            }
        };
        let full = claimed.len() == BATCH as usize;
        let mut sending = tokio::task::JoinSet::new();
        for notice in claimed {
            sending.spawn(deliver(state.clone(), http.clone(), notice));
        }
        while sending.join_next().await.is_some() {}
        if !full {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Why a delivery failed, for the log and the notice's `last_error` (never the token).
async fn post(http: &reqwest_client::Client, uri: &str, token: &str) -> Result<(), String> {
    let answer = http
        .post(uri)
        .header(reqwest_client::header::CACHE_CONTROL, "no-store")
        .form(&[("logout_token", token)])
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s", SEND_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "could not connect".to_owned()
            } else {
                "the request failed".to_owned()
            }
        })?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", status.as_u16()))
    }
}

async fn deliver(state: AppState, http: reqwest_client::Client, notice: ClaimedLogout) {
    let client = notice.client_id.as_str();
    let uri = match state.baton.logout_uri(&notice).await {
        Ok(Some(uri)) => uri,
        Ok(None) => {
            // The client was deleted, or no longer takes notices.
            tracing::info!(client_id = %client, "a logout notice has nowhere to go; dropped");
            state.metrics.logout_notice("dropped");
            let _ = state.baton.logout_sent(&notice).await;
            return;
        }
        Err(e) => {
            tracing::warn!(client_id = %client, error = %e, "could not read a client");
            retry(&state, &notice, "could not read the client").await;
            return;
        }
    };
    let sent = match state.baton.logout_token(&notice) {
        Ok(token) => post(&http, &uri, &token).await,
        Err(e) => {
            tracing::error!(client_id = %client, error = %e, "could not sign a logout token");
            Err("could not sign a logout token".to_owned())
        }
    };
    match sent {
        Ok(()) => {
            tracing::info!(client_id = %client, attempts = notice.attempts,
                "back-channel logout delivered");
            state.metrics.logout_notice("delivered");
            if let Err(e) = state.baton.logout_sent(&notice).await {
                // Delivered; the lease's end sends it again, once.
                tracing::warn!(client_id = %client, error = %e,
                    "a delivered logout notice stays queued");
            }
        }
        Err(why) => {
            tracing::warn!(client_id = %client, attempts = notice.attempts, error = %why,
                "back-channel logout not delivered; will retry");
            retry(&state, &notice, &why).await;
        }
    }
}

async fn retry(state: &AppState, notice: &ClaimedLogout, why: &str) {
    state.metrics.logout_notice("retry");
    let why: String = why.chars().take(MAX_ERROR_LEN).collect();
    let retry_at = state.baton.now() + backoff(notice.attempts);
    if let Err(e) = state.baton.logout_failed(notice, retry_at, &why).await {
        tracing::warn!(client_id = %notice.client_id, error = %e,
            "could not record a failed logout notice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        assert_eq!(backoff(1), time::Duration::seconds(30));
        assert_eq!(backoff(2), time::Duration::minutes(1));
        assert_eq!(backoff(3), time::Duration::minutes(2));
        assert_eq!(backoff(8), time::Duration::hours(1));
        assert_eq!(backoff(u32::MAX), time::Duration::hours(1));
    }
}
