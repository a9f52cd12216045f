//! The sync daemon as real processes: convergence of concurrent starts, the singleton, clean
//! shutdown, self-retirement, orphan detection and a sweep that never touches what is not ours,
//! and bad local state answered clearly.

mod common;

use common::{spec_kitty_cmd, Root};
use serde_json::Value;
use spec_kitty::daemon::state_file;
use spec_kitty::procfs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A runtime root (with its private port range; every daemon it started is stopped when it drops).
struct Fixture {
    root: Root,
    /// `SPEC_KITTY_DAEMON_TICK_S` for every command.
    tick: &'static str,
}

impl Fixture {
    fn new(tick: &'static str) -> Self {
        Fixture {
            root: Root::new(),
            tick,
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = spec_kitty_cmd(&self.root, Some("http://127.0.0.1:9"));
        cmd.env("SPEC_KITTY_DAEMON_TICK_S", self.tick)
            .stdin(Stdio::null());
        cmd
    }

    fn json(&self, args: &[&str]) -> (Output, Value) {
        let out = common::bounded_output(self.cmd().args(args));
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out, json)
    }

    /// Starts a daemon, then removes its lock and state files as a careless cleanup would: an
    /// orphan (with the tick disabled it does not retire). Returns its pid.
    fn orphaned_daemon(&self) -> u32 {
        let (_, a) = self.json(&["sync", "start", "--json"]);
        std::fs::remove_file(self.root.root.daemon_lock_file()).unwrap();
        std::fs::remove_file(self.root.root.daemon_state_file()).unwrap();
        a["pid"].as_u64().unwrap() as u32
    }

    fn record(&self) -> Option<state_file::DaemonRecord> {
        state_file::read(&self.root.root.daemon_state_file()).unwrap()
    }
}

#[test]
fn eight_concurrent_starts_from_eight_directories_converge_on_one_daemon() {
    let f = Fixture::new("30");
    let dirs: Vec<_> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|d| {
            f.cmd()
                .args(["sync", "start", "--json"])
                .current_dir(d.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let answers: Vec<Value> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let pid = answers[0]["pid"].as_u64().unwrap() as u32;
    for a in &answers {
        assert_eq!(
            (a["pid"].as_u64(), a["port"].as_u64()),
            (Some(pid as u64), answers[0]["port"].as_u64())
        );
    }
    let spawned = answers
        .iter()
        .filter(|a| a["already_running"] == false)
        .count();
    assert_eq!(spawned, 1, "exactly one start spawned a daemon");
    let daemons =
        procfs::pids_with_env("SPEC_KITTY_HOME", &f.root.root.base().display().to_string());
    assert_eq!(daemons, vec![pid], "exactly one daemon alive");
    // Never a token in its argv or environment.
    let token = f.record().unwrap().token;
    for file in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{file}")).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(token.expose()),
            "{file}"
        );
    }
}

#[test]
fn sigterm_shuts_down_cleanly_and_a_stopped_daemon_leaves_no_claim() {
    let f = Fixture::new("30");
    let (_, started) = f.json(&["sync", "start", "--json"]);
    let pid = started["pid"].as_u64().unwrap() as u32;
    assert_eq!(
        std::fs::metadata(f.root.root.daemon_state_file())
            .map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o777
            })
            .unwrap(),
        0o600
    );
    procfs::signal_verified(pid, None, rustix::process::Signal::TERM).unwrap();
    assert!(procfs::wait_exit(pid, Duration::from_secs(5)));
    assert!(f.record().is_none(), "its state file was removed");
    assert!(!spec_kitty::daemon::singleton::is_held(&f.root.root.daemon_lock_file()).unwrap());
    let (_, status) = f.json(&["sync", "status", "--json"]);
    assert_eq!(status["daemon"]["state"], "not_running");
}

#[test]
fn a_daemon_whose_files_were_removed_retires_and_the_new_one_is_the_singleton() {
    let f = Fixture::new("0.2");
    let (_, a) = f.json(&["sync", "start", "--json"]);
    let a_pid = a["pid"].as_u64().unwrap() as u32;
    std::fs::remove_file(f.root.root.daemon_lock_file()).unwrap();
    std::fs::remove_file(f.root.root.daemon_state_file()).unwrap();
    let (_, b) = f.json(&["sync", "start", "--json"]);
    let b_pid = b["pid"].as_u64().unwrap() as u32;
    assert_ne!(a_pid, b_pid);
    assert!(
        procfs::wait_exit(a_pid, Duration::from_secs(5)),
        "A retires on its next tick"
    );
    assert!(procfs::is_alive(b_pid));
    assert_eq!(f.record().unwrap().pid, b_pid);
}

#[test]
fn a_daemon_whose_state_file_names_another_retires_and_leaves_that_file_alone() {
    // The lock file is untouched (A still holds its inode); only the state file changed hands.
    let f = Fixture::new("0.2");
    let (_, a) = f.json(&["sync", "start", "--json"]);
    let a_pid = a["pid"].as_u64().unwrap() as u32;
    let mut other = f.record().unwrap();
    other.pid = std::process::id();
    other.port = f.root.daemon_ports.1;
    other.token = state_file::ControlToken::generate();
    state_file::write(&f.root.root.daemon_state_file(), &other).unwrap();
    assert!(
        procfs::wait_exit(a_pid, Duration::from_secs(5)),
        "A retires on its next tick"
    );
    assert_eq!(
        f.record().unwrap(),
        other,
        "a state file that is not A's is never removed or rewritten by A"
    );
    assert!(!spec_kitty::daemon::singleton::is_held(&f.root.root.daemon_lock_file()).unwrap());
}

/// A listener in the range that is not a spec-kitty daemon: answers every request with `body`.
fn decoy(port: u16, body: String) -> std::thread::JoinHandle<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    })
}

#[test]
fn an_orphan_is_found_and_swept_but_the_singleton_and_decoys_are_untouched() {
    let f = Fixture::new("0"); // no tick: the orphan does not retire on its own
    let a_pid = f.orphaned_daemon();
    let (_, b) = f.json(&["sync", "start", "--json"]);
    let b_pid = b["pid"].as_u64().unwrap() as u32;
    // Two decoys: one says nothing about itself, one lies that it is our daemon with pid B's.
    // Carries the root, so the root's cleanup stops it even when an assertion fails first.
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .env("SPEC_KITTY_HOME", f.root.root.base())
        .spawn()
        .unwrap();
    let _plain = decoy(
        f.root.daemon_ports.1,
        r#"{"status":"ok","service":"something else"}"#.into(),
    );
    let liar = serde_json::json!({
        "status": "ok", "daemon_family": "sync", "protocol_version": 1, "package_version": "0.1.0",
        "pid": sleeper.id(), "port": f.root.daemon_ports.1 - 1,
        "runtime_root": f.root.root.base().display().to_string(),
    });
    let _liar = decoy(f.root.daemon_ports.1 - 1, liar.to_string());

    let (_, status) = f.json(&["sync", "status", "--json"]);
    assert_eq!(status["daemon"]["pid"].as_u64(), Some(b_pid as u64));
    let orphan_pids: Vec<u64> = status["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["pid"].as_u64())
        .collect();
    assert!(orphan_pids.contains(&(a_pid as u64)), "{status}");

    let (out, sweep) = f.json(&["sync", "sweep", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{sweep}");
    let results = sweep["results"].as_array().unwrap();
    let a_result = results
        .iter()
        .find(|r| r["pid"].as_u64() == Some(a_pid as u64))
        .unwrap();
    assert_eq!(a_result["result"], "removed");
    let liar_result = results
        .iter()
        .find(|r| r["pid"].as_u64() == Some(sleeper.id() as u64))
        .unwrap();
    assert_eq!(
        liar_result["result"], "skipped",
        "a claim /proc does not confirm is never acted on"
    );
    assert!(procfs::wait_exit(a_pid, Duration::from_secs(5)));
    assert!(procfs::is_alive(b_pid), "the singleton is untouched");
    assert!(
        procfs::is_alive(sleeper.id()),
        "the liar's pid is untouched"
    );
    assert!(
        TcpListener::bind(("127.0.0.1", f.root.daemon_ports.1)).is_err(),
        "the decoy still listens"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn bad_local_state_gets_a_clear_answer_and_loses_nothing() {
    let f = Fixture::new("30");
    std::fs::create_dir_all(f.root.root.base()).unwrap();
    for garbage in [
        "",
        "\n\n",
        "http://127.0.0.1:1\n",
        "garbage\x00\x01",
        "http://127.0.0.1:9400\n9400\nshorttoken\n1\n",
    ] {
        std::fs::write(f.root.root.daemon_state_file(), garbage).unwrap();
        let (out, status) = f.json(&["sync", "status", "--json"]);
        assert_eq!(out.status.code(), Some(0));
        if !garbage.trim().is_empty() {
            assert_eq!(status["daemon"]["state"], "unhealthy", "{garbage:?}");
            assert!(status["daemon"]["state_file_error"]
                .as_str()
                .unwrap()
                .contains("sync-daemon"));
        }
    }
    // A start replaces the garbage with a real record.
    let (out, started) = f.json(&["sync", "start", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{started}");
    assert_eq!(
        f.record().unwrap().pid as u64,
        started["pid"].as_u64().unwrap()
    );
    f.json(&["sync", "stop", "--json"]);
    // The first port taken by something else: the daemon binds the next one.
    let _busy = TcpListener::bind(("127.0.0.1", f.root.daemon_ports.0)).unwrap();
    let (_, started) = f.json(&["sync", "start", "--json"]);
    assert_eq!(
        started["port"].as_u64(),
        Some(f.root.daemon_ports.0 as u64 + 1)
    );
    f.json(&["sync", "stop", "--json"]);
    // The lock file is a directory: one clear line, exit 3, nothing started.
    std::fs::remove_file(f.root.root.daemon_lock_file()).unwrap();
    std::fs::create_dir(f.root.root.daemon_lock_file()).unwrap();
    let (out, failed) = f.json(&["sync", "start", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{failed}");
    assert_eq!(failed["ok"], false);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().count(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A seeded root against the fake SaaS (whose default user has a private teamspace).
fn seeded_fixture() -> common::Seeded {
    common::Seeded::new(fake_saas::SaasConfig::default(), 3600, 86_400)
}

#[test]
fn with_sync_enabled_enqueue_ensures_the_daemon_and_without_it_nothing_starts() {
    let s = seeded_fixture();
    let base = s.root.root.base().display().to_string();
    let enqueue = |enabled: bool| {
        let mut cmd = s.cmd();
        cmd.args(["sync", "enqueue", "mission_created", "--json"]);
        if enabled {
            cmd.env("SPEC_KITTY_ENABLE_SAAS_SYNC", "1");
        }
        common::bounded_output(&mut cmd)
    };
    assert!(enqueue(false).status.success());
    assert!(
        procfs::pids_with_env("SPEC_KITTY_HOME", &base).is_empty(),
        "nothing starts implicitly"
    );
    assert!(enqueue(true).status.success());
    let daemons: Vec<u32> = procfs::pids_with_env("SPEC_KITTY_HOME", &base)
        .into_iter()
        .filter(|p| spec_kitty::daemon::identity::runs_daemon(*p))
        .collect();
    assert_eq!(daemons.len(), 1, "the enabled enqueue ensured one daemon");
}

#[test]
fn the_daemon_drains_the_queue_on_its_tick() {
    let s = seeded_fixture();
    for i in 0..3 {
        let out = common::bounded_output(s.cmd().args([
            "sync",
            "enqueue",
            "mission_created",
            "--payload",
            &format!("{{\"n\": {i}}}"),
        ]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        s.saas.event_ids().len(),
        0,
        "sync is disabled: nothing sent yet"
    );
    let started = common::bounded_output(
        s.cmd()
            .env("SPEC_KITTY_DAEMON_TICK_S", "0.2")
            .args(["sync", "start"]),
    );
    assert!(started.status.success());
    assert!(
        s.saas.wait_for_events(3, Duration::from_secs(10)),
        "the daemon sent the queue on a tick: {:?}",
        s.saas.event_stats()
    );
    assert_eq!(s.saas.event_stats().accepted, 3);
}

/// One raw HTTP request to the daemon's loopback control plane; returns (status code, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn the_control_plane_refuses_a_wrong_token_and_never_shows_the_right_one() {
    let f = Fixture::new("30");
    let (_, started) = f.json(&["sync", "start", "--json"]);
    let pid = started["pid"].as_u64().unwrap() as u32;
    let port = started["port"].as_u64().unwrap() as u16;
    let token = f.record().unwrap().token;

    let (status, health) = http(port, "GET", "/api/health", "");
    assert_eq!(status, 200, "{health}");
    assert!(
        !health.contains(token.expose()),
        "health never carries the token"
    );
    for path in ["/api/shutdown", "/api/sync/trigger"] {
        let (status, body) = http(port, "POST", path, r#"{"token": "not-the-token"}"#);
        assert_eq!(status, 403, "{path}: {body}");
    }
    assert!(procfs::is_alive(pid), "a refused shutdown stops nothing");

    // The right token is obeyed: the daemon exits and leaves no claim.
    let (status, _) = http(
        port,
        "POST",
        "/api/shutdown",
        &format!(r#"{{"token": "{}"}}"#, token.expose()),
    );
    assert_eq!(status, 200);
    assert!(procfs::wait_exit(pid, Duration::from_secs(10)));
    assert!(f.record().is_none());
}

#[test]
fn a_second_foreground_daemon_declines_and_names_the_active_one() {
    let f = Fixture::new("30");
    let (_, started) = f.json(&["sync", "start", "--json"]);
    let pid = started["pid"].as_u64().unwrap();
    let out = common::bounded_output(f.cmd().args(["sync", "daemon"]));
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another sync daemon is active") && stderr.contains(&format!("pid {pid}")),
        "{stderr}"
    );
    assert_eq!(
        f.record().unwrap().pid as u64,
        pid,
        "the active one is untouched"
    );
    f.json(&["sync", "stop", "--json"]);
}

#[test]
fn restart_replaces_a_healthy_daemon_and_its_log_says_so() {
    let f = Fixture::new("30");
    let (_, first) = f.json(&["sync", "start", "--json"]);
    let old = first["pid"].as_u64().unwrap() as u32;
    let (out, restarted) = f.json(&["sync", "restart", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{restarted}");
    let new = restarted["pid"].as_u64().unwrap() as u32;
    assert_ne!(new, old, "a new daemon");
    assert!(
        procfs::wait_exit(old, Duration::from_secs(10)),
        "the old one is gone"
    );
    assert_eq!(f.record().unwrap().pid, new);
    let log = std::fs::read_to_string(f.root.root.daemon_log_file()).unwrap();
    for pid in [old, new] {
        assert!(
            log.contains(&pid.to_string()),
            "the log names pid {pid}: {log}"
        );
    }
    f.json(&["sync", "stop", "--json"]);
}

#[test]
fn the_foreground_entry_is_hidden_from_help() {
    let f = Fixture::new("30");
    let out = common::bounded_output(f.cmd().args(["sync", "--help"]));
    let help = String::from_utf8_lossy(&out.stdout);
    for shown in ["start", "stop", "restart", "status", "sweep"] {
        assert!(help.contains(shown), "{help}");
    }
    assert!(
        !help.lines().any(|l| l.trim_start().starts_with("daemon ")),
        "{help}"
    );
}

#[test]
fn a_daemon_of_another_root_is_reported_and_removed_only_with_force() {
    let ours = Fixture::new("30");
    let theirs = Fixture::new("30");
    // Their daemon binds a port of our range, as two roots of one user sharing the default
    // range would.
    let (first, last) = ours.root.daemon_ports;
    let (_, started) = {
        let out = common::bounded_output(
            theirs
                .cmd()
                .env("SPEC_KITTY_DAEMON_PORTS", format!("{first}-{last}"))
                .args(["sync", "start", "--json"]),
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out, json)
    };
    let their_pid = started["pid"].as_u64().unwrap();

    let (out, sweep) = ours.json(&["sync", "sweep", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{sweep}");
    let theirs_result = |sweep: &Value| {
        sweep["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["pid"].as_u64() == Some(their_pid))
            .cloned()
            .unwrap_or_else(|| panic!("not reported: {sweep}"))
    };
    assert_eq!(theirs_result(&sweep)["result"], "skipped", "{sweep}");
    assert!(
        procfs::is_alive(their_pid as u32),
        "untouched without --force"
    );

    let (out, forced) = ours.json(&["sync", "sweep", "--force", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{forced}");
    assert_eq!(theirs_result(&forced)["result"], "removed", "{forced}");
    assert!(procfs::wait_exit(their_pid as u32, Duration::from_secs(10)));
}

/// Stops the daemon `pid` the way a hung process behaves: it keeps its listener and its locks,
/// and the SIGTERM it handles stays pending until it runs again, so only SIGKILL ends it. (An
/// unhandled fatal signal would end even a stopped process; the daemon handles SIGTERM.)
fn freeze(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
}

#[test]
fn a_swept_orphan_that_ignores_sigterm_is_killed_and_the_result_says_sigkill() {
    let f = Fixture::new("0"); // no tick: the orphan does not retire on its own
    let a_pid = f.orphaned_daemon();
    let config = spec_kitty::daemon::config::DaemonConfig {
        ports: f.root.daemon_ports.0..=f.root.daemon_ports.1,
        ..Default::default()
    };
    let found = spec_kitty::daemon::orphans::scan(&f.root.root, &config, None);
    assert!(
        found
            .iter()
            .any(|l| l.pid == Some(a_pid) && l.kind == spec_kitty::daemon::orphans::Kind::Orphan),
        "{found:?}"
    );

    freeze(a_pid);
    let results = spec_kitty::daemon::orphans::sweep(&found, false, &[]);
    let a_result = results.iter().find(|r| r.pid == Some(a_pid)).unwrap();
    assert_eq!(
        (a_result.result, a_result.reason.as_str()),
        ("removed", "sigkill"),
        "SIGTERM had no effect within its bounded wait, so SIGKILL followed"
    );
    assert!(procfs::wait_exit(a_pid, Duration::from_secs(5)));
}

#[test]
fn stop_kills_a_hung_daemon_that_neither_answers_nor_acts_on_sigterm() {
    let f = Fixture::new("30");
    let (_, started) = f.json(&["sync", "start", "--json"]);
    let pid = started["pid"].as_u64().unwrap() as u32;
    freeze(pid);

    let (out, stopped) = f.json(&["sync", "stop", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{stopped}");
    assert_eq!(
        stopped["stopped"]["pid"].as_u64(),
        Some(pid as u64),
        "{stopped}"
    );
    assert_eq!(stopped["stopped"]["result"], "removed", "{stopped}");
    let reason = stopped["stopped"]["reason"].as_str().unwrap();
    assert!(reason.contains("SIGKILL"), "{reason}");
    assert!(procfs::wait_exit(pid, Duration::from_secs(5)));
    assert!(f.record().is_none(), "its state file was removed");
    let (_, status) = f.json(&["sync", "status", "--json"]);
    assert_eq!(status["daemon"]["state"], "not_running", "{status}");
}
