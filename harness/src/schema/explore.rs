//! What a scenario says about orderings it does not fix: `[explore]` (where `scenario explore`
//! holds every process, where it may kill one, its default bounds) and `[expect_always]` (what
//! must hold for every ordering), resolved.
//!
//! Why apart from `[expect]`: `[expect]` describes the end of one fixed ordering (the file's
//! steps, or the implicit one); `[expect_always]` holds for any ordering, so the explorer checks
//! it after every schedule and `scenario run` checks it too. A file with `[explore]` is an
//! *explore file*: its runs also get the universal invariant (no session lost without a
//! legitimate cause, `check::loss`).

use super::values::{AlwaysSession, ExitSet, TokenRef};
use std::collections::BTreeMap;
use std::time::Duration;

/// Points where a process waits for a lock: the explorer always holds a process there and lets
/// it go only when the lock is free, so no process ever blocks out of the explorer's sight.
pub const REFRESH_LOCK_POINTS: [&str; 2] = ["refresh.lock_wait", "refresh.lock_busy"];
/// The point where a writer found `session.lock` taken (held likewise until it is free).
pub const SESSION_LOCK_POINT: &str = "storage.lock_busy";

/// Held whatever `points` says (see [`REFRESH_LOCK_POINTS`]).
pub const MANDATORY_POINTS: [&str; 3] = [
    REFRESH_LOCK_POINTS[0],
    REFRESH_LOCK_POINTS[1],
    SESSION_LOCK_POINT,
];

/// `points` when `[explore]` does not name any.
pub const DEFAULT_POINTS: [&str; 8] = [
    "session.loaded",
    "refresh.lock_wait",
    "refresh.network_before",
    "refresh.network_after",
    "refresh.persisted",
    "legacy.loaded",
    "legacy.network_before",
    "legacy.network_after",
];

/// Default `max_kills`.
pub const DEFAULT_MAX_KILLS: u32 = 1;
/// Largest `max_kills`.
pub const MAX_KILLS: u32 = 8;

/// `[explore]`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ExploreSpec {
    /// Where every process is held: the declared (or default) points plus [`MANDATORY_POINTS`].
    pub points: Vec<String>,
    /// Where `--kills` may SIGKILL a held process.
    pub kill_points: Vec<String>,
    /// Kills per schedule with `--kills`.
    pub max_kills: u32,
    /// The file's default for `--max-schedules`.
    pub max_schedules: Option<u64>,
    /// The file's default for `--budget`.
    pub budget: Option<Duration>,
}

impl Default for ExploreSpec {
    fn default() -> Self {
        let points: Vec<String> = DEFAULT_POINTS
            .iter()
            .chain(MANDATORY_POINTS.iter())
            .map(|p| p.to_string())
            .fold(Vec::new(), |mut acc, p| {
                if !acc.contains(&p) {
                    acc.push(p);
                }
                acc
            });
        ExploreSpec {
            kill_points: DEFAULT_POINTS.iter().map(|p| p.to_string()).collect(),
            points,
            max_kills: DEFAULT_MAX_KILLS,
            max_schedules: None,
            budget: None,
        }
    }
}

/// `[expect_always]`, with groups expanded to their replicas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectAlways {
    /// At most this many requests per endpoint.
    pub max_requests: BTreeMap<String, u64>,
    pub session: Option<AlwaysSession>,
    /// When a session is present at the end, it holds this refresh token.
    pub session_refresh_token: Option<TokenRef>,
    /// Every outcome the process reports is one of these (`none` allows no transaction; a
    /// killed process may always have reported none).
    pub outcomes: BTreeMap<String, Vec<String>>,
    /// At most this many of each outcome over all processes.
    pub max_outcomes: BTreeMap<String, u32>,
    /// The exit is one of these, unless a kill ended the process.
    pub exit: BTreeMap<String, ExitSet>,
}

impl ExpectAlways {
    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        *self == ExpectAlways::default()
    }
}
