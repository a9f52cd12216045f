//! Session ciphers this process derived, by salt. scrypt is deliberately slow (tens of ms); runs
//! that share a salt (an exploration's schedules, `RunOptions::shared_salt`) derive its key once,
//! for seeding and for decrypting the file's versions in the timeline. A few entries only: every
//! other run has a salt of its own.

use spec_kitty::storage::{machine_passphrase, SessionCipher};
use std::sync::{Arc, Mutex, OnceLock};

type Cache = Mutex<Vec<(Vec<u8>, Arc<SessionCipher>)>>;
static CIPHERS: OnceLock<Cache> = OnceLock::new();
const KEPT: usize = 8;

/// The cipher of `salt` under this machine's passphrase.
pub fn cipher(salt: &[u8]) -> Arc<SessionCipher> {
    let cache = CIPHERS.get_or_init(Mutex::default);
    if let Some((_, c)) = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(s, _)| s == salt)
    {
        return c.clone();
    }
    let derived = Arc::new(SessionCipher::derive(&machine_passphrase(), salt));
    let mut kept = cache.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= KEPT {
        kept.remove(0);
    }
    kept.push((salt.to_vec(), derived.clone()));
    derived
}
