//! What the runner knows about each process of a scenario ([`Proc`]: its phase, hold target,
//! points reached, faults, outcomes, exit) and the hold-or-answer decision for each point a
//! process reports ([`Shared::on_point`]).
//!
//! Guarantee: all of it sits behind one mutex with one condition variable that every change
//! notifies, so the runner's waits, the socket threads and the child reapers see one consistent
//! state. A process held at a point gets no reply until a step releases it (or it is killed, or
//! the scenario shuts down).

use super::wire::{PointMessage, Reply};
use crate::report::model::{EntryKind, Lane};
use crate::schema::{PointAction, PointFault};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Where a process stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    NotStarted,
    Running,
    /// Waiting at `point` for the runner's word.
    Held {
        point: String,
    },
    Exited,
}

/// A hold the current step asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub point: String,
    pub nth: u32,
    pub seen: u32,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub t_ms: f64,
}

impl ExitInfo {
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(9)) => "killed (SIGKILL)".to_string(),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended (unknown status)".to_string(),
        }
    }
}

/// A kill the runner performed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillInfo {
    /// The point the process was held at, if any.
    pub at: Option<String>,
    pub t_ms: f64,
    /// Killed by teardown (budget overrun or leftover), not by a step.
    pub teardown: bool,
}

/// One point a process reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub t_ms: f64,
    pub point: String,
    pub detail: Option<String>,
    pub held: bool,
    pub reply: String,
}

/// Everything the runner knows about one process.
#[derive(Debug, Clone)]
pub struct Proc {
    pub name: String,
    pub pid: Option<u32>,
    pub phase: Phase,
    pub target: Option<Target>,
    pub release: Option<Reply>,
    /// Times each point was reached.
    pub counts: BTreeMap<String, u32>,
    pub hits: Vec<Hit>,
    pub faults: Vec<PointFault>,
    /// How often each declared fault fired (same index as `faults`).
    pub faults_fired: Vec<u32>,
    /// `refresh.outcome` details, in order.
    pub outcomes: Vec<String>,
    pub kill: Option<KillInfo>,
    pub exit: Option<ExitInfo>,
    pub started_ms: Option<f64>,
}

impl Proc {
    pub fn new(name: &str, faults: Vec<PointFault>) -> Proc {
        let n = faults.len();
        Proc {
            name: name.to_string(),
            pid: None,
            phase: Phase::NotStarted,
            target: None,
            release: None,
            counts: BTreeMap::new(),
            hits: Vec::new(),
            faults,
            faults_fired: vec![0; n],
            outcomes: Vec::new(),
            kill: None,
            exit: None,
            started_ms: None,
        }
    }
}

/// A note in the timeline from the runner, the sync server or a child's reaper.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub t_ms: f64,
    pub lane: Lane,
    pub kind: EntryKind,
    pub text: String,
}

/// State shared by the runner, the sync server and the process waiters.
pub struct State {
    pub procs: BTreeMap<String, Proc>,
    pub notes: Vec<Note>,
    /// Connections or messages that matched no process (a protocol problem worth showing).
    pub anomalies: Vec<String>,
    /// Teardown: every held process is let go without a reply.
    pub shutting_down: bool,
    /// Points where every process is held, whatever its target (the explorer's policy: it then
    /// decides who goes on at each of them). Empty for a run ordered by steps.
    pub hold_points: BTreeSet<String>,
}

/// The state behind a mutex, a condition variable every change notifies, and the time origin.
pub struct Shared {
    pub start: Instant,
    state: Mutex<State>,
    pub cv: Condvar,
}

impl Shared {
    pub fn new(procs: impl IntoIterator<Item = Proc>) -> Arc<Shared> {
        Arc::new(Shared {
            start: Instant::now(),
            state: Mutex::new(State {
                procs: procs.into_iter().map(|p| (p.name.clone(), p)).collect(),
                notes: Vec::new(),
                anomalies: Vec::new(),
                shutting_down: false,
                hold_points: BTreeSet::new(),
            }),
            cv: Condvar::new(),
        })
    }

    /// Milliseconds since the scenario started.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a note (caller holds the lock).
    pub fn note(&self, st: &mut State, lane: Lane, kind: EntryKind, text: impl Into<String>) {
        st.notes.push(Note {
            t_ms: self.now_ms(),
            lane,
            kind,
            text: text.into(),
        });
    }

    /// Records a note (takes the lock).
    pub fn note_now(&self, lane: Lane, kind: EntryKind, text: impl Into<String>) {
        let mut st = self.lock();
        self.note(&mut st, lane, kind, text);
    }

    /// Records an anomaly of the sync protocol (caller holds the lock).
    pub fn anomaly(&self, st: &mut State, text: String) {
        st.anomalies.push(text.clone());
        self.note(st, Lane::Runner, EntryKind::Anomaly, text);
    }

    /// Decides the reply to one point message, blocking while the process is held. `None`
    /// means: send nothing (the process was killed or the scenario is shutting down).
    pub fn on_point(&self, msg: &PointMessage) -> Option<Reply> {
        let mut st = self.lock();
        let t_ms = self.now_ms();
        let hold_everywhere = st.hold_points.contains(&msg.point);
        let Some(p) = st.procs.get_mut(&msg.process) else {
            let text = format!(
                "point {} from unknown process {:?} (pid {}): answered continue",
                msg.point, msg.process, msg.pid
            );
            self.anomaly(&mut st, text);
            return Some(Reply::Continue);
        };
        if p.pid != Some(msg.pid) {
            // A process this one spawned (a daemon `sync start` detached) inherits its name: its
            // points are shown on the lane and answered at once; they are never held.
            let text = format!(
                "pid {} (spawned by {}): {}{}",
                msg.pid,
                msg.process,
                msg.point,
                msg.detail
                    .as_deref()
                    .map(|d| format!(" [{d}]"))
                    .unwrap_or_default()
            );
            let lane = Lane::Process(msg.process.clone());
            self.note(&mut st, lane, EntryKind::Point, text);
            return Some(Reply::Continue);
        }
        let count = {
            let c = p.counts.entry(msg.point.clone()).or_insert(0);
            *c += 1;
            *c
        };
        if msg.point == spec_kitty::syncpoint::Point::Outcome.as_str() {
            p.outcomes
                .push(msg.detail.clone().unwrap_or_else(|| "?".to_string()));
        }
        let mut fault_reply = None;
        for (i, f) in p.faults.iter().enumerate() {
            if f.point == msg.point && f.nth == count {
                p.faults_fired[i] += 1;
                fault_reply = Some(match f.action {
                    PointAction::Fail => Reply::Fail {
                        message: f.message.clone(),
                    },
                    PointAction::Sleep => Reply::Sleep { ms: f.ms },
                    PointAction::IoFault => match &f.io {
                        Some((op, _, errno)) => Reply::IoFault {
                            op: *op,
                            errno: *errno,
                        },
                        None => Reply::Continue,
                    },
                });
                break;
            }
        }
        let targeted = match &mut p.target {
            Some(t) if t.point == msg.point => {
                t.seen += 1;
                t.seen >= t.nth
            }
            _ => false,
        };
        let hold = targeted || hold_everywhere;
        let immediate = fault_reply.clone().unwrap_or(Reply::Continue);
        p.hits.push(Hit {
            t_ms,
            point: msg.point.clone(),
            detail: msg.detail.clone(),
            held: hold,
            reply: if hold {
                "held".to_string()
            } else {
                immediate.label()
            },
        });
        if !hold {
            return Some(immediate);
        }
        if targeted {
            p.target = None;
        }
        p.phase = Phase::Held {
            point: msg.point.clone(),
        };
        p.release = None;
        self.cv.notify_all();
        let name = msg.process.clone();
        loop {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            let shutting_down = st.shutting_down;
            let p = st.procs.get_mut(&name).expect("process exists");
            if let Some(release) = p.release.take() {
                // A fault declared at this point still applies once the hold ends.
                return Some(match (release, &fault_reply) {
                    (Reply::Continue, Some(f)) => f.clone(),
                    (r, _) => r,
                });
            }
            if p.phase == Phase::Exited || p.kill.is_some() || shutting_down {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_with(name: &str, pid: u32) -> Arc<Shared> {
        let mut p = Proc::new(name, vec![]);
        p.pid = Some(pid);
        p.phase = Phase::Running;
        Shared::new([p])
    }

    #[test]
    fn nth_hit_and_outcome_detail() {
        let shared = shared_with("B", 9);
        shared.lock().procs.get_mut("B").unwrap().target = Some(Target {
            point: "storage.temp_written".into(),
            nth: 2,
            seen: 0,
        });
        let m = |point: &str, detail: Option<&str>| PointMessage {
            process: "B".into(),
            pid: 9,
            point: point.into(),
            detail: detail.map(str::to_string),
        };
        assert_eq!(
            shared.on_point(&m("storage.temp_written", None)),
            Some(Reply::Continue)
        );
        assert_eq!(
            shared.on_point(&m("refresh.outcome", Some("refreshed"))),
            Some(Reply::Continue)
        );
        let s2 = shared.clone();
        let h = std::thread::spawn(move || s2.on_point(&m("storage.temp_written", None)));
        let mut st = shared.lock();
        while !matches!(st.procs["B"].phase, Phase::Held { .. }) {
            st = shared.cv.wait(st).unwrap();
        }
        // Killed while held: no reply.
        st.procs.get_mut("B").unwrap().kill = Some(KillInfo {
            at: None,
            t_ms: 0.0,
            teardown: false,
        });
        shared.cv.notify_all();
        drop(st);
        assert_eq!(h.join().unwrap(), None);
        assert_eq!(
            shared.lock().procs["B"].outcomes,
            vec!["refreshed".to_string()]
        );
    }
}
