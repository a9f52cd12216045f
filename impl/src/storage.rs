//! The encrypted session store: `<root>/auth/session.json`, byte-compatible with spec-kitty-cli.
//!
//! File: `{"version": 2, "nonce": "<24 hex>", "ciphertext": "<hex of ciphertext||tag>"}`,
//! AES-256-GCM with a fresh 12-byte nonce per write and no associated data. Key: scrypt
//! (N=2^14, r=8, p=1, 32 bytes) over `"<hostname>:<uid>"` with the 16 raw bytes of
//! `session.salt`. Writes go to a temp file, fsync, chmod 0600, rename, fsync the directory, all
//! under an exclusive flock of `session.lock`.
//!
//! Reads never delete or rewrite anything: a damaged file is reported with its reason so the user
//! (or `auth doctor`) decides. Deleting is an explicit, separate call.

use crate::paths::RuntimeRoot;
use crate::session::{SessionFormatError, StoredSession};
use crate::syncpoint::{self, points};
use aes_gcm::aead::{Aead, AeadCore, OsRng};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The only session file version this store reads or writes.
pub const FILE_VERSION: u64 = 2;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why the session could not be read or written. Every message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} has mode {mode:04o} and may be readable by other users: run `chmod 600 {path}`"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
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
    Injected(#[from] syncpoint::InjectedFault),
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

    /// Whether the file exists but cannot be turned into a session (as opposed to an I/O error).
    pub fn is_unreadable_session(&self) -> bool {
        !matches!(self, StorageError::Io { .. } | StorageError::Injected(_))
    }
}

/// The machine passphrase `"<gethostname()>:<getuid()>"` the Python original derives keys from.
pub fn machine_passphrase() -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    format!("{host}:{}", rustix::process::getuid().as_raw())
}

/// AES-256-GCM with a key derived from a passphrase and salt: the file format without the I/O.
pub struct SessionCipher {
    cipher: Aes256Gcm,
}

impl SessionCipher {
    /// Derives the key: scrypt(N=2^14, r=8, p=1, 32 bytes). Deliberately slow (tens of ms).
    pub fn derive(passphrase: &str, salt: &[u8]) -> Self {
        Self::from_key(derive_key(passphrase, salt))
    }

    fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// The `session.json` contents for `plaintext` sealed with `nonce` (no trailing newline).
    pub fn seal(&self, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> String {
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        format!(
            "{{\"version\": {FILE_VERSION}, \"nonce\": \"{}\", \"ciphertext\": \"{}\"}}",
            hex::encode(nonce),
            hex::encode(ciphertext)
        )
    }

    /// Decrypts `session.json` contents. `path` only names the file in errors.
    pub fn open(&self, contents: &[u8], path: &Path) -> Result<Vec<u8>, StorageError> {
        let (nonce, ciphertext) = parse_envelope(contents, path)?;
        self.decrypt(&nonce, &ciphertext, path)
    }

    fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        path: &Path,
    ) -> Result<Vec<u8>, StorageError> {
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| StorageError::DecryptFailed {
                path: path.to_path_buf(),
            })
    }
}

/// scrypt(N=2^14, r=8, p=1) → 32 bytes, as the Python original derives its key.
pub fn derive_key(passphrase: &str, salt: &[u8]) -> [u8; 32] {
    let params = scrypt::Params::new(14, 8, 1, 32).expect("constant scrypt parameters are valid");
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, &mut key)
        .expect("32-byte output is valid for scrypt");
    key
}

/// Validates the outer JSON and returns (nonce, ciphertext||tag).
fn parse_envelope(
    contents: &[u8],
    path: &Path,
) -> Result<([u8; NONCE_LEN], Vec<u8>), StorageError> {
    if contents.iter().all(u8::is_ascii_whitespace) {
        return Err(StorageError::corrupt(path, "the file is empty"));
    }
    let value: serde_json::Value = serde_json::from_slice(contents)
        .map_err(|e| StorageError::corrupt(path, format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| StorageError::corrupt(path, "not a JSON object"))?;
    match obj.get("version") {
        Some(v) if v.as_u64() == Some(FILE_VERSION) => {}
        Some(v) => {
            return Err(StorageError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: v.to_string(),
            })
        }
        None => return Err(StorageError::corrupt(path, "no `version` key")),
    }
    let field = |name: &str| -> Result<Vec<u8>, StorageError> {
        let text = obj
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| StorageError::corrupt(path, format!("no `{name}` string")))?;
        hex::decode(text)
            .map_err(|e| StorageError::corrupt(path, format!("`{name}` is not hex: {e}")))
    };
    let nonce: [u8; NONCE_LEN] = field("nonce")?.try_into().map_err(|v: Vec<u8>| {
        StorageError::corrupt(path, format!("`nonce` is {} bytes, expected 12", v.len()))
    })?;
    let ciphertext = field("ciphertext")?;
    if ciphertext.len() < TAG_LEN {
        return Err(StorageError::corrupt(
            path,
            format!(
                "`ciphertext` is {} bytes, shorter than the 16-byte tag",
                ciphertext.len()
            ),
        ));
    }
    Ok((nonce, ciphertext))
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

    /// Bounds the wait for `session.lock` (default [`SESSION_LOCK_WAIT`]).
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
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        let mode = file
            .metadata()
            .map_err(|e| StorageError::io(&path, e))?
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(StorageError::InsecurePermissions { path, mode });
        }
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)
            .map_err(|e| StorageError::io(&path, e))?;
        // Validate the envelope before the salt so a damaged file is named as such.
        let (nonce, ciphertext) = parse_envelope(&contents, &path)?;
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

    /// Encrypts and atomically replaces the session (temp file, fsync, rename, fsync dir).
    pub fn write(&self, session: &StoredSession) -> Result<(), StorageError> {
        self.ensure_auth_dir()?;
        let _guard =
            SessionFileLock::acquire(&self.root.session_lock_file(), self.session_lock_wait)?;
        let salt = self.read_or_create_salt()?;
        let nonce: [u8; NONCE_LEN] = Aes256Gcm::generate_nonce(&mut OsRng).into();
        let contents = self.cipher_for(&salt).seal(&session.to_json(), nonce);

        let path = self.root.session_file();
        let tmp = path.with_extension("json.tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| StorageError::io(&tmp, e))?;
        file.write_all(contents.as_bytes())
            .and_then(|_| file.sync_all())
            .and_then(|_| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)))
            .map_err(|e| StorageError::io(&tmp, e))?;
        drop(file);
        syncpoint::hit(points::TEMP_WRITTEN)?;
        fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
        sync_dir(&self.root.auth_dir())
    }

    /// Deletes the session and its salt. Deleting what is not there is not an error.
    pub fn delete(&self) -> Result<(), StorageError> {
        let auth_dir = self.root.auth_dir();
        if !auth_dir.exists() {
            return Ok(());
        }
        let _guard =
            SessionFileLock::acquire(&self.root.session_lock_file(), self.session_lock_wait)?;
        for path in [
            self.root.session_file(),
            self.root.session_file().with_extension("json.tmp"),
            self.root.salt_file(),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(&path, e)),
            }
        }
        *self.key_cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
        sync_dir(&auth_dir)
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

    fn read_salt(&self) -> Result<[u8; SALT_LEN], StorageError> {
        let path = self.root.salt_file();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(StorageError::MissingSalt { path })
            }
            Err(e) => return Err(StorageError::io(&path, e)),
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

    fn ensure_auth_dir(&self) -> Result<(), StorageError> {
        let dir = self.root.auth_dir();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| StorageError::io(&dir, e))?;
        }
        Ok(())
    }
}

/// fsyncs a directory so a rename or unlink in it is durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// How long a writer waits for `session.lock` by default. Holders keep it for one file write, so
/// a wait this long means a stuck process; failing beats hanging while the refresh lock is held.
pub const SESSION_LOCK_WAIT: Duration = Duration::from_secs(10);
const SESSION_LOCK_POLL: Duration = Duration::from_millis(10);

/// An exclusive flock of `session.lock`, interoperable with Python's `filelock`, which unlinks the
/// file on release: after locking, a lock on an unlinked inode protects nothing, so retry.
struct SessionFileLock {
    _file: File,
}

impl SessionFileLock {
    fn acquire(path: &Path, wait: Duration) -> Result<Self, StorageError> {
        let deadline = Instant::now() + wait;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|e| StorageError::io(path, e))?;
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
                Err(e) if crate::lock::is_contention(e) => {}
                Err(e) => return Err(StorageError::io(path, e.into())),
            }
            if Instant::now() >= deadline {
                return Err(StorageError::io(
                    path,
                    std::io::Error::new(
                        ErrorKind::TimedOut,
                        format!(
                            "another process has held it for over {} ms; find it with `fuser {}`",
                            wait.as_millis(),
                            path.display()
                        ),
                    ),
                ));
            }
            std::thread::sleep(SESSION_LOCK_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let cipher = SessionCipher::derive("h:1", &[7u8; 16]);
        let sealed = cipher.seal(b"{}", [1u8; 12]);
        assert!(sealed
            .starts_with(r#"{"version": 2, "nonce": "010101010101010101010101", "ciphertext": ""#));
        assert_eq!(
            cipher.open(sealed.as_bytes(), Path::new("x")).unwrap(),
            b"{}"
        );
    }

    #[test]
    fn passphrase_is_host_colon_uid() {
        let p = machine_passphrase();
        let (host, uid) = p.rsplit_once(':').unwrap();
        assert!(!host.is_empty());
        assert_eq!(
            uid.parse::<u32>().unwrap(),
            rustix::process::getuid().as_raw()
        );
    }
}
