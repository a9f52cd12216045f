//! Seeding and corrupting the files of a scenario's runtime root: the session (created in the
//! fake SaaS, written through `spec_kitty::storage`), a leftover refresh-lock record, and
//! declared corruptions.
//!
//! Guarantees: a seed lands exactly where production reads (paths come from
//! `spec_kitty::paths::RuntimeRoot`); the session watcher is told about corrupted bytes before
//! they appear, so they are never mistaken for a half-written file; replacing contents is atomic.

use crate::report::model::{EntryKind, Lane};
use crate::schema::{CorruptOp, Corruption, FileKind, Seed};
use crate::sync::state::Shared;
use crate::watch::Watcher;
use chrono::Utc;
use fake_saas::{FakeSaas, SeedRequest, SeededSession};
use spec_kitty::lock::LockRecord;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::session::{StoredSession, Team};
use spec_kitty::storage::SessionStore;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What seeding produced.
#[derive(Debug, Default)]
pub struct Seeded {
    pub session: Option<SeededSession>,
    /// The session file's bytes after seeding (and seed corruptions), if any.
    pub bytes: Option<Vec<u8>>,
}

/// Seeds `root` and the fake SaaS as `seed` says; `salt`: the salt file's bytes, when the
/// caller shares one salt between runs (see [`super::RunOptions::shared_salt`]).
pub fn seed(
    root: &RuntimeRoot,
    saas: &FakeSaas,
    shared: &Shared,
    seed: &Seed,
    salt: Option<&[u8; 16]>,
) -> Result<Seeded, String> {
    let mut out = Seeded::default();
    if let (Some(_), Some(salt)) = (&seed.session, salt) {
        ensure_auth_dir(root)?;
        let path = root.salt_file();
        std::fs::write(&path, salt)
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)))
            .map_err(|e| format!("cannot write the shared salt {}: {e}", path.display()))?;
    }
    if let Some(s) = &seed.session {
        let seeded = saas.seed_session(SeedRequest {
            access_expires_in_s: s.access_expires_in_s,
            refresh_expires_in_s: s.refresh_expires_in_s,
            generation: s.generation,
        });
        let session = stored_session(&seeded, s.refresh_expiry_known);
        match salt {
            // The shared salt's key is derived once: sealed with the library's cipher and
            // replaced atomically, the bytes `SessionStore::write` would have written (the
            // seed-visibility check then reads them back through `spec_kitty::storage`).
            Some(salt) => {
                let sealed = super::ciphers::cipher(salt).seal(&session.to_json(), nonce()?);
                replace_atomically(&root.session_file(), sealed.as_bytes())
                    .map_err(|e| format!("cannot seed the session: {e}"))?;
            }
            None => SessionStore::for_root(root)
                .and_then(|store| store.write(&session))
                .map_err(|e| format!("cannot seed the session through spec_kitty::storage: {e}"))?,
        }
        shared.note_now(
            Lane::Runner,
            EntryKind::Seed,
            format!(
                "seeded session {} with R0/A0 (access expires in {} s, refresh in {} s{}, generation {})",
                seeded.session_id,
                s.access_expires_in_s,
                s.refresh_expires_in_s,
                if s.refresh_expiry_known { "" } else { ", unknown locally" },
                seeded.generation
            ),
        );
        out.session = Some(seeded);
    }
    if let Some(l) = &seed.lock {
        let record = LockRecord {
            host: l.host.clone().unwrap_or_else(spec_kitty::paths::hostname),
            pid: l.pid,
            schema_version: 1,
            started_at: spec_kitty::session::format_time(
                Utc::now() - chrono::Duration::seconds(l.age_s),
            ),
            version: l.version.clone(),
        };
        let path = root.refresh_lock_file();
        ensure_auth_dir(root)?;
        std::fs::write(&path, record.to_json())
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)))
            .map_err(|e| format!("cannot seed the lock record {}: {e}", path.display()))?;
        shared.note_now(
            Lane::Runner,
            EntryKind::Seed,
            format!(
                "seeded a stale lock record: pid {} on {}, {} s old, no flock held",
                record.pid, record.host, l.age_s
            ),
        );
    }
    for c in &seed.corrupt {
        corrupt(root, None, shared, c)?;
    }
    out.bytes = std::fs::read(root.session_file()).ok();
    Ok(out)
}

/// The session file the production CLI would have written after a device login.
pub fn stored_session(seeded: &SeededSession, refresh_expiry_known: bool) -> StoredSession {
    let now = Utc::now();
    StoredSession {
        user_id: seeded.user_id.clone(),
        email: seeded.email.clone(),
        name: seeded.name.clone(),
        teams: seeded
            .teams
            .iter()
            .map(|t| Team {
                id: t.id.clone(),
                name: t.name.clone(),
                role: t.role.clone(),
                is_private_teamspace: t.is_private_teamspace,
                slug: Some(if t.slug.is_empty() {
                    t.id.clone()
                } else {
                    t.slug.clone()
                }),
                ..Team::default()
            })
            .collect(),
        default_team_id: seeded.default_team_id.clone(),
        access_token: seeded.access_token.clone(),
        refresh_token: seeded.refresh_token.clone(),
        session_id: seeded.session_id.clone(),
        issued_at: now,
        access_token_expires_at: seeded.access_expires_at,
        refresh_token_expires_at: refresh_expiry_known.then_some(seeded.refresh_expires_at),
        scope: seeded.scope.clone(),
        storage_backend: "file".to_string(),
        last_used_at: now,
        auth_method: "device_code".to_string(),
        generation: Some(seeded.generation),
        ..StoredSession::default()
    }
}

fn file_path(root: &RuntimeRoot, kind: FileKind) -> PathBuf {
    match kind {
        FileKind::Session => root.session_file(),
        FileKind::Salt => root.salt_file(),
        FileKind::RefreshLock => root.refresh_lock_file(),
        FileKind::DaemonState => root.daemon_state_file(),
        FileKind::DaemonLock => root.daemon_lock_file(),
    }
}

/// Applies one corruption now; `watcher` (when running) is told the bytes first.
pub fn corrupt(
    root: &RuntimeRoot,
    watcher: Option<&Watcher>,
    shared: &Shared,
    c: &Corruption,
) -> Result<(), String> {
    let path = file_path(root, c.file);
    let err = |e: std::io::Error| format!("cannot {c} ({}): {e}", path.display());
    if c.file == FileKind::Session {
        let bytes = corrupted_bytes(&path, &c.op);
        if let (Some(w), Some(bytes)) = (watcher, &bytes) {
            w.allow(bytes.clone());
        }
        // New contents replace session.json atomically, so the watcher never sees a
        // truncated-then-written intermediate the scenario did not declare.
        if let (CorruptOp::Garbage(_) | CorruptOp::Append(_), Some(bytes)) = (&c.op, bytes) {
            ensure_auth_dir(root)?;
            replace_atomically(&path, &bytes).map_err(err)?;
            shared.note_now(Lane::Runner, EntryKind::Seed, format!("corrupted: {c}"));
            return Ok(());
        }
    }
    match &c.op {
        CorruptOp::Truncate(n) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(err)?;
            f.set_len(*n).map_err(err)?;
        }
        CorruptOp::Garbage(text) => {
            ensure_auth_dir(root)?;
            std::fs::write(&path, text).map_err(err)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        CorruptOp::Append(text) => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(err)?;
            f.write_all(text.as_bytes()).map_err(err)?;
        }
        CorruptOp::Delete => std::fs::remove_file(&path).map_err(err)?,
        CorruptOp::Mode(m) => {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*m)).map_err(err)?
        }
    }
    shared.note_now(Lane::Runner, EntryKind::Seed, format!("corrupted: {c}"));
    Ok(())
}

fn ensure_auth_dir(root: &RuntimeRoot) -> Result<(), String> {
    root.ensure_auth_dir()
        .map(drop)
        .map_err(|e| format!("cannot create {}: {e}", root.auth_dir().display()))
}

/// 12 random bytes for an AES-GCM nonce.
fn nonce() -> Result<[u8; 12], String> {
    let mut n = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut n))
        .map_err(|e| format!("cannot read /dev/urandom for a nonce: {e}"))?;
    Ok(n)
}

/// Writes `bytes` to a sibling temp file (0600) and renames it over `path`.
fn replace_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("corrupt.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)
}

/// The bytes a corruption will leave in the file, when that can be known beforehand.
fn corrupted_bytes(path: &Path, op: &CorruptOp) -> Option<Vec<u8>> {
    let current = std::fs::read(path).ok();
    match op {
        CorruptOp::Truncate(n) => current.map(|mut b| {
            b.truncate(*n as usize);
            b
        }),
        CorruptOp::Garbage(text) => Some(text.as_bytes().to_vec()),
        CorruptOp::Append(text) => current.map(|mut b| {
            b.extend_from_slice(text.as_bytes());
            b
        }),
        CorruptOp::Delete | CorruptOp::Mode(_) => None,
    }
}

/// Drops the key of a salt shared between runs from the kernel keyring (each run leaves it
/// there for the next): the last run's cleanup, through a throwaway root holding that salt.
pub fn forget_shared_salt(salt: &[u8; 16]) {
    let Ok(dir) = tempfile::Builder::new().prefix("kitty-salt-").tempdir() else {
        return;
    };
    let root = RuntimeRoot::new(dir.path().join("root"));
    if ensure_auth_dir(&root).is_ok() && std::fs::write(root.salt_file(), salt).is_ok() {
        if let Ok(store) = SessionStore::for_root(&root) {
            store.forget_cached_key();
        }
    }
}
