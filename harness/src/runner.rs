//! Runs one scenario end to end: an isolated runtime root, an embedded fake SaaS, a sync-point
//! socket, real child processes ordered by the steps, a hard budget, teardown that leaves no
//! process behind, then the invariants and expectations, and the timeline.

use crate::checks::{self, Observed, Tokens};
use crate::child_env;
use crate::multicall::{EXEC_ARG, LEGACY_CLIENT, SPEC_KITTY};
use crate::schema::{
    Action, Check, CorruptOp, Corruption, FileKind, LockAction, Program, SaasAction, Scenario,
    Step, Until,
};
use crate::sync::{ExitInfo, KillInfo, Phase, Proc, Reply, Shared, State, SyncServer, Target};
use crate::timeline::{Entry, Timeline, FILE_LANE, RUNNER_LANE, SAAS_LANE};
use crate::watch::{Version, Watcher};
use chrono::{DateTime, Utc};
use fake_saas::{FakeSaas, JournalEntry, SeedRequest, SeededSession};
use serde::Serialize;
use spec_kitty::lock::{LockRecord, RefreshLock, RefreshLockGuard};
use spec_kitty::paths::{RuntimeRoot, HOME_ENV, SAAS_URL_ENV};
use spec_kitty::session::{StoredSession, Team};
use spec_kitty::storage::{SessionCipher, SessionStore};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Variables that would route the children's loopback requests through a proxy.
const PROXY_VARS: &[&str] = &["http_proxy", "https_proxy", "all_proxy", "no_proxy"];
/// The CLI's log filter (stderr); a scenario's `env` may override it.
const LOG_ENV: &str = "SPEC_KITTY_LOG";

/// How a scenario is run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The executable children are spawned from (`<exe> __exec spec-kitty ...`); it must call
    /// [`crate::multicall::dispatch`] first thing in `main`.
    pub executor: PathBuf,
    /// Keep the temp directory (runtime root, socket) and say where.
    pub keep: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            executor: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("scenario")),
            keep: false,
        }
    }
}

/// What one process did, for reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessReport {
    pub name: String,
    pub command: String,
    pub pid: Option<u32>,
    /// `exit 0`, `killed (SIGKILL)`, `never started`.
    pub end: String,
    pub exit_code: Option<i32>,
    pub killed_at: Option<String>,
    pub outcomes: Vec<String>,
    /// Tokens replaced by their labels (`‹R1›`).
    pub stdout: String,
    pub stderr: String,
}

/// The result of one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub id: String,
    pub title: String,
    pub file: String,
    pub line: usize,
    pub description: String,
    pub variant: Option<String>,
    pub passed: bool,
    pub duration_ms: f64,
    pub failures: Vec<String>,
    pub processes: Vec<ProcessReport>,
    /// Requests per endpoint the fake SaaS counted.
    pub saas_requests: BTreeMap<String, u64>,
    pub timeline: Timeline,
    pub kept_root: Option<String>,
}

/// Runs `sc` and reports. Never panics on a scenario failure; never leaves a process behind.
pub fn run_scenario(sc: &Scenario, opts: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let mut report = ScenarioReport {
        id: sc.id.clone(),
        title: sc.title.clone(),
        file: sc.file.display().to_string(),
        line: sc.line,
        description: sc.description.clone(),
        variant: sc.variant.clone(),
        ..ScenarioReport::default()
    };
    match Run::setup(sc, opts) {
        Ok(mut run) => {
            run.execute();
            run.finish(&mut report);
        }
        Err(e) => report.failures.push(format!("setup: {e}")),
    }
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if report.duration_ms > sc.budget.as_secs_f64() * 1000.0
        && !report.failures.iter().any(|f| f.contains("hard budget"))
    {
        report.failures.push(format!(
            "hard budget: the scenario took {:.0} ms, over its budget of {:.1} s",
            report.duration_ms,
            sc.budget.as_secs_f64()
        ));
    }
    report.passed = report.failures.is_empty();
    report
}

/// Output lines of one stream with the time each arrived.
type Lines = Arc<Mutex<Vec<(f64, String)>>>;

struct ChildIo {
    waiter: Option<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
    stdout: Lines,
    stderr: Lines,
}

enum Wait<T> {
    Done(T),
    Fail(String),
    Pending,
}

struct Run<'a> {
    sc: &'a Scenario,
    opts: &'a RunOptions,
    shared: Arc<Shared>,
    start_wall: DateTime<Utc>,
    deadline: Instant,
    dir: Option<tempfile::TempDir>,
    home: PathBuf,
    root: RuntimeRoot,
    socket: PathBuf,
    saas: Option<FakeSaas>,
    saas_url: String,
    seeded: Option<SeededSession>,
    seeded_bytes: Option<Vec<u8>>,
    server: Option<SyncServer>,
    watcher: Option<Watcher>,
    children: BTreeMap<String, ChildIo>,
    lock_guard: Option<RefreshLockGuard>,
    failures: Vec<String>,
    torn_down: bool,
}

impl<'a> Run<'a> {
    fn setup(sc: &'a Scenario, opts: &'a RunOptions) -> Result<Run<'a>, String> {
        let shared = Shared::new(
            sc.processes
                .iter()
                .map(|p| Proc::new(&p.name, p.faults.clone())),
        );
        let start_wall = Utc::now();
        let deadline = shared.start + sc.budget;
        let dir = tempfile::Builder::new()
            .prefix("kitty-scenario-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp directory: {e}"))?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        let root = RuntimeRoot::new(dir.path().join("root"));
        let socket = dir.path().join("sync.sock");
        let mut run = Run {
            sc,
            opts,
            shared,
            start_wall,
            deadline,
            dir: Some(dir),
            home,
            root,
            socket,
            saas: None,
            saas_url: String::new(),
            seeded: None,
            seeded_bytes: None,
            server: None,
            watcher: None,
            children: BTreeMap::new(),
            lock_guard: None,
            failures: Vec::new(),
            torn_down: false,
        };
        let saas = FakeSaas::start(sc.saas.clone())
            .map_err(|e| format!("cannot start the fake SaaS: {e}"))?;
        run.saas_url = saas.url();
        run.note(
            RUNNER_LANE,
            "saas",
            format!("fake SaaS listening at {}", run.saas_url),
        );
        run.saas = Some(saas);
        run.seed()?;
        run.server = Some(
            SyncServer::start(&run.socket, run.shared.clone())
                .map_err(|e| format!("cannot listen on {}: {e}", run.socket.display()))?,
        );
        let injected: Vec<Vec<u8>> = run.seeded_bytes.iter().cloned().collect();
        run.watcher = Some(Watcher::start(
            run.root.session_file(),
            run.root.salt_file(),
            run.shared.start,
            injected,
        ));
        Ok(run)
    }

    fn note(&self, lane: &str, kind: &str, text: impl Into<String>) {
        let mut st = self.shared.lock();
        self.shared.note(&mut st, lane, kind, text);
    }

    fn saas(&self) -> &FakeSaas {
        self.saas.as_ref().expect("started in setup")
    }

    fn seed(&mut self) -> Result<(), String> {
        let seed = &self.sc.seed;
        if let Some(s) = &seed.session {
            let seeded = self.saas().seed_session(SeedRequest {
                access_expires_in_s: s.access_expires_in_s,
                refresh_expires_in_s: s.refresh_expires_in_s,
                generation: s.generation,
            });
            let now = Utc::now();
            let session = StoredSession {
                user_id: seeded.user_id.clone(),
                email: seeded.email.clone(),
                name: seeded.name.clone(),
                teams: seeded
                    .teams
                    .iter()
                    .map(|t| Team {
                        id: t.id.clone(),
                        name: t.name.clone(),
                        role: t.role.clone(),
                        is_private_teamspace: t.is_private_teamspace,
                        slug: Some(if t.slug.is_empty() {
                            t.id.clone()
                        } else {
                            t.slug.clone()
                        }),
                        ..Team::default()
                    })
                    .collect(),
                default_team_id: seeded.default_team_id.clone(),
                access_token: seeded.access_token.clone(),
                refresh_token: seeded.refresh_token.clone(),
                session_id: seeded.session_id.clone(),
                issued_at: now,
                access_token_expires_at: seeded.access_expires_at,
                refresh_token_expires_at: s
                    .refresh_expiry_known
                    .then_some(seeded.refresh_expires_at),
                scope: seeded.scope.clone(),
                storage_backend: "file".to_string(),
                last_used_at: now,
                auth_method: "device_code".to_string(),
                generation: Some(seeded.generation),
                ..StoredSession::default()
            };
            SessionStore::for_root(&self.root)
                .and_then(|store| store.write(&session))
                .map_err(|e| format!("cannot seed the session through spec_kitty::storage: {e}"))?;
            self.note(
                RUNNER_LANE,
                "seed",
                format!(
                    "seeded session {} with R0/A0 (access expires in {} s, refresh in {} s{}, generation {})",
                    seeded.session_id,
                    s.access_expires_in_s,
                    s.refresh_expires_in_s,
                    if s.refresh_expiry_known { "" } else { ", unknown locally" },
                    seeded.generation
                ),
            );
            self.seeded = Some(seeded);
        }
        if let Some(l) = &seed.lock {
            let record = LockRecord {
                host: l.host.clone().unwrap_or_else(|| {
                    rustix::system::uname()
                        .nodename()
                        .to_string_lossy()
                        .into_owned()
                }),
                pid: l.pid,
                schema_version: 1,
                started_at: spec_kitty::session::format_time(
                    Utc::now() - chrono::Duration::seconds(l.age_s),
                ),
                version: l.version.clone(),
            };
            let path = self.root.refresh_lock_file();
            ensure_auth_dir(&self.root)?;
            std::fs::write(&path, record.to_json())
                .and_then(|_| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                })
                .map_err(|e| format!("cannot seed the lock record {}: {e}", path.display()))?;
            self.note(
                RUNNER_LANE,
                "seed",
                format!(
                    "seeded a stale lock record: pid {} on {}, {} s old, no flock held",
                    record.pid, record.host, l.age_s
                ),
            );
        }
        for c in &seed.corrupt {
            self.corrupt(c)?;
        }
        self.seeded_bytes = std::fs::read(self.root.session_file()).ok();
        Ok(())
    }

    fn file_path(&self, kind: FileKind) -> PathBuf {
        match kind {
            FileKind::Session => self.root.session_file(),
            FileKind::Salt => self.root.salt_file(),
            FileKind::RefreshLock => self.root.refresh_lock_file(),
        }
    }

    fn corrupt(&self, c: &Corruption) -> Result<(), String> {
        let path = self.file_path(c.file);
        let err = |e: std::io::Error| format!("cannot {c} ({}): {e}", path.display());
        // Tell the watcher before the bytes appear.
        if c.file == FileKind::Session {
            let bytes = corrupted_bytes(&path, &c.op);
            if let (Some(w), Some(bytes)) = (&self.watcher, &bytes) {
                w.allow(bytes.clone());
            }
            // New contents replace session.json atomically, so the watcher never sees a
            // truncated-then-written intermediate the scenario did not declare.
            if let (CorruptOp::Garbage(_) | CorruptOp::Append(_), Some(bytes)) = (&c.op, bytes) {
                ensure_auth_dir(&self.root)?;
                replace_atomically(&path, &bytes).map_err(err)?;
                self.note(RUNNER_LANE, "seed", format!("corrupted: {c}"));
                return Ok(());
            }
        }
        match &c.op {
            CorruptOp::Truncate(n) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(err)?;
                f.set_len(*n).map_err(err)?;
            }
            CorruptOp::Garbage(text) => {
                ensure_auth_dir(&self.root)?;
                std::fs::write(&path, text).map_err(err)?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(err)?;
            }
            CorruptOp::Append(text) => {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(err)?;
                f.write_all(text.as_bytes()).map_err(err)?;
            }
            CorruptOp::Delete => std::fs::remove_file(&path).map_err(err)?,
            CorruptOp::Mode(m) => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*m)).map_err(err)?
            }
        }
        self.note(RUNNER_LANE, "seed", format!("corrupted: {c}"));
        Ok(())
    }

    // --------------------------------------------------------------------------------------
    // Steps
    // --------------------------------------------------------------------------------------

    fn execute(&mut self) {
        for step in &self.sc.steps {
            self.note(RUNNER_LANE, "step", step.describe());
            if let Err(e) = self.step(step) {
                self.failures
                    .push(format!("step {} (line {}): {e}", step.index, step.line));
                self.note(
                    RUNNER_LANE,
                    "violation",
                    format!("step {} failed: {e}", step.index),
                );
                self.teardown();
                return;
            }
        }
        if let Err(e) = self.settle() {
            self.failures.push(format!("after the last step: {e}"));
            self.note(RUNNER_LANE, "violation", e);
        }
        self.teardown();
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        match &step.action {
            Action::Run { procs, until } => self.run_until(procs, until),
            Action::Release { procs } => self.release(procs),
            Action::Kill { procs, at } => self.kill(procs, at.as_ref()),
            Action::Sleep(d) => {
                let left = self.deadline.saturating_duration_since(Instant::now());
                std::thread::sleep((*d).min(left));
                if *d > left {
                    return Err(self.budget_message("a sleep step"));
                }
                Ok(())
            }
            Action::SaasFault(f) => {
                self.saas()
                    .try_add_fault((**f).clone())
                    .map_err(|e| format!("the fake SaaS refused the fault: {e}"))?;
                self.note(
                    SAAS_LANE,
                    "saas",
                    format!(
                        "fault {} installed on {}",
                        f.name.as_deref().unwrap_or("?"),
                        f.endpoint
                    ),
                );
                Ok(())
            }
            Action::Saas(a) => {
                match a {
                    SaasAction::ClearFaults => self.saas().clear_faults(),
                    SaasAction::RevokeSession | SaasAction::ExpireRefresh => {
                        let id = self
                            .seeded
                            .as_ref()
                            .map(|s| s.session_id.clone())
                            .ok_or("no seeded session to act on")?;
                        if *a == SaasAction::RevokeSession {
                            self.saas().revoke_session(&id);
                        } else {
                            self.saas().expire_refresh(&id);
                        }
                    }
                }
                self.note(SAAS_LANE, "saas", step_label(a));
                Ok(())
            }
            Action::Lock(LockAction::Hold) => {
                let wait = Duration::from_secs(5)
                    .min(self.deadline.saturating_duration_since(Instant::now()));
                let guard = RefreshLock::acquire(&self.root.refresh_lock_file(), wait)
                    .map_err(|e| format!("the runner could not take the refresh lock: {e}"))?;
                self.lock_guard = Some(guard);
                self.note(RUNNER_LANE, "lock", "runner holds the refresh lock");
                Ok(())
            }
            Action::Lock(LockAction::Release) => {
                self.lock_guard = None;
                self.note(RUNNER_LANE, "lock", "runner released the refresh lock");
                Ok(())
            }
            Action::Corrupt(c) => self.corrupt(c),
            Action::Check(c) => self.check(c),
        }
    }

    fn budget_message(&self, what: &str) -> String {
        format!(
            "hard budget of {:.1} s exceeded while waiting for {what}",
            self.sc.budget.as_secs_f64()
        )
    }

    /// Waits until `cond` is done or fails, within the budget.
    fn wait<T>(&self, what: &str, mut cond: impl FnMut(&State) -> Wait<T>) -> Result<T, String> {
        let mut st = self.shared.lock();
        loop {
            match cond(&st) {
                Wait::Done(v) => return Ok(v),
                Wait::Fail(e) => return Err(e),
                Wait::Pending => {}
            }
            let now = Instant::now();
            if now >= self.deadline {
                drop(st);
                return Err(self.budget_message(what));
            }
            st = self
                .shared
                .cv
                .wait_timeout(st, self.deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Starts or releases `procs` with a hold target, under the lock.
    fn launch(&mut self, procs: &[String], target: Option<(&str, u32)>) -> Result<(), String> {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        for name in procs {
            let p = st
                .procs
                .get_mut(name)
                .ok_or_else(|| format!("unknown process {name}"))?;
            p.target = target.map(|(point, nth)| Target {
                point: point.to_string(),
                nth,
                seen: 0,
            });
            match p.phase.clone() {
                Phase::NotStarted => self.spawn(&mut st, name)?,
                Phase::Held { point } => {
                    p.release = Some(Reply::Continue);
                    p.phase = Phase::Running;
                    shared.note(&mut st, name, "release", format!("released from {point}"));
                }
                Phase::Running => {}
                Phase::Exited => {
                    let end = p.exit.as_ref().map(ExitInfo::describe).unwrap_or_default();
                    return Err(format!("{name} has already ended ({end})"));
                }
            }
        }
        shared.cv.notify_all();
        Ok(())
    }

    fn run_until(&mut self, procs: &[String], until: &Until) -> Result<(), String> {
        let target = match until {
            Until::Point { point, nth } => Some((point.as_str(), *nth)),
            Until::Exit => None,
        };
        self.launch(procs, target)?;
        let what = format!("{} to reach {until}", procs.join(", "));
        self.wait(&what, |st| {
            let mut pending = false;
            for name in procs {
                let p = &st.procs[name];
                match (until, &p.phase) {
                    (Until::Exit, Phase::Exited) => {}
                    (Until::Point { point, .. }, Phase::Held { point: at }) if at == point => {}
                    (Until::Point { point, .. }, Phase::Held { point: at }) => {
                        return Wait::Fail(format!("{name} is held at {at}, not {point}"))
                    }
                    (Until::Point { point, .. }, Phase::Exited) => {
                        let end = p.exit.as_ref().map(ExitInfo::describe).unwrap_or_default();
                        return Wait::Fail(format!(
                            "{name} ended ({end}) before reaching {point}; points it reached: {}",
                            reached(p)
                        ));
                    }
                    _ => pending = true,
                }
            }
            if pending {
                Wait::Pending
            } else {
                Wait::Done(())
            }
        })
    }

    fn release(&mut self, procs: &[String]) -> Result<(), String> {
        self.launch(procs, None)
    }

    fn kill(&mut self, procs: &[String], at: Option<&Until>) -> Result<(), String> {
        if let Some(until @ Until::Point { point, nth }) = at {
            // Processes already held exactly there are killed where they stand.
            let need: Vec<String> = {
                let st = self.shared.lock();
                procs
                    .iter()
                    .filter(|n| {
                        !(*nth == 1
                            && st.procs[*n].phase
                                == Phase::Held {
                                    point: point.clone(),
                                })
                    })
                    .cloned()
                    .collect()
            };
            if !need.is_empty() {
                self.run_until(&need, until)
                    .map_err(|e| format!("kill did not fire: {e}"))?;
            }
        }
        {
            let shared = self.shared.clone();
            let mut st = shared.lock();
            for name in procs {
                kill_locked(&shared, &mut st, name, false)?;
            }
            shared.cv.notify_all();
        }
        self.wait(&format!("{} to die", procs.join(", ")), |st| {
            if procs.iter().all(|n| st.procs[n].phase == Phase::Exited) {
                Wait::Done(())
            } else {
                Wait::Pending
            }
        })
    }

    fn check(&mut self, c: &Check) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Some(expected) = c.lock_held {
            match spec_kitty::lock::is_held(&self.root.refresh_lock_file()) {
                Ok(held) if held == expected => {}
                Ok(held) => {
                    problems.push(format!("refresh lock held = {held}, expected {expected}"))
                }
                Err(e) => problems.push(format!("cannot probe the refresh lock: {e}")),
            }
        }
        if let Some(state) = c.session {
            if let Err(e) = checks::session_state(&self.root, state, self.seeded_bytes.as_deref()) {
                problems.push(e);
            }
        }
        {
            let st = self.shared.lock();
            for n in &c.running {
                if !matches!(st.procs[n].phase, Phase::Running | Phase::Held { .. }) {
                    problems.push(format!(
                        "{n} is not running ({})",
                        phase_label(&st.procs[n])
                    ));
                }
            }
            for n in &c.exited {
                if st.procs[n].phase != Phase::Exited {
                    problems.push(format!(
                        "{n} has not exited ({})",
                        phase_label(&st.procs[n])
                    ));
                }
            }
        }
        for (endpoint, n) in &c.saas_requests {
            let got = self.saas().count(endpoint);
            if got != *n {
                problems.push(format!(
                    "SaaS saw {got} request(s) to {endpoint}, expected {n}"
                ));
            }
        }
        if problems.is_empty() {
            self.note(RUNNER_LANE, "check", "check passed");
            Ok(())
        } else {
            Err(format!("check failed: {}", problems.join("; ")))
        }
    }

    /// After the last step: no process may still be held; free-running ones may finish.
    fn settle(&mut self) -> Result<(), String> {
        {
            let st = self.shared.lock();
            let held: Vec<String> = st
                .procs
                .values()
                .filter_map(|p| match &p.phase {
                    Phase::Held { point } => Some(format!("{} (held at {point})", p.name)),
                    _ => None,
                })
                .collect();
            if !held.is_empty() {
                return Err(format!(
                    "no step let {} finish: a scenario must run every process to exit or kill it",
                    held.join(", ")
                ));
            }
        }
        self.wait("the released processes to exit", |st| {
            if st.procs.values().any(|p| p.phase == Phase::Running) {
                Wait::Pending
            } else {
                Wait::Done(())
            }
        })
    }

    fn spawn(&mut self, st: &mut State, name: &str) -> Result<(), String> {
        let spec = self
            .sc
            .process(name)
            .ok_or_else(|| format!("unknown process {name}"))?;
        let mut cmd = Command::new(&self.opts.executor);
        cmd.arg(EXEC_ARG);
        match &spec.program {
            Program::SpecKitty(args) => cmd.arg(SPEC_KITTY).args(args),
            Program::Legacy(args) => cmd.arg(LEGACY_CLIENT).args(args),
        };
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("SPEC_KITTY_")
                || k.starts_with("KITTY_SCENARIO_")
                || PROXY_VARS.contains(&k.to_ascii_lowercase().as_str())
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &self.home)
            .env(HOME_ENV, self.root.base())
            .env(SAAS_URL_ENV, &self.saas_url)
            .env(child_env::SOCKET, &self.socket)
            .env(child_env::PROCESS, name)
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env("no_proxy", "127.0.0.1,localhost,::1");
        // Info logs on stderr: the `refresh_transaction outcome=` line lands in the timeline,
        // and the no-token-in-stderr invariant then covers the logs too.
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
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        cmd.current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // Children lead their own process groups (so teardown can kill what they leave behind),
        // which also shields them from the terminal's Ctrl-C: if the runner itself dies, the
        // kernel kills them. The spawning thread outlives its children (teardown reaps them
        // before the scenario returns), so the thread-scoped death signal never fires early.
        let runner_pid = rustix::process::getpid();
        // SAFETY: the closure runs between fork and exec and only makes two system calls; it
        // neither allocates nor takes locks.
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))?;
                if rustix::process::getppid() != Some(runner_pid) {
                    // The runner died before the death signal was armed.
                    return Err(rustix::io::Errno::SRCH.into());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot start {name} ({}): {e}",
                self.opts.executor.display()
            )
        })?;
        let pid = child.id();
        let t_ms = self.shared.now_ms();
        {
            let p = st.procs.get_mut(name).expect("declared");
            p.pid = Some(pid);
            p.phase = Phase::Running;
            p.started_ms = Some(t_ms);
        }
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
        if !extras.is_empty() {
            text.push_str(&format!(" ({})", extras.join(", ")));
        }
        self.shared.note(st, name, "spawn", text);

        let stdout: Lines = Arc::default();
        let stderr: Lines = Arc::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(out, stdout.clone(), self.shared.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(err, stderr.clone(), self.shared.clone()));
        }
        let waiter = {
            let shared = self.shared.clone();
            let name = name.to_string();
            std::thread::Builder::new()
                .name(format!("wait-{name}"))
                .spawn(move || reap(child, &shared, &name))
                .map_err(|e| format!("cannot start a waiter thread: {e}"))?
        };
        self.children.insert(
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

    /// Kills every process still alive, joins every thread, stops the server, releases the
    /// runner's lock. Idempotent.
    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        {
            let shared = self.shared.clone();
            let mut st = shared.lock();
            st.shutting_down = true;
            let alive: Vec<String> = st
                .procs
                .values()
                .filter(|p| matches!(p.phase, Phase::Running | Phase::Held { .. }))
                .map(|p| p.name.clone())
                .collect();
            for name in alive {
                let label = phase_label(&st.procs[&name]);
                self.failures.push(format!(
                    "invariant: {name} was still running at the end ({label}); killed"
                ));
                let _ = kill_locked(&shared, &mut st, &name, true);
            }
            shared.cv.notify_all();
        }
        for io in self.children.values_mut() {
            if let Some(w) = io.waiter.take() {
                let _ = w.join();
            }
            for r in io.readers.drain(..) {
                let _ = r.join();
            }
        }
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        if self.lock_guard.take().is_some() {
            self.note(
                RUNNER_LANE,
                "lock",
                "runner released the refresh lock (teardown)",
            );
        }
    }

    // --------------------------------------------------------------------------------------
    // Results
    // --------------------------------------------------------------------------------------

    fn finish(mut self, report: &mut ScenarioReport) {
        self.teardown();
        let versions = self
            .watcher
            .as_mut()
            .map(Watcher::finish)
            .unwrap_or_default();
        let saas = self.saas.take().expect("started in setup");
        let journal = saas.journal();
        let counters = saas.counters();
        let faults_fired = saas.faults_fired();
        let issued = saas.issued_tokens();
        let latest_refresh = self
            .seeded
            .as_ref()
            .and_then(|s| saas.latest_refresh_token(&s.session_id));
        saas.shutdown();

        let tokens = Tokens::new(&issued, self.seeded.as_ref());
        let final_bytes = std::fs::read(self.root.session_file()).ok();
        let final_session = SessionStore::for_root(&self.root)
            .and_then(|s| s.read())
            .map_err(|e| e.to_string());
        let lock_held =
            spec_kitty::lock::is_held(&self.root.refresh_lock_file()).map_err(|e| e.to_string());
        let (procs, anomalies) = {
            let st = self.shared.lock();
            (st.procs.clone(), st.anomalies.clone())
        };
        let outputs: BTreeMap<String, (String, String)> = self
            .children
            .iter()
            .map(|(name, io)| (name.clone(), (joined(&io.stdout), joined(&io.stderr))))
            .collect();

        let mut declared_faults: Vec<String> = self
            .sc
            .saas
            .faults
            .iter()
            .filter_map(|f| f.name.clone())
            .collect();
        for step in &self.sc.steps {
            if let Action::SaasFault(f) = &step.action {
                declared_faults.extend(f.name.clone());
            }
        }

        let observed = Observed {
            sc: self.sc,
            procs: &procs,
            outputs: &outputs,
            journal: &journal,
            counters: &counters,
            faults_fired: &faults_fired,
            declared_saas_faults: &declared_faults,
            versions: &versions,
            final_bytes: final_bytes.as_deref(),
            final_session: &final_session,
            seeded_bytes: self.seeded_bytes.as_deref(),
            seeded: self.seeded.as_ref(),
            latest_refresh: latest_refresh.as_deref(),
            lock_held_at_end: &lock_held,
            tokens: &tokens,
            anomalies: &anomalies,
        };
        let mut failures = std::mem::take(&mut self.failures);
        failures.extend(checks::evaluate(&observed));
        report.failures = failures.iter().map(|f| tokens.redact(f)).collect();
        report.saas_requests = counters;

        // Timeline.
        let mut timeline = Timeline {
            lanes: std::iter::once(RUNNER_LANE.to_string())
                .chain(self.sc.processes.iter().map(|p| p.name.clone()))
                .chain([SAAS_LANE.to_string(), FILE_LANE.to_string()])
                .collect(),
            entries: Vec::new(),
        };
        {
            let st = self.shared.lock();
            for n in &st.notes {
                timeline.entries.push(Entry {
                    t_ms: n.t_ms,
                    lane: n.lane.clone(),
                    kind: n.kind.clone(),
                    text: tokens.redact(&n.text),
                });
            }
        }
        for p in procs.values() {
            for h in &p.hits {
                let mut text = h.point.clone();
                if let Some(d) = &h.detail {
                    text.push_str(&format!(" [{}]", tokens.redact(d)));
                }
                if h.held {
                    text.push_str(" — held");
                } else if h.reply != "continue" {
                    text.push_str(&format!(" → {}", h.reply));
                }
                timeline.entries.push(Entry {
                    t_ms: h.t_ms,
                    lane: p.name.clone(),
                    kind: if h.held { "held" } else { "point" }.to_string(),
                    text,
                });
            }
        }
        for (name, io) in &self.children {
            for (kind, lines) in [("stdout", &io.stdout), ("stderr", &io.stderr)] {
                for (t, line) in lines.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    timeline.entries.push(Entry {
                        t_ms: *t,
                        lane: name.clone(),
                        kind: kind.to_string(),
                        text: tokens.redact(&strip_ansi(line.trim_end())),
                    });
                }
            }
        }
        for j in &journal {
            push_journal(&mut timeline, j, self.start_wall, &tokens);
        }
        push_versions(&mut timeline, &versions, self.start_wall, &tokens);
        timeline.sort();
        report.timeline = timeline;

        report.processes = self
            .sc
            .processes
            .iter()
            .map(|spec| {
                let p = &procs[&spec.name];
                let (stdout, stderr) = outputs.get(&spec.name).cloned().unwrap_or_default();
                ProcessReport {
                    name: spec.name.clone(),
                    command: spec.command_line(),
                    pid: p.pid,
                    end: match (&p.exit, &p.kill) {
                        (Some(e), Some(k)) => match &k.at {
                            Some(at) => format!("{} at {at}", e.describe()),
                            None => e.describe(),
                        },
                        (Some(e), None) => e.describe(),
                        (None, _) => "never started".to_string(),
                    },
                    exit_code: p.exit.as_ref().and_then(|e| e.code),
                    killed_at: p.kill.as_ref().and_then(|k| k.at.clone()),
                    outcomes: p.outcomes.clone(),
                    stdout: tokens.redact(&stdout),
                    stderr: tokens.redact(&stderr),
                }
            })
            .collect();

        if let Some(dir) = self.dir.take() {
            if self.opts.keep {
                let path = dir.keep();
                report.kept_root = Some(path.display().to_string());
            }
        }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.teardown();
        if let Some(mut w) = self.watcher.take() {
            w.finish();
        }
        if let Some(saas) = self.saas.take() {
            saas.shutdown();
        }
    }
}

fn ensure_auth_dir(root: &RuntimeRoot) -> Result<(), String> {
    let dir = root.auth_dir();
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// The bytes a corruption will leave in the file, when that can be known beforehand.
/// Writes `bytes` to a sibling temp file (0600) and renames it over `path`.
fn replace_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("corrupt.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)
}

fn corrupted_bytes(path: &Path, op: &CorruptOp) -> Option<Vec<u8>> {
    let current = std::fs::read(path).ok();
    match op {
        CorruptOp::Truncate(n) => current.map(|mut b| {
            b.truncate(*n as usize);
            b
        }),
        CorruptOp::Garbage(text) => Some(text.as_bytes().to_vec()),
        CorruptOp::Append(text) => current.map(|mut b| {
            b.extend_from_slice(text.as_bytes());
            b
        }),
        CorruptOp::Delete | CorruptOp::Mode(_) => None,
    }
}

fn step_label(a: &SaasAction) -> String {
    match a {
        SaasAction::RevokeSession => "session revoked server-side".into(),
        SaasAction::ExpireRefresh => "refresh token expired server-side".into(),
        SaasAction::ClearFaults => "faults cleared".into(),
    }
}

fn phase_label(p: &Proc) -> String {
    match &p.phase {
        Phase::NotStarted => "never started".into(),
        Phase::Running => "running".into(),
        Phase::Held { point } => format!("held at {point}"),
        Phase::Exited => p.exit.as_ref().map(ExitInfo::describe).unwrap_or_default(),
    }
}

fn reached(p: &Proc) -> String {
    if p.hits.is_empty() {
        return "none".into();
    }
    p.hits
        .iter()
        .map(|h| h.point.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// SIGKILLs a running or held process (caller holds the lock). The waiter records the exit.
fn kill_locked(shared: &Shared, st: &mut State, name: &str, teardown: bool) -> Result<(), String> {
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
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    let text = match (&at, teardown) {
        (Some(at), false) => format!("SIGKILL at {at}"),
        (None, false) => "SIGKILL".to_string(),
        (Some(at), true) => format!("SIGKILL (teardown) while held at {at}"),
        (None, true) => "SIGKILL (teardown)".to_string(),
    };
    shared.note(st, name, "kill", text);
    Ok(())
}

/// Waits for the child to end, kills whatever is left of its process group, reaps it and
/// records the exit, all so that a pid is never signalled after it could be reused.
fn reap(mut child: std::process::Child, shared: &Shared, name: &str) {
    let pid = rustix::process::Pid::from_child(&child);
    loop {
        match rustix::process::waitid(
            rustix::process::WaitId::Pid(pid),
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT,
        ) {
            Err(e) if e == rustix::io::Errno::INTR => continue,
            _ => break,
        }
    }
    // The leader is a zombie, so its process group id cannot be reused yet: anything it left
    // behind in its group dies with it.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    let mut st = shared.lock();
    let status = child.wait();
    let t_ms = shared.now_ms();
    let info = match status {
        Ok(s) => ExitInfo {
            code: s.code(),
            signal: s.signal(),
            t_ms,
        },
        Err(_) => ExitInfo {
            code: None,
            signal: None,
            t_ms,
        },
    };
    let text = info.describe();
    if let Some(p) = st.procs.get_mut(name) {
        p.exit = Some(info);
        p.phase = Phase::Exited;
        p.target = None;
    }
    shared.note(&mut st, name, "exit", text);
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

fn ms_since(start: DateTime<Utc>, iso: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(iso).ok()?.with_timezone(&Utc);
    Some((t - start).num_microseconds()? as f64 / 1000.0)
}

fn push_journal(timeline: &mut Timeline, j: &JournalEntry, start: DateTime<Utc>, tokens: &Tokens) {
    let Some(t) = ms_since(start, &j.time) else {
        return;
    };
    let mut req = format!("→ {} {}", j.method, j.endpoint);
    if let Some(g) = &j.grant_type {
        req.push_str(&format!(" grant={g}"));
    }
    if let Some(tok) = &j.token {
        req.push_str(&format!(" token={}", tokens.label_or_redact(tok)));
    }
    if let Some(ua) = &j.user_agent {
        if !ua.starts_with("spec-kitty") {
            req.push_str(&format!(" ua={ua}"));
        }
    }
    timeline.entries.push(Entry {
        t_ms: t,
        lane: SAAS_LANE.to_string(),
        kind: "request".to_string(),
        text: req,
    });
    let mut resp = format!(
        "← #{} {} {} {}",
        j.seq,
        j.endpoint,
        j.status_label(),
        j.outcome
    );
    if let Some(g) = j.generation {
        resp.push_str(&format!(" gen={g}"));
    }
    if let Some(f) = &j.fault {
        resp.push_str(&format!(" [fault {f}]"));
    }
    resp.push_str(&format!(" ({} ms)", j.latency_ms));
    timeline.entries.push(Entry {
        t_ms: t + j.latency_ms as f64,
        lane: SAAS_LANE.to_string(),
        kind: "request".to_string(),
        text: resp,
    });
}

fn push_versions(
    timeline: &mut Timeline,
    versions: &[Version],
    start: DateTime<Utc>,
    tokens: &Tokens,
) {
    let mut ciphers: Vec<(Vec<u8>, SessionCipher)> = Vec::new();
    let passphrase = spec_kitty::storage::machine_passphrase();
    for (i, v) in versions.iter().enumerate() {
        let (kind, text) = match &v.bytes {
            None if i == 0 => continue,
            None => ("file", "deleted".to_string()),
            Some(bytes) => {
                if let Some(why) = &v.invalid {
                    if v.injected {
                        (
                            "file",
                            format!("corrupted by the scenario ({} bytes): {why}", bytes.len()),
                        )
                    } else {
                        (
                            "violation",
                            format!("INVALID ({} bytes): {why}", bytes.len()),
                        )
                    }
                } else {
                    let label = v
                        .salt
                        .as_ref()
                        .and_then(|salt| {
                            let idx = match ciphers.iter().position(|(s, _)| s == salt) {
                                Some(i) => i,
                                None => {
                                    ciphers.push((
                                        salt.clone(),
                                        SessionCipher::derive(&passphrase, salt),
                                    ));
                                    ciphers.len() - 1
                                }
                            };
                            let plain =
                                ciphers[idx].1.open(bytes, Path::new("session.json")).ok()?;
                            let s = StoredSession::from_json(&plain).ok()?;
                            let at =
                                start + chrono::Duration::microseconds((v.t_ms * 1000.0) as i64);
                            Some(format!(
                                "holds {}/{} generation {} (access expires in {} s)",
                                tokens.label_or_redact(&s.refresh_token),
                                tokens.label_or_redact(&s.access_token),
                                s.generation
                                    .map(|g| g.to_string())
                                    .unwrap_or_else(|| "?".into()),
                                (s.access_token_expires_at - at).num_seconds()
                            ))
                        })
                        .unwrap_or_else(|| "valid envelope (not decryptable here)".to_string());
                    (
                        "file",
                        if i == 0 {
                            format!("at start: {label}")
                        } else {
                            format!("replaced: {label}")
                        },
                    )
                }
            }
        };
        timeline.entries.push(Entry {
            t_ms: v.t_ms,
            lane: FILE_LANE.to_string(),
            kind: kind.to_string(),
            text,
        });
    }
}

/// `text` without ANSI escape sequences (CSI `ESC [ ... letter`), for the timeline.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(strip_ansi("\u{1b}[32m INFO\u{1b}[0m done"), " INFO done");
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
