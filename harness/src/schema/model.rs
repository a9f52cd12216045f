//! The resolved scenario model the runner executes: names expanded, defaults filled in, every
//! reference checked. Nothing here can fail to run for a reason `scenario check` could have seen.

use super::explore::{ExpectAlways, ExploreSpec};
use super::points::EXIT;
use super::values::{
    Broken, ExitSet, FileKind, IoOpName, LockAction, PointAction, SaasAction, ServerState,
    SessionState, TokenRef,
};
use fake_saas::{FaultSpec, SaasConfig};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `expect.outcomes` value meaning "this process ran no refresh transaction".
pub const NO_OUTCOME: &str = "none";
/// Default hard budget of one scenario.
pub const DEFAULT_BUDGET_S: f64 = 30.0;
/// Largest budget a scenario may ask for.
pub const MAX_BUDGET_S: f64 = 600.0;
/// Most replicas one `[[process]]` may declare.
pub const MAX_REPLICAS: u32 = 64;

/// One runnable scenario (a file, or one variant of a file).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// File stem, plus `/variant` for variants: what `--filter` and reports use.
    pub id: String,
    pub file: PathBuf,
    /// `[scenario] name`.
    pub title: String,
    pub description: String,
    pub variant: Option<String>,
    pub budget: Duration,
    pub saas: SaasConfig,
    pub seed: Seed,
    /// Replicas expanded (`W` with 3 replicas is `W#1`, `W#2`, `W#3`).
    pub processes: Vec<ProcessSpec>,
    pub steps: Vec<Step>,
    pub expect: Expect,
    /// `[expect_always]`: holds for every ordering (checked by `run` and after every schedule
    /// `explore` tries).
    pub expect_always: ExpectAlways,
    /// `[explore]`: present in an explore file (whose runs also get the universal invariant).
    pub explore: Option<ExploreSpec>,
    /// 1-based line of `[scenario]`.
    pub line: usize,
}

impl Scenario {
    /// The process named `name`.
    pub fn process(&self, name: &str) -> Option<&ProcessSpec> {
        self.processes.iter().find(|p| p.name == name)
    }

    /// Whether some process runs the Python original (the run then needs its venv, and is
    /// skipped with a reason where it cannot be installed).
    pub fn needs_python(&self) -> bool {
        self.processes.iter().any(ProcessSpec::needs_python)
    }

    /// This scenario as `scenario explore` runs it: without steps (the explorer orders the
    /// processes) and without `[expect]` (it describes one fixed ordering), with `[explore]`
    /// (the file's, or the defaults, which also turns on the universal invariant).
    pub fn explorable(&self) -> Result<Scenario, String> {
        if self.steps.iter().any(|s| s.line.is_some()) {
            return Err(format!(
                "{} declares [[step]] tables: the explorer orders the processes itself, so an explore file has none (a replay file, which has them, is for `scenario run`)",
                self.id
            ));
        }
        if self.processes.is_empty() {
            return Err(format!("{} declares no process to explore", self.id));
        }
        if let Some(p) = self.processes.iter().find(|p| p.runs_daemon()) {
            return Err(format!(
                "{}: process {} runs a sync daemon, which never ends by itself: the explorer runs every process to its end",
                self.id, p.name
            ));
        }
        Ok(Scenario {
            steps: Vec::new(),
            expect: Expect::default(),
            explore: Some(self.explore.clone().unwrap_or_default()),
            ..self.clone()
        })
    }
}

/// The seeded state of the runtime root.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub session: Option<SeedSession>,
    pub lock: Option<SeedLock>,
    pub corrupt: Vec<Corruption>,
}

/// A session seeded in both the fake SaaS and the runtime root.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedSession {
    pub access_expires_in_s: i64,
    pub refresh_expires_in_s: i64,
    /// When false the local file's `refresh_token_expires_at` is null.
    pub refresh_expiry_known: bool,
    pub generation: Option<i64>,
}

/// A leftover holder record in `refresh.lock` with no live flock behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedLock {
    pub pid: u32,
    pub host: Option<String>,
    pub age_s: i64,
    pub version: String,
}

/// One change to a file of the runtime root.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Corruption {
    pub file: FileKind,
    pub op: CorruptOp,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorruptOp {
    Truncate(u64),
    Garbage(String),
    Append(String),
    Delete,
    Mode(u32),
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            CorruptOp::Truncate(n) => write!(f, "truncate {} to {n} bytes", self.file),
            CorruptOp::Garbage(s) => {
                write!(f, "replace {} with {} bytes of garbage", self.file, s.len())
            }
            CorruptOp::Append(s) => write!(f, "append {} bytes to {}", s.len(), self.file),
            CorruptOp::Delete => write!(f, "delete {}", self.file),
            CorruptOp::Mode(m) => write!(f, "chmod {} to {m:o}", self.file),
        }
    }
}

/// What kind of program a process runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// `spec-kitty <args>` (the production CLI, with sync points).
    SpecKitty(Vec<String>),
    /// The built-in legacy client (refreshes and writes without the lock).
    Legacy(Vec<String>),
    /// Any program and its arguments (`command = [...]`): an external participant that reaches
    /// no sync point. `{python_spec_kitty}` stands for the Python original's executable
    /// ([`crate::python`]).
    Command(Vec<String>),
    /// N threads of one token manager in one process asking for a token at once
    /// (`threads = N`; [`crate::threads`]).
    Threads(u32),
}

/// One OS process of the scenario.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub name: String,
    /// The `[[process]]` name it was declared under (differs from `name` for replicas).
    pub group: String,
    pub program: Program,
    pub env: BTreeMap<String, String>,
    pub clock_offset_s: Option<i64>,
    /// The package version a daemon run by this process reports (models version skew).
    pub daemon_version: Option<String>,
    pub lock_wait_ms: Option<u64>,
    pub refresh_ceiling_ms: Option<u64>,
    /// A deliberately broken build this process runs (test-only; `broken = "..."`).
    pub broken: Option<Broken>,
    pub faults: Vec<PointFault>,
}

impl ProcessSpec {
    /// Whether this process's job is to print a token on stdout (`spec-kitty auth token`).
    pub fn prints_token(&self) -> bool {
        match &self.program {
            Program::SpecKitty(args) => {
                let positional: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| !a.starts_with('-'))
                    .collect();
                positional.starts_with(&["auth", "token"])
            }
            Program::Legacy(_) | Program::Command(_) | Program::Threads(_) => false,
        }
    }

    /// Whether the process is an external program (no sync points, no test hooks).
    pub fn is_external(&self) -> bool {
        matches!(self.program, Program::Command(_))
    }

    /// Whether the process runs the Python original (its command names
    /// `{python_spec_kitty}`), so the scenario needs its venv.
    pub fn needs_python(&self) -> bool {
        match &self.program {
            Program::Command(argv) => argv.iter().any(|a| a.contains(crate::python::PLACEHOLDER)),
            _ => false,
        }
    }

    /// Whether the process runs `spec-kitty sync enqueue` (it prints the id of the event it
    /// recorded: `event.event_id` with `--json`, else the first stdout line).
    pub fn records_events(&self) -> bool {
        match &self.program {
            Program::SpecKitty(args) => {
                let words: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| !a.starts_with('-'))
                    .collect();
                words.starts_with(&["sync", "enqueue"])
            }
            Program::Legacy(_) | Program::Command(_) | Program::Threads(_) => false,
        }
    }

    /// Whether the process runs a sync daemon, or starts one (it then does not end by itself).
    pub fn runs_daemon(&self) -> bool {
        match &self.program {
            Program::SpecKitty(args) => {
                let words: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| !a.starts_with('-'))
                    .collect();
                matches!(
                    words.as_slice(),
                    ["sync", "daemon" | "start" | "restart", ..]
                )
            }
            Program::Legacy(_) | Program::Command(_) | Program::Threads(_) => false,
        }
    }

    /// Whether the process runs `spec-kitty auth logout`.
    pub fn logs_out(&self) -> bool {
        match &self.program {
            Program::SpecKitty(args) => {
                let words: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| !a.starts_with('-'))
                    .collect();
                words.starts_with(&["auth", "logout"])
            }
            Program::Legacy(_) | Program::Command(_) | Program::Threads(_) => false,
        }
    }

    /// Whether the process was asked for JSON output.
    pub fn wants_json(&self) -> bool {
        match &self.program {
            Program::SpecKitty(args) | Program::Legacy(args) | Program::Command(args) => {
                args.iter().any(|a| a == "--json")
            }
            Program::Threads(_) => false,
        }
    }

    /// A short human description of the command line.
    pub fn command_line(&self) -> String {
        match &self.program {
            Program::SpecKitty(args) => format!("spec-kitty {}", args.join(" ")),
            Program::Legacy(args) if args.is_empty() => "legacy-client".to_string(),
            Program::Legacy(args) => format!("legacy-client {}", args.join(" ")),
            Program::Command(argv) => argv.join(" "),
            Program::Threads(n) => {
                format!("token-threads {n} (one token manager, {n} threads asking at once)")
            }
        }
    }
}

/// A failure or delay injected at a sync point of one process.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PointFault {
    pub point: String,
    /// Fires on the nth time the process reaches the point (1-based).
    pub nth: u32,
    pub action: PointAction,
    pub message: String,
    pub ms: u64,
    /// For `io_fault`: the operation that fails next, and with which errno (name, number).
    pub io: Option<(IoOpName, String, i32)>,
}

/// One step of the ordering.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based index.
    pub index: usize,
    /// 1-based line of the step; `None` for the implicit step of a file without `[[step]]`.
    pub line: Option<usize>,
    pub note: Option<String>,
    pub action: Action,
}

/// Where a `run` step stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// Held at the nth hit (counted from the step's start) of this point.
    Point {
        point: String,
        nth: u32,
    },
    Exit,
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Until::Point { point, nth: 1 } => f.write_str(point),
            Until::Point { point, nth } => write!(f, "{point} (hit #{nth})"),
            Until::Exit => f.write_str(EXIT),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Start or release the processes and wait until each is held at the point or has exited.
    Run {
        procs: Vec<String>,
        until: Until,
    },
    /// Start or release the processes and do not wait: they run free (no holds) to exit.
    Release {
        procs: Vec<String>,
    },
    /// Let each process reach the point (if given) and SIGKILL it there.
    Kill {
        procs: Vec<String>,
        at: Option<Until>,
    },
    Sleep(Duration),
    SaasFault(Box<FaultSpec>),
    Saas(SaasAction),
    Lock(LockAction),
    Corrupt(Corruption),
    Check(Check),
    /// SIGTERM the processes and wait for them to exit (a daemon's clean shutdown).
    Stop {
        procs: Vec<String>,
    },
    /// Put a decoy listener in the scenario's daemon port range until the end.
    Decoy(crate::schema::DecoyKind),
    /// Wait until the fake SaaS has received at least this many requests per endpoint: how an
    /// external process, which reaches no sync point, is ordered by what it sends.
    AwaitSaas(BTreeMap<String, u64>),
}

/// Assertions evaluated in the middle of a run.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub lock_held: Option<bool>,
    pub session: Option<SessionState>,
    pub running: Vec<String>,
    pub exited: Vec<String>,
    pub saas_requests: BTreeMap<String, u64>,
    /// Events in the sync queue now.
    pub queue_depth: Option<u64>,
    /// Distinct events the fake SaaS has accepted so far.
    pub saas_events_delivered: Option<u64>,
}

impl Step {
    /// One line describing the step (for the timeline).
    pub fn describe(&self) -> String {
        let what = match &self.action {
            Action::Run { procs, until } => format!("run {} until {until}", procs.join(", ")),
            Action::Release { procs } => format!("release {}", procs.join(", ")),
            Action::Kill {
                procs,
                at: Some(at),
            } => format!("kill {} at {at}", procs.join(", ")),
            Action::Kill { procs, at: None } => format!("kill {}", procs.join(", ")),
            Action::Sleep(d) => format!("sleep {} ms", d.as_millis()),
            Action::SaasFault(f) => format!(
                "add SaaS fault {} on {}",
                f.name.as_deref().unwrap_or("?"),
                f.endpoint
            ),
            Action::Saas(a) => format!(
                "SaaS: {}",
                serde_json::to_value(a)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("?")
            ),
            Action::Lock(LockAction::Hold) => "runner takes the refresh lock".to_string(),
            Action::Lock(LockAction::Release) => "runner releases the refresh lock".to_string(),
            Action::Corrupt(c) => format!("corrupt: {c}"),
            Action::Check(_) => "check".to_string(),
            Action::Stop { procs } => format!("stop {} (SIGTERM)", procs.join(", ")),
            Action::Decoy(kind) => format!("a {kind:?} decoy listener in the daemon port range"),
            Action::AwaitSaas(want) => format!(
                "wait until the fake SaaS received {}",
                want.iter()
                    .map(|(e, n)| format!("{n} request(s) to {e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let name = match self.line {
            Some(_) => format!("step {}", self.index),
            None => "implicit step".to_string(),
        };
        match &self.note {
            Some(note) => format!("{name}: {what} — {note}"),
            None => format!("{name}: {what}"),
        }
    }
}

/// Which server-side session an `expect.saas.session` entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRef {
    /// The seeded session.
    Seed,
    /// The session the fake SaaS created last (e.g. by `auth login`).
    Latest,
    /// A session id.
    Id(String),
}

/// `[[expect.saas.session]]`: what the fake SaaS decided about one session by the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSessionExpect {
    pub session: SessionRef,
    pub state: Option<ServerState>,
    /// The revocation reason the server recorded (`admin`, `reuse_detected`, `client_revoke`).
    pub reason: Option<String>,
    /// Times a rotated-out refresh token of this session was presented.
    pub reuse_detections: Option<u64>,
}

/// Expected outcome(s) of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeExpect {
    /// Every reported outcome is this one (and there is at least one).
    All(String),
    /// Exactly this sequence.
    Sequence(Vec<String>),
    /// No refresh transaction at all.
    None,
}

/// `[[expect.timing]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub process: String,
    pub from: String,
    pub to: String,
    pub max_ms: Option<u64>,
    pub min_ms: Option<u64>,
}

/// `[expect]`, with groups expanded to their replicas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub exit: BTreeMap<String, ExitSet>,
    pub stdout_contains: BTreeMap<String, Vec<String>>,
    pub stdout_not_contains: BTreeMap<String, Vec<String>>,
    pub stderr_contains: BTreeMap<String, Vec<String>>,
    pub stderr_not_contains: BTreeMap<String, Vec<String>>,
    pub json: BTreeMap<String, Vec<(String, serde_json::Value)>>,
    pub session: Option<SessionState>,
    pub session_refresh_token: Option<TokenRef>,
    pub session_access_token: Option<TokenRef>,
    pub outcomes: BTreeMap<String, OutcomeExpect>,
    pub outcome_counts: BTreeMap<String, u32>,
    /// `outcome_counts_exact`: outcomes not listed must not be reported at all.
    pub outcome_counts_exact: bool,
    pub saas_requests: BTreeMap<String, u64>,
    pub saas_statuses: BTreeMap<String, BTreeMap<u16, u64>>,
    pub seed_token_presented: Option<u64>,
    pub max_token_presented: Option<u64>,
    /// Independent chains of `(process, point)` pairs; in each, first occurrences must come in
    /// this order.
    pub order: Vec<Vec<(String, String)>>,
    /// `stdout_count`: process → text → exactly how many times it occurs in the raw stdout.
    pub stdout_count: BTreeMap<String, BTreeMap<String, u64>>,
    /// `stderr_count`: the same for stderr.
    pub stderr_count: BTreeMap<String, BTreeMap<String, u64>>,
    /// `not_reached`: process → sync points it must never have reached.
    pub not_reached: BTreeMap<String, Vec<String>>,
    pub timing: Vec<Timing>,
    pub lock_held: Option<bool>,
    /// What `auth token` printed: the final session's access token, or the seeded one.
    pub printed_token: BTreeMap<String, PrintedToken>,
    /// The token presented to `/oauth/revoke` (the last such request).
    pub revoked_token: Option<TokenRef>,
    /// What the fake SaaS decided about its sessions.
    pub saas_sessions: Vec<ServerSessionExpect>,
    /// The sync daemons of the scenario's runtime root at the end.
    pub daemons: Option<DaemonsExpect>,
    /// The session file was written no more often than the server rotated (no churn).
    pub session_writes_only_on_rotation: bool,
    /// `expect.diagnostics`: the one `sync_diagnostic` code a process printed (`None`: none).
    pub diagnostics: BTreeMap<String, Option<String>>,
    /// `expect.queue_depth`: events left in the runtime root's sync queue at the end.
    pub queue_depth: Option<u64>,
    /// `[expect.saas.events]`.
    pub saas_events: EventsExpect,
    /// `[expect.lock_file]`.
    pub lock_file: LockFileExpect,
}

/// `[expect.lock_file]`: the refresh lock file itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockFileExpect {
    pub content: Option<crate::schema::values::LockContent>,
    /// The record names this process's pid (a process name) ...
    pub pid_of: Option<String>,
    /// ... or this pid.
    pub pid: Option<u32>,
    /// `refresh.lock` and `session.lock` were never unlinked or replaced during the run.
    pub inode_unchanged: bool,
}

/// `[expect.daemons]`: the daemons alive just before teardown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonsExpect {
    /// How many `spec-kitty sync daemon` processes serve the root.
    pub alive: Option<u32>,
    /// The processes (a process, or a group's replicas: any of them) whose daemon the state
    /// file names: one running the daemon itself, or one whose `sync start` spawned it.
    pub singleton: Vec<String>,
    /// Processes whose `--json` answer names the singleton's pid and port.
    pub reported_by: Vec<String>,
}

/// `[expect.saas.events]`: what the fake SaaS's batch endpoint took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsExpect {
    /// Distinct events accepted.
    pub delivered: Option<u64>,
    /// Events received, re-sends included.
    pub received: Option<u64>,
    /// Every event a `sync enqueue` process recorded is either delivered once or still queued,
    /// never both, never neither.
    pub exactly_once: bool,
}

impl Expect {
    /// Whether no key is set: such an `[expect]` asserts nothing.
    pub fn is_empty(&self) -> bool {
        *self == Expect::default()
    }
}

/// `expect.printed_token` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintedToken {
    /// The access token of the session file at the end.
    Session,
    /// The seeded access token.
    Seed,
    /// The access token with this timeline label (`A0` seeded, `A1` the first issued, ...).
    Label(String),
    /// The access token the SaaS issued at this generation of the seeded session.
    Generation(i64),
}

impl fmt::Display for PrintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrintedToken::Session => f.write_str("the final session's access token"),
            PrintedToken::Seed => f.write_str("the seeded access token"),
            PrintedToken::Label(l) => write!(f, "the access token labelled {l}"),
            PrintedToken::Generation(g) => write!(f, "the access token of generation {g}"),
        }
    }
}
