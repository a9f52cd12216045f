//! The search over schedules, on `jobs` worker threads: depth-first over the decisions (each run
//! follows a prefix, then the first option, and opens a branch for every option it did not
//! take), or random sampling from a seed (PCT-style, [`super::choosers::Pct`]); bounded by a
//! number of schedules and a total time.
//!
//! In `dfs` mode, once the schedules done plus the branches still open exceed the bound, the space
//! cannot be covered: the rest of the bound is sampled at random instead (reported as
//! `dfs, then random`). A run is a fresh scenario each time (fresh root, fresh fake SaaS); what is
//! shared is the executor (the built binary every child runs) and the salt of the seeded session
//! file, so the session key is derived once per exploration, not once per schedule.
//!
//! Guarantee: every started schedule finishes and tears down before [`explore`] returns; a
//! cancellation (SIGINT/SIGTERM) stops starting new ones at once.

use super::choosers::{schedule_seed, Follow, Pct};
use super::tally::{ExploreReport, Tally};
use crate::run::schedule::{run_schedule, Choice, Chooser, Decision, Policy};
use crate::run::RunOptions;
use crate::schema::Scenario;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// `--max-schedules` when neither the command line nor `[explore]` says.
pub const DEFAULT_MAX_SCHEDULES: u64 = 1000;
/// `--budget` when neither the command line nor `[explore]` says.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(300);

/// How the schedules are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Depth-first over every decision (random sampling once the space exceeds the bound).
    Dfs,
    /// PCT-style random sampling from the seed.
    Random,
}

/// How one scenario is explored.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    /// `None`: `[explore] max_schedules`, else [`DEFAULT_MAX_SCHEDULES`].
    pub max_schedules: Option<u64>,
    /// `None`: `[explore] budget_s`, else [`DEFAULT_BUDGET`].
    pub budget: Option<Duration>,
    pub seed: u64,
    pub mode: Mode,
    /// Schedules may SIGKILL held processes at the kill points.
    pub kills: bool,
    pub jobs: usize,
    /// Stop at the first failing schedule.
    pub fail_fast: bool,
    /// How each schedule runs (the executor, the cancellation).
    pub run: RunOptions,
}

/// What one worker is asked to run.
enum Job {
    Dfs(Vec<Choice>),
    Random(u64),
}

/// The state the workers share.
struct Search {
    frontier: Vec<Vec<Choice>>,
    in_flight: usize,
    started: usize,
    random_next: u64,
    sampling: bool,
    stopped_by: Option<String>,
    diverged: usize,
    /// Schedules that stopped before their last decision settled (their branches are unknown).
    cut_short: usize,
    tally: Tally,
}

/// A snapshot for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: usize,
    pub failed: usize,
    pub open: usize,
}

/// Explores `sc` (already [`Scenario::explorable`]); `progress` is called now and then.
pub fn explore(
    sc: &Scenario,
    o: &ExploreOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> ExploreReport {
    let spec = sc.explore.clone().unwrap_or_default();
    let max = o
        .max_schedules
        .or(spec.max_schedules)
        .unwrap_or(DEFAULT_MAX_SCHEDULES)
        .max(1) as usize;
    let budget = o.budget.or(spec.budget).unwrap_or(DEFAULT_BUDGET);
    let kills = if o.kills { spec.max_kills } else { 0 };
    let policy = Policy { spec: &spec, kills };
    let salt = fresh_salt();
    let mut run = o.run.clone();
    run.keep = false;
    run.shared_salt = Some(salt);
    let o = &ExploreOptions { run, ..o.clone() };
    let started_at = Instant::now();
    let state = Mutex::new(Search {
        frontier: match o.mode {
            Mode::Dfs => vec![Vec::new()],
            Mode::Random => Vec::new(),
        },
        in_flight: 0,
        started: 0,
        random_next: 0,
        sampling: o.mode == Mode::Random,
        stopped_by: None,
        diverged: 0,
        cut_short: 0,
        tally: Tally::default(),
    });
    let cv = Condvar::new();
    let jobs = o.jobs.clamp(1, max);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| worker(sc, o, policy, max, budget, started_at, &state, &cv));
        }
        // The progress line, from this thread, until the workers are done.
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let busy = st.in_flight > 0 || (st.stopped_by.is_none() && !finished(&st, max));
            if !busy {
                break;
            }
            progress(Progress {
                done: st.tally.report.schedules,
                failed: st.tally.report.failed,
                open: st.frontier.len(),
            });
            st = cv
                .wait_timeout(st, Duration::from_millis(250))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    });
    crate::run::fixtures::forget_shared_salt(&salt);
    let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
    let exhaustive = o.mode == Mode::Dfs
        && !st.sampling
        && st.frontier.is_empty()
        && st.diverged == 0
        && st.cut_short == 0
        && o.run.cancel.signal().is_none();
    let mut report = st.tally.finish();
    report.id = sc.id.clone();
    report.title = sc.title.clone();
    report.file = sc.file.display().to_string();
    report.mode = match (o.mode, st.sampling) {
        (Mode::Dfs, false) => "dfs",
        (Mode::Dfs, true) => "dfs, then random",
        (Mode::Random, _) => "random",
    }
    .to_string();
    report.kills = o.kills;
    report.seed = o.seed;
    report.jobs = jobs;
    report.points = spec.points.clone();
    report.kill_points = if o.kills {
        spec.kill_points.clone()
    } else {
        Vec::new()
    };
    report.exhaustive = exhaustive;
    report.diverged = st.diverged;
    report.stopped_by = if exhaustive {
        None
    } else {
        st.stopped_by.clone()
    };
    report.elapsed_s = started_at.elapsed().as_secs_f64();
    report.schedules_per_s = report.schedules as f64 / report.elapsed_s.max(1e-9);
    report
}

/// Whether no job is left: the DFS frontier is empty (outside sampling) and nothing runs.
fn finished(st: &Search, max: usize) -> bool {
    st.started >= max || (!st.sampling && st.frontier.is_empty() && st.in_flight == 0)
}

#[allow(clippy::too_many_arguments)]
fn worker(
    sc: &Scenario,
    o: &ExploreOptions,
    policy: Policy,
    max: usize,
    budget: Duration,
    started_at: Instant,
    state: &Mutex<Search>,
    cv: &Condvar,
) {
    loop {
        let (number, job) = {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let job = loop {
                if let Some(signal) = o.run.cancel.signal() {
                    st.stopped_by
                        .get_or_insert_with(|| crate::interrupt::signal_name(signal));
                    break None;
                }
                if st.stopped_by.is_some() {
                    break None;
                }
                if st.started >= max {
                    if st.sampling || !st.frontier.is_empty() {
                        st.stopped_by = Some(format!("the bound of {max} schedules"));
                    }
                    break None;
                }
                if started_at.elapsed() >= budget {
                    st.stopped_by = Some(format!("the budget of {:.0} s", budget.as_secs_f64()));
                    break None;
                }
                if st.sampling {
                    st.random_next += 1;
                    break Some(Job::Random(st.random_next));
                }
                if let Some(prefix) = st.frontier.pop() {
                    break Some(Job::Dfs(prefix));
                }
                if st.in_flight == 0 {
                    break None;
                }
                st = cv
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            };
            let Some(job) = job else {
                cv.notify_all();
                return;
            };
            st.started += 1;
            st.in_flight += 1;
            (st.started, job)
        };
        let (decisions, run, branches, diverged) = match job {
            Job::Dfs(prefix) => {
                let mut f = Follow::new(prefix);
                let (run, decisions) = one(sc, o, policy, &mut f);
                let branches = f.branches();
                (decisions, run, branches, f.diverged)
            }
            Job::Random(i) => {
                // A fixed estimate of a schedule's length (every process passing a few held
                // points), so a seed samples the same schedules whatever `-j` is.
                let length = sc.processes.len() * (policy.spec.points.len().min(6) + 1);
                let mut p = Pct::new(schedule_seed(o.seed, i), length, policy.kills);
                let (run, decisions) = one(sc, o, policy, &mut p);
                (decisions, run, Vec::new(), false)
            }
        };
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.in_flight -= 1;
        if run.interrupted.is_some() {
            cv.notify_all();
            continue;
        }
        st.diverged += usize::from(diverged);
        let settled = decisions.last().is_some_and(|d| d.reached.is_some());
        st.cut_short += usize::from(!settled);
        let failed = !run.passed;
        st.tally
            .add(number, &decisions, run, started_at.elapsed().as_secs_f64());
        if failed && o.fail_fast {
            st.stopped_by = Some(format!(
                "the first failure (--fail-fast), schedule {number}"
            ));
        }
        // Depth-first: the branches this run opened go on top, the deepest last (popped first).
        st.frontier.extend(branches);
        if !st.sampling && st.tally.report.schedules + st.in_flight + st.frontier.len() > max {
            // The space exceeds the bound: sample the rest of it.
            st.sampling = true;
            st.frontier.clear();
        }
        cv.notify_all();
    }
}

/// Runs one schedule with `chooser`.
fn one(
    sc: &Scenario,
    o: &ExploreOptions,
    policy: Policy,
    chooser: &mut dyn Chooser,
) -> (crate::report::model::ScenarioReport, Vec<Decision>) {
    run_schedule(sc, &o.run, policy, chooser)
}

/// The salt every schedule of this exploration seeds (see `RunOptions::shared_salt`): random,
/// so two explorations never share a keyring entry.
fn fresh_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut salt));
    if random.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = super::choosers::Rng::new(t ^ u64::from(std::process::id()));
        salt[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        salt[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    salt
}
