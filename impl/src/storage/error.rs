//! Why the session could not be read or written: one error type for the whole store, each
//! message naming the fix, and the one judgement callers need (is the file itself unusable, or
//! might trying again help).

use crate::fsutil::ReadError;
use crate::session::SessionFormatError;
use crate::syncpoint::InjectedFault;
use std::path::{Path, PathBuf};

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
    pub(super) fn io(path: &Path, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
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

    pub(super) fn from_read(path: &Path, e: ReadError) -> Self {
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
