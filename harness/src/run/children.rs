//! The scenario's child processes: spawning each as `<executor> __exec <program> ...` with its
//! environment, capturing stdout and stderr line by line with arrival times, killing, and
//! reaping. Linux process control itself is in `process_control`.
//!
//! Guarantees: a child's environment is built in one function ([`child_environment`]) from a
//! scrubbed copy of the runner's; every child has a reaper thread that records its exit in the
//! shared state and notifies; [`Children::join_all`] returns only when every reaper and reader
//! has finished, so nothing outlives the scenario.

use super::process_control;
use crate::child_env;
use crate::child_env::{EXEC_ARG, LEGACY_CLIENT, SPEC_KITTY, TOKEN_THREADS};
use crate::report::model::{EntryKind, Lane};
use crate::schema::{ProcessSpec, Program};
use crate::sync::state::{ExitInfo, KillInfo, Phase, Proc, Shared, State};
use spec_kitty::paths::LOG_ENV;
use spec_kitty::paths::{RuntimeRoot, HOME_ENV, SAAS_URL_ENV};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Variables that would route the children's loopback requests through a proxy.
const PROXY_VARS: &[&str] = &["http_proxy", "https_proxy", "all_proxy", "no_proxy"];

/// The XDG base directories every child gets, under the scenario's `HOME`.
const XDG_DIRS: [(&str, &str); 4] = [
    ("XDG_CACHE_HOME", ".cache"),
    ("XDG_CONFIG_HOME", ".config"),
    ("XDG_DATA_HOME", ".local/share"),
    ("XDG_STATE_HOME", ".local/state"),
];

/// Output lines of one stream with the time each arrived.
pub type Lines = Arc<Mutex<Vec<(f64, String)>>>;

/// Where children run and whom they talk to.
pub struct Launch<'a> {
    /// The executable children are spawned from (`<exe> __exec spec-kitty ...`).
    pub executor: &'a Path,
    /// `HOME` and the working directory.
    pub home: &'a Path,
    pub root: &'a RuntimeRoot,
    pub saas_url: &'a str,
    /// The sync-point socket.
    pub socket: &'a Path,
    /// `SPEC_KITTY_DAEMON_PORTS`: the scenario's own daemon port range.
    pub daemon_ports: &'a str,
}

struct ChildIo {
    waiter: Option<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
    stdout: Lines,
    stderr: Lines,
}

/// Every child started so far, by process name.
#[derive(Default)]
pub struct Children {
    map: BTreeMap<String, ChildIo>,
}

/// Sets up `cmd`'s environment for `spec`: every inherited `SPEC_KITTY_*`, `KITTY_SCENARIO_*`
/// and proxy variable removed; `HOME`, the runtime root, the SaaS URL, the sync socket and process name, info logs,
/// no colour, no proxy for loopback; the process's test overrides; then its own `env`.
///
/// The one place the runner passes test overrides (lock wait, refresh ceiling, clock offset)
/// and the sync-point socket to a child.
pub fn child_environment(cmd: &mut Command, launch: &Launch, spec: &ProcessSpec) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("SPEC_KITTY_")
            || k.starts_with("KITTY_SCENARIO_")
            || PROXY_VARS.contains(&k.to_ascii_lowercase().as_str())
        {
            cmd.env_remove(&key);
        }
    }
    // The per-user directories a program derives from them (caches, configuration: the Python
    // original keeps some there) are the scenario's, never the developer's.
    for (var, dir) in XDG_DIRS {
        cmd.env(var, launch.home.join(dir));
    }
    cmd.env("HOME", launch.home)
        .env(HOME_ENV, launch.root.base())
        .env(SAAS_URL_ENV, launch.saas_url)
        .env(spec_kitty::daemon::config::PORTS_ENV, launch.daemon_ports)
        .env("NO_PROXY", "127.0.0.1,localhost,::1")
        .env("no_proxy", "127.0.0.1,localhost,::1");
    // Info logs on stderr: the `refresh_transaction outcome=` line lands in the timeline, and
    // the no-token-in-stderr invariant then covers the logs too.
    // An external program has no test hooks: the runner's own variables would mean nothing to it.
    if !spec.is_external() {
        cmd.env(child_env::SOCKET, launch.socket)
            .env(child_env::PROCESS, &spec.name);
    }
    cmd.env(LOG_ENV, "info").env("NO_COLOR", "1");
    if let Some(v) = spec.lock_wait_ms {
        cmd.env(child_env::LOCK_WAIT_MS, v.to_string());
    }
    if let Some(v) = spec.refresh_ceiling_ms {
        cmd.env(child_env::REFRESH_CEILING_MS, v.to_string());
    }
    if let Some(v) = spec.clock_offset_s {
        cmd.env(child_env::CLOCK_OFFSET_S, v.to_string());
    }
    if let Some(v) = &spec.daemon_version {
        cmd.env(child_env::DAEMON_VERSION, v);
    }
    if let Some(b) = spec.broken {
        cmd.env(child_env::BROKEN, b.as_str());
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
}

/// An external participant's command, `{python_spec_kitty}` replaced by the Python original's
/// executable (installed before the run started: see `lifecycle`).
fn external_command(argv: &[String]) -> Result<Command, String> {
    let argv = if argv.iter().any(|a| a.contains(crate::python::PLACEHOLDER)) {
        let exe = crate::python::spec_kitty()
            .map_err(|e| format!("the Python original is not available: {e}"))?;
        crate::python::substitute(argv, exe)
    } else {
        argv.to_vec()
    };
    let (program, args) = argv.split_first().ok_or("an empty command")?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    Ok(cmd)
}

/// The spawn note: pid, command line and the overrides in force.
fn spawn_text(pid: u32, spec: &ProcessSpec) -> String {
    let mut text = format!("pid {pid}: {}", spec.command_line());
    let mut extras = Vec::new();
    if let Some(v) = spec.lock_wait_ms {
        extras.push(format!("lock wait {v} ms"));
    }
    if let Some(v) = spec.refresh_ceiling_ms {
        extras.push(format!("refresh ceiling {v} ms"));
    }
    if let Some(v) = spec.clock_offset_s {
        extras.push(format!("clock {v:+} s"));
    }
    if let Some(v) = &spec.daemon_version {
        extras.push(format!("daemon version {v}"));
    }
    if let Some(b) = spec.broken {
        extras.push(format!("BROKEN BUILD (test-only): {}", b.as_str()));
    }
    if !extras.is_empty() {
        text.push_str(&format!(" ({})", extras.join(", ")));
    }
    text
}

impl Children {
    /// Starts `spec` (caller holds the state lock `st`) and marks it running.
    pub fn spawn(
        &mut self,
        shared: &Arc<Shared>,
        st: &mut State,
        spec: &ProcessSpec,
        launch: &Launch,
    ) -> Result<(), String> {
        let name = spec.name.as_str();
        let mut cmd = match &spec.program {
            Program::SpecKitty(args) => {
                let mut cmd = Command::new(launch.executor);
                cmd.arg(EXEC_ARG).arg(SPEC_KITTY).args(args);
                cmd
            }
            Program::Legacy(args) => {
                let mut cmd = Command::new(launch.executor);
                cmd.arg(EXEC_ARG).arg(LEGACY_CLIENT).args(args);
                cmd
            }
            Program::Threads(n) => {
                let mut cmd = Command::new(launch.executor);
                cmd.arg(EXEC_ARG).arg(TOKEN_THREADS).arg(n.to_string());
                cmd
            }
            Program::Command(argv) => external_command(argv)?,
        };
        child_environment(&mut cmd, launch, spec);
        // Each process runs from a working directory of its own, as commands from many
        // checkouts do.
        let cwd = launch.home.join("work").join(&spec.name);
        std::fs::create_dir_all(&cwd)
            .map_err(|e| format!("cannot create {}: {e}", cwd.display()))?;
        cmd.current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        process_control::isolate(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", spec.command_line()))?;
        let pid = child.id();
        let t_ms = shared.now_ms();
        {
            let p = st.procs.get_mut(name).expect("declared");
            p.pid = Some(pid);
            p.phase = Phase::Running;
            p.started_ms = Some(t_ms);
        }
        shared.note(
            st,
            Lane::Process(name.to_string()),
            EntryKind::Spawn,
            spawn_text(pid, spec),
        );
        let stdout: Lines = Arc::default();
        let stderr: Lines = Arc::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(out, stdout.clone(), shared.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(err, stderr.clone(), shared.clone()));
        }
        let waiter = {
            let shared = shared.clone();
            let name = name.to_string();
            std::thread::Builder::new()
                .name(format!("wait-{name}"))
                .spawn(move || reap(child, &shared, &name))
                .map_err(|e| format!("cannot start a waiter thread: {e}"))?
        };
        self.map.insert(
            name.to_string(),
            ChildIo {
                waiter: Some(waiter),
                readers,
                stdout,
                stderr,
            },
        );
        Ok(())
    }

    /// Joins every reaper and output reader (call after every child was killed or exited).
    pub fn join_all(&mut self) {
        for io in self.map.values_mut() {
            if let Some(w) = io.waiter.take() {
                let _ = w.join();
            }
            for r in io.readers.drain(..) {
                let _ = r.join();
            }
        }
    }

    /// name → (stdout, stderr), raw.
    pub fn outputs(&self) -> BTreeMap<String, (String, String)> {
        self.map
            .iter()
            .map(|(name, io)| (name.clone(), (joined(&io.stdout), joined(&io.stderr))))
            .collect()
    }

    /// Every captured line: (process, is stdout, time, line).
    pub fn lines(&self) -> Vec<(String, bool, f64, String)> {
        let mut out = Vec::new();
        for (name, io) in &self.map {
            for (stdout, lines) in [(true, &io.stdout), (false, &io.stderr)] {
                for (t, line) in lines.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    out.push((name.clone(), stdout, *t, line.clone()));
                }
            }
        }
        out
    }
}

/// Where a process stands, in words (`running`, `held at ...`, `exit 0`).
pub fn phase_label(p: &Proc) -> String {
    match &p.phase {
        Phase::NotStarted => "never started".into(),
        Phase::Running => "running".into(),
        Phase::Held { point } => format!("held at {point}"),
        Phase::Exited => p.exit.as_ref().map(ExitInfo::describe).unwrap_or_default(),
    }
}

/// SIGKILLs a running or held process (caller holds the lock). Its reaper records the exit.
pub fn kill_locked(
    shared: &Shared,
    st: &mut State,
    name: &str,
    teardown: bool,
) -> Result<(), String> {
    let t_ms = shared.now_ms();
    let p = st
        .procs
        .get_mut(name)
        .ok_or_else(|| format!("unknown process {name}"))?;
    let at = match &p.phase {
        Phase::Held { point } => Some(point.clone()),
        Phase::Running => None,
        Phase::NotStarted => return Err(format!("cannot kill {name}: it was never started")),
        Phase::Exited => {
            let end = p.exit.as_ref().map(ExitInfo::describe).unwrap_or_default();
            return Err(format!("cannot kill {name}: it already ended ({end})"));
        }
    };
    let pid = p.pid.ok_or_else(|| format!("{name} has no pid"))?;
    p.kill = Some(KillInfo {
        at: at.clone(),
        t_ms,
        teardown,
    });
    // The pid cannot have been reused: it is reaped only under this lock, after `Exited`.
    process_control::sigkill(pid);
    let text = match (&at, teardown) {
        (Some(at), false) => format!("SIGKILL at {at}"),
        (None, false) => "SIGKILL".to_string(),
        (Some(at), true) => format!("SIGKILL (teardown) while held at {at}"),
        (None, true) => "SIGKILL (teardown)".to_string(),
    };
    shared.note(st, Lane::Process(name.to_string()), EntryKind::Kill, text);
    Ok(())
}

/// Sends SIGTERM to `name` (a request to shut down cleanly; it is not a kill and records
/// none). Releases it first if it is held, so it can act on the signal.
pub fn terminate_locked(shared: &Shared, st: &mut State, name: &str) -> Result<(), String> {
    let p = st
        .procs
        .get_mut(name)
        .ok_or_else(|| format!("unknown process {name}"))?;
    match p.phase {
        Phase::Running => {}
        // Held at a point: released first, so it can act on the signal.
        Phase::Held { .. } => {
            p.release = Some(crate::sync::wire::Reply::Continue);
            p.phase = Phase::Running;
        }
        Phase::NotStarted => return Err(format!("cannot stop {name}: it was never started")),
        Phase::Exited => return Ok(()),
    }
    let pid = p.pid.ok_or_else(|| format!("{name} has no pid"))?;
    p.target = None;
    // The pid cannot have been reused: it is reaped only under this lock, after `Exited`.
    process_control::sigterm(pid);
    shared.note(
        st,
        Lane::Process(name.to_string()),
        EntryKind::Kill,
        "SIGTERM (stop)",
    );
    Ok(())
}

/// Waits for the child to end, kills whatever is left of its process group, reaps it and
/// records the exit, all so that a pid is never signalled after it could be reused.
fn reap(mut child: std::process::Child, shared: &Shared, name: &str) {
    process_control::wait_exited(&child);
    process_control::kill_group_of(&child);
    let mut st = shared.lock();
    let status = child.wait();
    let t_ms = shared.now_ms();
    let (code, signal) = match &status {
        Ok(s) => process_control::code_and_signal(s),
        Err(_) => (None, None),
    };
    let info = ExitInfo { code, signal, t_ms };
    let text = info.describe();
    if let Some(p) = st.procs.get_mut(name) {
        p.exit = Some(info);
        p.phase = Phase::Exited;
        p.target = None;
    }
    shared.note(
        &mut st,
        Lane::Process(name.to_string()),
        EntryKind::Exit,
        text,
    );
    shared.cv.notify_all();
}

fn spawn_reader(
    stream: impl Read + Send + 'static,
    lines: Lines,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let t = shared.now_ms();
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((t, String::from_utf8_lossy(&buf).into_owned()));
                }
            }
        }
    })
}

fn joined(lines: &Lines) -> String {
    lines
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(_, l)| l.as_str())
        .collect()
}
