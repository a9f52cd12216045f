//! Reading the session: never blocking, never modifying, and refusing anything that is not a
//! regular, private file no larger than any session. A damaged file is reported with its reason
//! so the user (or `auth doctor`) decides; nothing is ever deleted because it could not be read.

use super::cipher::parse_envelope;
use super::error::StorageError;
use super::keys::Keys;
use crate::fsutil::{self, ReadError};
use crate::paths::RuntimeRoot;
use crate::session::StoredSession;

/// No valid session file is larger (a session is a few KiB even with many teams).
pub const MAX_SESSION_BYTES: u64 = 1 << 20;

/// Reads and decrypts the session of `root`. `Ok(None)` when there is none.
pub fn read_session(
    root: &RuntimeRoot,
    keys: &Keys,
) -> Result<Option<StoredSession>, StorageError> {
    let path = root.session_file();
    if let Some(e) = crate::hooks::io_fault(crate::hooks::IoOp::SessionRead) {
        return Err(StorageError::io(&path, e));
    }
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
    let salt = match keys.read_salt() {
        // A concurrent delete removed the salt after we opened the session: no session.
        Err(StorageError::MissingSalt { .. }) if !path.exists() => return Ok(None),
        other => other?,
    };
    let plaintext = keys.open(&salt, &nonce, &ciphertext, &path)?;
    StoredSession::from_json(&plaintext)
        .map(Some)
        .map_err(|source| StorageError::BadPlaintext { path, source })
}
