//! The opt-in repairs of `auth doctor`, each asked for by its own flag and never combined
//! implicitly: `--reset` sweeps orphan daemons, `--unstick-lock` frees a stuck or leftover refresh
//! lock, `--server` asks the server about the session.
//!
//! Why so narrow: each acts only on what it verified. The sweep never touches the active daemon
//! or a listener that is not ours. Unsticking clears a record only after winning the flock itself,
//! and terminates a holder only when the kernel says it holds the lock, it is this user's, it runs
//! this very spec-kitty executable, and it has held the lock past the threshold.

use super::facts::ServerCheck;
use crate::daemon::client::ControlClient;
use crate::daemon::config::DaemonConfig;
use crate::daemon::control;
use crate::daemon::orphans;
use crate::lock::{self, ForceRelease};
use crate::oauth::{OAuthClient, OAuthError};
use crate::paths::{saas_url, RuntimeRoot};
use crate::procfs;
use crate::refresh::AuthError;
use crate::token_manager::TokenManager;
use serde::Serialize;
use std::time::Duration;

/// What one repair did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// `reset`, `unstick_lock` or `server`.
    pub action: &'static str,
    /// Whether it did what it was asked (or found nothing to do).
    pub ok: bool,
    /// What it did, for people.
    pub result: String,
}

/// `--reset`: sweeps orphan daemons of this root (never the recorded singleton).
pub fn reset(root: &RuntimeRoot) -> Repair {
    let config = match DaemonConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            return Repair {
                action: "reset",
                ok: false,
                result: format!("nothing swept: {e}"),
            }
        }
    };
    let recorded = control::status(root, &ControlClient::new()).record;
    let found = orphans::scan(root, &config, recorded.as_ref());
    let results = orphans::sweep(&found, false, &[]);
    let failed = results.iter().filter(|r| r.result == "failed").count();
    let text: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "port {} {}: {} ({})",
                r.port,
                crate::daemon::orphans::pid_text(r.pid),
                r.result,
                r.reason
            )
        })
        .collect();
    Repair {
        action: "reset",
        ok: failed == 0,
        result: if text.is_empty() {
            "no orphan daemons".into()
        } else {
            text.join("; ")
        },
    }
}

/// `--unstick-lock`: frees the refresh lock (see the module docs for what is verified first).
pub fn unstick_lock(root: &RuntimeRoot, threshold: Duration) -> Repair {
    let path = root.refresh_lock_file();
    let done = |ok, result: String| Repair {
        action: "unstick_lock",
        ok,
        result,
    };
    if !lock::is_held(&path).unwrap_or(false) {
        return match lock::force_release(&path, threshold) {
            Ok(ForceRelease::Cleared { record, age }) => done(
                true,
                format!(
                    "cleared a leftover record of pid {} ({} s old)",
                    record.pid,
                    age.as_secs()
                ),
            ),
            Ok(ForceRelease::ClearedUnreadable) => {
                done(true, "cleared an unreadable leftover record".into())
            }
            Ok(ForceRelease::TooRecent { record, age }) => done(
                true,
                format!(
                    "left a record of pid {} alone: it is {} s old, under the {} s threshold",
                    record.pid,
                    age.as_secs(),
                    threshold.as_secs()
                ),
            ),
            Ok(ForceRelease::NothingToClear) => {
                done(true, "the lock is free and has no record".into())
            }
            Ok(ForceRelease::Held) => done(
                false,
                "a process took the lock meanwhile; nothing touched".into(),
            ),
            Err(e) => done(false, e.to_string()),
        };
    }
    let Some(record) = lock::read_record(&path) else {
        return done(
            false,
            "the lock is held but its record names no holder; nothing touched".into(),
        );
    };
    let pid = record.pid;
    let age = record.age(crate::now()).unwrap_or_default();
    let refuse = |why: String| done(false, format!("did not terminate pid {pid}: {why}"));
    if record.host != crate::paths::hostname() {
        return refuse(format!("the record names another host ({})", record.host));
    }
    if age <= threshold {
        return refuse(format!(
            "it has held the lock {} s, under the {} s threshold",
            age.as_secs(),
            threshold.as_secs()
        ));
    }
    if !procfs::flock_holders(&path).contains(&pid) {
        return refuse("the kernel says it does not hold the lock".into());
    }
    if !procfs::is_ours(pid) {
        return refuse("it runs as another user".into());
    }
    let same_exe = std::env::current_exe()
        .ok()
        .zip(procfs::exe_of(pid))
        .is_some_and(|(me, it)| me == it);
    if !same_exe {
        return refuse("it does not run this spec-kitty executable".into());
    }
    if let Some(name) = procfs::terminate(pid, Duration::from_secs(3)) {
        let freed = !lock::is_held(&path).unwrap_or(true);
        return done(
            freed,
            format!(
                "terminated the hung holder pid {pid} ({name}, it held the lock {} s); the lock is {}",
                age.as_secs(),
                if freed { "free" } else { "still held by another process" }
            ),
        );
    }
    done(false, format!("pid {pid} survived SIGKILL"))
}

/// `--server`: asks the server whether the session is active, refreshing through the
/// transaction first if the access token needs it. Never reveals a token.
pub fn server_check(root: &RuntimeRoot) -> (Repair, ServerCheck) {
    let check = match ask_server(root) {
        Ok(true) => ServerCheck {
            state: "active".into(),
            reason: None,
        },
        Ok(false) => ServerCheck {
            state: "invalid".into(),
            reason: Some("the server reports the session inactive".into()),
        },
        Err(Verdict::Invalid(reason)) => ServerCheck {
            state: "invalid".into(),
            reason: Some(reason),
        },
        Err(Verdict::Failed(reason)) => ServerCheck {
            state: "check_failed".into(),
            reason: Some(reason),
        },
    };
    let repair = Repair {
        action: "server",
        ok: check.state != "check_failed",
        result: format!(
            "the server says: {}{}",
            check.state,
            check
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    };
    (repair, check)
}

enum Verdict {
    Invalid(String),
    Failed(String),
}

fn ask_server(root: &RuntimeRoot) -> Result<bool, Verdict> {
    let manager = TokenManager::load(root).map_err(|e| Verdict::Failed(e.to_string()))?;
    let token = manager.access_token().map_err(|e| match e {
        AuthError::Relogin(cause) => Verdict::Invalid(cause.to_string()),
        other => Verdict::Failed(other.to_string()),
    })?;
    let url = saas_url().map_err(|e| Verdict::Failed(e.to_string()))?;
    let client = OAuthClient::new(&url, crate::oauth::DEFAULT_TIMEOUT)
        .map_err(|e| Verdict::Failed(e.to_string()))?;
    match client.session_status(&token) {
        Ok(status) => Ok(status.active),
        Err(OAuthError::Status {
            status: 401 | 403,
            detail,
            ..
        }) => Err(Verdict::Invalid(format!("HTTP 401/403: {detail}"))),
        Err(e) => Err(Verdict::Failed(e.to_string())),
    }
}
