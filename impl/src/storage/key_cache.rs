//! The derived session key, cached in the kernel user keyring between processes.
//!
//! Why: every command that reads the session pays one scrypt derivation (N=2^14, r=8: ~50 ms,
//! by design of the file format), although the key only changes with the salt. The passphrase
//! is public (`hostname:uid`), so the key is exactly as secret as `session.salt`, a 0600 file of
//! this user: caching it where only this user can read it, in kernel memory and never on disk,
//! gives nothing away that the salt file does not (the threat model: `docs/key-cache.md`).
//!
//! The rules:
//! - An entry is named by a SHA-256 of the passphrase and the salt (neither appears in it), so a
//!   new salt or another passphrase never meets an old key: they simply miss.
//! - Entries expire ([`KEY_CACHE_TTL_ENV`], default [`DEFAULT_TTL`]; `0` disables the cache).
//! - Deleting the session drops its entry ([`super::keys`]); a key read from the keyring is
//!   trusted only once it has opened the session (else it is replaced by a fresh derivation),
//!   and it is never used to seal one.
//! - No more than [`MAX_ENTRIES`] entries of one prefix exist at once: they share the user's
//!   small key quota (200 keys, 20 000 bytes by default) with every other program.
//! - Where the keyring is unavailable (containers often forbid `keyctl`: `EPERM`, `ENOSYS`,
//!   `EACCES`) every call is skipped for the rest of the process after one debug line, and the
//!   key is derived as before.

use super::keyring::{self, KeyringError};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Seconds a cached key lives (`0` disables the cache). Unset or empty: [`DEFAULT_TTL`].
pub const KEY_CACHE_TTL_ENV: &str = "SPEC_KITTY_KEY_CACHE_TTL";
/// How long a cached key lives when [`KEY_CACHE_TTL_ENV`] is not set: long enough that a working
/// session of commands stays warm, short enough that an entry outlives a deleted root briefly.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// The description prefix of production entries (versioned: a change of scheme misses).
pub const PRODUCTION_PREFIX: &str = "spec-kitty:session-key:v1:";
/// At most this many entries of one prefix exist at once; storing one more evicts the entries
/// closest to expiry.
pub const MAX_ENTRIES: usize = 16;

/// The derived-key cache: where entries live (a description prefix) and for how long.
#[derive(Debug)]
pub struct KeyCache {
    prefix: String,
    /// `None`: disabled.
    ttl: Option<Duration>,
    /// Set on the first call the kernel refuses outright; no further calls are made.
    unavailable: AtomicBool,
}

impl KeyCache {
    /// The production cache, configured by [`KEY_CACHE_TTL_ENV`] (read now).
    pub fn from_env() -> Self {
        let ttl = match std::env::var(KEY_CACHE_TTL_ENV) {
            Err(_) => Some(DEFAULT_TTL),
            Ok(v) => match parse_ttl(&v) {
                Ok(ttl) => ttl,
                Err(()) => {
                    tracing::warn!(
                        "{KEY_CACHE_TTL_ENV}={v:?} is not a number of seconds; using {} s",
                        DEFAULT_TTL.as_secs()
                    );
                    Some(DEFAULT_TTL)
                }
            },
        };
        Self::new(PRODUCTION_PREFIX, ttl)
    }

    /// A cache that never stores or finds anything.
    pub fn disabled() -> Self {
        Self::new(PRODUCTION_PREFIX, None)
    }

    /// A cache of entries under `prefix` (tests use their own, so they can remove all they
    /// made), living `ttl` (`None` or zero: disabled).
    pub fn new(prefix: impl Into<String>, ttl: Option<Duration>) -> Self {
        let prefix = prefix.into();
        assert!(
            !prefix.is_empty() && !prefix.contains(char::is_whitespace),
            "a key cache prefix is non-empty and has no whitespace"
        );
        Self {
            prefix,
            ttl: ttl.filter(|t| !t.is_zero()),
            unavailable: AtomicBool::new(false),
        }
    }

    /// How long entries live; `None` when the cache is disabled.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// The entry name for a passphrase and salt: the prefix and a SHA-256 over both (each
    /// length-prefixed, under a domain label), so neither appears in it.
    pub fn description(&self, passphrase: &str, salt: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(b"spec-kitty session key cache v1\0");
        h.update((passphrase.len() as u64).to_be_bytes());
        h.update(passphrase.as_bytes());
        h.update((salt.len() as u64).to_be_bytes());
        h.update(salt);
        format!("{}{}", self.prefix, hex::encode(h.finalize()))
    }

    /// The cached key for `passphrase` and `salt`, if any. Unverified: the caller proves it by
    /// opening the session with it.
    pub fn get(&self, passphrase: &str, salt: &[u8]) -> Option<[u8; 32]> {
        if !self.usable() {
            return None;
        }
        match keyring::load(&self.description(passphrase, salt)) {
            Ok(Some(key)) => {
                tracing::debug!("key cache: hit");
                Some(key)
            }
            Ok(None) => {
                tracing::debug!("key cache: miss");
                None
            }
            Err(e) => {
                self.failed("find", e);
                None
            }
        }
    }

    /// Caches `key` for `passphrase` and `salt` (best effort). Returns whether it was stored.
    pub fn put(&self, passphrase: &str, salt: &[u8], key: &[u8; 32]) -> bool {
        let Some(ttl) = self.ttl.filter(|_| self.usable()) else {
            return false;
        };
        let description = self.description(passphrase, salt);
        self.make_room(&description);
        match keyring::store(&description, key, ttl) {
            Ok(()) => {
                tracing::debug!("key cache: stored for {} s", ttl.as_secs());
                true
            }
            Err(e) => {
                self.failed("store", e);
                false
            }
        }
    }

    /// Drops the entry for `passphrase` and `salt` (best effort; whether or not the cache is
    /// enabled now, an earlier process may have stored it).
    pub fn forget(&self, passphrase: &str, salt: &[u8]) {
        if self.unavailable.load(Ordering::Relaxed) {
            return;
        }
        match keyring::remove(&self.description(passphrase, salt)) {
            Ok(true) => tracing::debug!("key cache: dropped"),
            Ok(false) => {}
            Err(e) => self.failed("drop", e),
        }
    }

    /// Drops every entry under this cache's prefix (tests' clean-up; a user's `auth doctor`).
    /// Returns how many were dropped.
    pub fn purge(&self) -> usize {
        match keyring::entries(&self.prefix) {
            Ok(entries) => {
                for e in &entries {
                    keyring::remove_id(e.id);
                }
                entries.len()
            }
            Err(_) => 0,
        }
    }

    /// Drops the entry named `description` (one of [`entries`](Self::entries)); best effort.
    pub fn remove(&self, description: &str) {
        if description.starts_with(&self.prefix) {
            let _ = keyring::remove(description);
        }
    }

    /// The names of the live entries under this cache's prefix.
    pub fn entries(&self) -> Vec<String> {
        keyring::entries(&self.prefix)
            .map(|v| v.into_iter().map(|e| e.description).collect())
            .unwrap_or_default()
    }

    fn usable(&self) -> bool {
        self.ttl.is_some() && !self.unavailable.load(Ordering::Relaxed)
    }

    /// Keeps at most [`MAX_ENTRIES`] - 1 other entries, dropping those closest to expiry.
    fn make_room(&self, storing: &str) {
        let Ok(mut entries) = keyring::entries(&self.prefix) else {
            return;
        };
        entries.retain(|e| e.description != storing);
        if entries.len() < MAX_ENTRIES {
            return;
        }
        entries.sort_by_key(|e| e.expires_in_s);
        let excess = entries.len() + 1 - MAX_ENTRIES;
        for e in &entries[..excess] {
            keyring::remove_id(e.id);
        }
        tracing::debug!("key cache: evicted {excess} entries (at most {MAX_ENTRIES})");
    }

    fn failed(&self, what: &str, e: KeyringError) {
        match e {
            KeyringError::Unavailable(_) => {
                if !self.unavailable.swap(true, Ordering::Relaxed) {
                    tracing::debug!("key cache: {e} on {what}; deriving the key instead");
                }
            }
            KeyringError::Failed(_) => tracing::debug!("key cache: {what}: {e}"),
        }
    }
}

/// `KEY_CACHE_TTL_ENV`'s value: whole seconds, `0` disabling; empty means the default.
fn parse_ttl(value: &str) -> Result<Option<Duration>, ()> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(Some(DEFAULT_TTL));
    }
    let secs: u64 = value.parse().map_err(|_| ())?;
    Ok((secs > 0).then(|| Duration::from_secs(secs).min(keyring::MAX_TTL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_variable_is_seconds_with_zero_disabling() {
        assert_eq!(parse_ttl(""), Ok(Some(DEFAULT_TTL)));
        assert_eq!(parse_ttl("0"), Ok(None));
        assert_eq!(parse_ttl(" 60 "), Ok(Some(Duration::from_secs(60))));
        assert_eq!(parse_ttl("99999999999"), Ok(Some(keyring::MAX_TTL)));
        assert_eq!(parse_ttl("-1"), Err(()));
        assert_eq!(parse_ttl("1h"), Err(()));
    }

    #[test]
    fn descriptions_name_neither_salt_nor_passphrase_and_differ_for_each() {
        let cache = KeyCache::new("t:", None);
        let salt = [0xabu8; 16];
        let d = cache.description("host:1000", &salt);
        assert!(d.starts_with("t:") && d.len() == 2 + 64, "{d}");
        assert!(!d.contains(&hex::encode(salt)) && !d.contains("host"));
        assert_ne!(d, cache.description("host:1001", &salt));
        assert_ne!(d, cache.description("host:1000", &[0xacu8; 16]));
        // Length prefixes: moving bytes between passphrase and salt changes the name.
        assert_ne!(cache.description("ab", b"c"), cache.description("a", b"bc"));
    }

    #[test]
    fn a_disabled_cache_makes_no_call() {
        let cache = KeyCache::new("spec-kitty-unit-disabled:", Some(Duration::ZERO));
        assert_eq!(cache.ttl(), None);
        assert!(!cache.put("p", b"s", &[1u8; 32]));
        assert_eq!(cache.get("p", b"s"), None);
    }
}
