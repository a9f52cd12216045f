//! The result of one scenario run, as data: [`ScenarioReport`], [`ProcessReport`], the typed
//! [`Failure`] list and the [`Timeline`] of [`Entry`]s on [`Lane`]s.
//!
//! Why a module of its own: it is the contract between the producer (`run` fills it in) and the
//! consumers (the text, HTML and JUnit renderers, the CLI's JSON). It imports nothing from either
//! side, so renderers never reach into the runner and the runner never formats a page.
//!
//! Guarantee: the serialised JSON keeps the shape `scenario run --json` always printed: failures
//! are strings, lanes are their names, entry kinds are snake_case words.

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

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
    pub failures: Vec<Failure>,
    pub processes: Vec<ProcessReport>,
    /// Requests per endpoint the fake SaaS counted.
    pub saas_requests: BTreeMap<String, u64>,
    pub timeline: Timeline,
    pub kept_root: Option<String>,
    /// Set when SIGINT or SIGTERM stopped the scenario before it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
    /// Why the scenario did not run (a participant it needs cannot be installed here); a
    /// skipped scenario passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Explore files only: the seeded session was lost, and why (a violation is also a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_loss: Option<SessionLoss>,
}

/// How the universal invariant judged a lost session (explore files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossVerdict {
    /// The server revoked or expired the session, or a logout ran.
    Legitimate,
    /// A documented limit: a kill after the server rotated, or a legacy client's delete.
    Limit,
    /// No legitimate cause: a bug.
    Violation,
}

/// A lost session and its judged cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionLoss {
    pub verdict: LossVerdict,
    /// `server_revoked`, `server_expired`, `logout`, `kill_after_rotation`, `legacy_client`,
    /// `no_cause`.
    pub kind: String,
    /// One sentence naming who did what.
    pub cause: String,
}

/// What a signal cut short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interruption {
    /// `SIGINT` or `SIGTERM`.
    pub signal: String,
    /// The processes that were still running, each with where it stood (`A (held at ...)`).
    pub killed: Vec<String>,
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

/// Why a scenario failed: one entry per broken promise. Displayed (and serialised) as one line
/// whose prefix names the kind, e.g. `expect.exit: A exit 0, expected exit 3`.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The scenario could not be set up (temp directory, fake SaaS, seeding, socket).
    Setup(String),
    /// A step failed. `line` is `None` for the implicit step of a file without `[[step]]`.
    Step {
        index: usize,
        line: Option<usize>,
        message: String,
    },
    /// After the last step: a process still held, or released processes that did not finish.
    Settle(String),
    /// The scenario as a whole took longer than its budget.
    Budget(String),
    /// An always-on invariant (no half-written file, no leaked token, ...).
    Invariant(String),
    /// A declared fault that never fired.
    Unfired(String),
    /// A sync message from an unknown process or pid, or a malformed one.
    SyncProtocol(String),
    /// An `[expect]` key did not hold; `key` is its dotted name (`exit`, `saas.session`).
    Expect { key: String, message: String },
    /// An `[expect_always]` key did not hold (it must hold for every ordering).
    Always { key: String, message: String },
    /// The explorer could not go on with a schedule (no process could move, say).
    Schedule(String),
    /// SIGINT or SIGTERM stopped the scenario.
    Interrupted(String),
}

impl Failure {
    /// A failed `[expect_always]` key.
    pub fn always(key: &str, message: impl Into<String>) -> Failure {
        Failure::Always {
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A failed expectation.
    pub fn expect(key: &str, message: impl Into<String>) -> Failure {
        Failure::Expect {
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The same failure with its message passed through `f` (used to redact tokens).
    pub fn map_message(self, f: impl Fn(&str) -> String) -> Failure {
        match self {
            Failure::Setup(m) => Failure::Setup(f(&m)),
            Failure::Step {
                index,
                line,
                message,
            } => Failure::Step {
                index,
                line,
                message: f(&message),
            },
            Failure::Settle(m) => Failure::Settle(f(&m)),
            Failure::Budget(m) => Failure::Budget(f(&m)),
            Failure::Invariant(m) => Failure::Invariant(f(&m)),
            Failure::Unfired(m) => Failure::Unfired(f(&m)),
            Failure::SyncProtocol(m) => Failure::SyncProtocol(f(&m)),
            Failure::Expect { key, message } => Failure::Expect {
                key,
                message: f(&message),
            },
            Failure::Always { key, message } => Failure::Always {
                key,
                message: f(&message),
            },
            Failure::Schedule(m) => Failure::Schedule(f(&m)),
            Failure::Interrupted(m) => Failure::Interrupted(f(&m)),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Setup(m) => write!(f, "setup: {m}"),
            Failure::Step {
                index,
                line: Some(line),
                message,
            } => write!(f, "step {index} (line {line}): {message}"),
            Failure::Step {
                line: None,
                message,
                ..
            } => write!(
                f,
                "implicit step (no [[step]] declared: every process runs to exit): {message}"
            ),
            Failure::Settle(m) => write!(f, "after the last step: {m}"),
            Failure::Budget(m) => write!(f, "hard budget: {m}"),
            Failure::Invariant(m) => write!(f, "invariant: {m}"),
            Failure::Unfired(m) => f.write_str(m),
            Failure::SyncProtocol(m) => write!(f, "sync protocol: {m}"),
            Failure::Expect { key, message } => write!(f, "expect.{key}: {message}"),
            Failure::Always { key, message } => write!(f, "expect_always.{key}: {message}"),
            Failure::Schedule(m) => write!(f, "schedule: {m}"),
            Failure::Interrupted(m) => write!(f, "interrupted: {m}"),
        }
    }
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A column of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lane {
    /// The runner itself: steps, seeding, checks, the lock it holds.
    Runner,
    /// One process of the scenario, by name.
    Process(String),
    /// The fake SaaS: requests and responses.
    Saas,
    /// The session file: each distinct version.
    File,
}

impl Lane {
    /// The lane's header (`runner`, the process name, `saas`, `session.json`).
    pub fn name(&self) -> &str {
        match self {
            Lane::Runner => "runner",
            Lane::Process(name) => name,
            Lane::Saas => "saas",
            Lane::File => "session.json",
        }
    }

    /// Whether the lane is a process's (whose life is drawn as a bar).
    pub fn is_process(&self) -> bool {
        matches!(self, Lane::Process(_))
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Lane {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// What kind of event an [`Entry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A step started.
    Step,
    /// The runner seeded or corrupted a file.
    Seed,
    /// The runner acted on the fake SaaS (its URL, a fault, a revocation).
    Saas,
    Spawn,
    /// A sync point answered at once.
    Point,
    /// A sync point where the process is held.
    Held,
    Release,
    Kill,
    Exit,
    Stdout,
    Stderr,
    /// A request to the fake SaaS or its response.
    Request,
    /// A version of the session file.
    File,
    /// Something an invariant forbids (shown in red).
    Violation,
    /// A sync-protocol anomaly.
    Anomaly,
    /// The runner took or released the refresh lock.
    Lock,
    /// A `check` step passed.
    Check,
    /// The runner acted on the scenario's daemons (a decoy, a leftover stopped at teardown).
    Daemon,
}

impl EntryKind {
    /// The snake_case word (JSON, CSS classes).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Step => "step",
            EntryKind::Daemon => "daemon",
            EntryKind::Seed => "seed",
            EntryKind::Saas => "saas",
            EntryKind::Spawn => "spawn",
            EntryKind::Point => "point",
            EntryKind::Held => "held",
            EntryKind::Release => "release",
            EntryKind::Kill => "kill",
            EntryKind::Exit => "exit",
            EntryKind::Stdout => "stdout",
            EntryKind::Stderr => "stderr",
            EntryKind::Request => "request",
            EntryKind::File => "file",
            EntryKind::Violation => "violation",
            EntryKind::Anomaly => "anomaly",
            EntryKind::Lock => "lock",
            EntryKind::Check => "check",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Milliseconds since the scenario started.
    pub t_ms: f64,
    pub lane: Lane,
    pub kind: EntryKind,
    pub text: String,
}

/// All events plus the lane order (runner, processes in declaration order, saas, file).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub lanes: Vec<Lane>,
    pub entries: Vec<Entry>,
}

impl Timeline {
    /// Sorts entries by time (stable: same-time entries keep their insertion order).
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| {
            a.t_ms
                .partial_cmp(&b.t_ms)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_display_and_serialise_as_one_line() {
        let f = Failure::expect("exit", "A exit 0, expected exit 3");
        assert_eq!(f.to_string(), "expect.exit: A exit 0, expected exit 3");
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!("expect.exit: A exit 0, expected exit 3")
        );
        let implicit = Failure::Step {
            index: 1,
            line: None,
            message: "x".into(),
        };
        assert!(!implicit.to_string().contains("line"), "{implicit}");
        let redacted = Failure::Invariant("tok".into()).map_message(|m| m.replace("tok", "‹R0›"));
        assert_eq!(redacted.to_string(), "invariant: ‹R0›");
    }

    #[test]
    fn lanes_and_kinds_serialise_as_words() {
        let e = Entry {
            t_ms: 1.0,
            lane: Lane::File,
            kind: EntryKind::Held,
            text: String::new(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["lane"], "session.json");
        assert_eq!(v["kind"], "held");
        assert_eq!(EntryKind::Held.as_str(), "held");
    }
}
