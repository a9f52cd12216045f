//! The encrypted store against the byte-exact vectors of the Python original, and every way a
//! session file can be damaged: each gives its own error, and nothing is ever deleted.

use spec_kitty::paths::RuntimeRoot;
use spec_kitty::session::StoredSession;
use spec_kitty::storage::{derive_key, SessionCipher, SessionStore, StorageError};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

struct Vector {
    passphrase: String,
    salt: Vec<u8>,
    key: Vec<u8>,
    nonce: [u8; 12],
    plaintext: String,
    file: String,
}

fn vector() -> Vector {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(vectors_dir().join("session_vector.json")).unwrap())
            .unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    Vector {
        passphrase: s("passphrase_utf8"),
        salt: hex::decode(s("salt_hex")).unwrap(),
        key: hex::decode(s("key_hex")).unwrap(),
        nonce: hex::decode(s("nonce_hex")).unwrap().try_into().unwrap(),
        plaintext: s("plaintext_utf8"),
        file: s("session_json_file_contents"),
    }
}

/// A runtime root holding the vector's session.json and session.salt (mode 0600).
fn vector_root() -> (tempfile::TempDir, RuntimeRoot) {
    let dir = tempfile::tempdir().unwrap();
    let root = RuntimeRoot::new(dir.path());
    fs::create_dir_all(root.auth_dir()).unwrap();
    for (name, dest) in [
        ("session.json", root.session_file()),
        ("session.salt", root.salt_file()),
    ] {
        fs::copy(vectors_dir().join(name), &dest).unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).unwrap();
    }
    (dir, root)
}

#[test]
fn vector_key_derivation_matches() {
    let v = vector();
    assert_eq!(derive_key(&v.passphrase, &v.salt).to_vec(), v.key);
}

#[test]
fn vector_files_agree_with_each_other() {
    let v = vector();
    assert_eq!(
        fs::read_to_string(vectors_dir().join("session.json")).unwrap(),
        v.file
    );
    assert_eq!(
        fs::read(vectors_dir().join("session.salt")).unwrap(),
        v.salt
    );
}

#[test]
fn vector_decrypts_and_reserialises_byte_for_byte() {
    let v = vector();
    let cipher = SessionCipher::derive(&v.passphrase, &v.salt);
    let plaintext = cipher
        .open(v.file.as_bytes(), Path::new("session.json"))
        .unwrap();
    assert_eq!(String::from_utf8(plaintext.clone()).unwrap(), v.plaintext);

    let session = StoredSession::from_json(&plaintext).unwrap();
    assert_eq!(session.refresh_token, "rt_seed_v1");
    assert_eq!(session.to_json(), v.plaintext.as_bytes());
    // Sealing the re-serialised plaintext with the vector's nonce gives the identical file.
    assert_eq!(cipher.seal(&session.to_json(), v.nonce), v.file);
}

#[test]
fn store_reads_the_vector_and_rewrites_it_readably() {
    let v = vector();
    let (_dir, root) = vector_root();
    let store = SessionStore::with_passphrase(&root, v.passphrase.clone());
    let session = store.read().unwrap().expect("vector session");
    assert_eq!(session.user_id, "user_seed");
    assert_eq!(session.teams[0].slug(), "t-seed");

    store.write(&session).unwrap();
    let mode = fs::metadata(root.session_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        fs::read(root.salt_file()).unwrap(),
        v.salt,
        "the salt is reused"
    );
    let rewritten = fs::read_to_string(root.session_file()).unwrap();
    assert_ne!(rewritten, v.file, "a fresh nonce per write");
    assert!(!rewritten.ends_with('\n'));
    // Same plaintext, byte for byte, after a rewrite with a new nonce.
    let plaintext = SessionCipher::derive(&v.passphrase, &v.salt)
        .open(rewritten.as_bytes(), Path::new("x"))
        .unwrap();
    assert_eq!(String::from_utf8(plaintext).unwrap(), v.plaintext);
    assert!(!root.session_file().with_extension("json.tmp").exists());
}

#[test]
fn new_store_creates_salt_and_round_trips_with_the_machine_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = RuntimeRoot::new(dir.path());
    let store = SessionStore::for_root(&root).unwrap();
    assert!(store.read().unwrap().is_none());
    let session = StoredSession {
        user_id: "u".into(),
        access_token: "at".into(),
        refresh_token: "rt".into(),
        session_id: "s".into(),
        storage_backend: "file".into(),
        ..Default::default()
    };
    store.write(&session).unwrap();
    assert_eq!(fs::read(root.salt_file()).unwrap().len(), 16);
    let dir_mode = fs::metadata(root.auth_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let read = SessionStore::for_root(&root)
        .unwrap()
        .read()
        .unwrap()
        .unwrap();
    assert_eq!(read.material(), ("s", "rt"));

    store.delete().unwrap();
    assert!(!root.session_file().exists());
    assert!(!root.salt_file().exists(), "the salt goes with the session");
    store.delete().unwrap();
}

/// Damages the vector root with `damage`, reads, and checks the error; the files must survive.
fn assert_damage(damage: impl FnOnce(&RuntimeRoot), check: impl FnOnce(&StorageError) -> bool) {
    let v = vector();
    let (_dir, root) = vector_root();
    damage(&root);
    let before_session = fs::read(root.session_file()).ok();
    let before_salt = fs::read(root.salt_file()).ok();
    let store = SessionStore::with_passphrase(&root, v.passphrase);
    let err = store.read().expect_err("damaged input must not read");
    assert!(check(&err), "unexpected error: {err}");
    let message = err.to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        message.contains("spec-kitty auth login") || message.contains("chmod 600"),
        "the message names the fix: {message}"
    );
    assert_eq!(
        fs::read(root.session_file()).ok(),
        before_session,
        "session untouched"
    );
    assert_eq!(
        fs::read(root.salt_file()).ok(),
        before_salt,
        "salt untouched"
    );
}

fn write_session(root: &RuntimeRoot, contents: &str) {
    fs::write(root.session_file(), contents).unwrap();
}

#[test]
fn truncated_file() {
    assert_damage(
        |r| write_session(r, &vector().file[..200]),
        |e| matches!(e, StorageError::Corrupt { reason, .. } if reason.contains("not JSON")),
    );
}

#[test]
fn wrong_version() {
    assert_damage(
        |r| {
            write_session(
                r,
                &vector().file.replace("\"version\": 2", "\"version\": 1"),
            )
        },
        |e| matches!(e, StorageError::UnsupportedVersion { version, .. } if version == "1"),
    );
}

#[test]
fn bad_hex() {
    assert_damage(
        |r| {
            write_session(
                r,
                &vector()
                    .file
                    .replace("\"ciphertext\": \"c7", "\"ciphertext\": \"zz"),
            )
        },
        |e| matches!(e, StorageError::Corrupt { reason, .. } if reason.contains("not hex")),
    );
}

#[test]
fn short_nonce() {
    assert_damage(
        |r| {
            write_session(
                r,
                &vector().file.replace("6465666768696a6b6c6d6e6f", "6465"),
            )
        },
        |e| matches!(e, StorageError::Corrupt { reason, .. } if reason.contains("nonce")),
    );
}

#[test]
fn wrong_key() {
    let v = vector();
    let (_dir, root) = vector_root();
    let store = SessionStore::with_passphrase(&root, "other-host:501");
    assert!(matches!(
        store.read(),
        Err(StorageError::DecryptFailed { .. })
    ));
    assert_eq!(fs::read_to_string(root.session_file()).unwrap(), v.file);
}

#[test]
fn tampered_ciphertext() {
    assert_damage(
        |r| {
            write_session(
                r,
                &vector()
                    .file
                    .replace("\"ciphertext\": \"c7", "\"ciphertext\": \"c8"),
            )
        },
        |e| matches!(e, StorageError::DecryptFailed { .. }),
    );
}

#[test]
fn missing_salt() {
    assert_damage(
        |r| fs::remove_file(r.salt_file()).unwrap(),
        |e| matches!(e, StorageError::MissingSalt { .. }),
    );
}

#[test]
fn short_salt() {
    assert_damage(
        |r| fs::write(r.salt_file(), [0u8; 8]).unwrap(),
        |e| matches!(e, StorageError::BadSalt { len: 8, .. }),
    );
}

#[test]
fn group_readable_mode() {
    assert_damage(
        |r| fs::set_permissions(r.session_file(), fs::Permissions::from_mode(0o644)).unwrap(),
        |e| matches!(e, StorageError::InsecurePermissions { mode: 0o644, .. }),
    );
}

#[test]
fn not_json() {
    assert_damage(
        |r| write_session(r, "this is not json"),
        |e| matches!(e, StorageError::Corrupt { reason, .. } if reason.contains("not JSON")),
    );
}

#[test]
fn empty_file() {
    assert_damage(
        |r| write_session(r, ""),
        |e| matches!(e, StorageError::Corrupt { reason, .. } if reason.contains("empty")),
    );
}

#[test]
fn plaintext_that_is_not_a_session() {
    let v = vector();
    assert_damage(
        |r| {
            let sealed = SessionCipher::derive(&v.passphrase, &v.salt).seal(b"[1, 2]", v.nonce);
            write_session(r, &sealed);
        },
        |e| matches!(e, StorageError::BadPlaintext { .. }),
    );
}

#[test]
fn python_filelock_unlinking_session_lock_does_not_break_writes() {
    let v = vector();
    let (_dir, root) = vector_root();
    let store = SessionStore::with_passphrase(&root, v.passphrase);
    let session = store.read().unwrap().unwrap();
    store.write(&session).unwrap();
    // Python's filelock unlinks session.lock on release; the next write must still lock and work.
    fs::remove_file(root.session_lock_file()).unwrap();
    store.write(&session).unwrap();
    assert!(store.read().unwrap().is_some());
}

#[test]
fn a_stuck_session_lock_holder_fails_the_write_instead_of_hanging() {
    let (_dir, root) = vector_root();
    let wait = std::time::Duration::from_millis(300);
    let store =
        SessionStore::with_passphrase(&root, vector().passphrase).with_session_lock_wait(wait);
    let session = store.read().unwrap().unwrap();
    let holder = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.session_lock_file())
        .unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let started = std::time::Instant::now();
    let err = store.write(&session).unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= wait, "{waited:?}");
    assert!(waited < wait * 5, "{waited:?}");
    assert!(err.to_string().contains("session.lock"), "{err}");
    drop(holder);
    store.write(&session).unwrap();
}
