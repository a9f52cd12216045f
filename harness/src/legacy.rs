//! The built-in legacy client: models an old CLI version that shares the runtime root but knows
//! nothing of the refresh lock or the refresh transaction.
//!
//! It loads the session, refreshes with the material it loaded, and on success writes the new
//! material without taking the refresh lock; on a rejection it deletes the session (the
//! original bug). It reports the points `legacy.loaded`, `legacy.network_before`,
//! `legacy.network_after` (detail: the answer), `legacy.persisted` and `legacy.deleted`, so a
//! scenario can interleave it with real `spec-kitty` processes. It never prints a token.
//!
//! Exit 0 when it refreshed (or had nothing to do), 1 otherwise.

use spec_kitty::oauth::{OAuthClient, RefreshResponse};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::refresh::apply_grant;
use spec_kitty::storage::SessionStore;
use spec_kitty::syncpoint::{hit, hit_with};
use std::ffi::OsString;
use std::time::Duration;

/// `legacy-client [--force]`: `--force` refreshes even when the access token is still valid.
pub fn run(args: Vec<OsString>) -> i32 {
    let mut force = false;
    for a in &args {
        if a == "--force" {
            force = true;
        } else {
            eprintln!("legacy-client: unknown argument {a:?} (expected --force)");
            return 2;
        }
    }
    match refresh(force) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("legacy-client: {message}");
            1
        }
    }
}

fn refresh(force: bool) -> Result<(), String> {
    let root = RuntimeRoot::from_env().map_err(|e| e.to_string())?;
    let store = SessionStore::for_root(&root).map_err(|e| e.to_string())?;
    let session = store
        .read()
        .map_err(|e| format!("cannot read the session: {e}"))?
        .ok_or_else(|| "no session".to_string())?;
    hit("legacy.loaded").map_err(|e| e.to_string())?;
    if !force && session.access_usable(spec_kitty::now()) {
        eprintln!("legacy-client: access token still valid, nothing to do");
        return Ok(());
    }
    let url = spec_kitty::paths::saas_url().map_err(|e| e.to_string())?;
    let client = OAuthClient::new(&url, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    hit("legacy.network_before").map_err(|e| e.to_string())?;
    let answer = client.refresh(&session.refresh_token);
    let label = match &answer {
        RefreshResponse::Granted(_) => "granted".to_string(),
        RefreshResponse::Rejected { error, .. } => format!("rejected:{error}"),
        RefreshResponse::Replay { .. } => "replay".to_string(),
        RefreshResponse::Transient(_) => "transient".to_string(),
    };
    hit_with("legacy.network_after", Some(&label)).map_err(|e| e.to_string())?;
    match answer {
        RefreshResponse::Granted(grant) => {
            let session = apply_grant(&session, grant, spec_kitty::now());
            // The old CLI's bug, part 1: no refresh lock around the read-refresh-write.
            store
                .write(&session)
                .map_err(|e| format!("cannot write the session: {e}"))?;
            hit("legacy.persisted").map_err(|e| e.to_string())?;
            eprintln!("legacy-client: refreshed");
            Ok(())
        }
        RefreshResponse::Rejected { error, .. } => {
            // The old CLI's bug, part 2: any rejection logs the user out, even when the
            // rejected token is no longer the persisted one.
            store
                .delete()
                .map_err(|e| format!("cannot delete the session: {e}"))?;
            hit("legacy.deleted").map_err(|e| e.to_string())?;
            Err(format!("refresh rejected ({error}); session deleted"))
        }
        RefreshResponse::Replay { .. } => Err("refresh answered 409 replay".to_string()),
        RefreshResponse::Transient(reason) => Err(format!("refresh failed: {reason}")),
    }
}
