//! The derived-key cache in the kernel user keyring: a warm read skips scrypt, a rotated salt
//! or a deleted session never meets a stale key, a wrong cached key costs a derivation and never
//! a failure or a file sealed with it, and where `keyctl` is forbidden everything works as before.
//!
//! Library tests use a description prefix of their own and remove every entry they made; tests
//! of the binary (which uses the production prefix) remove the entries of their roots' salts.
//! Where `keyctl` is refused the tests that need the keyring skip with a printed reason, unless
//! `KITTY_AUTH_REQUIRE_KEYRING` is set (CI; `0` is unset), which makes that a failure.

mod common;

use common::{lockless_delete, session, spec_kitty_cmd, Root, Seeded};
use fake_saas::SaasConfig;
use spec_kitty::storage::{
    derive_key, machine_passphrase, KeyCache, KeySource, SessionCipher, SessionStore,
    KEY_CACHE_TTL_ENV, MAX_ENTRIES, PRODUCTION_PREFIX,
};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(120);

/// Entries under a prefix of this test's own, all removed when it ends.
struct TestCache {
    prefix: String,
}

impl TestCache {
    fn new(name: &str) -> Self {
        let prefix = format!("spec-kitty-test:{}:{name}:", std::process::id());
        Self { prefix }
    }

    fn cache(&self) -> KeyCache {
        KeyCache::new(self.prefix.clone(), Some(TTL))
    }

    fn store(&self, root: &Root) -> SessionStore {
        SessionStore::for_root(&root.root)
            .unwrap()
            .with_key_cache(self.cache())
    }
}

impl Drop for TestCache {
    fn drop(&mut self) {
        self.cache().purge();
        assert!(self.cache().entries().is_empty(), "entries left behind");
    }
}

/// Set (by CI; any value but `0`) to make a missing keyring fail the tests that need it instead
/// of skipping them.
const REQUIRE_KEYRING: &str = "KITTY_AUTH_REQUIRE_KEYRING";

/// Whether this machine lets us use the keyring at all (tests of the cache itself need it; the
/// fallback tests below do not).
fn keyring_works(cache: &KeyCache) -> bool {
    let ok = cache.put("probe", b"probe", &[1u8; 32]) && cache.get("probe", b"probe").is_some();
    cache.forget("probe", b"probe");
    if !ok {
        assert!(
            std::env::var(REQUIRE_KEYRING).map_or(true, |v| v.is_empty() || v == "0"),
            "{REQUIRE_KEYRING} is set but the kernel keyring is not usable here (keyctl refused?)"
        );
        eprintln!("the kernel keyring is not usable here: skipping (the fallback is tested below)");
    }
    ok
}

fn salt_of(root: &Root) -> Vec<u8> {
    std::fs::read(root.root.salt_file()).unwrap()
}

fn prod() -> KeyCache {
    KeyCache::new(PRODUCTION_PREFIX, Some(TTL))
}

#[test]
fn a_second_process_reads_with_the_cached_key() {
    let tc = TestCache::new("second");
    if !keyring_works(&tc.cache()) {
        return;
    }
    let root = Root::new();
    tc.store(&root)
        .write(&session("s", "rt", 3600, 86_400))
        .unwrap();
    // A fresh store has nothing in memory: it finds the key in the keyring and proves it.
    let reader = tc.store(&root);
    assert_eq!(reader.read().unwrap().unwrap().refresh_token, "rt");
    assert_eq!(reader.last_key_source(), Some(KeySource::KeyCache));
    reader.read().unwrap();
    assert_eq!(reader.last_key_source(), Some(KeySource::Memory));
    // The entry is named by a hash: neither the salt nor the passphrase appears in it.
    let entries = tc.cache().entries();
    assert_eq!(entries.len(), 1);
    assert!(!entries[0].contains(&hex::encode(salt_of(&root))));
    assert!(!entries[0].contains(&machine_passphrase()));
}

#[test]
fn deleting_the_session_drops_its_cached_key() {
    let tc = TestCache::new("delete");
    if !keyring_works(&tc.cache()) {
        return;
    }
    let root = Root::new();
    let store = tc.store(&root);
    store.write(&session("s", "rt", 3600, 86_400)).unwrap();
    let salt = salt_of(&root);
    assert!(tc.cache().get(&machine_passphrase(), &salt).is_some());
    // Another process holding the key in memory and the keyring entry both go with the delete.
    let other = tc.store(&root);
    other.read().unwrap().unwrap();
    store.delete().unwrap();
    assert_eq!(tc.cache().get(&machine_passphrase(), &salt), None);
    assert!(tc.cache().entries().is_empty());
    assert!(other.read().unwrap().is_none());
}

#[test]
fn a_rotated_salt_never_meets_the_old_key() {
    let tc = TestCache::new("rotate");
    if !keyring_works(&tc.cache()) {
        return;
    }
    let root = Root::new();
    let long_lived = tc.store(&root);
    long_lived
        .write(&session("s1", "rt-1", 3600, 86_400))
        .unwrap();
    long_lived.read().unwrap().unwrap();
    let old_salt = salt_of(&root);
    // An old client removes the files without any lock and without knowing about the keyring
    // (its entry stays), then a new login creates a new salt.
    lockless_delete(&root.root);
    tc.store(&root)
        .write(&session("s2", "rt-2", 3600, 86_400))
        .unwrap();
    let new_salt = salt_of(&root);
    assert_ne!(old_salt, new_salt);
    let cache = tc.cache();
    let pass = machine_passphrase();
    assert!(
        cache.get(&pass, &old_salt).is_some(),
        "the stale entry is still there"
    );
    assert_ne!(
        cache.description(&pass, &old_salt),
        cache.description(&pass, &new_salt)
    );
    // The process that held the old key in memory, and a fresh one, both read the new session
    // with the new key: the old one is never even looked up.
    for store in [&long_lived, &tc.store(&root)] {
        assert_eq!(store.read().unwrap().unwrap().refresh_token, "rt-2");
        assert_ne!(store.last_key_source(), Some(KeySource::Memory));
    }
    assert_eq!(
        cache.get(&pass, &new_salt),
        Some(derive_key(&pass, &new_salt))
    );
}

#[test]
fn a_wrong_cached_key_costs_a_derivation_never_a_failure() {
    let tc = TestCache::new("wrong");
    if !keyring_works(&tc.cache()) {
        return;
    }
    let root = Root::new();
    tc.store(&root)
        .write(&session("s", "rt", 3600, 86_400))
        .unwrap();
    let (pass, salt) = (machine_passphrase(), salt_of(&root));
    assert!(tc.cache().put(&pass, &salt, &[0x55; 32]));
    let store = tc.store(&root);
    assert_eq!(store.read().unwrap().unwrap().refresh_token, "rt");
    assert_eq!(store.last_key_source(), Some(KeySource::Derived));
    // The wrong entry was replaced by the right key.
    assert_eq!(tc.cache().get(&pass, &salt), Some(derive_key(&pass, &salt)));
}

#[test]
fn a_session_is_never_sealed_with_an_unproved_cached_key() {
    let tc = TestCache::new("seal");
    if !keyring_works(&tc.cache()) {
        return;
    }
    let root = Root::new();
    tc.store(&root)
        .write(&session("s", "rt-1", 3600, 86_400))
        .unwrap();
    let (pass, salt) = (machine_passphrase(), salt_of(&root));
    assert!(tc.cache().put(&pass, &salt, &[0x66; 32]));
    // A writer that never read (a login) seals with a derived key, not the keyring's.
    tc.store(&root)
        .write(&session("s", "rt-2", 3600, 86_400))
        .unwrap();
    let file = std::fs::read(root.root.session_file()).unwrap();
    let plain = SessionCipher::derive(&pass, &salt)
        .open(&file, Path::new("session.json"))
        .unwrap();
    assert!(String::from_utf8(plain).unwrap().contains("rt-2"));
}

#[test]
fn the_cache_never_holds_more_than_its_bound() {
    let tc = TestCache::new("bound");
    let cache = tc.cache();
    if !keyring_works(&cache) {
        return;
    }
    for i in 0..(MAX_ENTRIES as u8 + 4) {
        assert!(cache.put("p", &[i; 16], &[i; 32]));
    }
    assert_eq!(cache.entries().len(), MAX_ENTRIES);
    // The newest one is always kept.
    let last = MAX_ENTRIES as u8 + 3;
    assert_eq!(cache.get("p", &[last; 16]), Some([last; 32]));
}

#[test]
fn a_disabled_cache_reads_and_writes_as_before() {
    let tc = TestCache::new("disabled");
    let root = Root::new();
    let disabled = || {
        SessionStore::for_root(&root.root)
            .unwrap()
            .with_key_cache(KeyCache::new(tc.prefix.clone(), None))
    };
    disabled().write(&session("s", "rt", 3600, 86_400)).unwrap();
    let store = disabled();
    assert_eq!(store.read().unwrap().unwrap().refresh_token, "rt");
    assert_eq!(store.last_key_source(), Some(KeySource::Derived));
    assert!(tc.cache().entries().is_empty());
}

// ---- the binary (production prefix) --------------------------------------------------------

fn run(mut cmd: Command) -> Output {
    common::bounded_output(&mut cmd)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `spec-kitty <args>` on `s` with the cache on and its debug lines on stderr.
fn cached(s: &Seeded, args: &[&str]) -> Command {
    let mut cmd = s.cmd();
    cmd.args(args)
        .env(KEY_CACHE_TTL_ENV, "120")
        .env("SPEC_KITTY_LOG", "spec_kitty=debug");
    cmd
}

#[test]
fn the_binary_reads_warm_and_logout_drops_the_key() {
    if !keyring_works(&prod()) {
        return;
    }
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    let salt = salt_of(&s.root);
    // The first command derives (or finds what the seeding store cached); the next ones hit.
    let first = run(cached(&s, &["auth", "status"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    for args in [&["auth", "status"][..], &["auth", "token"][..]] {
        let out = run(cached(&s, args));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("key cache: hit"),
            "{}",
            text(&out.stderr)
        );
    }
    let token = run(cached(&s, &["auth", "token"]));
    assert_eq!(text(&token.stdout).trim(), s.seeded.access_token);
    assert!(prod().get(&machine_passphrase(), &salt).is_some());

    let out = run(cached(&s, &["auth", "logout"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(prod().get(&machine_passphrase(), &salt), None);
}

#[test]
fn a_cleared_rejection_drops_the_key() {
    if !keyring_works(&prod()) {
        return;
    }
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let salt = salt_of(&s.root);
    s.saas.revoke_session(&s.seeded.session_id);
    let out = run(cached(&s, &["auth", "token"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("current_rejection_cleared"));
    assert!(!s.root.root.session_file().exists());
    assert_eq!(prod().get(&machine_passphrase(), &salt), None);
}

#[test]
fn ttl_zero_disables_the_cache_in_the_binary() {
    let root = Root::new();
    SessionStore::for_root(&root.root)
        .unwrap()
        .with_key_cache(KeyCache::disabled())
        .write(&session("s", "rt", 3600, 86_400))
        .unwrap();
    let mut cmd = spec_kitty_cmd(&root, None);
    cmd.args(["auth", "status"])
        .env(KEY_CACHE_TTL_ENV, "0")
        .env("SPEC_KITTY_LOG", "spec_kitty=debug");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("key cache:"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(prod().get(&machine_passphrase(), &salt_of(&root)), None);
}

/// A seccomp filter that fails `keyctl`, `add_key` and `request_key` with `errno`, as Docker's
/// default profile does, installed in the child between fork and exec.
fn forbid_keyctl(cmd: &mut Command, errno: u32) {
    let nr = |n: libc::c_long| n as u32;
    let filter = [
        bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0), // seccomp_data.nr
        bpf_jump(nr(libc::SYS_keyctl), 3, 0),
        bpf_jump(nr(libc::SYS_add_key), 2, 0),
        bpf_jump(nr(libc::SYS_request_key), 1, 0),
        bpf_stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        bpf_stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | errno),
    ];
    // SAFETY: only async-signal-safe prctl calls between fork and exec, on memory moved in.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn bpf_stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn bpf_jump(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

#[test]
fn where_keyctl_is_forbidden_the_binary_derives_silently() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    for (errno, name) in [
        (libc::EPERM, "EPERM"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::EACCES, "EACCES"),
    ] {
        for args in [&["auth", "status"][..], &["auth", "token"][..]] {
            let mut cmd = cached(&s, args);
            forbid_keyctl(&mut cmd, errno as u32);
            let out = run(cmd);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
            assert!(
                stderr.contains(&format!("keyring unavailable ({name})")),
                "{name}: {stderr}"
            );
            // One debug line, then no further keyring call for the rest of the process.
            assert_eq!(stderr.matches("key cache:").count(), 1, "{stderr}");
            assert!(
                !stderr.contains("WARN") && !stderr.contains("ERROR"),
                "{stderr}"
            );
        }
        // Silent by default: nothing on stderr without a log filter.
        let mut cmd = s.cmd();
        cmd.args(["auth", "status"]).env(KEY_CACHE_TTL_ENV, "120");
        forbid_keyctl(&mut cmd, errno as u32);
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(0));
        assert!(!text(&out.stderr).contains("key"), "{}", text(&out.stderr));
    }
}

/// In a container the session keyring is usually a fresh one that does not link the user
/// keyring, so a key there is not "possessed" and only its user permissions count: the cache
/// must still find, read and store keys.
#[test]
fn a_session_keyring_without_the_user_keyring_still_hits() {
    if !keyring_works(&prod()) {
        return;
    }
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    // Start cold: drop whatever the seeding store cached.
    s.root.store().forget_cached_key();
    let in_new_session = |args: &[&str]| {
        let mut cmd = cached(&s, args);
        // SAFETY: one raw syscall between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
                let r = libc::syscall(
                    libc::SYS_keyctl,
                    KEYCTL_JOIN_SESSION_KEYRING,
                    std::ptr::null::<libc::c_char>(),
                );
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        run(cmd)
    };
    let cold = in_new_session(&["auth", "status"]);
    assert_eq!(cold.status.code(), Some(0), "{}", text(&cold.stderr));
    assert!(
        text(&cold.stderr).contains("key cache: stored"),
        "{}",
        text(&cold.stderr)
    );
    let warm = in_new_session(&["auth", "token"]);
    assert_eq!(warm.status.code(), Some(0), "{}", text(&warm.stderr));
    assert!(
        text(&warm.stderr).contains("key cache: hit"),
        "{}",
        text(&warm.stderr)
    );
}
