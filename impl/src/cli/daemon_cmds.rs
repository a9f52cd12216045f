//! `spec-kitty sync start | stop | restart | status | sweep` and the hidden foreground entry
//! `sync daemon`: the commands around the per-user sync daemon.

use super::output::{exit, Failure, Output};
use crate::daemon::client::ControlClient;
use crate::daemon::config::{ConfigError, DaemonConfig};
use crate::daemon::control::{self, State};
use crate::daemon::orphans::{self, Kind, Listener, SweepResult};
use crate::daemon::server::{self, Ending};
use crate::paths::RuntimeRoot;
use serde::Serialize;

fn config(out: &Output) -> Result<DaemonConfig, i32> {
    DaemonConfig::from_env().map_err(|e| out.fail(&Failure::new(exit::USAGE, "config", e)))
}

/// `sync start` (and `restart` with `force_new`).
pub fn start(root: &RuntimeRoot, out: Output, force_new: bool) -> i32 {
    let config = match config(&out) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match control::ensure_running(root, &config, force_new) {
        Ok(started) => out.success(&started, || {
            let verb = if started.already_running {
                "is running"
            } else {
                "started"
            };
            println!(
                "Sync daemon {verb}: pid {} on 127.0.0.1:{} (version {}).",
                started.pid, started.port, started.package_version
            );
            if let Some(r) = &started.replaced {
                println!(
                    "Replaced the daemon of another version ({}, {}).",
                    orphans::pid_text(r.pid),
                    r.reason
                );
            }
        }),
        Err(e) => out.fail(&Failure::new(exit::RETRYABLE, "daemon_start_failed", e)),
    }
}

/// `sync stop`.
pub fn stop(root: &RuntimeRoot, out: Output) -> i32 {
    match control::stop(root) {
        Ok(stopped) => out.success(&stopped, || match &stopped.stopped {
            Some(r) => println!(
                "Stopped the sync daemon ({}, {}).",
                orphans::pid_text(r.pid),
                r.reason
            ),
            None => println!("No sync daemon is running."),
        }),
        Err(e) => out.fail(&Failure::new(exit::RETRYABLE, "daemon_stop_failed", e)),
    }
}

/// The daemon part of `sync status`: the recorded daemon and any orphans in the range.
#[derive(Serialize)]
pub struct DaemonReport {
    pub daemon: control::Status,
    pub orphans: Vec<Listener>,
}

/// Observes the recorded daemon and scans for orphans. Read-only. Fails only when the daemon
/// settings cannot be used (the range to scan would be a guess).
pub fn daemon_report(root: &RuntimeRoot) -> Result<DaemonReport, ConfigError> {
    let config = DaemonConfig::from_env()?;
    let daemon = control::status(root, &ControlClient::new());
    let orphans: Vec<Listener> = orphans::scan(root, &config, daemon.record.as_ref())
        .into_iter()
        .filter(|l| matches!(l.kind, Kind::Orphan | Kind::OtherRoot))
        .collect();
    Ok(DaemonReport { daemon, orphans })
}

/// The daemon part of `sync status`, for people.
pub fn print_daemon(r: &DaemonReport) {
    let d = &r.daemon;
    match d.state {
        State::Running => println!(
            "Sync daemon:          running, pid {} on 127.0.0.1:{} (version {})",
            d.pid.unwrap_or(0),
            d.port.unwrap_or(0),
            d.package_version.as_deref().unwrap_or("?")
        ),
        State::VersionMismatch => println!(
            "Sync daemon:          runs another version ({}); run `spec-kitty sync restart`",
            d.package_version.as_deref().unwrap_or("?")
        ),
        State::Unhealthy => println!(
            "Sync daemon:          recorded but not answering{}; run `spec-kitty sync restart`",
            d.state_file_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        State::NotRunning => {
            println!("Sync daemon:          not running (`spec-kitty sync start` starts it)")
        }
    }
    for o in &r.orphans {
        println!(
            "  orphan: pid {} on port {} (version {}, root {}){}",
            o.pid.unwrap_or(0),
            o.port,
            o.package_version.as_deref().unwrap_or("?"),
            o.runtime_root.as_deref().unwrap_or("?"),
            if o.kind == Kind::OtherRoot {
                ", another runtime root"
            } else {
                ""
            }
        );
    }
    if !r.orphans.is_empty() {
        println!(
            "  remove them with `spec-kitty sync sweep` (or `spec-kitty auth doctor --reset`)"
        );
    }
}

#[derive(Serialize)]
struct SweepReport {
    results: Vec<SweepResult>,
}

/// `sync sweep [--force]`: removes orphan daemons (never the singleton, never a foreign listener).
pub fn sweep(root: &RuntimeRoot, out: Output, force: bool) -> i32 {
    let config = match config(&out) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let recorded = control::status(root, &ControlClient::new()).record;
    let found = orphans::scan(root, &config, recorded.as_ref());
    let report = SweepReport {
        results: orphans::sweep(&found, force, &[]),
    };
    let failed = report
        .results
        .iter()
        .filter(|r| r.result == "failed")
        .count();
    if failed > 0 {
        let failure = Failure::new(
            exit::RETRYABLE,
            "sweep_incomplete",
            format!("{failed} orphan daemon(s) could not be removed"),
        );
        return out.failure(&report, &failure);
    }
    out.success(&report, || {
        if report.results.is_empty() {
            println!("No orphan daemons.");
        }
        for r in &report.results {
            println!(
                "port {}: {} {} ({})",
                r.port,
                orphans::pid_text(r.pid),
                r.result,
                r.reason
            );
        }
    })
}

/// The hidden `sync daemon`: runs the daemon in the foreground until it stops or retires.
pub fn run_daemon(root: &RuntimeRoot) -> i32 {
    let out = Output { json: false };
    let config = match config(&out) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match server::run(root, &config) {
        Ok(Ending::Declined { active }) => {
            match active {
                Some((pid, port)) => eprintln!(
                    "another sync daemon is active for {} (pid {pid}, port {port}); not starting a second one",
                    root.base().display()
                ),
                None => eprintln!(
                    "another sync daemon holds {}; not starting a second one",
                    root.daemon_lock_file().display()
                ),
            }
            exit::OK
        }
        Ok(Ending::Stopped(_) | Ending::Retired(_)) => exit::OK,
        Err(e) => out.fail(&Failure::new(exit::RETRYABLE, "daemon_failed", e)),
    }
}
