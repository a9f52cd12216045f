//! The session key of one runtime root: the salt file, the machine passphrase, and the derived
//! key cached in memory.
//!
//! Why a cache: scrypt is slow by design (tens of milliseconds) and the salt changes only when
//! the session is deleted; the cache is keyed by the salt, so a new salt never meets an old key,
//! and [`Keys::forget`] drops it with the session.

use super::cipher::{derive_key, SessionCipher, SALT_LEN};
use super::error::StorageError;
use crate::fsutil::{self, ReadError};
use crate::paths::RuntimeRoot;
use aes_gcm::aead::OsRng;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

/// The salt and key of one root.
pub struct Keys {
    root: RuntimeRoot,
    passphrase: String,
    /// The last derived key and the salt it belongs to.
    cache: Mutex<Option<([u8; SALT_LEN], [u8; 32])>>,
}

impl Keys {
    pub fn new(root: &RuntimeRoot, passphrase: String) -> Self {
        Keys {
            root: root.clone(),
            passphrase,
            cache: Mutex::new(None),
        }
    }

    pub fn cipher_for(&self, salt: &[u8; SALT_LEN]) -> SessionCipher {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached_salt, key)) = cache.as_ref() {
            if cached_salt == salt {
                return SessionCipher::from_key(*key);
            }
        }
        let key = derive_key(&self.passphrase, salt);
        *cache = Some((*salt, key));
        SessionCipher::from_key(key)
    }

    pub fn forget(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
