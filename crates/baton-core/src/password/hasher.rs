//! Argon2id on a fixed pool of hashing threads (see [`super`]).

use super::Password;
use argon2::password_hash::rand_core::{OsRng, RngCore as _};
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash uses other parameters than today's and should be replaced.
    pub needs_rehash: bool,
}

/// Hashing could not be done.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full; try again shortly.
    #[error("password hashing is at capacity")]
    Busy,
    /// Hashing failed for a reason that is not the caller's input.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// How much password hashing may go on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashing threads, each holding one Argon2 memory area while busy.
    pub workers: usize,
    /// Hashes waiting for a thread before new ones are refused with [`HashError::Busy`].
    pub queue: usize,
}

impl Default for HashingLimits {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            queue: 128,
        }
    }
}

/// A thread keeps its Argon2 memory this long after its last job, so that a stream of logins
/// does not map and unmap 19 MiB for every one, while an idle server holds none.
const KEEP_MEMORY: Duration = Duration::from_millis(100);
/// How much nicer than the request threads the hashing threads are (Linux `nice`).
const HASHING_NICENESS: i32 = 10;
/// Bytes of Argon2 output in a new hash.
const OUTPUT_LEN: usize = 32;

enum Work {
    Hash {
        password: Password,
        span: tracing::Span,
        reply: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        password: Password,
        phc: Arc<str>,
        span: tracing::Span,
        reply: oneshot::Sender<Verified>,
    },
}

impl Work {
    fn abandoned(&self) -> bool {
        match self {
            Self::Hash { reply, .. } => reply.is_closed(),
            Self::Verify { reply, .. } => reply.is_closed(),
        }
    }
}

/// Argon2id on a fixed pool of hashing threads with a bounded queue.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: Sender<Work>,
    dummy_hash: Arc<str>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// OWASP's recommended Argon2id parameters: 19 MiB, 2 passes, 1 lane.
    pub fn owasp_params() -> Params {
        #[allow(clippy::expect_used)] // constant parameters inside Argon2's documented ranges
        Params::new(19_456, 2, 1, Some(OUTPUT_LEN)).expect("valid constant Argon2 parameters")
    }

    /// Starts the hashing threads. They stop when the last clone of the hasher is dropped.
    pub fn new(params: Params, limits: HashingLimits) -> Result<Self, HashError> {
        let (jobs, queue) = bounded::<Work>(limits.queue);
        let mut memory = Memory::default();
        let dummy = hash_with(&params, &mut memory, b"baton dummy password, never matches")?;
        for i in 0..limits.workers.max(1) {
            let (queue, params) = (queue.clone(), params.clone());
            std::thread::Builder::new()
                .name(format!("baton-argon2-{i}"))
                .spawn(move || worker(&params, &queue))
                .map_err(|e| HashError::Failed(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            params,
            jobs,
            dummy_hash: dummy.into(),
        })
    }

    /// The Argon2 parameters of new hashes.
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn submit(&self, work: Work) -> Result<(), HashError> {
        self.jobs.try_send(work).map_err(|e| match e {
            TrySendError::Full(_) => HashError::Busy,
            TrySendError::Disconnected(_) => {
                HashError::Failed("the hashing threads have stopped".into())
            }
        })
    }

    /// Hashes a new password to a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Hash {
            password: password.clone(),
            span: tracing::Span::current(),
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Checks a password against a stored PHC string, or against a dummy hash when the user does
    /// not exist (`stored == None`), so both cases take the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, HashError> {
        let user_exists = stored.is_some();
        let phc: Arc<str> = stored.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Verify {
            password: password.clone(),
            phc,
            span: tracing::Span::current(),
            reply,
        })?;
        let verified = answer.await.map_err(|_| stopped())?;
        Ok(Verified {
            ok: verified.ok && user_exists,
            needs_rehash: verified.needs_rehash && user_exists,
        })
    }
}

fn stopped() -> HashError {
    HashError::Failed("a hashing thread stopped".into())
}

/// One thread's Argon2 memory, allocated on first use and reused while work keeps coming.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() != count {
            self.0 = vec![Block::default(); count];
        }
        &mut self.0
    }

    fn release(&mut self) {
        self.0 = Vec::new();
    }
}

fn worker(params: &Params, queue: &Receiver<Work>) {
    lower_priority();
    let mut memory = Memory::default();
    loop {
        let next = if memory.0.is_empty() {
            queue.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            queue.recv_timeout(KEEP_MEMORY)
        };
        let work = match next {
            Ok(work) => work,
            Err(RecvTimeoutError::Timeout) => {
                memory.release();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if work.abandoned() {
            continue;
        }
        match work {
            Work::Hash {
                password,
                span,
                reply,
            } => {
                let hashed = span.in_scope(|| hash_with(params, &mut memory, password.expose()));
                let _ = reply.send(hashed);
            }
            Work::Verify {
                password,
                phc,
                span,
                reply,
            } => {
                let verified =
                    span.in_scope(|| verify_with(params, &mut memory, password.expose(), &phc));
                let _ = reply.send(verified);
            }
        }
    }
}

/// Makes the calling thread yield to the request threads when the CPUs are busy.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), HASHING_NICENESS) {
            tracing::debug!(error = %e, "could not lower the hashing threads' priority");
        }
    }
}

fn argon(algorithm: Algorithm, version: Version, params: Params) -> Argon2<'static> {
    Argon2::new(algorithm, version, params)
}

fn hash_with(params: &Params, memory: &mut Memory, password: &[u8]) -> Result<String, HashError> {
    let failed = |e: &dyn fmt::Display| HashError::Failed(e.to_string());
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    OsRng.try_fill_bytes(&mut salt).map_err(|e| failed(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| failed(&e))?;
    let mut raw = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut raw).map_err(|e| failed(&e))?;
    let out_len = params.output_len().unwrap_or(OUTPUT_LEN);
    let argon = argon(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(out_len, |out| {
        argon
            .hash_password_into_with_memory(
                password,
                salt_bytes,
                out,
                memory.blocks(params.block_count()),
            )
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether a stored hash's parameters are within what baton will spend on one check: at most four
/// times today's memory, sixteen times its passes and eight lanes. A hash beyond that cannot come
/// from baton, and honouring it would let one stored string pin a hashing thread or exhaust
/// memory.
fn within_reach(stored: &Params, current: &Params) -> bool {
    stored.m_cost() <= current.m_cost().saturating_mul(4).max(65_536)
        && stored.t_cost() <= current.t_cost().saturating_mul(16).max(16)
        && stored.p_cost() <= 8
}

fn verify_with(params: &Params, memory: &mut Memory, password: &[u8], phc: &str) -> Verified {
    let refused = Verified {
        ok: false,
        needs_rehash: false,
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return refused;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return refused;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return refused;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Ok(stored)) = (version, Params::try_from(&parsed)) else {
        return refused;
    };
    if !within_reach(&stored, params) {
        tracing::warn!(
            m_cost = stored.m_cost(),
            t_cost = stored.t_cost(),
            p_cost = stored.p_cost(),
            "a stored password hash asks for far more work than baton's parameters; refused"
        );
        return refused;
    }
    let mut raw = [0u8; Salt::MAX_LENGTH];
    let Ok(salt_bytes) = salt.decode_b64(&mut raw) else {
        return refused;
    };
    let argon = argon(algorithm, version, stored.clone());
    let computed = Output::init_with(expected.len(), |out| {
        argon
            .hash_password_into_with_memory(
                password,
                salt_bytes,
                out,
                memory.blocks(stored.block_count()),
            )
            .map_err(|_| argon2::password_hash::Error::Crypto)
    });
    // `Output`'s equality is constant-time.
    let ok = computed.is_ok_and(|computed| computed == expected);
    let current = algorithm == Algorithm::Argon2id
        && version == Version::V0x13
        && stored.m_cost() == params.m_cost()
        && stored.t_cost() == params.t_cost()
        && stored.p_cost() == params.p_cost();
    Verified {
        ok,
        needs_rehash: ok && !current,
    }
}
