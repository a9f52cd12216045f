//! The session file's cryptography and envelope, without any I/O: scrypt key derivation from
//! the machine passphrase and the salt, AES-256-GCM sealing, and parsing the outer JSON.
//!
//! Why apart: these are the byte-exact parts of the format shared with the Python original,
//! checked against its test vectors; keeping them pure makes them easy to test and to fuzz.

use super::error::StorageError;
use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use std::path::Path;

/// The only session file version this store reads or writes.
pub const FILE_VERSION: u64 = 2;
pub(super) const SALT_LEN: usize = 16;
pub(super) const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The machine passphrase `"<gethostname()>:<getuid()>"` the Python original derives keys from.
pub fn machine_passphrase() -> String {
    format!(
        "{}:{}",
        crate::paths::hostname(),
        rustix::process::getuid().as_raw()
    )
}

/// scrypt(N=2^14, r=8, p=1) → 32 bytes, as the Python original derives its key.
pub fn derive_key(passphrase: &str, salt: &[u8]) -> [u8; 32] {
    let params = scrypt::Params::new(14, 8, 1, 32).expect("constant scrypt parameters are valid");
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, &mut key)
        .expect("32-byte output is valid for scrypt");
    key
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

    pub(super) fn from_key(key: [u8; 32]) -> Self {
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

    pub(super) fn decrypt(
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

/// Validates the outer JSON and returns (nonce, ciphertext||tag).
pub(super) fn parse_envelope(
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
                version: v.to_string().chars().take(40).collect(),
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
