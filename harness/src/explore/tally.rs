//! What an exploration found, as data ([`ExploreReport`]), built up one schedule at a time
//! ([`Tally::add`]): how many schedules, which refresh outcome each process ended with and how
//! often, each distinct combination, the sessions lost and how each loss was judged, the
//! schedules that failed and those that hit a documented limit.
//!
//! Guarantee: counts cover every schedule; the lists of failing and limit schedules keep the
//! first [`LIST_CAP`] of each (their full reports too, for replays and pages), and say how many
//! there were in all.

use super::replay::{describe, steps, ReplayStep};
use crate::report::model::{LossVerdict, ProcessReport, ScenarioReport, SessionLoss};
use crate::run::schedule::Decision;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How many failing (and limit) schedules are kept in full.
pub const LIST_CAP: usize = 20;

/// One schedule worth showing: a failure or a documented limit.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleSummary {
    /// 1-based number of the schedule in this exploration.
    pub number: usize,
    /// The schedule as steps, in one line (`B→session.loaded, L→exit, ...`).
    pub schedule: String,
    /// The failures (empty for a limit).
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<SessionLoss>,
    /// Where its replay file was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    #[serde(skip)]
    pub steps: Vec<ReplayStep>,
    #[serde(skip)]
    pub report: ScenarioReport,
}

/// The time and place of the first failure.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FirstFailure {
    pub schedule: usize,
    pub after_s: f64,
}

/// An outcome combination and how often it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Combination {
    /// `A=refreshed B=adopted_newer C=killed@refresh.network_after`.
    pub outcomes: String,
    pub count: usize,
}

/// The result of exploring one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExploreReport {
    pub id: String,
    pub title: String,
    pub file: String,
    /// `dfs`, `random`, or `dfs, then random` (the space was larger than the bound).
    pub mode: String,
    pub kills: bool,
    pub seed: u64,
    pub jobs: usize,
    pub points: Vec<String>,
    pub kill_points: Vec<String>,
    pub schedules: usize,
    /// Schedules that differ in at least one decision.
    pub distinct: usize,
    /// The depth-first search covered every schedule: `schedules` is the size of the space.
    pub exhaustive: bool,
    pub failed: usize,
    pub elapsed_s: f64,
    pub schedules_per_s: f64,
    /// Why the exploration stopped before the space was covered, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Schedules whose prescribed prefix could not be followed (the system was not deterministic).
    pub diverged: usize,
    /// process → outcome (its refresh outcomes joined by `+`, `none`, or `killed@point`) → count.
    pub outcomes: BTreeMap<String, BTreeMap<String, usize>>,
    pub combinations: Vec<Combination>,
    /// `verdict:kind` → schedules (`limit:kill_after_rotation`, `violation:no_cause`, ...).
    pub losses: BTreeMap<String, usize>,
    pub limits: Vec<ScheduleSummary>,
    /// Schedules with a documented-limit loss, in all (`limits` keeps the first few).
    pub limit_schedules: usize,
    pub failures: Vec<ScheduleSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<FirstFailure>,
}

/// Builds an [`ExploreReport`] one schedule at a time.
#[derive(Debug, Default)]
pub struct Tally {
    pub report: ExploreReport,
    seen: BTreeSet<String>,
    combinations: BTreeMap<String, usize>,
}

impl Tally {
    /// Counts schedule `number` (its decisions and report), `after_s` into the exploration.
    pub fn add(
        &mut self,
        number: usize,
        decisions: &[Decision],
        run: ScenarioReport,
        after_s: f64,
    ) {
        let r = &mut self.report;
        r.schedules += 1;
        let steps = steps(decisions);
        let schedule = describe(&steps);
        if self.seen.insert(schedule.clone()) {
            r.distinct += 1;
        }
        let mut combo = Vec::new();
        for p in &run.processes {
            let end = match (&p.killed_at, p.outcomes.is_empty()) {
                (Some(at), _) => format!("killed@{at}"),
                (None, true) if p.pid.is_none() => "never started".to_string(),
                (None, true) if p.command.starts_with("legacy-client") => legacy_end(p),
                (None, true) => "none".to_string(),
                (None, false) => p.outcomes.join("+"),
            };
            *r.outcomes
                .entry(p.name.clone())
                .or_default()
                .entry(end.clone())
                .or_default() += 1;
            combo.push(format!("{}={end}", p.name));
        }
        *self.combinations.entry(combo.join(" ")).or_default() += 1;
        if let Some(loss) = &run.session_loss {
            let verdict = match loss.verdict {
                LossVerdict::Legitimate => "legitimate",
                LossVerdict::Limit => "limit",
                LossVerdict::Violation => "violation",
            };
            *r.losses
                .entry(format!("{verdict}:{}", loss.kind))
                .or_default() += 1;
        }
        let limit = run
            .session_loss
            .as_ref()
            .is_some_and(|l| l.verdict == LossVerdict::Limit);
        let summary = |run: ScenarioReport| ScheduleSummary {
            number,
            schedule: schedule.clone(),
            problems: run.failures.iter().map(ToString::to_string).collect(),
            loss: run.session_loss.clone(),
            replay: None,
            steps: steps.clone(),
            report: run,
        };
        if !run.passed {
            r.failed += 1;
            if r.first_failure.is_none() {
                r.first_failure = Some(FirstFailure {
                    schedule: number,
                    after_s,
                });
            }
            if r.failures.len() < LIST_CAP {
                r.failures.push(summary(run));
            }
        } else if limit {
            r.limit_schedules += 1;
            if r.limits.len() < LIST_CAP {
                r.limits.push(summary(run));
            }
        }
    }

    /// The report, with the combinations sorted by frequency.
    pub fn finish(mut self) -> ExploreReport {
        let mut combos: Vec<Combination> = self
            .combinations
            .into_iter()
            .map(|(outcomes, count)| Combination { outcomes, count })
            .collect();
        combos.sort_by(|a, b| b.count.cmp(&a.count).then(a.outcomes.cmp(&b.outcomes)));
        self.report.combinations = combos;
        self.report.failures.sort_by_key(|s| s.number);
        self.report.limits.sort_by_key(|s| s.number);
        self.report
    }
}

/// What the legacy client did (it reports no refresh outcome), from the one line it prints.
fn legacy_end(p: &ProcessReport) -> String {
    let said = |s: &str| p.stderr.contains(s);
    let what = [
        ("session deleted", "deleted"),
        ("legacy-client: refreshed", "refreshed"),
        ("nothing to do", "nothing to do"),
        ("cannot write the session", "write failed"),
        ("legacy-client: no session", "no session"),
        ("answered 409", "409"),
        ("refresh failed", "transient"),
    ]
    .iter()
    .find(|(line, _)| said(line))
    .map(|(_, what)| *what);
    let Some(what) = what else {
        return format!("legacy:{}", p.end);
    };
    format!("legacy:{what}")
}
