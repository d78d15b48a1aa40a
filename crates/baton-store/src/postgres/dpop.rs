//! Used DPoP proofs, recorded in batches: every request with a proof records it before it is
//! taken, so one `INSERT` per request would make DPoP cost a statement per call. The proofs that
//! arrive while a statement runs wait for the next one, which takes them all at once (up to
//! [`BATCH`]): under load a statement carries many proofs, and alone a proof waits for nothing.

use crate::error::map;
use crate::queries::postgres as q;
use baton_core::dpop::Recorded;
use baton_core::store::StoreError;
use sqlx::postgres::PgPool;
use std::collections::HashSet;
use tokio::sync::{mpsc, oneshot};

/// Most proofs recorded by one statement.
const BATCH: usize = 512;
/// Most proofs waiting for a statement; more wait to be queued (the server's concurrency limit
/// bounds them too).
const QUEUED: usize = 4096;
/// Longest a request waits to queue its proof and for its record: more than a batch's worst
/// (two attempts of a connection wait and a statement timeout, at their defaults).
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

struct Use {
    id: [u8; 32],
    expires_at: i64,
    now: i64,
    answer: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// The queue to the task that records proofs; the task ends with the last clone.
#[derive(Debug, Clone)]
pub(super) struct ProofBatcher {
    queue: mpsc::Sender<Use>,
}

impl ProofBatcher {
    /// Starts the recording task on `pool` (in the current tokio runtime).
    pub(super) fn start(pool: PgPool) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUED);
        tokio::spawn(record_batches(pool, waiting));
        Self { queue }
    }

    /// Records the proof `id`, remembered until `expires_at` (Unix milliseconds), used at
    /// `now`: [`Recorded::Fresh`] for its first use within its window.
    pub(super) async fn record(
        &self,
        id: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<Recorded, StoreError> {
        let (answer, recorded) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the DPoP proof recorder stopped".into());
        let used = Use {
            id,
            expires_at,
            now,
            answer,
        };
        // A full queue or a statement that hangs fails the request rather than holding it.
        let waited = tokio::time::timeout(WAIT, async {
            self.queue.send(used).await.map_err(|_| stopped())?;
            recorded.await.map_err(|_| stopped())?
        });
        waited
            .await
            .map_err(|_| StoreError::Unavailable("recording the DPoP proof timed out".into()))?
    }
}

async fn record_batches(pool: PgPool, mut waiting: mpsc::Receiver<Use>) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        record_batch(&pool, std::mem::take(&mut batch)).await;
    }
}

/// One statement for `batch`; each waiter gets its proof's answer. A proof named twice in one
/// batch is taken once: the later uses are replays.
async fn record_batch(pool: &PgPool, batch: Vec<Use>) {
    let mut distinct = HashSet::with_capacity(batch.len());
    let (mut first, mut again) = (Vec::with_capacity(batch.len()), Vec::new());
    for used in batch {
        if distinct.insert(used.id) {
            first.push(used);
        } else {
            again.push(used);
        }
    }
    // In one order everywhere: two instances' batches naming the same proofs (a replay sent
    // to both) then lock their rows in the same order and cannot deadlock.
    first.sort_unstable_by_key(|u| u.id);
    let ids: Vec<Vec<u8>> = first.iter().map(|u| u.id.to_vec()).collect();
    let ends: Vec<i64> = first.iter().map(|u| u.expires_at).collect();
    // A row past its end is taken over only when it ended before every use in the batch.
    let now = first.iter().map(|u| u.now).min().unwrap_or(0);
    let insert = || {
        sqlx::query_scalar::<_, Vec<u8>>(q::USE_DPOP_PROOFS)
            .bind(&ids)
            .bind(&ends)
            .bind(now)
            .fetch_all(pool)
    };
    let taken = match insert().await {
        // Chosen as a deadlock's victim (the order above should leave none): once more.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40P01") => insert().await,
        other => other,
    }
    .map_err(map);
    match taken {
        Ok(taken) => {
            let taken: HashSet<&[u8]> = taken.iter().map(Vec::as_slice).collect();
            for used in first {
                let recorded = if taken.contains(&used.id[..]) {
                    Recorded::Fresh
                } else {
                    Recorded::Replayed
                };
                let _ = used.answer.send(Ok(recorded));
            }
            for used in again {
                let _ = used.answer.send(Ok(Recorded::Replayed));
            }
        }
        Err(e) => {
            for used in first.into_iter().chain(again) {
                let _ = used.answer.send(Err(e.clone()));
            }
        }
    }
}
