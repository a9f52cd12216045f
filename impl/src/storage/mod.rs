//! The encrypted session store: `<root>/auth/session.json`, byte-compatible with spec-kitty-cli.
//!
//! File: `{"version": 2, "nonce": "<24 hex>", "ciphertext": "<hex of ciphertext||tag>"}`,
//! AES-256-GCM with a fresh 12-byte nonce per write and no associated data ([`cipher`]). Key:
//! scrypt (N=2^14, r=8, p=1, 32 bytes) over `"<hostname>:<uid>"` with the 16 raw bytes of
//! `session.salt`. Writes go to a temp file, fsync, chmod 0600, rename, fsync the directory, all
//! under an exclusive flock of `session.lock` ([`LockedSession`]).
//!
//! The derived key is cached in memory and, between processes, in the kernel user keyring
//! ([`KeyCache`], `docs/key-cache.md`): a warm `auth status` skips scrypt.
//!
//! Reads never delete or rewrite anything, never block (a FIFO is refused), and refuse anything
//! that is not a regular file or is larger than any session: a damaged file is reported with its
//! reason so the user (or `auth doctor`) decides. Deleting is an explicit, separate call.

mod cipher;
mod error;
mod key_cache;
mod keyring;
mod keys;
mod locked;
mod reader;

pub use cipher::{derive_key, machine_passphrase, SessionCipher, FILE_VERSION};
pub use error::StorageError;
pub use key_cache::{KeyCache, DEFAULT_TTL, KEY_CACHE_TTL_ENV, MAX_ENTRIES, PRODUCTION_PREFIX};
pub use keys::KeySource;
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
    /// The store of `root`, keyed by this machine's `"<hostname>:<uid>"`, with the key cache
    /// configured by the environment ([`KeyCache::from_env`]).
    pub fn for_root(root: &RuntimeRoot) -> Result<Self, StorageError> {
        Ok(Self::build(
            root,
            machine_passphrase(),
            KeyCache::from_env(),
        ))
    }

    /// The store of `root` with an explicit passphrase (test vectors from another machine) and
    /// no key cache: this machine's keyring only ever holds keys of this machine's passphrase.
    pub fn with_passphrase(root: &RuntimeRoot, passphrase: impl Into<String>) -> Self {
        Self::build(root, passphrase.into(), KeyCache::disabled())
    }

    /// Replaces the key cache (tests use one with a prefix of their own).
    pub fn with_key_cache(self, key_cache: KeyCache) -> Self {
        let passphrase = self.keys.passphrase().to_string();
        Self {
            keys: Keys::new(&self.root, passphrase, key_cache),
            ..self
        }
    }

    fn build(root: &RuntimeRoot, passphrase: String, key_cache: KeyCache) -> Self {
        Self {
            root: root.clone(),
            keys: Keys::new(root, passphrase, key_cache),
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

    /// The key cache this store uses.
    pub fn key_cache(&self) -> &KeyCache {
        self.keys.key_cache()
    }

    /// Where the key of the last read or write came from (`None` before any).
    pub fn last_key_source(&self) -> Option<KeySource> {
        self.keys.last_source()
    }

    /// Drops this root's cached key from the keyring, if its salt can be read (a root about to
    /// be removed without a logout: test roots, `auth doctor`). The session itself is untouched.
    pub fn forget_cached_key(&self) {
        if let Ok(salt) = self.keys.read_salt() {
            self.keys.forget(Some(salt));
        }
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
