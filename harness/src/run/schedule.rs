//! One explored schedule: the same world, children, sync server, checks and report as a
//! scenario run, but the order comes from a [`Chooser`] instead of the file's steps.
//!
//! Every process is held at every point the scenario's `[explore]` names (`State::hold_points`).
//! When nothing runs (each process is held, not started, or ended), the driver lists what may
//! happen next — start a process, release a held one, or (with kills left) SIGKILL a held one at a
//! kill point — and the chooser picks. A process held where it waits for a lock
//! (`refresh.lock_wait`, `refresh.lock_busy`, `storage.lock_busy`) is released only when the lock
//! is free (probed on the real flock), so no process ever blocks out of sight and every segment
//! between two decisions runs alone: that is what makes a schedule a deterministic sequence of
//! ordinary steps (`run X until P`, `kill X at P`) a replay file can hold.
//!
//! Identical processes (same program, arguments, environment, overrides and faults) are started
//! in declaration order: which of two indistinguishable processes starts first changes nothing
//! (a symmetry reduction).

use super::lifecycle::run_with;
use super::steps::{kill, launch, wait, Wait};
use super::world::{RunOptions, World};
use crate::report::model::{EntryKind, Failure, Lane, ScenarioReport};
use crate::schema::{ExploreSpec, Scenario, REFRESH_LOCK_POINTS, SESSION_LOCK_POINT};
use crate::sync::state::Phase;
use std::fmt;

/// What the explorer may do with one process at a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Move {
    /// Spawn it (it runs to its first held point).
    Start,
    /// Let it go on from where it is held (to its next held point, or to its end).
    Release,
    /// SIGKILL it where it is held.
    Kill,
}

/// One option at a decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Choice {
    pub mv: Move,
    pub process: String,
    /// Where the process is held (`None` before it starts).
    pub at: Option<String>,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.as_deref().unwrap_or("?");
        match self.mv {
            Move::Start => write!(f, "start {}", self.process),
            Move::Release => write!(f, "release {} from {at}", self.process),
            Move::Kill => write!(f, "kill {} at {at}", self.process),
        }
    }
}

/// Where the chosen process stood once nothing ran any more after a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// Held at this point.
    Point(String),
    /// It ended by itself.
    Exit,
    /// The decision killed it.
    Killed,
}

/// One decision of a schedule.
#[derive(Debug, Clone)]
pub struct Decision {
    pub choice: Choice,
    /// `None` only when the schedule stopped before it settled.
    pub reached: Option<Reached>,
}

/// Picks one of the options at each decision.
pub trait Chooser {
    /// `options` is never empty; returns an index into it.
    fn choose(&mut self, options: &[Choice]) -> usize;
}

/// How a schedule may move the processes.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub spec: &'a ExploreSpec,
    /// Kills allowed in this schedule (0: none).
    pub kills: u32,
}

/// Runs one schedule of `sc` (fresh root, fresh fake SaaS) and reports it as `scenario run`
/// would, with the decisions taken.
pub fn run_schedule(
    sc: &Scenario,
    opts: &RunOptions,
    policy: Policy,
    chooser: &mut dyn Chooser,
) -> (ScenarioReport, Vec<Decision>) {
    let mut trace = Vec::new();
    let report = run_with(sc, opts, |w| drive(w, policy, chooser, &mut trace));
    (report, trace)
}

fn drive(w: &mut World, policy: Policy, chooser: &mut dyn Chooser, trace: &mut Vec<Decision>) {
    w.shared.lock().hold_points = policy.spec.points.iter().cloned().collect();
    w.note(
        Lane::Runner,
        EntryKind::Step,
        format!(
            "explored schedule: every process is held at {}",
            policy.spec.points.join(", ")
        ),
    );
    let classes: Vec<String> = w.sc.processes.iter().map(symmetry_key).collect();
    let mut kills_left = policy.kills;
    let result = loop {
        if w.cancelled().is_some() {
            break Ok(());
        }
        if let Err(e) = settle(w) {
            break Err(e);
        }
        if let Some(last) = trace.last_mut() {
            if last.reached.is_none() {
                last.reached = Some(where_is(w, &last.choice.process));
            }
        }
        let options = match options(w, policy, &classes, kills_left) {
            Ok(o) => o,
            Err(e) => break Err(e),
        };
        if options.is_empty() {
            break stuck(w);
        }
        let index = chooser.choose(&options).min(options.len() - 1);
        let choice = options[index].clone();
        w.note(
            Lane::Runner,
            EntryKind::Step,
            format!(
                "decision {}: {choice} (option {} of {})",
                trace.len() + 1,
                index + 1,
                options.len()
            ),
        );
        let name = [choice.process.clone()];
        let (done, reached) = match choice.mv {
            Move::Start | Move::Release => (launch(w, &name, None), None),
            Move::Kill => {
                kills_left = kills_left.saturating_sub(1);
                (kill(w, &name, None), Some(Reached::Killed))
            }
        };
        trace.push(Decision { choice, reached });
        if let Err(e) = done {
            break Err(e);
        }
    };
    match result {
        Err(_) | Ok(()) if w.cancelled().is_some() => {
            w.interrupted_during = Some(format!("decision {} of a schedule", trace.len() + 1));
        }
        Err(e) => {
            w.note(Lane::Runner, EntryKind::Violation, e.clone());
            w.failures.push(Failure::Schedule(e));
        }
        Ok(()) => {}
    }
    w.teardown();
}

/// Waits until no process runs: each is held, not started, or ended.
fn settle(w: &World) -> Result<(), String> {
    wait(w, "every process to be held at a point or to end", |st| {
        if st.procs.values().any(|p| p.phase == Phase::Running) {
            Wait::Pending
        } else {
            Wait::Done(())
        }
    })
}

fn where_is(w: &World, name: &str) -> Reached {
    match &w.shared.lock().procs[name].phase {
        Phase::Held { point } => Reached::Point(point.clone()),
        _ => Reached::Exit,
    }
}

/// No option, yet some process has not ended: a process waits for a lock nobody explored holds.
fn stuck(w: &World) -> Result<(), String> {
    let st = w.shared.lock();
    let waiting: Vec<String> = st
        .procs
        .values()
        .filter_map(|p| match &p.phase {
            Phase::Held { point } => Some(format!("{} (held at {point})", p.name)),
            _ => None,
        })
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "no process can go on: {} wait(s) for a lock that no explored process releases",
            waiting.join(", ")
        ))
    }
}

/// Processes that are interchangeable before they start share a key.
fn symmetry_key(p: &crate::schema::ProcessSpec) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        p.program,
        p.env,
        p.clock_offset_s,
        p.daemon_version,
        p.lock_wait_ms,
        p.refresh_ceiling_ms,
        p.broken,
        p.faults
    )
}

/// What may happen next, in a fixed order: per process in declaration order its start or
/// release, then the kills.
fn options(
    w: &World,
    policy: Policy,
    classes: &[String],
    kills_left: u32,
) -> Result<Vec<Choice>, String> {
    let free = |path: &std::path::Path| {
        spec_kitty::lock::is_held(path)
            .map(|held| !held)
            .map_err(|e| format!("cannot probe {}: {e}", path.display()))
    };
    let refresh_free = free(&w.root.refresh_lock_file())?;
    let session_free = free(&w.root.session_lock_file())?;
    let st = w.shared.lock();
    let mut out = Vec::new();
    let mut kills = Vec::new();
    for (i, spec) in w.sc.processes.iter().enumerate() {
        let p = &st.procs[&spec.name];
        match &p.phase {
            Phase::NotStarted => {
                let earlier_twin = w.sc.processes[..i].iter().enumerate().any(|(j, q)| {
                    classes[j] == classes[i] && st.procs[&q.name].phase == Phase::NotStarted
                });
                if !earlier_twin {
                    out.push(Choice {
                        mv: Move::Start,
                        process: spec.name.clone(),
                        at: None,
                    });
                }
            }
            Phase::Held { point } => {
                let blocked = (REFRESH_LOCK_POINTS.contains(&point.as_str()) && !refresh_free)
                    || (point == SESSION_LOCK_POINT && !session_free);
                if !blocked {
                    out.push(Choice {
                        mv: Move::Release,
                        process: spec.name.clone(),
                        at: Some(point.clone()),
                    });
                }
                if kills_left > 0 && policy.spec.kill_points.contains(point) {
                    kills.push(Choice {
                        mv: Move::Kill,
                        process: spec.name.clone(),
                        at: Some(point.clone()),
                    });
                }
            }
            Phase::Running | Phase::Exited => {}
        }
    }
    out.extend(kills);
    Ok(out)
}
