//! The built-in legacy client: models an old CLI version that shares the runtime root but knows
//! nothing of the refresh lock or the refresh transaction.
//!
//! It loads the session, refreshes with the material it loaded, and on success writes the new
//! material without taking the refresh lock; on a rejection it deletes the session (the
//! original bug). By default it still takes `session.lock` around its writes, as every released
//! Python version did; with `--no-locks` it ignores that too and writes or deletes the file
//! directly, as the oldest clients did (the writer no lock can stop). It reports the points
//! `legacy.loaded`, `legacy.network_before`, `legacy.network_after` (detail: the answer),
//! `legacy.persisted` and `legacy.deleted`, so a scenario can interleave it with real
//! `spec-kitty` processes. It never prints a token.
//!
//! Exit 0 when it refreshed (or had nothing to do), 1 otherwise.

use spec_kitty::deadline::Deadline;
use spec_kitty::oauth::{OAuthClient, RefreshResponse};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::refresh::apply_grant;
use spec_kitty::session::StoredSession;
use spec_kitty::storage::{machine_passphrase, SessionCipher, SessionStore};
use spec_kitty::syncpoint::hit_named;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// The flags the legacy client takes.
pub const FLAGS: &[&str] = &["--force", "--no-locks"];

/// `legacy-client [--force] [--no-locks]`.
pub fn run(args: Vec<OsString>) -> i32 {
    let (mut force, mut no_locks) = (false, false);
    for a in &args {
        match a.to_str() {
            Some("--force") => force = true,
            Some("--no-locks") => no_locks = true,
            _ => {
                eprintln!("legacy-client: unknown argument {a:?} (expected {FLAGS:?})");
                return 2;
            }
        }
    }
    match refresh(force, no_locks) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("legacy-client: {message}");
            1
        }
    }
}

fn point(name: &str, detail: Option<&str>) -> Result<(), String> {
    hit_named(name, detail).map_err(|e| e.to_string())
}

fn refresh(force: bool, no_locks: bool) -> Result<(), String> {
    let root = RuntimeRoot::from_env().map_err(|e| e.to_string())?;
    let store = SessionStore::for_root(&root).map_err(|e| e.to_string())?;
    let session = store
        .read()
        .map_err(|e| format!("cannot read the session: {e}"))?
        .ok_or_else(|| "no session".to_string())?;
    point("legacy.loaded", None)?;
    if !force && session.access_usable(spec_kitty::now()) {
        eprintln!("legacy-client: access token still valid, nothing to do");
        return Ok(());
    }
    let url = spec_kitty::paths::saas_url().map_err(|e| e.to_string())?;
    let client = OAuthClient::new(&url, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    point("legacy.network_before", None)?;
    let answer = client.refresh(
        &session.refresh_token,
        Deadline::after(Duration::from_secs(10)),
    );
    let label = match &answer {
        RefreshResponse::Granted(_) => "granted".to_string(),
        RefreshResponse::Rejected { error, .. } => format!("rejected:{error}"),
        RefreshResponse::Replay { .. } => "replay".to_string(),
        RefreshResponse::Transient(_) => "transient".to_string(),
    };
    point("legacy.network_after", Some(&label))?;
    match answer {
        RefreshResponse::Granted(grant) => {
            let session = apply_grant(&session, grant, spec_kitty::now());
            // The old CLI's bug, part 1: no refresh lock around the read-refresh-write.
            if no_locks {
                write_without_locks(&root, &session)
            } else {
                store.write(&session).map_err(|e| e.to_string())
            }
            .map_err(|e| format!("cannot write the session: {e}"))?;
            point("legacy.persisted", None)?;
            eprintln!("legacy-client: refreshed");
            Ok(())
        }
        RefreshResponse::Rejected { error, .. } => {
            // The old CLI's bug, part 2: any rejection logs the user out, even when the
            // rejected token is no longer the persisted one.
            if no_locks {
                for path in [root.session_file(), root.salt_file()] {
                    let _ = std::fs::remove_file(path);
                }
            } else {
                store
                    .delete()
                    .map_err(|e| format!("cannot delete the session: {e}"))?;
            }
            point("legacy.deleted", None)?;
            Err(format!("refresh rejected ({error}); session deleted"))
        }
        RefreshResponse::Replay { .. } => Err("refresh answered 409 replay".to_string()),
        RefreshResponse::Transient(reason) => Err(format!("refresh failed: {reason}")),
    }
}

/// Seals `session` with the existing salt and renames it over the file: no lock at all.
fn write_without_locks(root: &RuntimeRoot, session: &StoredSession) -> Result<(), String> {
    let salt = std::fs::read(root.salt_file()).map_err(|e| e.to_string())?;
    let cipher = SessionCipher::derive(&machine_passphrase(), &salt);
    let tmp = root.auth_dir().join("legacy-session.tmp");
    let nonce: [u8; 12] = rand_nonce();
    std::fs::write(&tmp, cipher.seal(&session.to_json(), nonce))
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)))
        .and_then(|_| std::fs::rename(&tmp, root.session_file()))
        .map_err(|e| e.to_string())
}

/// A nonce that differs between writes (the legacy client is not production code; the time and
/// pid are unique enough here).
fn rand_nonce() -> [u8; 12] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&nanos.to_le_bytes());
    nonce[8..].copy_from_slice(&std::process::id().to_le_bytes());
    nonce
}
