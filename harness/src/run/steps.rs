//! Executing the steps in order, and waiting: every wait is on the shared state's condition
//! variable with the scenario's hard deadline, and wakes at once on a cancellation.
//!
//! Guarantees: a step either completes or fails with what it was waiting for; after the last
//! step no process may still be held and released ones are waited for; the first failure stops
//! the steps and tears down (children killed and reaped).

use super::children::{kill_locked, phase_label};
use super::fixtures;
use super::world::World;
use crate::check::session::session_state;
use crate::interrupt::signal_name;
use crate::report::model::{EntryKind, Failure, Lane};
use crate::schema::{Action, Check, LockAction, SaasAction, Step, Until};
use crate::sync::state::{ExitInfo, Phase, Proc, State, Target};
use crate::sync::wire::Reply;
use spec_kitty::lock::RefreshLock;
use spec_kitty::sync::EventQueue;
use std::time::{Duration, Instant};

/// How long a `lock = "hold"` step tries to take the refresh lock.
const LOCK_HOLD_WAIT: Duration = Duration::from_secs(5);
/// How often an `await_saas` wait looks for a cancellation.
const AWAIT_SLICE: Duration = Duration::from_millis(100);
/// Pause between attempts to take the refresh lock.
const LOCK_RETRY: Duration = Duration::from_millis(20);

pub(super) enum Wait<T> {
    Done(T),
    Fail(String),
    Pending,
}

/// Runs every step, then lets released processes finish, then tears down.
pub fn execute(w: &mut World) {
    let sc = w.sc;
    for step in &sc.steps {
        if w.cancelled().is_some() {
            w.interrupted_during = Some(format!("before {}", step.describe()));
            w.teardown();
            return;
        }
        w.note(Lane::Runner, EntryKind::Step, step.describe());
        if let Err(e) = run_step(w, step) {
            if w.cancelled().is_some() {
                w.interrupted_during = Some(step.describe());
            } else {
                w.failures.push(Failure::Step {
                    index: step.index,
                    line: step.line,
                    message: e.clone(),
                });
                let name = match step.line {
                    Some(_) => format!("step {}", step.index),
                    None => "the implicit step".to_string(),
                };
                w.note(
                    Lane::Runner,
                    EntryKind::Violation,
                    format!("{name} failed: {e}"),
                );
            }
            w.teardown();
            return;
        }
    }
    if let Err(e) = settle(w) {
        if w.cancelled().is_some() {
            w.interrupted_during = Some("the wait for released processes".into());
        } else {
            w.failures.push(Failure::Settle(e.clone()));
            w.note(Lane::Runner, EntryKind::Violation, e);
        }
    }
    w.teardown();
}

fn run_step(w: &mut World, step: &Step) -> Result<(), String> {
    match &step.action {
        Action::Run { procs, until } => run_until(w, procs, until),
        Action::Release { procs } => launch(w, procs, None),
        Action::Kill { procs, at } => kill(w, procs, at.as_ref()),
        Action::Stop { procs } => stop(w, procs),
        Action::Decoy(kind) => {
            let taken = w.decoys.len() as u16;
            let port = w
                .daemon_ports
                .1
                .checked_sub(taken)
                .filter(|p| *p >= w.daemon_ports.0)
                .ok_or("no port left in the range for another decoy")?;
            let body = super::daemons::decoy_body(*kind, port, &w.root);
            w.decoys.push(super::daemons::Decoy::start(port, body)?);
            w.note(
                Lane::Runner,
                EntryKind::Daemon,
                format!("{kind:?} decoy listening on port {port}"),
            );
            Ok(())
        }
        Action::Sleep(d) => {
            let left = w.deadline.saturating_duration_since(Instant::now());
            idle(w, (*d).min(left))?;
            if *d > left {
                return Err(budget_message(w, "a sleep step"));
            }
            Ok(())
        }
        Action::SaasFault(f) => {
            w.saas()
                .try_add_fault((**f).clone())
                .map_err(|e| format!("the fake SaaS refused the fault: {e}"))?;
            w.note(
                Lane::Saas,
                EntryKind::Saas,
                format!(
                    "fault {} installed on {}",
                    f.name.as_deref().unwrap_or("?"),
                    f.endpoint
                ),
            );
            Ok(())
        }
        Action::Saas(a) => saas_action(w, *a),
        Action::Lock(LockAction::Hold) => hold_lock(w),
        Action::Lock(LockAction::Release) => {
            w.lock_guard = None;
            w.note(
                Lane::Runner,
                EntryKind::Lock,
                "runner released the refresh lock",
            );
            Ok(())
        }
        Action::Corrupt(c) => fixtures::corrupt(&w.root, w.watcher.as_ref(), &w.shared, c),
        Action::Check(c) => check(w, c),
        Action::AwaitSaas(want) => await_saas(w, want),
    }
}

/// Waits (on the fake SaaS's own condition variable, within the budget, waking every
/// [`AWAIT_SLICE`] to see a cancellation) until each endpoint has received its count.
fn await_saas(w: &World, want: &std::collections::BTreeMap<String, u64>) -> Result<(), String> {
    for (endpoint, n) in want {
        loop {
            if let Some(signal) = w.cancelled() {
                return Err(format!(
                    "{} while waiting for the fake SaaS",
                    signal_name(signal)
                ));
            }
            let left = w.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let seen = w.saas().count(endpoint);
                return Err(budget_message(
                    w,
                    &format!("{n} request(s) to {endpoint} (received {seen})"),
                ));
            }
            if w.saas().wait_for_count(endpoint, *n, left.min(AWAIT_SLICE)) {
                break;
            }
        }
    }
    w.note(
        Lane::Saas,
        EntryKind::Saas,
        format!(
            "received {}",
            want.iter()
                .map(|(e, n)| format!("{n} request(s) to {e}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(())
}

fn saas_action(w: &mut World, a: SaasAction) -> Result<(), String> {
    match a {
        SaasAction::ClearFaults => w.saas().clear_faults(),
        SaasAction::RevokeSession | SaasAction::ExpireRefresh => {
            let id = w
                .seeded
                .session
                .as_ref()
                .map(|s| s.session_id.clone())
                .ok_or("no seeded session to act on")?;
            if a == SaasAction::RevokeSession {
                w.saas().revoke_session(&id);
            } else {
                w.saas().expire_refresh(&id);
            }
        }
    }
    let text = match a {
        SaasAction::RevokeSession => "session revoked server-side",
        SaasAction::ExpireRefresh => "refresh token expired server-side",
        SaasAction::ClearFaults => "faults cleared",
    };
    w.note(Lane::Saas, EntryKind::Saas, text);
    Ok(())
}

/// The runner takes the refresh lock itself (retrying; a cancellation stops it).
fn hold_lock(w: &mut World) -> Result<(), String> {
    let path = w.root.refresh_lock_file();
    let give_up =
        Instant::now() + LOCK_HOLD_WAIT.min(w.deadline.saturating_duration_since(Instant::now()));
    loop {
        match RefreshLock::try_acquire(&path) {
            Ok(Some(guard)) => {
                w.lock_guard = Some(guard);
                w.note(
                    Lane::Runner,
                    EntryKind::Lock,
                    "runner holds the refresh lock",
                );
                return Ok(());
            }
            Ok(None) if Instant::now() < give_up => idle(w, LOCK_RETRY)?,
            Ok(None) => {
                return Err(format!(
                "the runner could not take the refresh lock within {} ms: another holder has it",
                LOCK_HOLD_WAIT.as_millis()
            ))
            }
            Err(e) => return Err(format!("the runner could not take the refresh lock: {e}")),
        }
    }
}

fn budget_message(w: &World, what: &str) -> String {
    w.budget_exceeded.set(true);
    format!(
        "hard budget of {:.1} s exceeded while waiting for {what}",
        w.sc.budget.as_secs_f64()
    )
}

/// Waits until `cond` is done or fails, within the budget; a cancellation ends the wait.
pub(super) fn wait<T>(
    w: &World,
    what: &str,
    mut cond: impl FnMut(&State) -> Wait<T>,
) -> Result<T, String> {
    let mut st = w.shared.lock();
    loop {
        match cond(&st) {
            Wait::Done(v) => return Ok(v),
            Wait::Fail(e) => return Err(e),
            Wait::Pending => {}
        }
        if let Some(signal) = w.cancelled() {
            return Err(format!("{} while waiting for {what}", signal_name(signal)));
        }
        let now = Instant::now();
        if now >= w.deadline {
            drop(st);
            return Err(budget_message(w, what));
        }
        st = w
            .shared
            .cv
            .wait_timeout(st, w.deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Lets `d` pass (never past the deadline); a cancellation ends it early with an error.
fn idle(w: &World, d: Duration) -> Result<(), String> {
    let end = (Instant::now() + d).min(w.deadline);
    let mut st = w.shared.lock();
    loop {
        if let Some(signal) = w.cancelled() {
            return Err(format!("{} while sleeping", signal_name(signal)));
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        st = w
            .shared
            .cv
            .wait_timeout(st, end - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Starts or releases `procs` with a hold target, under the lock.
pub(super) fn launch(
    w: &mut World,
    procs: &[String],
    target: Option<(&str, u32)>,
) -> Result<(), String> {
    let shared = w.shared.clone();
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
            Phase::NotStarted => w.spawn(&mut st, name)?,
            Phase::Held { point } => {
                p.release = Some(Reply::Continue);
                p.phase = Phase::Running;
                shared.note(
                    &mut st,
                    Lane::Process(name.clone()),
                    EntryKind::Release,
                    format!("released from {point}"),
                );
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

/// The points a process reached, in order.
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

fn run_until(w: &mut World, procs: &[String], until: &Until) -> Result<(), String> {
    let target = match until {
        Until::Point { point, nth } => Some((point.as_str(), *nth)),
        Until::Exit => None,
    };
    launch(w, procs, target)?;
    let what = format!("{} to reach {until}", procs.join(", "));
    wait(w, &what, |st| {
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

pub(super) fn kill(w: &mut World, procs: &[String], at: Option<&Until>) -> Result<(), String> {
    if let Some(until @ Until::Point { point, nth }) = at {
        // Processes already held exactly there are killed where they stand.
        let need: Vec<String> = {
            let st = w.shared.lock();
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
            run_until(w, &need, until).map_err(|e| format!("kill did not fire: {e}"))?;
        }
    }
    {
        let shared = w.shared.clone();
        let mut st = shared.lock();
        for name in procs {
            kill_locked(&shared, &mut st, name, false)?;
        }
        shared.cv.notify_all();
    }
    wait(w, &format!("{} to die", procs.join(", ")), |st| {
        if procs.iter().all(|n| st.procs[n].phase == Phase::Exited) {
            Wait::Done(())
        } else {
            Wait::Pending
        }
    })
}

/// SIGTERMs each process (a clean shutdown request) and waits for all to exit.
fn stop(w: &mut World, procs: &[String]) -> Result<(), String> {
    {
        let shared = w.shared.clone();
        let mut st = shared.lock();
        for name in procs {
            super::children::terminate_locked(&shared, &mut st, name)?;
        }
        shared.cv.notify_all();
    }
    wait(w, &format!("{} to stop", procs.join(", ")), |st| {
        if procs.iter().all(|n| st.procs[n].phase == Phase::Exited) {
            Wait::Done(())
        } else {
            Wait::Pending
        }
    })
}

fn check(w: &mut World, c: &Check) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(expected) = c.lock_held {
        match spec_kitty::lock::is_held(&w.root.refresh_lock_file()) {
            Ok(held) if held == expected => {}
            Ok(held) => problems.push(format!("refresh lock held = {held}, expected {expected}")),
            Err(e) => problems.push(format!("cannot probe the refresh lock: {e}")),
        }
    }
    if let Some(state) = c.session {
        if let Err(e) = session_state(&w.root, state, w.seeded.bytes.as_deref()) {
            problems.push(e);
        }
    }
    {
        let st = w.shared.lock();
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
        let got = w.saas().count(endpoint);
        if got != *n {
            problems.push(format!(
                "SaaS saw {got} request(s) to {endpoint}, expected {n}"
            ));
        }
    }
    if let Some(n) = c.queue_depth {
        let depth = EventQueue::open_existing(&w.root.queue_db())
            .and_then(|q| q.map_or(Ok(0), |q| q.stats().map(|s| s.depth)));
        match depth {
            Ok(d) if d == n => {}
            Ok(d) => problems.push(format!("{d} event(s) in the sync queue, expected {n}")),
            Err(e) => problems.push(format!("cannot read the sync queue: {e}")),
        }
    }
    if let Some(n) = c.saas_events_delivered {
        let got = w.saas().event_stats().accepted;
        if got != n {
            problems.push(format!(
                "the fake SaaS has accepted {got} distinct event(s), expected {n}"
            ));
        }
    }
    if problems.is_empty() {
        w.note(Lane::Runner, EntryKind::Check, "check passed");
        Ok(())
    } else {
        Err(format!("check failed: {}", problems.join("; ")))
    }
}

/// After the last step: no process may still be held; free-running ones may finish.
fn settle(w: &mut World) -> Result<(), String> {
    {
        let st = w.shared.lock();
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
    wait(w, "the released processes to exit", |st| {
        if st.procs.values().any(|p| p.phase == Phase::Running) {
            Wait::Pending
        } else {
            Wait::Done(())
        }
    })
}
