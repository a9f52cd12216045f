//! Everything done to the session while holding `session.lock`: read, write and delete in one
//! hold.
//!
//! Why one hold: a decision to delete must be taken on what is on disk at the moment of the
//! delete (a client that ignores the refresh lock may write in between otherwise), and a write
//! after the server rotated must not fail for a reason that could have been found before the
//! refresh token was spent. So the refresh transaction takes this lock *before* the network call,
//! [`LockedSession::reserve`]s the write (salt, key, a temp file with room already allocated),
//! and only then spends the token; re-reading, comparing and deleting all happen under the same
//! hold.
//!
//! `session.lock` is a BSD flock interoperable with Python's `filelock`, which unlinks the file on
//! release: a lock taken on an unlinked inode protects nothing, so acquisition retries.

use super::cipher::SALT_LEN;
use super::error::StorageError;
use super::keys::Keys;
use super::reader::read_session;
use crate::deadline::Deadline;
use crate::fsutil;
use crate::hooks::{self, IoOp};
use crate::paths::RuntimeRoot;
use crate::session::StoredSession;
use crate::syncpoint::{self, Point};
use aes_gcm::aead::{AeadCore, OsRng};
use aes_gcm::Aes256Gcm;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(10);
/// Room reserved for the next write: far more than any session needs.
const MIN_RESERVATION: u64 = 16 * 1024;

/// An exclusive flock of `session.lock`.
struct SessionFileLock {
    _file: File,
}

impl SessionFileLock {
    fn acquire(path: &Path, deadline: Deadline) -> Result<Self, StorageError> {
        let mut reported_busy = false;
        loop {
            let file = fsutil::open_lock_file(path, true).map_err(|e| StorageError::io(path, e))?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    let linked = file
                        .metadata()
                        .map_err(|e| StorageError::io(path, e))?
                        .nlink();
                    if linked > 0 {
                        return Ok(Self { _file: file });
                    }
                }
                Err(e) if crate::lock::is_contention(e) => {
                    if !reported_busy {
                        // Lets the scenario runner order "this writer is really waiting".
                        let _ = syncpoint::hit(Point::SessionLockBusy);
                        reported_busy = true;
                    }
                }
                Err(e) => return Err(StorageError::io(path, e.into())),
            }
            if deadline.passed() {
                return Err(StorageError::SessionLockBusy {
                    path: path.to_path_buf(),
                });
            }
            std::thread::sleep(POLL.min(deadline.remaining()));
        }
    }
}

/// The session of one root with `session.lock` held. Dropping it releases the lock and removes
/// an unused reserved temp file.
pub struct LockedSession<'a> {
    root: &'a RuntimeRoot,
    keys: &'a Keys,
    _lock: SessionFileLock,
    salt: Option<[u8; SALT_LEN]>,
    temp: Option<File>,
}

impl<'a> LockedSession<'a> {
    pub(super) fn acquire(
        root: &'a RuntimeRoot,
        keys: &'a Keys,
        deadline: Deadline,
    ) -> Result<Self, StorageError> {
        let dir = root.auth_dir();
        fsutil::ensure_private_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let lock = SessionFileLock::acquire(&root.session_lock_file(), deadline)?;
        Ok(Self {
            root,
            keys,
            _lock: lock,
            salt: None,
            temp: None,
        })
    }

    /// Reads the persisted session (no writer can interleave while this is held).
    pub fn read(&self) -> Result<Option<StoredSession>, StorageError> {
        read_session(self.root, self.keys)
    }

    /// Prepares the next [`commit`](Self::commit) so it cannot fail for a reason known now: the
    /// salt exists, the key is derived, and a temp file with room allocated for the session
    /// exists. An error here means nothing was spent yet: the caller can safely give up.
    pub fn reserve(&mut self) -> Result<(), StorageError> {
        if self.salt.is_none() {
            let salt = self.keys.read_or_create_salt()?;
            self.keys.cipher_for(&salt);
            self.salt = Some(salt);
        }
        if self.temp.is_none() {
            let path = self.root.session_file();
            let existing = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            self.temp = Some(create_reserved_temp(
                &self.temp_path(),
                MIN_RESERVATION.max(existing * 2),
            )?);
        }
        Ok(())
    }

    /// Encrypts `session` and atomically replaces `session.json` (write the reserved temp file,
    /// fsync, chmod 0600, rename, fsync the directory). May be retried after an error.
    pub fn commit(&mut self, session: &StoredSession) -> Result<(), StorageError> {
        self.reserve()?;
        let salt = self.salt.expect("reserved above");
        let nonce: [u8; 12] = Aes256Gcm::generate_nonce(&mut OsRng).into();
        let contents = self.keys.cipher_for(&salt).seal(&session.to_json(), nonce);
        let tmp = self.temp_path();
        let mut file = self.temp.take().expect("reserved above");
        if let Some(e) = hooks::io_fault(IoOp::SessionWrite) {
            return Err(StorageError::io(&tmp, e));
        }
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(contents.as_bytes()))
            .and_then(|_| file.set_len(contents.len() as u64))
            .and_then(|_| file.sync_all())
            .and_then(|_| file.set_permissions(fs::Permissions::from_mode(0o600)))
            .map_err(|e| StorageError::io(&tmp, e))?;
        drop(file);
        syncpoint::hit(Point::TempWritten)?;
        let path = self.root.session_file();
        fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
        let dir = self.root.auth_dir();
        fsutil::sync_dir(&dir).map_err(|e| StorageError::io(&dir, e))
    }

    /// Deletes the session, its temp file and its salt, then drops the session's key from the
    /// caches (after the files: see [`Keys::forget`]). Deleting what is not there is fine.
    pub fn delete(&mut self) -> Result<(), StorageError> {
        self.temp = None;
        self.salt = None;
        // The salt names the key's keyring entry; an unreadable salt has no key anyone derived.
        let salt = self.keys.read_salt().ok();
        let root = self.root;
        for path in [root.session_file(), self.temp_path(), root.salt_file()] {
            if path == root.session_file() {
                if let Some(e) = hooks::io_fault(IoOp::SessionDelete) {
                    return Err(StorageError::io(&path, e));
                }
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(&path, e)),
            }
        }
        self.keys.forget(salt);
        let dir = root.auth_dir();
        fsutil::sync_dir(&dir).map_err(|e| StorageError::io(&dir, e))
    }

    fn temp_path(&self) -> std::path::PathBuf {
        self.root.session_file().with_extension("json.tmp")
    }
}

impl Drop for LockedSession<'_> {
    fn drop(&mut self) {
        if self.temp.take().is_some() {
            let _ = fs::remove_file(self.temp_path());
        }
    }
}

/// Creates `path` afresh (never through a symlink left there) with `len` bytes allocated.
fn create_reserved_temp(path: &Path, len: u64) -> Result<File, StorageError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io(path, e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StorageError::io(path, e))?;
    let reserved = match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        // Filesystems without fallocate: allocate by writing.
        Err(e) if e == rustix::io::Errno::OPNOTSUPP => file
            .write_all(&vec![0u8; len as usize])
            .and_then(|_| file.sync_all()),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = reserved {
        let _ = fs::remove_file(path);
        return Err(StorageError::NoRoom {
            path: path.to_path_buf(),
            source: e,
        });
    }
    Ok(file)
}
