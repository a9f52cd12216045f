//! What `sync start | stop | restart | status` do: find the recorded singleton and judge it,
//! start one (many concurrent starts converge on one daemon), replace one of another version,
//! stop one with its token and a verified kill after a bounded wait.
//!
//! Why a start lock: many checkouts run `sync start` at once. Each takes
//! `<root>/sync-daemon.start.lock` (a flock, bounded wait) around "is one healthy? else spawn and
//! wait for health", so one spawns and the others find it healthy. The daemon's own singleton
//! lock would keep a second daemon from running anyway; the start lock only avoids spawning one
//! to see it decline.

use super::client::ControlClient;
use super::config::DaemonConfig;
use super::identity;
use super::orphans;
use super::protocol::Health;
use super::state_file::{self, DaemonRecord};
use crate::fsutil;
use crate::lock::is_contention;
use crate::paths::RuntimeRoot;
use crate::procfs;
use serde::Serialize;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the recorded daemon looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Recorded, answering health, of this version, serving this root.
    Running,
    /// Recorded and answering, but another package version.
    VersionMismatch,
    /// Recorded, but not answering health as our daemon (or the file is unreadable).
    Unhealthy,
    /// Nothing recorded.
    NotRunning,
}

/// The recorded daemon and what it answers.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    /// The daemon's package version (from health), when it answers.
    pub package_version: Option<String>,
    /// Whether some process holds the singleton lock.
    pub lock_held: bool,
    /// Why the state file could not be used, when it could not.
    pub state_file_error: Option<String>,
    #[serde(skip)]
    pub record: Option<DaemonRecord>,
    #[serde(skip)]
    pub health: Option<Health>,
}

/// Reads the state file and probes the recorded daemon. Read-only.
pub fn status(root: &RuntimeRoot, client: &ControlClient) -> Status {
    let lock_held = super::singleton::is_held(&root.daemon_lock_file()).unwrap_or(false);
    let (record, state_file_error) = match state_file::read(&root.daemon_state_file()) {
        Ok(r) => (r, None),
        Err(e) => (
            None,
            Some(format!("{} {e}", root.daemon_state_file().display())),
        ),
    };
    let health = record
        .as_ref()
        .and_then(|r| client.health(r.port))
        .filter(|h| {
            h.is_our_family()
                && record.as_ref().is_some_and(|r| r.pid == h.pid)
                && h.runtime_root == root.base().display().to_string()
        });
    let state = match (&record, &health, &state_file_error) {
        (_, Some(h), _) if h.package_version == identity::reported_version() => State::Running,
        (_, Some(_), _) => State::VersionMismatch,
        (Some(_), None, _) | (None, None, Some(_)) => State::Unhealthy,
        (None, None, None) => State::NotRunning,
    };
    Status {
        state,
        pid: record.as_ref().map(|r| r.pid),
        port: record.as_ref().map(|r| r.port),
        package_version: health.as_ref().map(|h| h.package_version.clone()),
        lock_held,
        state_file_error,
        record,
        health,
    }
}

/// Why a daemon could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot start the daemon: {0}")]
    Spawn(String),
    #[error("the daemon did not become healthy within {waited_ms} ms; see {log}")]
    NotHealthy { waited_ms: u128, log: String },
    #[error("another `sync start` held {path} for too long; try again")]
    StartBusy { path: String },
    #[error("the daemon (pid {pid}) could not be stopped: {reason}")]
    NotStopped { pid: u32, reason: String },
}

/// The healthy singleton after a start.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub pid: u32,
    pub port: u16,
    pub package_version: String,
    /// Whether it was already running (no daemon was spawned).
    pub already_running: bool,
    /// A daemon of another version that was replaced, if any.
    pub replaced: Option<orphans::SweepResult>,
}

/// Ensures one healthy daemon of this version serves `root`, spawning one if needed.
pub fn ensure_running(
    root: &RuntimeRoot,
    config: &DaemonConfig,
    force_new: bool,
) -> Result<Started, ControlError> {
    let client = ControlClient::new();
    let deadline = Instant::now() + config.start_wait;
    let _start_lock = start_lock(root, deadline)?;
    let current = status(root, &client);
    let mut replaced = None;
    match (&current.state, &current.health) {
        (State::Running, Some(h)) if !force_new => {
            return Ok(Started {
                pid: h.pid,
                port: h.port,
                package_version: h.package_version.clone(),
                already_running: true,
                replaced: None,
            })
        }
        (State::Running | State::VersionMismatch, Some(h)) => {
            let tokens: Vec<DaemonRecord> = current.record.iter().cloned().collect();
            let result = orphans::remove(&client, h.port, h.pid, &tokens);
            if result.result != "removed" {
                return Err(ControlError::NotStopped {
                    pid: h.pid,
                    reason: result.reason,
                });
            }
            replaced = Some(result);
        }
        _ => {}
    }
    let mut child = spawn(root)?;
    let health =
        wait_healthy(root, &client, &mut child, deadline).map_err(
            |early_exit| match early_exit {
                Some(why) => ControlError::Spawn(why),
                None => ControlError::NotHealthy {
                    waited_ms: config.start_wait.as_millis(),
                    log: root.daemon_log_file().display().to_string(),
                },
            },
        )?;
    Ok(Started {
        pid: health.pid,
        port: health.port,
        package_version: health.package_version,
        already_running: false,
        replaced,
    })
}

/// What `stop` did.
#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    /// The daemon that was stopped, if one was running.
    pub stopped: Option<orphans::SweepResult>,
}

/// Stops the recorded daemon: shutdown with its token, then a verified SIGTERM/SIGKILL.
pub fn stop(root: &RuntimeRoot) -> Result<Stopped, ControlError> {
    let client = ControlClient::new();
    let current = status(root, &client);
    let Some(health) = current.health else {
        return stop_unanswering(root, &current);
    };
    let tokens: Vec<DaemonRecord> = current.record.into_iter().collect();
    let result = orphans::remove(&client, health.port, health.pid, &tokens);
    if result.result == "removed" {
        Ok(Stopped {
            stopped: Some(result),
        })
    } else {
        Err(ControlError::NotStopped {
            pid: health.pid,
            reason: result.reason,
        })
    }
}

/// The recorded daemon does not answer health. If its pid still holds the singleton lock and is
/// this user's `spec-kitty` (same executable), it is hung: signal it (verified, bounded).
/// Otherwise the record is leftover state and is removed.
fn stop_unanswering(root: &RuntimeRoot, current: &Status) -> Result<Stopped, ControlError> {
    let Some(record) = &current.record else {
        return Ok(Stopped { stopped: None });
    };
    let same_exe = std::env::current_exe()
        .ok()
        .and_then(|me| Some(procfs::exe_of(record.pid)? == me))
        .unwrap_or(false);
    if current.lock_held && procfs::is_alive(record.pid) && procfs::is_ours(record.pid) && same_exe
    {
        if let Some(name) = procfs::terminate(record.pid, Duration::from_secs(3)) {
            state_file::remove_if_ours(&root.daemon_state_file(), record);
            return Ok(Stopped {
                stopped: Some(orphans::SweepResult {
                    port: record.port,
                    pid: Some(record.pid),
                    result: "removed",
                    reason: format!("it did not answer health; stopped by {name}"),
                }),
            });
        }
        return Err(ControlError::NotStopped {
            pid: record.pid,
            reason: "still running after SIGKILL".into(),
        });
    }
    state_file::remove_if_ours(&root.daemon_state_file(), record);
    Ok(Stopped { stopped: None })
}

fn start_lock(root: &RuntimeRoot, deadline: Instant) -> Result<std::fs::File, ControlError> {
    let path = root.daemon_start_lock_file();
    std::fs::create_dir_all(root.base()).map_err(|e| ControlError::Spawn(e.to_string()))?;
    let file =
        fsutil::open_lock_file(&path, true).map_err(|e| ControlError::Spawn(e.to_string()))?;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(e) if is_contention(e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) if is_contention(e) => {
                return Err(ControlError::StartBusy {
                    path: path.display().to_string(),
                })
            }
            Err(e) => return Err(ControlError::Spawn(e.to_string())),
        }
    }
}

/// Spawns `<this executable> sync daemon`, detached (it starts its own session), logging to
/// `<root>/sync-daemon.log`. No token is in its argv or environment: it makes its own.
fn spawn(root: &RuntimeRoot) -> Result<std::process::Child, ControlError> {
    let exe = std::env::current_exe().map_err(|e| ControlError::Spawn(e.to_string()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(root.daemon_log_file())
        .map_err(|e| ControlError::Spawn(format!("{}: {e}", root.daemon_log_file().display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| ControlError::Spawn(e.to_string()))?;
    Command::new(exe)
        .args(identity::daemon_argv())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| ControlError::Spawn(e.to_string()))
}

/// Waits until the state file names a daemon that answers health as ours. `Err(Some(why))` when
/// the spawned daemon exited without one becoming healthy (its last log line says why);
/// `Err(None)` at the deadline.
fn wait_healthy(
    root: &RuntimeRoot,
    client: &ControlClient,
    child: &mut std::process::Child,
    deadline: Instant,
) -> Result<Health, Option<String>> {
    loop {
        let s = status(root, client);
        if let (State::Running, Some(h)) = (s.state, s.health) {
            return Ok(h);
        }
        if let Ok(Some(code)) = child.try_wait() {
            let s = status(root, client);
            if let (State::Running, Some(h)) = (s.state, s.health) {
                return Ok(h);
            }
            let log = std::fs::read_to_string(root.daemon_log_file()).unwrap_or_default();
            let last = log.lines().last().unwrap_or("no log").trim().to_string();
            return Err(Some(format!("the daemon exited ({code}): {last}")));
        }
        if Instant::now() >= deadline {
            return Err(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// With `SPEC_KITTY_ENABLE_SAAS_SYNC` truthy, ensures the daemon the way `sync start` does (the
/// commands that need sync call this); without it, starts nothing. `None` when not enabled.
pub fn ensure_if_enabled(root: &RuntimeRoot) -> Option<Result<Started, ControlError>> {
    if !crate::paths::sync_enabled() {
        return None;
    }
    Some(
        DaemonConfig::from_env()
            .map_err(|e| ControlError::Spawn(e.to_string()))
            .and_then(|config| ensure_running(root, &config, false)),
    )
}
