//! The machine-wide refresh lock: `<root>/auth/refresh.lock`, a BSD `flock`.
//!
//! Why flock: it belongs to the open file description, so the kernel releases it the instant the
//! holder dies, and it interoperates with the Python original. `fcntl` record locks are per
//! process and do not interoperate, so they are never used. Once locked, the holder record is
//! written in place on the locked descriptor; on release the file is truncated, never unlinked or
//! replaced (a new inode would let a second process lock the path while the first still holds
//! the old one). The record's age is a diagnostic only: a live flock always wins.

use crate::fsutil;
use crate::pyjson;
use crate::session::{format_time, parse_time};
use crate::syncpoint::{self, Point};
use chrono::{DateTime, Utc};
use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting process retries the lock.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The default bound on waiting for the lock.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Who holds (or last held) the lock: `{"host", "pid", "schema_version", "started_at", "version"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRecord {
    pub host: String,
    pub pid: u32,
    pub schema_version: u32,
    pub started_at: String,
    pub version: String,
}

impl LockRecord {
    /// A record for this process, now.
    pub fn for_this_process() -> Self {
        LockRecord {
            host: crate::paths::hostname(),
            pid: std::process::id(),
            schema_version: 1,
            started_at: format_time(Utc::now()),
            version: crate::VERSION.to_string(),
        }
    }

    /// When the holder took the lock, if the record says so legibly.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.started_at)
    }

    /// The record's age at `now` (zero for a record from the future).
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.started_at()
            .map(|t| (now - t).to_std().unwrap_or(Duration::ZERO))
    }

    /// Parses a record file's bytes (surrounding ASCII whitespace ignored). Any bytes may be
    /// there (another program, a crash mid-write): a bad record is a typed error, never a panic.
    pub fn parse(bytes: &[u8]) -> Result<LockRecord, serde_json::Error> {
        serde_json::from_slice(bytes.trim_ascii())
    }

    /// The record as the Python original writes it (sorted keys, `json.dumps` spacing).
    pub fn to_json(&self) -> String {
        // Field order above is alphabetical, which is what `sort_keys=True` produces.
        pyjson::to_string(self)
    }
}

/// Lock failures. "Busy" is only ever a timeout; every other error is an error.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the refresh lock is busy (waited {waited_ms} ms{})", holder_suffix(.holder))]
    Timeout {
        waited_ms: u128,
        holder: Option<LockRecord>,
    },
    #[error("cannot use the refresh lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn holder_suffix(holder: &Option<LockRecord>) -> String {
    match holder {
        Some(h) => format!(
            "; held by pid {} on {} since {}",
            h.pid, h.host, h.started_at
        ),
        None => String::new(),
    }
}

/// Whether a flock error means "someone else holds it" rather than a real failure.
pub fn is_contention(errno: Errno) -> bool {
    errno == Errno::WOULDBLOCK || errno == Errno::AGAIN || errno == Errno::ACCESS
}

/// The refresh lock of one path.
pub struct RefreshLock;

/// A held refresh lock. Dropping it empties the record (in place) and unlocks.
#[derive(Debug)]
pub struct RefreshLockGuard {
    file: File,
    path: PathBuf,
}

impl RefreshLock {
    /// Takes the lock, polling every 100 ms until `wait` has passed, then writes this process's
    /// holder record in place.
    pub fn acquire(path: &Path, wait: Duration) -> Result<RefreshLockGuard, LockError> {
        let started = Instant::now();
        let mut reported_busy = false;
        loop {
            if let Some(guard) = Self::try_acquire(path)? {
                return Ok(guard);
            }
            if !reported_busy {
                // Lets the scenario runner order "B is really waiting" deterministically.
                let _ = syncpoint::hit(Point::LockBusy);
                reported_busy = true;
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Err(LockError::Timeout {
                    waited_ms: waited.as_millis(),
                    holder: read_record(path),
                });
            }
            std::thread::sleep(POLL_INTERVAL.min(wait - waited));
        }
    }

    /// One attempt: `Ok(None)` when another descriptor holds the lock.
    pub fn try_acquire(path: &Path) -> Result<Option<RefreshLockGuard>, LockError> {
        let io_err = |source: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fsutil::ensure_private_dir(dir).map_err(io_err)?;
        }
        let file = fsutil::open_lock_file(path, true).map_err(io_err)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if is_contention(e) => return Ok(None),
            Err(e) => return Err(io_err(e.into())),
        }
        // Someone unlinked the path (never us): a lock on a dead inode protects nothing.
        if file.metadata().map_err(io_err)?.nlink() == 0 {
            return Ok(None);
        }
        let mut guard = RefreshLockGuard {
            file,
            path: path.to_path_buf(),
        };
        guard
            .write_record(&LockRecord::for_this_process())
            .map_err(io_err)?;
        Ok(Some(guard))
    }
}

impl RefreshLockGuard {
    /// The path of the held lock.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_record(&mut self, record: &LockRecord) -> std::io::Result<()> {
        if let Some(e) = crate::hooks::io_fault(crate::hooks::IoOp::LockRecordWrite) {
            return Err(e);
        }
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(record.to_json().as_bytes())?;
        self.file.sync_all()
    }
}

impl Drop for RefreshLockGuard {
    fn drop(&mut self) {
        // Truncate in place, no fsync: an empty record is only a diagnostic, and a record that
        // survives a crash is harmless because the flock, not the record, decides who holds it.
        let _ = self.file.set_len(0);
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

/// Whether a live process holds the lock right now (judged by the flock, not the record).
/// Read-only: it never creates the file and releases its probe at once.
pub fn is_held(path: &Path) -> Result<bool, LockError> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            Ok(false)
        }
        Err(e) if is_contention(e) => Ok(true),
        Err(e) => Err(LockError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// No holder record is larger (a record is about 130 bytes).
const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// The holder record, or `None` for a missing, empty, oversized or malformed file (never an
/// error: the record is only a diagnostic).
pub fn read_record(path: &Path) -> Option<LockRecord> {
    let file = fsutil::read_regular(path, MAX_RECORD_BYTES).ok()?;
    LockRecord::parse(&file.bytes).ok()
}

/// What [`force_release`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum ForceRelease {
    /// A live process holds the flock: nothing was touched.
    Held,
    /// The lock was free and the record older than the threshold: the record was emptied.
    Cleared { record: LockRecord, age: Duration },
    /// The lock was free and the record could not be read (or its start time could not): it was
    /// emptied, since only a live flock can mean a holder.
    ClearedUnreadable,
    /// The lock was free but the record is younger than the threshold.
    TooRecent { record: LockRecord, age: Duration },
    /// The lock was free and there was no record to clear.
    NothingToClear,
}

/// Empties a leftover holder record, but only when this call wins the flock and the record is
/// older than `threshold`. Never unlinks; never touches a lock a live process holds.
pub fn force_release(path: &Path, threshold: Duration) -> Result<ForceRelease, LockError> {
    if !path.exists() {
        return Ok(ForceRelease::NothingToClear);
    }
    let io_err = |source: std::io::Error| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fsutil::open_lock_file(path, false).map_err(io_err)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if is_contention(e) => return Ok(ForceRelease::Held),
        Err(e) => return Err(io_err(e.into())),
    }
    let empty = |file: &File| {
        file.set_len(0)
            .and_then(|_| file.sync_all())
            .map_err(io_err)
    };
    let result = match read_record(path) {
        None if file.metadata().map_err(io_err)?.len() == 0 => ForceRelease::NothingToClear,
        // Bytes that are not a record cannot describe a live holder (we hold the flock).
        None => {
            empty(&file)?;
            ForceRelease::ClearedUnreadable
        }
        Some(record) => match record.age(Utc::now()) {
            Some(age) if age > threshold => {
                empty(&file)?;
                ForceRelease::Cleared { record, age }
            }
            Some(age) => ForceRelease::TooRecent { record, age },
            // A start time nobody can read never becomes "old": it is leftover state too.
            None => {
                empty(&file)?;
                ForceRelease::ClearedUnreadable
            }
        },
    };
    let _ = flock(&file, FlockOperation::Unlock);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_matches_the_python_vector_format() {
        let record = LockRecord {
            host: "test-host.local".into(),
            pid: 12345,
            schema_version: 1,
            started_at: "2026-04-28T10:30:00.123456+00:00".into(),
            version: "3.2.6rc3".into(),
        };
        let expected = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/refresh.lock.example"),
        )
        .unwrap();
        assert_eq!(record.to_json(), expected.trim_end());
        assert_eq!(
            serde_json::from_str::<LockRecord>(&expected).unwrap(),
            record
        );
    }

    #[test]
    fn contention_errnos() {
        assert!(is_contention(Errno::WOULDBLOCK));
        assert!(is_contention(Errno::ACCESS));
        assert!(!is_contention(Errno::BADF));
        assert!(!is_contention(Errno::IO));
        assert!(!is_contention(Errno::NOLCK));
    }
}
