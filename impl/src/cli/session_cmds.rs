//! `spec-kitty auth token` and `spec-kitty auth logout`: the commands that use or end the
//! stored session through the token manager.

use super::output::{exit, Failure, Output};
use crate::deadline::Deadline;
use crate::lock::RefreshLock;
use crate::paths::RuntimeRoot;
use crate::refresh::AuthError;
use crate::storage::SessionStore;
use crate::token_manager::{RefreshSettings, TokenManager};
use serde::Serialize;

/// `auth token`: the access token on stdout (its only output), refreshed first if needed.
pub fn token(root: &RuntimeRoot) -> i32 {
    let out = Output { json: false };
    let token = TokenManager::load(root).and_then(|m| m.access_token());
    match token {
        Ok(token) => {
            println!("{token}");
            exit::OK
        }
        Err(e) => out.fail(&Failure::from(&e)),
    }
}

#[derive(Serialize)]
struct LogoutReport {
    logged_out: bool,
    /// Whether a session (readable or not) was removed from this machine.
    removed: bool,
    /// `revoked`, `not revoked: <reason>`, or null when nothing was sent to the server.
    revocation: Option<String>,
}

/// `auth logout`: revoke at the server (best effort) and delete locally, under the refresh lock.
pub fn logout(root: &RuntimeRoot, out: Output) -> i32 {
    let failed = LogoutReport {
        logged_out: false,
        removed: false,
        revocation: None,
    };
    // An unreadable session is still removed: logging out is the user's explicit intent.
    let manager = match TokenManager::load(root) {
        Ok(m) => m,
        Err(AuthError::Storage(e)) if e.is_unreadable_session() => {
            return force_delete(root, out, &e)
        }
        Err(e) => return out.failure(&failed, &Failure::from(&e)),
    };
    let report = match manager.logout() {
        Ok(report) => report,
        Err(e) => return out.failure(&failed, &Failure::from(&e)),
    };
    let revocation = report.revocation.as_ref().map(|r| match r {
        Ok(()) => "revoked".to_string(),
        Err(reason) => format!("not revoked: {reason}"),
    });
    if let Some(e) = &report.delete_failed {
        let server = match &report.revocation {
            Some(Ok(())) => "the server revoked the session, but ",
            _ => "",
        };
        let failure = Failure::new(
            exit::RETRYABLE,
            "delete_failed",
            format!("{server}the session could not be deleted on this machine ({e}); fix that and run `spec-kitty auth logout` again"),
        );
        let body = LogoutReport {
            logged_out: false,
            removed: false,
            revocation,
        };
        return out.failure(&body, &failure);
    }
    let body = LogoutReport {
        logged_out: true,
        removed: report.removed,
        revocation,
    };
    out.success(&body, || match (&report.removed, &report.revocation) {
        (false, _) => println!("Not logged in; nothing to do."),
        (true, Some(Err(reason))) => println!(
            "Logged out locally; the server could not be told ({reason}), the session will expire on its own."
        ),
        (true, _) => println!("Logged out."),
    })
}

/// Logout of a session that cannot even be loaded: take the lock and delete the files.
fn force_delete(root: &RuntimeRoot, out: Output, why: &dyn std::fmt::Display) -> i32 {
    let failed = LogoutReport {
        logged_out: false,
        removed: false,
        revocation: None,
    };
    let settings = RefreshSettings::current();
    let _guard = match RefreshLock::acquire(&root.refresh_lock_file(), settings.lock_wait) {
        Ok(g) => g,
        Err(e) => {
            let failure = Failure::new(
                exit::RETRYABLE,
                "lock_busy",
                format!("cannot log out now: {e}; nothing was deleted, try again"),
            );
            return out.failure(&failed, &failure);
        }
    };
    let deleted = SessionStore::for_root(root)
        .and_then(|s| s.lock(Deadline::after(settings.ceiling))?.delete());
    match deleted {
        Ok(()) => {
            let body = LogoutReport {
                logged_out: true,
                removed: true,
                revocation: None,
            };
            out.success(&body, || {
                println!("Removed the unreadable session ({why}).")
            })
        }
        Err(e) => {
            let failure = Failure::new(
                exit::RETRYABLE,
                "storage",
                format!("could not remove the session: {e}"),
            );
            out.failure(&failed, &failure)
        }
    }
}
