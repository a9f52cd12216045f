//! The daemons of a scenario: its private port range, decoy listeners, the census taken at the
//! end (which daemons serve the root, which one is the singleton and who started it), and the
//! sweep of leftovers at teardown.
//!
//! Why the runner finds daemons by environment: `sync start` spawns a daemon that starts its own
//! session, so it is in no process group the runner created. Every process of a scenario carries
//! the scenario's `SPEC_KITTY_HOME`, however it was detached, and the child's scenario name in
//! `KITTY_SCENARIO_PROCESS`; `/proc` tells both.

use crate::check::observed::Census;
use crate::child_env;
use spec_kitty::paths::{RuntimeRoot, HOME_ENV};
use spec_kitty::procfs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many ports each scenario reserves for its daemons.
pub const RANGE_LEN: u16 = 8;

/// `RANGE_LEN` consecutive loopback ports that are free now, from a random high base.
pub fn free_range() -> Result<(u16, u16), String> {
    for attempt in 0..500u32 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
            .wrapping_mul(2_654_435_761)
            ^ std::process::id().rotate_left(13)
            ^ attempt.rotate_left(7);
        let base = 20_000 + (seed % 40_000) as u16;
        if (base..base + RANGE_LEN).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok((base, base + RANGE_LEN - 1));
        }
    }
    Err("no free range of loopback ports for the scenario's daemons".into())
}

/// A listener the runner keeps in the range until teardown.
pub struct Decoy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Decoy {
    /// Listens on `port`, answering every request with `body`.
    pub fn start(port: u16, body: String) -> Result<Decoy, String> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("cannot start a decoy on port {port}: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                // Drop wakes the blocking accept with a connection of its own.
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Ok(Decoy {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// Whether the decoy still listens (nothing took its port away).
    pub fn still_listening(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
            && TcpListener::bind(("127.0.0.1", self.port)).is_err()
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a decoy of `kind` answers on `port` of the scenario serving `root`.
pub fn decoy_body(kind: crate::schema::DecoyKind, port: u16, root: &RuntimeRoot) -> String {
    match kind {
        crate::schema::DecoyKind::Plain => {
            r#"{"status":"ok","service":"not a spec-kitty daemon"}"#.to_string()
        }
        // Claims our family and root, naming the runner's own pid: that pid does listen on the
        // port (the runner holds the socket), so only the daemon identity check refuses it.
        crate::schema::DecoyKind::Liar => {
            serde_json::to_string(&spec_kitty::daemon::protocol::Health {
                status: "ok".into(),
                daemon_family: spec_kitty::daemon::protocol::DAEMON_FAMILY.into(),
                protocol_version: spec_kitty::daemon::protocol::PROTOCOL_VERSION,
                package_version: spec_kitty::VERSION.into(),
                pid: std::process::id(),
                port,
                runtime_root: root.base().display().to_string(),
                started_at: None,
                session: None,
                last_refresh_outcome: None,
            })
            .expect("health serialises")
        }
    }
}

/// The census of `root`'s daemons: every `sync daemon` process carrying the root, the scenario
/// process behind each, and the state file's record.
pub fn take_census(root: &RuntimeRoot) -> Census {
    let daemons = scenario_pids(root)
        .into_iter()
        .filter(|pid| spec_kitty::daemon::identity::runs_daemon(*pid))
        .map(|pid| (pid, scenario_name(pid).unwrap_or_else(|| "?".into())))
        .collect();
    let record = spec_kitty::daemon::state_file::read(&root.daemon_state_file())
        .ok()
        .flatten();
    Census {
        daemons,
        recorded_pid: record.as_ref().map(|r| r.pid),
        recorded_port: record.as_ref().map(|r| r.port),
    }
}

/// Every process (but the runner) whose environment carries this scenario's root.
pub fn scenario_pids(root: &RuntimeRoot) -> Vec<u32> {
    procfs::pids_with_env(HOME_ENV, &root.base().display().to_string())
}

/// The scenario process name a process inherited (a daemon carries its starter's).
fn scenario_name(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{}=", child_env::PROCESS);
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// SIGKILLs every process still carrying the root (daemons outlive the `sync start` that made
/// them) and waits for each; returns what it stopped, for the timeline.
pub fn sweep_leftovers(root: &RuntimeRoot) -> Vec<(u32, String)> {
    let mut stopped = Vec::new();
    for pid in scenario_pids(root) {
        let name = scenario_name(pid).unwrap_or_else(|| "?".into());
        if procfs::signal_verified(pid, None, rustix::process::Signal::KILL).is_ok() {
            procfs::wait_exit(pid, Duration::from_secs(5));
            stopped.push((pid, name));
        }
    }
    stopped
}
