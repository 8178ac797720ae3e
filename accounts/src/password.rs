//! Argon2id password hashes (PHC strings), computed on a fixed set of worker threads.
//!
//! A verification costs 19 MiB and tens of milliseconds of one core. Run on tokio's blocking pool,
//! a login flood started one thread (and one allocator arena) per request: memory grew by
//! gigabytes and stayed there. Here a few long-lived workers (one per core) each own one reused
//! block buffer, so the memory of password work is fixed (workers × 19 MiB), and a short bounded
//! queue in front of them turns a flood into quick [`PasswordError::Busy`] answers (503 with
//! `Retry-After`) instead of a growing backlog.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordVerifier, Version};

/// Why password work was not done.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Hashing failed (only on a broken parameter set; never caused by the password itself).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Every worker is busy and the queue is full: try again shortly.
    #[error("too many password checks in progress")]
    Busy,
}

/// Waiting jobs allowed per worker before new ones are refused.
const QUEUE_PER_WORKER: usize = 4;

/// Stored hashes asking for more memory than this are treated as not matching (64 MiB).
const MAX_BLOCKS: usize = 64 * 1024;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The process's password workers.
#[derive(Debug)]
pub struct PasswordWorkers {
    jobs: SyncSender<Job>,
    workers: usize,
}

impl PasswordWorkers {
    /// The process-wide workers: one per core, started on first use.
    pub fn global() -> &'static PasswordWorkers {
        static WORKERS: OnceLock<PasswordWorkers> = OnceLock::new();
        WORKERS.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            PasswordWorkers::start(cores, cores * QUEUE_PER_WORKER)
        })
    }

    /// `workers` threads behind a queue of `queue` waiting jobs.
    pub fn start(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{index}"))
                .spawn(move || work(&receiver));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password worker");
            }
        }
        Self { jobs, workers }
    }

    /// How many jobs may run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(job(memory));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("password_checks_refused_total").increment(1);
                return Err(PasswordError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(PasswordError::Hashing(
                    "no password worker is running".into(),
                ))
            }
        }
        answer
            .await
            .map_err(|_| PasswordError::Hashing("the password worker stopped".into()))
    }

    /// Whether `password` matches the PHC string (a malformed hash never matches).
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, PasswordError> {
        self.run(move |memory| verify_with_memory(&password, &phc, memory))
            .await
    }

    /// A PHC string for `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move |_| hash_password(&password)).await?
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

/// A PHC string for `password` with a fresh random salt (on the calling thread).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches the PHC string, on the calling thread. A malformed hash never
/// matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// [`verify_password`] computing in `memory`, which grows to the hash's cost once and is reused.
fn verify_with_memory(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(hash.algorithm),
        Params::try_from(&hash),
        hash.hash,
        hash.salt,
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() -> Result<(), PasswordError> {
        let hash = hash_password("healing-demo")?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("healing-demo", &hash));
        assert!(!verify_password("healing-demo ", &hash));
        assert!(!verify_password("healing-demo", "not a hash"));
        Ok(())
    }

    #[test]
    fn reused_memory_gives_the_same_answers_as_a_fresh_verification() -> Result<(), PasswordError> {
        let hash = hash_password("healing-demo")?;
        let mut memory = Vec::new();
        for _ in 0..2 {
            assert!(verify_with_memory("healing-demo", &hash, &mut memory));
            assert!(!verify_with_memory("healing-demo!", &hash, &mut memory));
        }
        assert!(!verify_with_memory(
            "healing-demo",
            "$argon2id$v=19$m=1",
            &mut memory
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_growing() -> Result<(), PasswordError> {
        let workers = PasswordWorkers::start(1, 1);
        let hash = hash_password("healing-demo")?;
        let attempts = (0..8).map(|_| workers.verify("wrong".into(), hash.clone()));
        let answers = futures::future::join_all(attempts).await;
        let busy = answers
            .iter()
            .filter(|a| matches!(a, Err(PasswordError::Busy)))
            .count();
        let done = answers.iter().filter(|a| matches!(a, Ok(false))).count();
        assert!(
            busy >= 5,
            "{busy} refused of 8 with 1 worker and a queue of 1"
        );
        assert_eq!(busy + done, 8);
        assert!(workers.verify("healing-demo".into(), hash).await?);
        Ok(())
    }
}
