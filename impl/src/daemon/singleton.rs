//! The singleton lock: the daemon holds an exclusive `flock` on `<root>/sync-daemon.lock` for its
//! whole life.
//!
//! Why a lock and not a pid file: the kernel decides who is the singleton and releases the lock
//! the instant the holder dies, so a crash can never leave a stale claim. The lock file is never
//! unlinked or replaced by us; if someone else does (a careless cleanup), the daemon notices on
//! its tick that the path no longer names the inode it holds, and retires.

use crate::fsutil;
use crate::lock::is_contention;
use rustix::fs::{flock, FlockOperation};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The held singleton lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct SingletonLock {
    file: File,
    path: PathBuf,
}

impl SingletonLock {
    /// Takes the lock without waiting: `Ok(None)` when another daemon holds it.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<SingletonLock>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = fsutil::open_lock_file(path, true)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(SingletonLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(e) if is_contention(e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the path still names the inode this lock holds (false once the file was removed
    /// or replaced: another daemon can then become the singleton through the new file).
    pub fn still_at_path(&self) -> bool {
        let (Ok(held), Ok(now)) = (self.file.metadata(), std::fs::metadata(&self.path)) else {
            return false;
        };
        held.dev() == now.dev() && held.ino() == now.ino()
    }
}

/// Whether some process holds the singleton lock at `path` right now (a read-only probe that
/// never creates the file).
pub fn is_held(path: &Path) -> std::io::Result<bool> {
    crate::lock::is_held(path).map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_replaced_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync-daemon.lock");
        let first = SingletonLock::try_acquire(&path).unwrap().expect("free");
        assert!(SingletonLock::try_acquire(&path).unwrap().is_none());
        assert!(is_held(&path).unwrap());
        assert!(first.still_at_path());
        std::fs::remove_file(&path).unwrap();
        assert!(!first.still_at_path(), "a removed lock file is noticed");
        let second = SingletonLock::try_acquire(&path)
            .unwrap()
            .expect("new file, new lock");
        assert!(!first.still_at_path());
        assert!(second.still_at_path());
        drop(second);
        drop(first);
        assert!(!is_held(&path).unwrap());
    }
}
