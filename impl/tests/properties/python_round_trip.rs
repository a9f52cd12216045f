//! The store's round trip with the Python original: generated sessions written by the Rust
//! store are decrypted by CPython (`cryptography`'s AES-GCM, `hashlib.scrypt`), read as the
//! original reads them (`json.loads`, `datetime.fromisoformat` on every time) and written back
//! by `json.dumps` byte for byte; then Python re-encrypts each with a new refresh token and the
//! Rust store reads exactly that back. One Python process for the whole sample.
//!
//! Skipped with a printed reason when `python3` with `cryptography` is missing, unless
//! `KITTY_AUTH_REQUIRE_PYTHON` is set (then it fails), as in `python_interop.rs`.

use crate::check::property;
use crate::session_file::session;
use proptest::prelude::*;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::session::StoredSession;
use spec_kitty::storage::SessionStore;
use std::io::Write;
use std::process::{Command, Stdio};

const PASSPHRASE: &str = "py-host.local:501";

/// Per root directory on stdin: decrypt, re-serialise with `json.dumps`, parse every time with
/// `fromisoformat`, then write back with `refresh_token` prefixed `py-`. Prints one line per
/// root: the re-serialised plaintext, hex-encoded.
const PY: &str = r#"
import hashlib, json, os, sys
from datetime import datetime
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
keys = {}
for auth_dir in sys.stdin.read().split("\n"):
    if not auth_dir:
        continue
    salt = open(os.path.join(auth_dir, "session.salt"), "rb").read()
    if salt not in keys:
        keys[salt] = hashlib.scrypt(sys.argv[1].encode(), salt=salt, n=16384, r=8, p=1, dklen=32, maxmem=64*1024*1024)
    key = keys[salt]
    path = os.path.join(auth_dir, "session.json")
    env = json.load(open(path))
    plain = AESGCM(key).decrypt(bytes.fromhex(env["nonce"]), bytes.fromhex(env["ciphertext"]), None)
    data = json.loads(plain)
    for k in ("issued_at", "access_token_expires_at", "refresh_token_expires_at", "last_used_at"):
        if data.get(k):
            assert datetime.fromisoformat(data[k]).isoformat() == data[k], (k, data[k])
    print(json.dumps(data).encode().hex())
    data["refresh_token"] = "py-" + data["refresh_token"]
    nonce = os.urandom(12)
    body = json.dumps({"version": 2, "nonce": nonce.hex(), "ciphertext": AESGCM(key).encrypt(nonce, json.dumps(data).encode(), None).hex()})
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, body.encode()); os.close(fd)
"#;

fn python_missing() -> Option<String> {
    match Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(_) => Some("python3 has no `cryptography` (pip install cryptography)".into()),
        Err(e) => Some(format!("python3 cannot be started ({e})")),
    }
}

#[test]
fn python_reads_what_the_store_writes_and_the_store_reads_what_python_writes() {
    if let Some(reason) = python_missing() {
        let required =
            std::env::var("KITTY_AUTH_REQUIRE_PYTHON").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "KITTY_AUTH_REQUIRE_PYTHON is set but {reason}");
        eprintln!("skipped: {reason}");
        return;
    }
    let sample = prop::collection::vec(session(), 16);
    property("python_round_trip", 1, sample, |sessions| {
        let dir = tempfile::tempdir().unwrap();
        let mut roots = Vec::new();
        for (i, s) in sessions.iter().enumerate() {
            let root = RuntimeRoot::new(dir.path().join(i.to_string()));
            // One salt for the sample, so Python derives one key.
            if let Some(first) = roots.first() {
                let first: &RuntimeRoot = first;
                root.ensure_auth_dir().unwrap();
                std::fs::copy(first.salt_file(), root.salt_file()).unwrap();
            }
            SessionStore::with_passphrase(&root, PASSPHRASE)
                .write(s)
                .unwrap();
            roots.push(root);
        }
        let listing: String = roots
            .iter()
            .map(|r| format!("{}\n", r.auth_dir().display()))
            .collect();
        let mut child = Command::new("python3")
            .args(["-c", PY, PASSPHRASE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(listing.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        prop_assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        prop_assert_eq!(lines.len(), sessions.len());
        let store_of = |r: &RuntimeRoot| SessionStore::with_passphrase(r, PASSPHRASE);
        for ((s, line), root) in sessions.iter().zip(&lines).zip(&roots) {
            prop_assert_eq!(
                hex::decode(line).unwrap(),
                s.to_json(),
                "json.dumps differs"
            );
            let mut theirs = s.clone();
            theirs.refresh_token = format!("py-{}", s.refresh_token);
            let read = store_of(root).read().unwrap().expect("Python's session");
            prop_assert_eq!(read.to_json(), theirs.to_json());
            prop_assert_eq!(read.material(), theirs.material());
        }
        Ok(())
    });
}

/// The store reads back what it wrote for the sample too (no Python needed), so a failure of
/// the Python test above is about the two implementations, not the store alone.
#[test]
fn the_python_sample_round_trips_in_rust_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::with_passphrase(&RuntimeRoot::new(dir.path()), PASSPHRASE);
    let s = StoredSession {
        name: "Dév \u{1f600} \u{7f}\u{1}".into(),
        ..Default::default()
    };
    store.write(&s).unwrap();
    assert_eq!(store.read().unwrap().unwrap().to_json(), s.to_json());
}
