//! One run end to end, whatever orders it: set up the world, let a driver order the processes
//! (the file's steps, or an explored schedule), tear down, gather what happened, check the
//! invariants, `[expect]`, `[expect_always]` and (explore files) the universal invariant, and
//! fill in the [`ScenarioReport`]. It renders nothing.

use super::collect::{self, Recorded};
use super::steps;
use super::world::{RunOptions, World};
use crate::check::evaluate;
use crate::check::loss::judge as judge_loss;
use crate::check::observed::Observed;
use crate::check::server::server_view;
use crate::interrupt::signal_name;
use crate::redact::Tokens;
use crate::report::model::{
    EntryKind, Failure, Interruption, Lane, LossVerdict, ProcessReport, ScenarioReport,
};
use crate::schema::{Action, Scenario};
use crate::sync::state::Proc;
use spec_kitty::storage::SessionStore;
use spec_kitty::sync::EventQueue;
use std::collections::BTreeMap;
use std::time::Instant;

/// Runs `sc` and reports. Never panics on a scenario failure; never leaves a process behind.
pub fn run_scenario(sc: &Scenario, opts: &RunOptions) -> ScenarioReport {
    run_with(sc, opts, steps::execute)
}

/// Runs `sc` with `drive` ordering the processes (the steps, or an explored schedule), then
/// checks and reports as [`run_scenario`] does. `drive` must leave the world torn down.
pub(super) fn run_with(
    sc: &Scenario,
    opts: &RunOptions,
    drive: impl FnOnce(&mut World),
) -> ScenarioReport {
    // Before the clock starts: a cold install of the Python original is not the scenario's time.
    let python = sc.needs_python().then(crate::python::spec_kitty);
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
    let mut budget_exceeded = false;
    if let Some(Err(reason)) = python {
        let reason = format!(
            "the Python original ({}) cannot be installed: {reason}",
            crate::python::REQUIREMENT
        );
        if crate::python::required() {
            report.failures.push(Failure::Setup(format!(
                "{reason} ({} is set: it is required here)",
                crate::python::REQUIRE_ENV
            )));
        } else {
            eprintln!("scenario {}: skipped: {reason}", sc.id);
            report.skipped = Some(reason);
        }
    } else if let Some(signal) = opts.cancel.signal() {
        report.failures.push(Failure::Interrupted(format!(
            "{} before the scenario started",
            signal_name(signal)
        )));
        report.interrupted = Some(Interruption {
            signal: signal_name(signal),
            killed: Vec::new(),
        });
    } else {
        match World::setup(sc, opts) {
            Ok(mut world) => {
                drive(&mut world);
                budget_exceeded = world.budget_exceeded.get();
                finish(world, &mut report);
            }
            Err(e) => report.failures.push(Failure::Setup(e)),
        }
    }
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if report.duration_ms > sc.budget.as_secs_f64() * 1000.0
        && !budget_exceeded
        && report.interrupted.is_none()
    {
        report.failures.push(Failure::Budget(format!(
            "the scenario took {:.0} ms, over its budget of {:.1} s",
            report.duration_ms,
            sc.budget.as_secs_f64()
        )));
    }
    report.passed = report.failures.is_empty();
    report
}

/// The names of every SaaS fault the scenario declares (in `[saas]` and in steps).
fn declared_saas_faults(sc: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = sc
        .saas
        .faults
        .iter()
        .filter_map(|f| f.name.clone())
        .collect();
    for step in &sc.steps {
        if let Action::SaasFault(f) = &step.action {
            names.extend(f.name.clone());
        }
    }
    names
}

/// Gathers what the run left, evaluates it, and fills in the report.
fn finish(mut w: World, report: &mut ScenarioReport) {
    w.teardown();
    let versions = w.watcher.as_mut().map(|w| w.finish()).unwrap_or_default();
    let saas = w.saas.take().expect("started in setup");
    let journal = saas.journal();
    let counters = saas.counters();
    let faults_fired = saas.faults_fired();
    let issued = saas.issued_tokens();
    let server_sessions = server_view(&saas.sessions());
    let seeded = w.seeded.session.as_ref();
    let latest_refresh = seeded.and_then(|s| saas.latest_refresh_token(&s.session_id));
    let saas_event_ids = saas.event_ids();
    let saas_event_stats = saas.event_stats();
    saas.shutdown();

    let tokens = Tokens::new(
        &issued,
        seeded.map(|s| (s.refresh_token.as_str(), s.access_token.as_str())),
    );
    let final_bytes = std::fs::read(w.root.session_file()).ok();
    let final_session = SessionStore::for_root(&w.root)
        .and_then(|s| s.read())
        .map_err(|e| e.to_string());
    let lock_held =
        spec_kitty::lock::is_held(&w.root.refresh_lock_file()).map_err(|e| e.to_string());
    let queue = EventQueue::open_existing(&w.root.queue_db())
        .and_then(|q| q.map_or(Ok(Vec::new()), |q| q.ids()))
        .map_err(|e| e.to_string());
    let (procs, anomalies) = {
        let st = w.shared.lock();
        (st.procs.clone(), st.anomalies.clone())
    };
    let outputs = w.children.outputs();
    let lock_inodes = w
        .lock_watcher
        .as_mut()
        .map(|l| l.finish())
        .unwrap_or_default();
    let lock_file_bytes = std::fs::read(w.root.refresh_lock_file()).ok();
    let declared = declared_saas_faults(w.sc);
    let opened = collect::open_versions(&versions);
    let observed = Observed {
        sc: w.sc,
        procs: &procs,
        outputs: &outputs,
        journal: &journal,
        counters: &counters,
        faults_fired: &faults_fired,
        declared_saas_faults: &declared,
        versions: &versions,
        opened_versions: &opened,
        final_bytes: final_bytes.as_deref(),
        final_session: &final_session,
        seeded_bytes: w.seeded.bytes.as_deref(),
        seeded,
        latest_refresh: latest_refresh.as_deref(),
        lock_held_at_end: &lock_held,
        tokens: &tokens,
        anomalies: &anomalies,
        server_sessions: &server_sessions,
        census: &w.census,
        decoys_lost: &w.decoys_lost,
        queue: &queue,
        saas_event_ids: &saas_event_ids,
        saas_event_stats,
        lock_file_bytes: lock_file_bytes.as_deref(),
        lock_inodes: &lock_inodes,
    };
    let mut failures = std::mem::take(&mut w.failures);
    if w.interrupted.is_none() {
        // An interrupted run is not judged: its expectations never had a chance.
        failures.extend(evaluate(&observed));
        if w.sc.explore.is_some() {
            report.session_loss = judge_loss(&observed);
            if let Some(loss) = &report.session_loss {
                if loss.verdict == LossVerdict::Violation {
                    failures.push(Failure::Invariant(format!(
                        "session lost without a legitimate cause: {}",
                        loss.cause
                    )));
                }
                let kind = match loss.verdict {
                    LossVerdict::Violation => EntryKind::Violation,
                    _ => EntryKind::Check,
                };
                w.note(Lane::Runner, kind, format!("session lost: {}", loss.cause));
            }
        }
    }
    report.failures = failures
        .into_iter()
        .map(|f| f.map_message(|m| tokens.redact(m)))
        .collect();
    report.interrupted = w.interrupted.take();
    report.saas_requests = counters;
    let notes = w.shared.lock().notes.clone();
    report.timeline = collect::timeline(&Recorded {
        processes: w.sc.processes.iter().map(|p| p.name.clone()).collect(),
        notes: &notes,
        procs: &procs,
        lines: &w.children.lines(),
        journal: &journal,
        versions: &versions,
        opened: &opened,
        start_wall: w.start_wall,
        tokens: &tokens,
    });
    report.processes = process_reports(w.sc, &procs, &outputs, &tokens);
    if let Some(dir) = w.dir.take() {
        if w.opts.keep {
            report.kept_root = Some(dir.keep().display().to_string());
        }
    }
}

/// One [`ProcessReport`] per declared process, in declaration order.
fn process_reports(
    sc: &Scenario,
    procs: &BTreeMap<String, Proc>,
    outputs: &BTreeMap<String, (String, String)>,
    tokens: &Tokens,
) -> Vec<ProcessReport> {
    sc.processes
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
        .collect()
}
