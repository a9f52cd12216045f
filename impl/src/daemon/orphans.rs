//! Finding and removing orphan daemons: listeners in the reserved range whose health names our
//! daemon family but which are not the recorded singleton (left behind by a crash, an upgrade,
//! a careless cleanup).
//!
//! Why so careful: a listener's health answer is only its own word. Nothing is ever signalled
//! unless `/proc` confirms that the pid runs as this OS user and really listens on that port; a
//! listener that is not ours is never touched, whatever it answers; a daemon serving another
//! runtime root is reported, and removed only when forced.

use super::client::ControlClient;
use super::config::DaemonConfig;
use super::protocol::Health;
use super::state_file::DaemonRecord;
use crate::paths::RuntimeRoot;
use crate::procfs;
use serde::Serialize;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a port may take to accept a connection during a scan.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);
/// Bounded waits of the sweep: after an authenticated shutdown, after SIGTERM, after SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// What one listener in the range is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The recorded singleton of this runtime root.
    Singleton,
    /// Our daemon family, this runtime root, not the recorded singleton.
    Orphan,
    /// Our daemon family, serving another runtime root.
    OtherRoot,
    /// Not a spec-kitty daemon (or not answering the protocol): never touched.
    Foreign,
}

/// One listener the scan found.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub port: u16,
    pub kind: Kind,
    /// What the listener says about itself (our family only).
    pub pid: Option<u32>,
    pub package_version: Option<String>,
    pub runtime_root: Option<String>,
    #[serde(skip)]
    pub health: Option<Health>,
}

/// Scans every port of the range in parallel and classifies what listens there.
pub fn scan(
    root: &RuntimeRoot,
    config: &DaemonConfig,
    recorded: Option<&DaemonRecord>,
) -> Vec<Listener> {
    let ports: Vec<u16> = config.ports.clone().collect();
    let mut found: Vec<Listener> = std::thread::scope(|s| {
        let probes: Vec<_> = ports
            .iter()
            .map(|&port| s.spawn(move || probe(port)))
            .collect();
        probes
            .into_iter()
            .filter_map(|p| p.join().ok().flatten())
            .collect()
    });
    let ours = root.base().display().to_string();
    for l in &mut found {
        l.kind = classify(l, &ours, recorded);
    }
    found.sort_by_key(|l| l.port);
    found
}

fn probe(port: u16) -> Option<Listener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok()?;
    // Only a port that accepts is worth an HTTP client.
    let health = ControlClient::new()
        .health(port)
        .filter(Health::is_our_family);
    Some(Listener {
        port,
        kind: Kind::Foreign,
        pid: health.as_ref().map(|h| h.pid),
        package_version: health.as_ref().map(|h| h.package_version.clone()),
        runtime_root: health.as_ref().map(|h| h.runtime_root.clone()),
        health,
    })
}

fn classify(l: &Listener, our_root: &str, recorded: Option<&DaemonRecord>) -> Kind {
    let Some(h) = &l.health else {
        return Kind::Foreign;
    };
    if h.port != l.port {
        return Kind::Foreign;
    }
    if recorded.is_some_and(|r| r.port == l.port && r.pid == h.pid) {
        return Kind::Singleton;
    }
    if h.runtime_root == our_root {
        Kind::Orphan
    } else {
        Kind::OtherRoot
    }
}

/// What the sweep did to one listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepResult {
    pub port: u16,
    pub pid: Option<u32>,
    /// `removed`, `skipped` or `failed`.
    pub result: &'static str,
    /// How (`shutdown`, `sigterm`, `sigkill`), or why not.
    pub reason: String,
}

/// Removes the orphans among `found` (and daemons of other roots when `force`): an
/// authenticated shutdown when its token is known, else SIGTERM, then SIGKILL, each with a
/// bounded wait, and only after `/proc` verification. Never the singleton, never a foreign
/// listener.
pub fn sweep(found: &[Listener], force: bool, tokens: &[DaemonRecord]) -> Vec<SweepResult> {
    let client = ControlClient::new();
    found
        .iter()
        .filter_map(|l| {
            let removable = match l.kind {
                Kind::Orphan => true,
                Kind::OtherRoot => force,
                Kind::Singleton | Kind::Foreign => return None,
            };
            let pid = l.pid?;
            Some(if removable {
                remove(&client, l.port, pid, tokens)
            } else {
                SweepResult {
                    port: l.port,
                    pid: Some(pid),
                    result: "skipped",
                    reason: format!(
                        "serves another runtime root ({}); use --force to remove it",
                        l.runtime_root.as_deref().unwrap_or("?")
                    ),
                }
            })
        })
        .collect()
}

/// Stops the daemon `pid` listening on `port`: shutdown with its token when one of `tokens`
/// names it, else SIGTERM, then SIGKILL, each verified and bounded.
pub fn remove(client: &ControlClient, port: u16, pid: u32, tokens: &[DaemonRecord]) -> SweepResult {
    let done = |result, reason: &str| SweepResult {
        port,
        pid: Some(pid),
        result,
        reason: reason.to_string(),
    };
    if !super::identity::runs_daemon(pid) {
        return done(
            "skipped",
            &format!("pid {pid} does not run `spec-kitty sync daemon`; not touched"),
        );
    }
    if let Some(record) = tokens.iter().find(|r| r.pid == pid && r.port == port) {
        if client.shutdown(port, &record.token).is_ok() && procfs::wait_exit(pid, GRACE) {
            return done("removed", "shutdown");
        }
    }
    // The port is verified before the first signal; a daemon shutting down may close its
    // listener before it exits, so SIGKILL checks only that it is still ours.
    for (signal, name, verify_port) in [
        (rustix::process::Signal::TERM, "sigterm", Some(port)),
        (rustix::process::Signal::KILL, "sigkill", None),
    ] {
        if let Err(why) = procfs::signal_verified(pid, verify_port, signal) {
            return match why {
                procfs::NotSignalled::Gone(_) => done("removed", name),
                other => done("skipped", &other.to_string()),
            };
        }
        if procfs::wait_exit(pid, GRACE) {
            return done("removed", name);
        }
    }
    done("failed", "still running after SIGKILL")
}

/// `pid 123`, or `pid unknown` when the process could not be identified (for people: the
/// JSON carries the `Option`).
pub fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
}
