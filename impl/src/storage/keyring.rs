//! The Linux kernel user keyring (`keyctl(2)`, through the `linux-keyutils` crate), reduced to
//! what the key cache needs: find, store with an expiry, drop, and list its own entries.
//!
//! Why a module of its own: the kernel's rules on who may read a key are subtle (see
//! [`store`]), every call can be refused where a container forbids `keyctl`, and none of that
//! belongs in the cache's policy ([`super::key_cache`]).
//!
//! Entries are `user` keys linked into the user keyring (`@u`): one per uid, in kernel memory,
//! never written to disk (kernel memory is not swapped out), gone at reboot.

use std::fmt;
use std::time::Duration;

/// Why a keyring call failed, as far as the cache cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringError {
    /// The keyring cannot be used in this process at all: `keyctl` is forbidden (`EPERM`,
    /// `EACCES`: seccomp, an LSM) or absent (`ENOSYS`: a kernel without keys, a non-Linux OS).
    Unavailable(&'static str),
    /// This one call failed (quota exceeded, out of memory, ...); the next one may succeed.
    Failed(&'static str),
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::Unavailable(why) => write!(f, "keyring unavailable ({why})"),
            KeyringError::Failed(why) => write!(f, "keyring call failed ({why})"),
        }
    }
}

/// One of our entries as `/proc/keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i32,
    pub description: String,
    /// Seconds until it expires (`u64::MAX`: no expiry).
    pub expires_in_s: u64,
}

#[cfg(target_os = "linux")]
use linux_keyutils::{
    Key, KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, KeySerialId, Permission,
};

#[cfg(target_os = "linux")]
fn classify(e: KeyError) -> KeyringError {
    match e {
        KeyError::PermissionDenied => KeyringError::Unavailable("EPERM"),
        KeyError::AccessDenied => KeyringError::Unavailable("EACCES"),
        KeyError::OperationNotSupported => KeyringError::Unavailable("EOPNOTSUPP"),
        KeyError::Unknown(libc::ENOSYS) => KeyringError::Unavailable("ENOSYS"),
        KeyError::QuotaExceeded => KeyringError::Failed("EDQUOT: the user's key quota is full"),
        KeyError::OutOfMemory => KeyringError::Failed("ENOMEM"),
        KeyError::InvalidArguments => KeyringError::Failed("EINVAL"),
        KeyError::KeyExpired => KeyringError::Failed("EKEYEXPIRED"),
        KeyError::KeyRevoked => KeyringError::Failed("EKEYREVOKED"),
        KeyError::KeyDoesNotExist => KeyringError::Failed("ENOKEY"),
        _ => KeyringError::Failed("unexpected error"),
    }
}

/// Whether `e` means "no such (live) key": absent, expired, revoked or invalidated meanwhile.
#[cfg(target_os = "linux")]
fn is_gone(e: KeyError) -> bool {
    matches!(
        e,
        KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked
    )
}

#[cfg(target_os = "linux")]
fn find(description: &str) -> Result<Option<Key>, KeyringError> {
    let user = KeyRing::from_special_id(KeyRingIdentifier::User, false).map_err(classify)?;
    match user.search(description) {
        Ok(key) => Ok(Some(key)),
        Err(e) if is_gone(e) => Ok(None),
        Err(e) => Err(classify(e)),
    }
}

/// The 32-byte payload of the entry `description`; `Ok(None)` when there is none (or its payload
/// is not 32 bytes).
#[cfg(target_os = "linux")]
pub fn load(description: &str) -> Result<Option<[u8; 32]>, KeyringError> {
    let Some(key) = find(description)? else {
        return Ok(None);
    };
    // One byte more than a key, to notice a payload of another size (the kernel returns the
    // payload's full length whatever the buffer's).
    let mut buf = [0u8; 33];
    match key.read(&mut buf) {
        Ok(32) => {
            let mut out = [0u8; 32];
            out.copy_from_slice(&buf[..32]);
            Ok(Some(out))
        }
        Ok(_) => Ok(None),
        Err(e) if is_gone(e) => Ok(None),
        Err(e) => Err(classify(e)),
    }
}

/// Stores `payload` as the entry `description` in the user keyring, expiring after `ttl`
/// (at least 1 s, at most [`MAX_TTL`]), replacing any entry of that description.
#[cfg(target_os = "linux")]
pub fn store(description: &str, payload: &[u8], ttl: Duration) -> Result<(), KeyringError> {
    // Whether a process may read a key in `@u` by its id depends on whether it *possesses* it
    // (reaches it from its own session keyring), and a container's session keyring often does
    // not link `@u`. So the key is built in this process's own keyring (always possessed), given
    // its expiry and explicit permissions there, and only then linked into `@u`: it never sits
    // in `@u` without an expiry, whatever the session layout.
    let staging = KeyRing::from_special_id(KeyRingIdentifier::Process, true).map_err(classify)?;
    let key = staging.add_key(description, payload).map_err(classify)?;
    let finish = || -> Result<(), KeyError> {
        key.set_timeout(ttl.min(MAX_TTL).as_secs().max(1) as usize)?;
        // Possessor: everything. Same uid: find and read it (any process of this uid can anyway,
        // by linking `@u` into its session keyring). Group and others: nothing.
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::VIEW | Permission::READ | Permission::SEARCH)
            .build();
        key.set_perms(perms)?;
        // Replaces any entry of the same description in `@u`.
        KeyRing::from_special_id(KeyRingIdentifier::User, false)?.link_key(key)
    };
    let result = finish();
    if result.is_err() {
        let _ = key.invalidate();
    }
    let _ = staging.unlink_key(key);
    result.map_err(classify)
}

/// Invalidates the entry `description` (in every keyring at once); `Ok(false)` when there was
/// none.
#[cfg(target_os = "linux")]
pub fn remove(description: &str) -> Result<bool, KeyringError> {
    loop {
        let Some(key) = find(description)? else {
            return Ok(false);
        };
        match key.invalidate() {
            Ok(()) => return Ok(true),
            Err(e) if is_gone(e) => continue,
            Err(e) => return Err(classify(e)),
        }
    }
}

/// Invalidates the key with serial `id` (best effort: it may be gone already).
#[cfg(target_os = "linux")]
pub fn remove_id(id: i32) {
    let _ = Key::from_id(KeySerialId::new(id)).invalidate();
}

/// This uid's live entries whose description starts with `prefix`, from `/proc/keys` (which
/// lists the keys this process may view). Reading a file rather than the keyring's link list
/// keeps this free of any buffer whose size the kernel decides.
#[cfg(target_os = "linux")]
pub fn entries(prefix: &str) -> Result<Vec<Entry>, KeyringError> {
    let text = std::fs::read_to_string("/proc/keys")
        .map_err(|_| KeyringError::Failed("/proc/keys is not readable"))?;
    let uid = rustix::process::getuid().as_raw().to_string();
    Ok(text
        .lines()
        .filter_map(|line| parse_proc_keys_line(line, &uid, prefix))
        .collect())
}

// Elsewhere there is no kernel keyring: every call reports it unavailable.
#[cfg(not(target_os = "linux"))]
const NOT_LINUX: KeyringError = KeyringError::Unavailable("not Linux");
#[cfg(not(target_os = "linux"))]
pub fn load(_: &str) -> Result<Option<[u8; 32]>, KeyringError> {
    Err(NOT_LINUX)
}
#[cfg(not(target_os = "linux"))]
pub fn store(_: &str, _: &[u8], _: Duration) -> Result<(), KeyringError> {
    Err(NOT_LINUX)
}
#[cfg(not(target_os = "linux"))]
pub fn remove(_: &str) -> Result<bool, KeyringError> {
    Err(NOT_LINUX)
}
#[cfg(not(target_os = "linux"))]
pub fn remove_id(_: i32) {}
#[cfg(not(target_os = "linux"))]
pub fn entries(_: &str) -> Result<Vec<Entry>, KeyringError> {
    Err(NOT_LINUX)
}

/// One line of `/proc/keys`:
/// `<hex id> <flags> <usage> <timeout> <perm> <uid> <gid> <type> <description>: <summary>`.
/// Keeps live (`I`, not invalidated, revoked or dead) `user` keys of `uid` under `prefix`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_proc_keys_line(line: &str, uid: &str, prefix: &str) -> Option<Entry> {
    let mut fields = line.split_whitespace();
    let id = i32::from_str_radix(fields.next()?, 16).ok()?;
    let flags = fields.next()?;
    let _usage = fields.next()?;
    let timeout = fields.next()?;
    let _perm = fields.next()?;
    let owner = fields.next()?;
    let _gid = fields.next()?;
    let kind = fields.next()?;
    let description = fields.next()?.strip_suffix(':')?;
    let live = flags.starts_with('I') && !flags[1..].contains(['R', 'D', 'i', 'N']);
    if !live || owner != uid || kind != "user" || !description.starts_with(prefix) {
        return None;
    }
    Some(Entry {
        id,
        description: description.to_string(),
        expires_in_s: parse_timeout(timeout)?,
    })
}

/// `perm`, `expd`, or a number with a unit (`s`, `m`, `h`, `d`, `w`) as `/proc/keys` prints it.
fn parse_timeout(t: &str) -> Option<u64> {
    match t {
        "perm" => return Some(u64::MAX),
        "expd" => return Some(0),
        _ => {}
    }
    let unit = t.chars().last()?;
    let n: u64 = t[..t.len() - 1].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    Some(n * scale)
}

/// How long keys may last at most (`keyctl` takes an unsigned 32-bit number of seconds).
pub const MAX_TTL: Duration = Duration::from_secs(u32::MAX as u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_keys_lines_are_read_as_the_kernel_prints_them() {
        let line = "21c89675 I--Q---     1 59m 3f0b0000  1000  1000 user      pfx:abc: 32";
        let e = parse_proc_keys_line(line, "1000", "pfx:").unwrap();
        assert_eq!(
            e,
            Entry {
                id: 0x21c8_9675,
                description: "pfx:abc".into(),
                expires_in_s: 59 * 60
            }
        );
        // Other uid, other prefix, another type, invalidated, revoked: not ours or not live.
        assert!(parse_proc_keys_line(line, "0", "pfx:").is_none());
        assert!(parse_proc_keys_line(line, "1000", "other:").is_none());
        let ring = "21c89675 I--Q---     1 perm 3f0b0000  1000  1000 keyring   pfx:abc: empty";
        assert!(parse_proc_keys_line(ring, "1000", "pfx:").is_none());
        let gone = "21c89675 I--Q--i     1 59m 3f0b0000  1000  1000 user      pfx:abc: 32";
        assert!(parse_proc_keys_line(gone, "1000", "pfx:").is_none());
        let revoked = "21c89675 IR-Q---     1 59m 3f0b0000  1000  1000 user      pfx:abc: 32";
        assert!(parse_proc_keys_line(revoked, "1000", "pfx:").is_none());
    }

    #[test]
    fn timeouts_parse_in_every_unit() {
        assert_eq!(parse_timeout("perm"), Some(u64::MAX));
        assert_eq!(parse_timeout("expd"), Some(0));
        assert_eq!(parse_timeout("42s"), Some(42));
        assert_eq!(parse_timeout("3h"), Some(3 * 3600));
        assert_eq!(parse_timeout("2w"), Some(2 * 604_800));
        assert_eq!(parse_timeout("x"), None);
    }
}
