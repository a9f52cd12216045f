//! The session key of one runtime root: the salt file, the machine passphrase, and the derived
//! key cached in memory and, across processes, in the kernel keyring ([`KeyCache`]).
//!
//! Why a cache: scrypt is slow by design (tens of milliseconds) and the salt changes only when
//! the session is deleted. Both caches are keyed by the salt, so a new salt never meets an old
//! key; [`Keys::forget`] drops both with the session. The in-memory cache only ever holds a key
//! this process derived or proved (by opening the session with it), and only such a key seals a
//! session: a wrong key in the keyring can cost a derivation, never a file nobody can open.

use super::cipher::{derive_key, SessionCipher, NONCE_LEN, SALT_LEN};
use super::error::StorageError;
use super::key_cache::KeyCache;
use crate::fsutil::{self, ReadError};
use crate::paths::RuntimeRoot;
use aes_gcm::aead::OsRng;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

/// Where the key of the last read or write came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// This process had already derived or proved it.
    Memory,
    /// The kernel keyring, proved by opening the session.
    KeyCache,
    /// A fresh scrypt derivation.
    Derived,
}

/// The salt and key of one root.
pub struct Keys {
    root: RuntimeRoot,
    passphrase: String,
    /// The last derived or proved key and the salt it belongs to.
    cache: Mutex<Option<([u8; SALT_LEN], [u8; 32])>>,
    key_cache: KeyCache,
    last_source: Mutex<Option<KeySource>>,
}

impl Keys {
    pub fn new(root: &RuntimeRoot, passphrase: String, key_cache: KeyCache) -> Self {
        Keys {
            root: root.clone(),
            passphrase,
            cache: Mutex::new(None),
            key_cache,
            last_source: Mutex::new(None),
        }
    }

    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    pub fn key_cache(&self) -> &KeyCache {
        &self.key_cache
    }

    pub fn last_source(&self) -> Option<KeySource> {
        *lock(&self.last_source)
    }

    /// Decrypts a session sealed under `salt`: with the key this process holds, else the
    /// keyring's (kept only if it opens the session), else a fresh derivation.
    pub fn open(
        &self,
        salt: &[u8; SALT_LEN],
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        path: &Path,
    ) -> Result<Vec<u8>, StorageError> {
        if let Some(key) = self.remembered(salt) {
            self.note(KeySource::Memory);
            return SessionCipher::from_key(key).decrypt(nonce, ciphertext, path);
        }
        let cached = self.key_cache.get(&self.passphrase, salt);
        if let Some(key) = cached {
            if let Ok(plaintext) = SessionCipher::from_key(key).decrypt(nonce, ciphertext, path) {
                self.remember(salt, key);
                self.note(KeySource::KeyCache);
                return Ok(plaintext);
            }
        }
        let key = self.derive(salt, cached);
        SessionCipher::from_key(key).decrypt(nonce, ciphertext, path)
    }

    /// The cipher that seals a session under `salt`: only ever a key this process derived or
    /// proved, never one merely found in the keyring.
    pub fn cipher_for(&self, salt: &[u8; SALT_LEN]) -> SessionCipher {
        match self.remembered(salt) {
            Some(key) => {
                self.note(KeySource::Memory);
                SessionCipher::from_key(key)
            }
            None => SessionCipher::from_key(self.derive(salt, None)),
        }
    }

    /// Drops the keys of `salt` (the deleted session's, when it could be read) and of the salt
    /// this process last used, from memory and from the keyring.
    pub fn forget(&self, salt: Option<[u8; SALT_LEN]>) {
        let remembered = lock(&self.cache).take().map(|(s, _)| s);
        for s in [salt, remembered.filter(|r| Some(*r) != salt)]
            .into_iter()
            .flatten()
        {
            self.key_cache.forget(&self.passphrase, &s);
        }
    }

    fn remembered(&self, salt: &[u8; SALT_LEN]) -> Option<[u8; 32]> {
        match *lock(&self.cache) {
            Some((s, key)) if s == *salt => Some(key),
            _ => None,
        }
    }

    fn remember(&self, salt: &[u8; SALT_LEN], key: [u8; 32]) {
        *lock(&self.cache) = Some((*salt, key));
    }

    fn note(&self, source: KeySource) {
        *lock(&self.last_source) = Some(source);
    }

    /// Derives the key of `salt` and shares it through the keyring (unless the keyring already
    /// holds exactly this key).
    fn derive(&self, salt: &[u8; SALT_LEN], cached: Option<[u8; 32]>) -> [u8; 32] {
        let key = derive_key(&self.passphrase, salt);
        self.remember(salt, key);
        self.note(KeySource::Derived);
        if cached != Some(key) && self.key_cache.put(&self.passphrase, salt, &key) {
            // A delete may have removed this salt while we derived (readers do not take
            // session.lock): the deleter drops entries after removing the files, and we check
            // the file after storing, so one of us always sees the other.
            if self.read_salt().ok() != Some(*salt) {
                self.key_cache.forget(&self.passphrase, salt);
            }
        }
        key
    }

    pub fn read_salt(&self) -> Result<[u8; SALT_LEN], StorageError> {
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
    pub fn read_or_create_salt(&self) -> Result<[u8; SALT_LEN], StorageError> {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
