//! Interoperability with the Python original, checked against CPython's standard library itself
//! (no Python packages needed): `json.dumps` formatting of the session plaintext and the lock
//! record, `hashlib.scrypt` key derivation, and `fcntl.flock` on `refresh.lock` in both
//! directions. A Rust and a Python CLI share one runtime root, so these must agree exactly.

use spec_kitty::lock::{is_held, LockRecord, RefreshLock};
use spec_kitty::session::{StoredSession, Team};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set (by `.ci/run` and the CI workflow) to turn a missing Python into a failure, not a skip.
const REQUIRE_PYTHON_ENV: &str = "KITTY_AUTH_REQUIRE_PYTHON";

/// Why these tests cannot run here (`python3` with `cryptography` missing), or `None`.
fn python_missing() -> Option<&'static str> {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    MISSING
        .get_or_init(|| {
            match Command::new("python3")
                .args(["-c", "import cryptography"])
                .output()
            {
                Ok(out) if out.status.success() => None,
                Ok(_) => Some("python3 has no `cryptography` (pip install cryptography)".into()),
                Err(e) => Some(format!("python3 cannot be started ({e})")),
            }
        })
        .as_deref()
}

/// Returns early from a test, with a printed reason, when Python is not available; fails
/// instead when `KITTY_AUTH_REQUIRE_PYTHON` is set (and not `0`), so CI can never skip these
/// silently.
macro_rules! require_python {
    () => {
        if let Some(reason) = python_missing() {
            assert!(
                std::env::var(REQUIRE_PYTHON_ENV).map_or(true, |v| v.is_empty() || v == "0"),
                "{REQUIRE_PYTHON_ENV} is set but {reason}"
            );
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

/// Runs a Python snippet with `input` on stdin and returns its stdout.
fn python(code: &str, input: &[u8]) -> Vec<u8> {
    python_with_args(code, &[], input)
}

/// Runs `python3 -c code args...` with `input` on stdin; fails the test on a non-zero exit.
fn python_with_args(code: &str, args: &[&std::ffi::OsStr], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is part of this project's machine image");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn session_plaintext_is_what_json_dumps_writes() {
    require_python!();
    let mut extra = serde_json::Map::new();
    extra.insert(
        "future_key".into(),
        serde_json::json!({"nested": [1, "ünï", null, true]}),
    );
    let session = StoredSession {
        user_id: "user_1".into(),
        email: "zoë@example.com".into(),
        name: "Zoë \"Z\" 🐱\t".into(),
        teams: vec![Team {
            id: "t1".into(),
            name: "Équipe".into(),
            role: "owner".into(),
            is_private_teamspace: true,
            slug: Some("equipe".into()),
            extra: Default::default(),
        }],
        access_token: "at".into(),
        refresh_token: "rt".into(),
        session_id: "s".into(),
        generation: Some(7),
        extra,
        ..Default::default()
    };
    let ours = session.to_json();
    let theirs = python(
        "import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read())))",
        &ours,
    );
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(theirs).unwrap()
    );
}

#[test]
fn lock_record_is_what_json_dumps_sort_keys_writes() {
    require_python!();
    let record = LockRecord {
        host: "höst".into(),
        pid: 42,
        schema_version: 1,
        started_at: "2026-04-28T10:30:00.123456+00:00".into(),
        version: "0.1.0".into(),
    };
    let theirs = python(
        "import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), sort_keys=True))",
        record.to_json().as_bytes(),
    );
    assert_eq!(record.to_json(), String::from_utf8(theirs).unwrap());
}

#[test]
fn scrypt_key_matches_hashlib() {
    require_python!();
    let salt = [0x5au8; 16];
    let ours = hex::encode(spec_kitty::storage::derive_key("höst:1000", &salt));
    let theirs = python(
        "import hashlib,sys; print(hashlib.scrypt('höst:1000'.encode(), salt=bytes([0x5a]*16), n=16384, r=8, p=1, dklen=32, maxmem=64*1024*1024).hex(), end='')",
        b"",
    );
    assert_eq!(ours, String::from_utf8(theirs).unwrap());
}

/// A Python process holding `fcntl.flock(LOCK_EX)` until its stdin closes.
fn python_holder(path: &std::path::Path) -> std::process::Child {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import fcntl,os,sys\n\
             fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n\
             fcntl.flock(fd, fcntl.LOCK_EX)\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n",
            path.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn a_python_flock_holder_blocks_us_until_it_releases() {
    require_python!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refresh.lock");
    let mut holder = python_holder(&path);
    assert!(is_held(&path).unwrap());
    assert!(RefreshLock::try_acquire(&path).unwrap().is_none());
    assert!(RefreshLock::acquire(&path, Duration::from_millis(250)).is_err());

    drop(holder.stdin.take()); // Python exits; the kernel drops its flock
    holder.wait().unwrap();
    let started = Instant::now();
    let guard = RefreshLock::acquire(&path, Duration::from_secs(5)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(guard);
}

#[test]
fn our_lock_blocks_a_python_flock() {
    require_python!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refresh.lock");
    let guard = RefreshLock::try_acquire(&path).unwrap().unwrap();
    let probe = "import fcntl,os,sys\n\
                 fd = os.open(sys.argv[1], os.O_RDWR)\n\
                 try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n\
                 except BlockingIOError:\n    print('busy')\n";
    let run_probe = || {
        let out = Command::new("python3")
            .args(["-c", probe, path.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(run_probe(), "busy");
    // Python reads the holder record we wrote in place on the locked descriptor.
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys; r=json.load(open(sys.argv[1])); print(r['pid'], r['schema_version'], end='')",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{} 1", std::process::id())
    );
    drop(guard);
    assert_eq!(run_probe(), "free");
}

/// Python code doing exactly what the original does (docs/formats.md), with `cryptography`'s AESGCM.
const PY_SESSION_IO: &str = r#"
import hashlib, json, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
mode, auth_dir, passphrase = sys.argv[1], sys.argv[2], sys.argv[3]
salt = open(os.path.join(auth_dir, "session.salt"), "rb").read()
key = hashlib.scrypt(passphrase.encode(), salt=salt, n=16384, r=8, p=1, dklen=32, maxmem=64*1024*1024)
path = os.path.join(auth_dir, "session.json")
if mode == "read":
    env = json.load(open(path))
    assert env["version"] == 2
    plain = AESGCM(key).decrypt(bytes.fromhex(env["nonce"]), bytes.fromhex(env["ciphertext"]), None)
    sys.stdout.write(plain.decode())
else:
    plain = sys.stdin.read().encode()
    nonce = os.urandom(12)
    body = json.dumps({"version": 2, "nonce": nonce.hex(), "ciphertext": AESGCM(key).encrypt(nonce, plain, None).hex()})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, body.encode()); os.close(fd)
"#;

fn python_session_io(mode: &str, root: &spec_kitty::paths::RuntimeRoot, input: &[u8]) -> Vec<u8> {
    let auth_dir = root.auth_dir();
    let args = [mode.as_ref(), auth_dir.as_os_str(), PASSPHRASE.as_ref()];
    python_with_args(PY_SESSION_IO, &args, input)
}

const PASSPHRASE: &str = "test-host.local:501";

fn sample_session() -> StoredSession {
    StoredSession {
        user_id: "user_1".into(),
        email: "dev@example.com".into(),
        name: "Dév".into(),
        access_token: "at-1".into(),
        refresh_token: "rt-1".into(),
        session_id: "sess_1".into(),
        storage_backend: "file".into(),
        auth_method: "device_code".into(),
        ..Default::default()
    }
}

#[test]
fn python_decrypts_the_session_file_we_write() {
    require_python!();
    let dir = tempfile::tempdir().unwrap();
    let root = spec_kitty::paths::RuntimeRoot::new(dir.path());
    let store = spec_kitty::storage::SessionStore::with_passphrase(&root, PASSPHRASE);
    let session = sample_session();
    store.write(&session).unwrap();
    let plaintext = python_session_io("read", &root, b"");
    assert_eq!(plaintext, session.to_json());
}

#[test]
fn we_read_the_session_file_python_writes() {
    require_python!();
    let dir = tempfile::tempdir().unwrap();
    let root = spec_kitty::paths::RuntimeRoot::new(dir.path());
    let store = spec_kitty::storage::SessionStore::with_passphrase(&root, PASSPHRASE);
    // Our write creates the auth dir and the salt; then Python replaces the session with its own.
    store.write(&sample_session()).unwrap();
    let mut theirs = sample_session();
    theirs.refresh_token = "rt-from-python".into();
    python_session_io("write", &root, &theirs.to_json());
    let read = store.read().unwrap().expect("Python's session");
    assert_eq!(read.material(), ("sess_1", "rt-from-python"));
    assert_eq!(read.to_json(), theirs.to_json());
}
