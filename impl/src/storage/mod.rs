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
mod locked;

pub use cipher::{derive_key, machine_passphrase, SessionCipher, FILE_VERSION};
pub use locked::LockedSession;

use crate::deadline::Deadline;
use crate::fsutil::{self, ReadError};
use crate::paths::RuntimeRoot;
use crate::session::{SessionFormatError, StoredSession};
use crate::syncpoint::InjectedFault;
use aes_gcm::aead::OsRng;
use cipher::{parse_envelope, SALT_LEN};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// No valid session file is larger (a session is a few KiB even with many teams).
pub const MAX_SESSION_BYTES: u64 = 1 << 20;
/// How long a writer waits for `session.lock` by default. Holders keep it for one file write (or
/// one refresh, bounded by its own deadline), so a wait this long means a stuck process.
pub const SESSION_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Why the session could not be read or written. Every message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is held by another process (waited for it too long); find it with `fuser {path}`, then try again")]
    SessionLockBusy { path: PathBuf },
    #[error("no room to save the session next to {path} ({source}); free some disk space, then try again")]
    NoRoom {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} has mode {mode:04o} and may be readable by other users: run `chmod 600 {path}`"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("{path} {what}; it was left in place: remove it, then run `spec-kitty auth login`")]
    NotAFile { path: PathBuf, what: String },
    #[error("{path} is unreadable ({reason}); it was left in place: run `spec-kitty auth login` to replace it")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} has version {version}, this CLI reads only version 2: upgrade spec-kitty or run `spec-kitty auth login`")]
    UnsupportedVersion { path: PathBuf, version: String },
    #[error("{path} is missing; the session cannot be decrypted without it: run `spec-kitty auth login`")]
    MissingSalt { path: PathBuf },
    #[error("{path} holds {len} bytes, expected 16; the session cannot be decrypted: run `spec-kitty auth login`")]
    BadSalt { path: PathBuf, len: usize },
    #[error("cannot decrypt {path}: it was written on another host or by another user (the key derives from hostname:uid), or it is damaged: run `spec-kitty auth login`")]
    DecryptFailed { path: PathBuf },
    #[error("{path} decrypted but is not a session ({source}): run `spec-kitty auth login`")]
    BadPlaintext {
        path: PathBuf,
        #[source]
        source: SessionFormatError,
    },
    #[error(transparent)]
    Injected(#[from] InjectedFault),
}

impl StorageError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Whether the file exists but cannot be turned into a session (as opposed to a passing
    /// failure to access it, which trying again may cure).
    pub fn is_unreadable_session(&self) -> bool {
        !matches!(
            self,
            StorageError::Io { .. }
                | StorageError::Injected(_)
                | StorageError::SessionLockBusy { .. }
                | StorageError::NoRoom { .. }
        )
    }

    fn from_read(path: &Path, e: ReadError) -> Self {
        match e {
            ReadError::Missing => StorageError::io(path, std::io::ErrorKind::NotFound.into()),
            ReadError::NotAFile(kind) => StorageError::NotAFile {
                path: path.to_path_buf(),
                what: format!("is a {kind}, not a regular file"),
            },
            ReadError::TooLarge { size, cap } => StorageError::corrupt(
                path,
                format!("it is {size} bytes, more than any session ({cap})"),
            ),
            ReadError::Io(e) => StorageError::io(path, e),
        }
    }
}

/// Reads, writes and deletes the session of one runtime root.
pub struct SessionStore {
    root: RuntimeRoot,
    passphrase: String,
    /// The last derived key and the salt it belongs to: scrypt is slow by design and the salt
    /// changes only when the session is deleted.
    key_cache: Mutex<Option<([u8; SALT_LEN], [u8; 32])>>,
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
            passphrase: passphrase.into(),
            key_cache: Mutex::new(None),
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
        let path = self.root.session_file();
        let file = match fsutil::read_regular(&path, MAX_SESSION_BYTES) {
            Ok(file) => file,
            Err(ReadError::Missing) => return Ok(None),
            Err(e) => return Err(StorageError::from_read(&path, e)),
        };
        let mode = file.mode & 0o777;
        if mode & 0o077 != 0 {
            return Err(StorageError::InsecurePermissions { path, mode });
        }
        // Validate the envelope before the salt so a damaged file is named as such.
        let (nonce, ciphertext) = parse_envelope(&file.bytes, &path)?;
        let salt = match self.read_salt() {
            // A concurrent delete removed the salt after we opened the session: no session.
            Err(StorageError::MissingSalt { .. }) if !path.exists() => return Ok(None),
            other => other?,
        };
        let plaintext = self.cipher_for(&salt).decrypt(&nonce, &ciphertext, &path)?;
        StoredSession::from_json(&plaintext)
            .map(Some)
            .map_err(|source| StorageError::BadPlaintext { path, source })
    }

    /// Takes `session.lock` (waiting until `deadline`) for a read-decide-write or
    /// read-decide-delete in one hold.
    pub fn lock(&self, deadline: Deadline) -> Result<LockedSession<'_>, StorageError> {
        LockedSession::acquire(self, deadline)
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

    fn cipher_for(&self, salt: &[u8; SALT_LEN]) -> SessionCipher {
        let mut cache = self.key_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached_salt, key)) = cache.as_ref() {
            if cached_salt == salt {
                return SessionCipher::from_key(*key);
            }
        }
        let key = derive_key(&self.passphrase, salt);
        *cache = Some((*salt, key));
        SessionCipher::from_key(key)
    }

    fn forget_key(&self) {
        *self.key_cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn read_salt(&self) -> Result<[u8; SALT_LEN], StorageError> {
        let path = self.root.salt_file();
        let bytes = match fsutil::read_regular(&path, 1024) {
            Ok(file) => file.bytes,
            Err(ReadError::Missing) => return Err(StorageError::MissingSalt { path }),
            Err(e) => return Err(StorageError::from_read(&path, e)),
        };
        let len = bytes.len();
        bytes
            .try_into()
            .map_err(|_| StorageError::BadSalt { path, len })
    }

    /// The existing salt, or a new random one written with `O_EXCL` (caller holds the file lock).
    fn read_or_create_salt(&self) -> Result<[u8; SALT_LEN], StorageError> {
        match self.read_salt() {
            Err(StorageError::MissingSalt { path }) => {
                let mut salt = [0u8; SALT_LEN];
                aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut OsRng, &mut salt);
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| StorageError::io(&path, e))?;
                file.write_all(&salt)
                    .and_then(|_| file.sync_all())
                    .map_err(|e| StorageError::io(&path, e))?;
                Ok(salt)
            }
            other => other,
        }
    }
}
