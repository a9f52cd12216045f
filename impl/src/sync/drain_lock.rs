//! The drain lock: `<root>/sync/drain.lock`, a BSD `flock` held by whoever is sending the queue.
//!
//! Why: `sync now`, a final sync after `sync enqueue` and the sync daemon may all try to drain
//! the same queue at once. The server deduplicates by event id, so overlapping senders would do
//! no harm to correctness, but they would send the same events twice. One sender at a time keeps
//! every event on the wire once in the normal case; a killed sender releases the lock with its
//! descriptor (the kernel, not a pid file, decides). The file is never unlinked or truncated.

use rustix::fs::{flock, FlockOperation};
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a waiting sender retries.
const POLL: Duration = Duration::from_millis(25);

/// A held drain lock; dropping it unlocks.
#[derive(Debug)]
pub struct DrainGuard {
    _file: File,
}

/// Why the drain lock was not taken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DrainLockError {
    /// Another process kept draining for the whole wait.
    #[error("another process is sending the sync queue (waited {waited_ms} ms for {path}); its events are being sent there")]
    Busy { path: String, waited_ms: u128 },
    /// The lock file could not be opened or locked.
    #[error("cannot use the drain lock {path}: {detail}")]
    Io { path: String, detail: String },
}

/// Takes the drain lock at `path`, retrying until `wait` has passed.
pub fn acquire(path: &Path, wait: Duration) -> Result<DrainGuard, DrainLockError> {
    let io = |detail: String| DrainLockError::Io {
        path: path.display().to_string(),
        detail,
    };
    if let Some(dir) = path.parent() {
        crate::fsutil::ensure_private_dir(dir).map_err(|e| io(e.to_string()))?;
    }
    let file = crate::fsutil::open_lock_file(path, true).map_err(|e| io(e.to_string()))?;
    let started = Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(DrainGuard { _file: file }),
            Err(e) if crate::lock::is_contention(e) => {}
            Err(e) => return Err(io(e.to_string())),
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(DrainLockError::Busy {
                path: path.display().to_string(),
                waited_ms: waited.as_millis(),
            });
        }
        std::thread::sleep(POLL.min(wait - waited));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync/drain.lock");
        let held = acquire(&path, Duration::ZERO).unwrap();
        assert!(matches!(
            acquire(&path, Duration::from_millis(30)),
            Err(DrainLockError::Busy { .. })
        ));
        drop(held);
        assert!(acquire(&path, Duration::ZERO).is_ok());
    }
}
