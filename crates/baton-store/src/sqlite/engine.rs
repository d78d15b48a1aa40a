//! The SQLite engine: one writer thread that owns the only writing connection and applies write
//! jobs in batches (group commit), and a few reader threads with read-only connections.
//!
//! Why threads of our own: SQLite is a library, so every statement is a blocking call. Handing
//! each statement to a worker thread and back (as an async driver must) costs two thread wake-ups
//! per statement, and with one writer those hops are serialised: that, not SQLite, bounded the
//! refresh rate. Here a whole job (a rotation is a `SELECT` and three writes) runs on the writer
//! thread without leaving it, and every job waiting when a batch starts shares its transaction:
//! one `BEGIN IMMEDIATE … COMMIT` for many rotations. Each job runs inside its own savepoint, so a
//! job that fails leaves no half-written trace while its neighbours commit. A job is answered only
//! after its batch has committed, so an answered refresh is as durable as before (WAL with
//! `synchronous=NORMAL`: it survives a crash of the process).
//!
//! Copying the WAL back into the database file (a checkpoint, the step that waits for the disk
//! with `synchronous=NORMAL`) is done once a second by a thread of its own, so the writer does not
//! wait for an `fsync`. The WAL starts over from its beginning when a checkpoint has caught up
//! while the writer is between batches, which under steady writes never happens by itself: the
//! writer appends while the checkpoint copies. So once the checkpoint thread has copied a WAL of
//! more than [`RESTART_AFTER`] pages, it asks the writer to copy the few pages written since,
//! between two batches (a pause of a few milliseconds, at most once a second); the next batch then
//! starts the WAL over. A WAL kept short keeps page lookups short: SQLite searches the WAL's index
//! before the database file for every page it reads. As a last resort the writer checkpoints
//! everything itself once the WAL reaches 65,536 pages (256 MiB). The WAL file keeps its size
//! after a restart up to 512 MiB (its bound under any load): overwriting blocks already allocated
//! is cheaper than cutting the file and growing it again, which cost the writer about a tenth of
//! its throughput under full load. Measured with refreshes at concurrency 64 on this project's
//! machine: with SQLite's default (the writer checkpointing every 1,000 pages) 57 ms p99; with a
//! checkpoint thread every 100 ms, 7,400 refreshes/s and 22 ms; once a second, 8,800 and 16 ms
//! (fewer copies of the pages every rotation touches, less writeback).
//!
//! Both queues are bounded; a full queue answers [`StoreError::Unavailable`] at once (a `503`
//! with `Retry-After`) instead of growing. A job whose caller has gone away (the client hung up)
//! is skipped without running.

use crate::error::map_sqlite;
use crate::queries::sqlite as qs;
use baton_core::store::StoreError;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most write jobs in one transaction.
const MAX_BATCH: usize = 128;
/// Most write jobs waiting for the writer.
const WRITE_QUEUE: usize = 4096;
/// Most read jobs waiting for a reader.
const READ_QUEUE: usize = 4096;
/// WAL pages past which an unfinished checkpoint waits for readers (512 MiB of 4 KiB pages).
const WAL_LIMIT: i64 = 131_072;
/// How often the checkpoint thread copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(1000);
/// WAL pages past which the writer finishes a checkpoint so that the WAL starts over (16 MiB).
const RESTART_AFTER: i64 = 4096;
/// Longest a write job of a purge goes on before the jobs queued behind it get their turn.
const SLICE_BUDGET: std::time::Duration = std::time::Duration::from_millis(1);
/// Pause between two write jobs of a purge, so that a purge takes about a fifth of the writer's
/// time at most and most batches of refreshes carry none of it. Measured on a million sessions
/// (`scripts/million`): with 2 ms jobs and 3 ms pauses, refresh p99 during the purge was 2.4×
/// that without.
const SLICE_PAUSE: std::time::Duration = std::time::Duration::from_millis(4);

/// A unit of work for the writer thread.
trait WriteJob: Send {
    /// Whether the caller still waits for the answer.
    fn wanted(&self) -> bool;
    /// Whether it runs on its own, outside any transaction, after the jobs queued before it.
    fn alone(&self) -> bool;
    /// Runs inside the batch's transaction; `false` means its writes must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// The error the job failed with, if it did.
    fn error(&self) -> Option<StoreError>;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Job<T, F> {
    alone: bool,
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn wanted(&self) -> bool {
        !self.reply.is_closed()
    }

    fn alone(&self) -> bool {
        self.alone
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Other("a database job panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn error(&self) -> Option<StoreError> {
        match &self.result {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Unavailable("the write was not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Handles to the writer and reader threads; they stop when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    writes: Sender<Box<dyn WriteJob>>,
    reads: Sender<ReadJob>,
    /// Never sent on: its disconnection tells the checkpoint thread to stop.
    _checkpoints: Sender<()>,
}

impl std::fmt::Debug for dyn WriteJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteJob")
    }
}

fn queue_error<T>(e: TrySendError<T>) -> StoreError {
    match e {
        TrySendError::Full(_) => StoreError::Unavailable("the database queue is full".into()),
        TrySendError::Disconnected(_) => {
            StoreError::Unavailable("the database worker has stopped".into())
        }
    }
}

fn gone(_: oneshot::error::RecvError) -> StoreError {
    StoreError::Unavailable("the database worker has stopped".into())
}

impl Engine {
    /// Starts the writer on `writer`, one reader thread per connection in `readers`, and the
    /// checkpoint thread on `checkpointer` (none for a read-only store).
    pub(crate) fn start(
        writer: Connection,
        readers: Vec<Connection>,
        checkpointer: Option<Connection>,
    ) -> Result<Self, StoreError> {
        let (writes, write_jobs) = bounded::<Box<dyn WriteJob>>(WRITE_QUEUE);
        let (reads, read_jobs) = bounded::<ReadJob>(READ_QUEUE);
        let restart = Arc::new(AtomicBool::new(false));
        let wanted = Arc::clone(&restart);
        spawn("baton-sqlite-writer", move || {
            write_loop(&writer, &write_jobs, &wanted)
        })?;
        for (i, conn) in readers.into_iter().enumerate() {
            let jobs = read_jobs.clone();
            spawn(&format!("baton-sqlite-reader-{i}"), move || {
                while let Ok(job) = jobs.recv() {
                    job(&conn);
                }
            })?;
        }
        let (checkpoints, stop) = bounded::<()>(1);
        if let Some(checkpointer) = checkpointer {
            spawn("baton-sqlite-checkpoint", move || {
                while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
                    if checkpoint(&checkpointer) {
                        restart.store(true, Ordering::Relaxed);
                    }
                }
            })?;
        }
        Ok(Self {
            writes,
            reads,
            _checkpoints: checkpoints,
        })
    }

    /// Runs `work` on the writer thread inside a write transaction shared with the other jobs of
    /// its batch; answers after the commit.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.send_write(false, work).await
    }

    /// Runs `work` on the writer thread outside any transaction, after the jobs queued before
    /// it (for what SQLite refuses inside one, such as a checkpoint that truncates the WAL).
    pub(crate) async fn write_alone<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.send_write(true, work).await
    }

    async fn send_write<T, F>(&self, alone: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            alone,
            work: Some(work),
            result: None,
            reply,
        });
        self.writes.try_send(job).map_err(queue_error)?;
        answer.await.map_err(gone)?
    }

    /// Runs `round` over and over on the writer thread until a round answers that nothing is
    /// left (`false`), in write jobs of about [`SLICE_BUDGET`] each with a pause of
    /// [`SLICE_PAUSE`] between them; answers the sum of what the rounds counted. For the purges:
    /// when each round deletes a few rows, a refresh waits behind a purge for about one budget
    /// at most, however much there is to delete.
    pub(crate) async fn write_in_slices<F>(&self, round: F) -> Result<u64, StoreError>
    where
        F: Fn(&Connection) -> Result<(u64, bool), StoreError> + Clone + Send + 'static,
    {
        let mut total = 0u64;
        loop {
            let round = round.clone();
            let (counted, more) = self
                .write(move |conn| {
                    let started = std::time::Instant::now();
                    let mut counted = 0u64;
                    loop {
                        let (n, more) = round(conn)?;
                        counted = counted.saturating_add(n);
                        if !more || started.elapsed() >= SLICE_BUDGET {
                            return Ok((counted, more));
                        }
                    }
                })
                .await?;
            total = total.saturating_add(counted);
            if !more {
                return Ok(total);
            }
            tokio::time::sleep(SLICE_PAUSE).await;
        }
    }

    /// Runs `work` on a reader thread.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            if reply.is_closed() {
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
                .unwrap_or_else(|_| Err(StoreError::Other("a database job panicked".into())));
            let _ = reply.send(result);
        });
        self.reads.try_send(job).map_err(queue_error)?;
        answer.await.map_err(gone)?
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map(drop)
        .map_err(|e| StoreError::Other(format!("cannot start a database thread: {e}")))
}

/// Applies the queued jobs batch by batch; after a batch, finishes the checkpoint the
/// checkpoint thread asked for through `restart`.
fn write_loop(conn: &Connection, jobs: &Receiver<Box<dyn WriteJob>>, restart: &AtomicBool) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // A job to run on its own, met while a batch was being gathered.
    let mut alone: Option<Box<dyn WriteJob>> = None;
    loop {
        let first = match alone.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if first.alone() {
            run_alone(conn, first);
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) if job.alone() => {
                    alone = Some(job);
                    break;
                }
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batch.retain(|job| job.wanted());
        if batch.is_empty() {
            continue;
        }
        let committed = run_batch(conn, &mut batch);
        if committed.is_err() {
            // Leaves the connection usable for the next batch whatever failed.
            let _ = conn.execute_batch(qs::ROLLBACK);
        }
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
        if restart.swap(false, Ordering::Relaxed) {
            // Nothing is being written now, so this copies everything that is left and the
            // next batch starts the WAL over, unless a reader still holds an older snapshot.
            if let Err(e) = passive_checkpoint(conn) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    }
    tracing::debug!("SQLite writer stopped");
}

/// Runs a job outside any transaction.
fn run_alone(conn: &Connection, mut job: Box<dyn WriteJob>) {
    if !job.wanted() {
        return;
    }
    let done = if job.run(conn) {
        Ok(())
    } else {
        Err(job
            .error()
            .unwrap_or_else(|| StoreError::Unavailable("the write was not run".into())))
    };
    job.finish(done);
}

/// Copies what it can of the WAL into the database without waiting for anyone; answers the
/// WAL's length and how much of it is now in the database file, in pages.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(qs::PASSIVE_CHECKPOINT, [], |r| Ok((r.get(1)?, r.get(2)?)))
}

/// The checkpoint thread's step: copies the WAL into the database without waiting for anyone;
/// when readers kept it from finishing and the WAL has grown past [`WAL_LIMIT`] pages, waits for
/// them once (`RESTART`), so the file cannot grow without bound. Answers whether the WAL is long
/// enough that the writer should finish the checkpoint and let it start over.
fn checkpoint(conn: &Connection) -> bool {
    match passive_checkpoint(conn) {
        Ok((log, done)) if log > WAL_LIMIT && done < log => {
            if let Err(e) = conn.execute_batch(qs::RESTART_CHECKPOINT) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            false
        }
        Ok((log, _)) => log > RESTART_AFTER,
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            false
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> Result<(), StoreError> {
    exec(conn, qs::DIALECT.begin_write).map_err(map_sqlite)?;
    for job in batch.iter_mut() {
        exec(conn, qs::SAVEPOINT).map_err(map_sqlite)?;
        if !job.run(conn) {
            if conn.is_autocommit() {
                // A full disk or an I/O error made SQLite roll back the whole transaction:
                // every job of the batch fails with that job's error.
                return Err(job.error().unwrap_or_else(|| {
                    StoreError::Unavailable("the batch was rolled back".into())
                }));
            }
            exec(conn, qs::ROLLBACK_JOB).map_err(map_sqlite)?;
        }
        exec(conn, qs::RELEASE_JOB).map_err(map_sqlite)?;
    }
    exec(conn, qs::COMMIT).map_err(map_sqlite)
}

#[cfg(test)]
mod tests {
    use super::{Engine, RESTART_AFTER};
    use rusqlite::{Connection, OpenFlags};
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn open(path: &Path, flags: OpenFlags) -> Connection {
        let conn = Connection::open_with_flags(path, flags).expect("open");
        conn.busy_timeout(Duration::from_secs(5)).expect("busy");
        conn
    }

    /// How many times the WAL has started over: its header's checkpoint sequence number.
    fn restarts(wal: &Path) -> u32 {
        let header = std::fs::read(wal).expect("read the WAL");
        u32::from_be_bytes([header[12], header[13], header[14], header[15]])
    }

    /// Under writes that never pause, the WAL must still start over now and then: a checkpoint
    /// on its own never catches up with a writer that keeps appending.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wal.db");
        let writer = open(&path, OpenFlags::default());
        // No automatic checkpoint by the writer: only the engine's own can start the WAL over.
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE pages (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
            )
            .expect("schema");
        let readers = vec![open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)];
        let checkpointer = open(&path, OpenFlags::default());
        let engine = Engine::start(writer, readers, Some(checkpointer)).expect("engine");
        let insert = |conn: &Connection| {
            conn.execute("INSERT INTO pages (body) VALUES (zeroblob(4000))", [])
                .map(drop)
                .map_err(crate::error::map_sqlite)
        };
        engine.write(insert).await.expect("write");
        let wal = dir.path().join("wal.db-wal");
        let before = restarts(&wal);

        // Every write adds at least one page to the WAL (a row of almost a page), and at least
        // two checkpoint periods pass.
        let started = Instant::now();
        let mut writes: i64 = 0;
        while writes < 3 * RESTART_AFTER || started.elapsed() < Duration::from_millis(2500) {
            assert!(started.elapsed() < Duration::from_secs(60), "too slow");
            engine.write(insert).await.expect("write");
            writes += 1;
        }
        assert!(
            restarts(&wal) > before,
            "the WAL never started over during {writes} writes"
        );
    }
}
