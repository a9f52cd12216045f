//! The encrypted session store: `<root>/auth/session.json`, byte-compatible with spec-kitty-cli.
//!
//! File: `{"version": 2, "nonce": "<24 hex>", "ciphertext": "<hex of ciphertext||tag>"}`,
//! AES-256-GCM with a fresh 12-byte nonce per write and no associated data ([`cipher`]). Key:
//! scrypt (N=2^14, r=8, p=1, 32 bytes) over `"<hostname>:<uid>"` with the 16 raw bytes of
//! `session.salt`. Writes go to a temp file, fsync, chmod 0600, rename, fsync the directory, all
//! under an exclusive flock of `session.lock` ([`LockedSession`]).
//!
//! Reads never delete or rewrite anything, never block (a FIFO is refused), and refuse anything
//! that is not a regular file or is larger than any session: a damaged file is reported with its
//! reason so the user (or `auth doctor`) decides. Deleting is an explicit, separate call.

mod cipher;
mod error;
mod keys;
mod locked;
mod reader;

pub use cipher::{derive_key, machine_passphrase, SessionCipher, FILE_VERSION};
pub use error::StorageError;
pub use locked::LockedSession;
pub use reader::MAX_SESSION_BYTES;

use crate::deadline::Deadline;
use crate::paths::RuntimeRoot;
use crate::session::StoredSession;
use keys::Keys;
use std::time::Duration;
/// How long a writer waits for `session.lock` by default. Holders keep it for one file write (or
/// one refresh, bounded by its own deadline), so a wait this long means a stuck process.
pub const SESSION_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Reads, writes and deletes the session of one runtime root.
pub struct SessionStore {
    root: RuntimeRoot,
    keys: Keys,
    session_lock_wait: Duration,
}

impl SessionStore {
    /// The store of `root`, keyed by this machine's `"<hostname>:<uid>"`.
    pub fn for_root(root: &RuntimeRoot) -> Result<Self, StorageError> {
        Ok(Self::with_passphrase(root, machine_passphrase()))
    }

    /// The store of `root` with an explicit passphrase (test vectors from another machine).
    pub fn with_passphrase(root: &RuntimeRoot, passphrase: impl Into<String>) -> Self {
        Self {
            root: root.clone(),
            keys: Keys::new(root, passphrase.into()),
            session_lock_wait: SESSION_LOCK_WAIT,
        }
    }

    /// Bounds the wait for `session.lock` in [`write`](Self::write) and
    /// [`delete`](Self::delete) (default [`SESSION_LOCK_WAIT`]).
    pub fn with_session_lock_wait(mut self, wait: Duration) -> Self {
        self.session_lock_wait = wait;
        self
    }

    /// The runtime root this store serves.
    pub fn root(&self) -> &RuntimeRoot {
        &self.root
    }

    /// Reads and decrypts the session. `Ok(None)` when there is none; never modifies anything.
    pub fn read(&self) -> Result<Option<StoredSession>, StorageError> {
        reader::read_session(&self.root, &self.keys)
    }

    /// Takes `session.lock` (waiting until `deadline`) for a read-decide-write or
    /// read-decide-delete in one hold.
    pub fn lock(&self, deadline: Deadline) -> Result<LockedSession<'_>, StorageError> {
        LockedSession::acquire(&self.root, &self.keys, deadline)
    }

    /// Encrypts and atomically replaces the session (temp file, fsync, rename, fsync dir).
    pub fn write(&self, session: &StoredSession) -> Result<(), StorageError> {
        self.lock(Deadline::after(self.session_lock_wait))?
            .commit(session)
    }

    /// Deletes the session and its salt. Deleting what is not there is not an error.
    pub fn delete(&self) -> Result<(), StorageError> {
        if !self.root.auth_dir().exists() {
            return Ok(());
        }
        self.lock(Deadline::after(self.session_lock_wait))?.delete()
    }
}
