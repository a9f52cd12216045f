//! What `auth doctor` observes, gathered strictly read-only: the session (read the way production
//! reads it), why the last one ended, the refresh lock judged by its flock (never by its record
//! alone), the daemon and orphans (loopback probes only), and file modes.
//!
//! Why read-only: doctor is what a user runs when something is wrong; it must never make it worse
//! or change what it is looking at. Nothing here creates, writes or locks a file beyond a
//! non-blocking probe released at once, and nothing is signalled.

use crate::daemon::client::ControlClient;
use crate::daemon::config::DaemonConfig;
use crate::daemon::control;
use crate::daemon::identity::reported_version;
use crate::daemon::orphans::{self, Kind, Listener};
use crate::daemon::protocol::fingerprint;
use crate::ended::{self, Ended};
use crate::lock::{self, LockRecord};
use crate::paths::RuntimeRoot;
use crate::procfs;
use crate::session::format_report_time;
use crate::storage::SessionStore;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// Everything doctor observed.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub generated_at: String,
    /// The runtime root (`SPEC_KITTY_HOME` or `~/.spec-kitty`).
    pub auth_root: String,
    pub session: SessionFacts,
    pub refresh_lock: LockFacts,
    pub daemon: DaemonFacts,
    pub orphans: Vec<Listener>,
    /// Files or directories whose mode lets other users in.
    pub unsafe_modes: Vec<UnsafeMode>,
}

/// The session as production would read it. Never a token.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionFacts {
    /// `present`, `absent`, `unreadable` or `error` (as `auth status` reports it).
    pub state: String,
    pub file: String,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub session_id: Option<String>,
    pub storage_backend: Option<String>,
    pub auth_method: Option<String>,
    pub generation: Option<i64>,
    pub access_token_expires_at: Option<String>,
    pub access_expires_in_s: Option<i64>,
    pub refresh_token_expires_at: Option<String>,
    pub refresh_expires_in_s: Option<i64>,
    pub refresh_expired: bool,
    /// Why the file could not be used, when it could not.
    pub error: Option<String>,
    /// Why the last session ended, when this CLI recorded it.
    pub ended: Option<Ended>,
    /// See `daemon::protocol::fingerprint`.
    pub fingerprint: Option<String>,
    /// `--server`: what the server says about the session.
    pub server_check: Option<ServerCheck>,
}

/// The answer of the opt-in server check.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCheck {
    /// `active`, `invalid` or `check_failed`.
    pub state: String,
    pub reason: Option<String>,
}

/// The refresh lock, judged by its flock.
#[derive(Debug, Clone, Serialize)]
pub struct LockFacts {
    pub path: String,
    /// Whether a live process holds the flock right now.
    pub held: bool,
    /// `absent`, `empty`, `holder` (a record and a live flock), `leftover` (a record, no flock)
    /// or `unreadable`.
    pub record: String,
    pub holder: Option<Holder>,
    pub stuck_threshold_s: u64,
    /// Held by a live process for longer than the threshold.
    pub stuck: bool,
}

/// What the holder record says, checked against `/proc` where possible.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    pub age_s: Option<u64>,
    pub version: String,
    /// The record names this host.
    pub same_host: bool,
    /// The kernel says this pid holds the flock (only knowable on this host).
    pub holds_flock: Option<bool>,
}

/// The recorded daemon.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonFacts {
    /// As `sync status` reports it.
    pub state: control::State,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub package_version: Option<String>,
    /// This CLI's version.
    pub expected_version: String,
    pub lock_held: bool,
    pub state_file_error: Option<String>,
    /// The fingerprint of the session the daemon holds in memory.
    pub session_fingerprint: Option<String>,
    /// `SPEC_KITTY_DAEMON_PORTS` / `_TICK_S` cannot be used (then no orphan scan was made: the
    /// range to scan is unknown).
    pub config_error: Option<String>,
}

/// A path whose mode lets other users in.
#[derive(Debug, Clone, Serialize)]
pub struct UnsafeMode {
    pub path: String,
    pub mode: String,
    pub expected: String,
}

/// Gathers everything, read-only.
pub fn gather(root: &RuntimeRoot, stuck_threshold: Duration) -> Facts {
    let now = crate::now();
    let client = ControlClient::new();
    let daemon_status = control::status(root, &client);
    let config = DaemonConfig::from_env();
    let orphans = match &config {
        Ok(config) => orphans::scan(root, config, daemon_status.record.as_ref())
            .into_iter()
            .filter(|l| matches!(l.kind, Kind::Orphan | Kind::OtherRoot))
            .collect(),
        Err(_) => Vec::new(),
    };
    Facts {
        generated_at: format_report_time(now),
        auth_root: root.base().display().to_string(),
        session: session_facts(root, now),
        refresh_lock: lock_facts(root, stuck_threshold, now),
        daemon: DaemonFacts {
            state: daemon_status.state,
            pid: daemon_status.pid,
            port: daemon_status.port,
            package_version: daemon_status.package_version.clone(),
            expected_version: reported_version().to_string(),
            lock_held: daemon_status.lock_held,
            state_file_error: daemon_status.state_file_error.clone(),
            session_fingerprint: daemon_status
                .health
                .as_ref()
                .and_then(|h| h.session.as_ref())
                .map(|s| s.fingerprint.clone()),
            config_error: config.err().map(|e| e.to_string()),
        },
        orphans,
        unsafe_modes: unsafe_modes(root),
    }
}

fn session_facts(root: &RuntimeRoot, now: DateTime<Utc>) -> SessionFacts {
    let mut f = SessionFacts {
        file: root.session_file().display().to_string(),
        ended: ended::read(root),
        ..SessionFacts::default()
    };
    let read = SessionStore::for_root(root).and_then(|s| s.read());
    match read {
        Ok(Some(s)) => {
            f.state = "present".into();
            f.user_id = Some(s.user_id.clone());
            f.email = Some(s.email.clone());
            f.session_id = Some(s.session_id.clone());
            f.storage_backend = Some(s.storage_backend.clone());
            f.auth_method = Some(s.auth_method.clone());
            f.generation = s.generation;
            f.access_token_expires_at = Some(format_report_time(s.access_token_expires_at));
            f.access_expires_in_s = Some((s.access_token_expires_at - now).num_seconds());
            f.refresh_token_expires_at = s.refresh_token_expires_at.map(format_report_time);
            f.refresh_expires_in_s = s.refresh_token_expires_at.map(|t| (t - now).num_seconds());
            f.refresh_expired = s.refresh_expired(now);
            f.fingerprint = Some(fingerprint(&s));
            // A session exists: an old "ended" record describes an earlier one.
            f.ended = None;
        }
        Ok(None) => f.state = "absent".into(),
        Err(e) => {
            f.state = if e.is_unreadable_session() {
                "unreadable"
            } else {
                "error"
            }
            .into();
            f.error = Some(e.to_string());
        }
    }
    f
}

fn lock_facts(root: &RuntimeRoot, threshold: Duration, now: DateTime<Utc>) -> LockFacts {
    let path = root.refresh_lock_file();
    let held = lock::is_held(&path).unwrap_or(false);
    let exists = path.exists();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let record: Option<LockRecord> = lock::read_record(&path);
    let host = crate::paths::hostname();
    let holder = record.as_ref().map(|r| {
        let same_host = r.host == host;
        Holder {
            pid: r.pid,
            host: r.host.clone(),
            started_at: r.started_at.clone(),
            age_s: r.age(now).map(|a| a.as_secs()),
            version: r.version.clone(),
            same_host,
            holds_flock: same_host.then(|| procfs::flock_holders(&path).contains(&r.pid)),
        }
    });
    let record_kind = match (&record, exists, size, held) {
        (_, false, _, _) => "absent",
        (None, true, 0, _) => "empty",
        (None, true, _, _) => "unreadable",
        (Some(_), _, _, true) => "holder",
        (Some(_), _, _, false) => "leftover",
    };
    let stuck = held
        && record
            .as_ref()
            .and_then(|r| r.age(now))
            .is_some_and(|age| age > threshold);
    LockFacts {
        path: path.display().to_string(),
        held,
        record: record_kind.into(),
        holder,
        stuck_threshold_s: threshold.as_secs(),
        stuck,
    }
}

fn unsafe_modes(root: &RuntimeRoot) -> Vec<UnsafeMode> {
    let mut out = Vec::new();
    let mut check = |path: std::path::PathBuf, expected: u32| {
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                out.push(UnsafeMode {
                    path: path.display().to_string(),
                    mode: format!("{mode:04o}"),
                    expected: format!("{expected:04o}"),
                });
            }
        }
    };
    check(root.auth_dir(), 0o700);
    for file in [
        root.salt_file(),
        root.refresh_lock_file(),
        root.session_lock_file(),
        root.daemon_state_file(),
        root.daemon_lock_file(),
    ] {
        check(file, 0o600);
    }
    out
}
