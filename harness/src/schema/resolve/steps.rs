//! `[[step]]` (or a variant's `[[variant.step]]`) → the ordering the runner executes.
//!
//! Guarantees: each step has exactly one action; every name and point it uses exists and can be
//! reached by the process; a lock the runner takes is released by a later step; every declared
//! process is started by some step; without steps, one implicit step runs every process to exit
//! (and says it is implicit: it has no line in the file).

use super::processes::Names;
use super::saas_seed::{config_key_path, resolve_corrupt};
use crate::schema::diagnostics::{kp, Ctx, KeyPath};
use crate::schema::model::{Action, Check, Step, Until};
use crate::schema::points::{is_known_point, known_points, EXIT};
use crate::schema::raw::RawStep;
use crate::schema::values::{LockAction, OneOrMany, SaasAction};
use std::collections::BTreeSet;
use std::time::Duration;

/// The resolved steps of a file or a variant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Steps {
    pub(crate) steps: Vec<Step>,
    /// `saas_fault` steps: where each is declared and its name.
    pub(crate) faults: Vec<(KeyPath, String)>,
    /// A step that acts on the seeded session (it then needs one).
    pub(crate) uses_seed_session: Option<KeyPath>,
}

impl Steps {
    /// Whether some step is a `check`.
    pub(crate) fn has_check(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.action, Action::Check(_)))
    }
}

/// Resolves the steps declared under `base` (`[]` for the file, `["variant", "i"]`).
pub(crate) fn resolve_steps(
    ctx: &mut Ctx,
    base: &[String],
    raw: &[RawStep],
    names: &Names,
) -> Steps {
    let mut out = Steps::default();
    let mut lock_held = false;
    let mut started: BTreeSet<String> = BTreeSet::new();
    for (i, s) in raw.iter().enumerate() {
        let path = kp(base, &["step", &i.to_string()]);
        let mut cx = StepCx {
            names,
            lock_held: &mut lock_held,
            started: &mut started,
            faults: &mut out.faults,
        };
        if let Some(step) = resolve_step(ctx, &path, i, s, &mut cx) {
            if matches!(
                step.action,
                Action::Saas(SaasAction::RevokeSession | SaasAction::ExpireRefresh)
            ) {
                out.uses_seed_session = Some(kp(&path, &["saas"]));
            }
            out.steps.push(step);
        }
    }
    if lock_held {
        let last = raw.len().saturating_sub(1).to_string();
        ctx.err(
            &kp(base, &["step", &last]),
            "the runner still holds the refresh lock after the last step",
            Some("a later step `lock = \"release\"`".into()),
        );
    }
    if raw.is_empty() {
        if !names.all.is_empty() {
            out.steps.push(Step {
                index: 1,
                line: None,
                note: Some("implicit: no [[step]] declared, every process runs to exit".into()),
                action: Action::Run {
                    procs: names.all.clone(),
                    until: Until::Exit,
                },
            });
        }
        return out;
    }
    for (group, members) in &names.groups {
        for m in members.iter().filter(|m| !started.contains(*m)) {
            let i = names.index.get(group).copied().unwrap_or(0).to_string();
            ctx.err(
                &kp(base, &["process", &i, "name"]),
                format!("process `{m}` is declared but no step runs it"),
                Some(format!("a step `run = \"{group}\"`, `release = \"{group}\"` or `kill = \"{group}\"`, or remove the process")),
            );
        }
    }
    out
}

/// What resolving one step reads and updates.
struct StepCx<'a> {
    names: &'a Names,
    lock_held: &'a mut bool,
    started: &'a mut BTreeSet<String>,
    faults: &'a mut Vec<(KeyPath, String)>,
}

/// Expands process and group names (`run`, `release`, `kill`, `check.running`, ...).
pub(crate) fn expand_names(
    ctx: &mut Ctx,
    names: &Names,
    path: &[String],
    list: &OneOrMany,
    what: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if list.0.is_empty() {
        ctx.err(
            path,
            format!("`{what}` names no process"),
            Some(format!("{what} = \"A\" or {what} = [\"A\", \"B\"]")),
        );
    }
    for (i, n) in list.0.iter().enumerate() {
        match names.expand(n) {
            Some(members) => {
                for m in members {
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
            }
            None => {
                let at = if list.0.len() > 1 {
                    kp(path, &[&i.to_string()])
                } else {
                    path.to_vec()
                };
                ctx.err(
                    &at,
                    format!("`{what}` names unknown process {n:?}"),
                    Some(format!(
                        "one of the declared processes: {}",
                        names.listing()
                    )),
                );
            }
        }
    }
    out
}

fn point_until(
    ctx: &mut Ctx,
    path: &[String],
    point: &str,
    nth: Option<u32>,
    nth_path: &[String],
    allow_exit: bool,
) -> Until {
    if nth == Some(0) {
        ctx.err(
            nth_path,
            "`nth` is 1-based",
            Some("nth = 1 for the first hit".into()),
        );
    }
    if point == EXIT {
        if !allow_exit {
            ctx.err(
                path,
                "`at = \"exit\"`: a process cannot be killed at its exit",
                Some(format!("a sync point: {}", known_points().join(", "))),
            );
        }
        if nth.is_some() {
            ctx.err(nth_path, "`nth` does not apply to `exit`", None);
        }
        return Until::Exit;
    }
    if !is_known_point(point) {
        let expected = if allow_exit {
            format!("\"exit\" or a sync point: {}", known_points().join(", "))
        } else {
            format!("a sync point: {}", known_points().join(", "))
        };
        ctx.err(
            path,
            format!("unknown sync point {point:?}"),
            Some(expected),
        );
    }
    Until::Point {
        point: point.to_string(),
        nth: nth.unwrap_or(1).max(1),
    }
}

/// The step's one action key, or an error naming none or several.
fn action_key(ctx: &mut Ctx, base: &[String], index: usize, r: &RawStep) -> Option<&'static str> {
    let keys: Vec<&'static str> = [
        (r.run.is_some(), "run"),
        (r.release.is_some(), "release"),
        (r.kill.is_some(), "kill"),
        (r.sleep_ms.is_some(), "sleep_ms"),
        (r.saas_fault.is_some(), "saas_fault"),
        (r.saas.is_some(), "saas"),
        (r.lock.is_some(), "lock"),
        (r.corrupt.is_some(), "corrupt"),
        (r.check.is_some(), "check"),
        (r.stop.is_some(), "stop"),
        (r.decoy.is_some(), "decoy"),
        (r.await_saas.is_some(), "await_saas"),
    ]
    .into_iter()
    .filter_map(|(present, key)| present.then_some(key))
    .collect();
    const FORMS: &str = "exactly one of `run` (+ `until`, `nth`), `release`, `kill` (+ `at`, `nth`), `stop`, `sleep_ms`, `saas_fault`, `saas`, `lock`, `corrupt`, `check`, `decoy`, `await_saas`";
    match keys.as_slice() {
        [one] => Some(one),
        [] => {
            ctx.err(
                base,
                format!("step {index} does nothing"),
                Some(FORMS.into()),
            );
            None
        }
        [_, second, ..] => {
            ctx.err(
                &kp(base, &[second]),
                format!("step {index} has several actions: {}", keys.join(", ")),
                Some(FORMS.into()),
            );
            None
        }
    }
}

fn resolve_step(
    ctx: &mut Ctx,
    base: &[String],
    i: usize,
    r: &RawStep,
    cx: &mut StepCx,
) -> Option<Step> {
    let index = i + 1;
    let at = |k: &str| kp(base, &[k]);
    let line = ctx.line_of(base);
    let key = action_key(ctx, base, index, r)?;
    if r.until.is_some() && r.run.is_none() {
        ctx.err(
            &at("until"),
            "`until` only goes with `run`",
            Some(
                "run = \"A\" with until = \"session.loaded\" (or kill = \"A\" with at = ...)"
                    .into(),
            ),
        );
    }
    if r.at.is_some() && r.kill.is_none() {
        ctx.err(
            &at("at"),
            "`at` only goes with `kill`",
            Some("kill = \"A\" with at = \"refresh.network_before\"".into()),
        );
    }
    if r.nth.is_some() && r.until.is_none() && r.at.is_none() {
        ctx.err(&at("nth"), "`nth` needs `until` or `at`", None);
    }
    let names = cx.names;
    let reachable = |ctx: &mut Ctx, path: &[String], procs: &[String], until: &Until| {
        if let Until::Point { point, .. } = until {
            for p in procs {
                names.check_reachable(ctx, path, p, point);
            }
        }
    };
    let action = match key {
        "run" => {
            let procs = expand_names(ctx, names, &at("run"), r.run.as_ref()?, "run");
            cx.started.extend(procs.iter().cloned());
            let until = match &r.until {
                Some(u) => point_until(ctx, &at("until"), u, r.nth, &at("nth"), true),
                None => Until::Exit,
            };
            reachable(ctx, &at("until"), &procs, &until);
            Action::Run { procs, until }
        }
        "release" => {
            let procs = expand_names(ctx, names, &at("release"), r.release.as_ref()?, "release");
            cx.started.extend(procs.iter().cloned());
            Action::Release { procs }
        }
        "kill" => {
            let procs = expand_names(ctx, names, &at("kill"), r.kill.as_ref()?, "kill");
            cx.started.extend(procs.iter().cloned());
            let point =
                r.at.as_ref()
                    .map(|a| point_until(ctx, &at("at"), a, r.nth, &at("nth"), false));
            if let Some(until) = &point {
                reachable(ctx, &at("at"), &procs, until);
            }
            Action::Kill { procs, at: point }
        }
        "stop" => {
            let procs = expand_names(ctx, names, &at("stop"), r.stop.as_ref()?, "stop");
            cx.started.extend(procs.iter().cloned());
            Action::Stop { procs }
        }
        "decoy" => Action::Decoy(r.decoy?),
        "await_saas" => {
            let want = r.await_saas.clone()?;
            if want.is_empty() {
                ctx.err(
                    &at("await_saas"),
                    "`await_saas` names no endpoint",
                    Some("await_saas = { \"/oauth/token\" = 1 }".into()),
                );
            }
            for (endpoint, n) in &want {
                check_endpoint(ctx, &kp(&at("await_saas"), &[endpoint]), endpoint);
                if *n == 0 {
                    ctx.err(
                        &kp(&at("await_saas"), &[endpoint]),
                        "waiting for 0 requests waits for nothing",
                        Some("a count of at least 1".into()),
                    );
                }
            }
            Action::AwaitSaas(want)
        }
        "sleep_ms" => {
            let ms = r.sleep_ms?;
            if ms > 60_000 {
                ctx.err(
                    &at("sleep_ms"),
                    format!("sleep_ms = {ms} is longer than a minute"),
                    Some("order with sync points; sleep only for what has no point".into()),
                );
            }
            Action::Sleep(Duration::from_millis(ms))
        }
        "saas_fault" => {
            let mut fault = r.saas_fault.clone()?;
            if let Err(e) = fault.validate("saas_fault") {
                let path = match &e {
                    fake_saas::ConfigError::Invalid { key, .. } => {
                        let mut p = base.to_vec();
                        p.extend(config_key_path(key));
                        p
                    }
                    _ => at("saas_fault"),
                };
                ctx.err(
                    &path,
                    e.to_string(),
                    Some("a fault table: endpoint, action, status, body, delay_ms, phase, first_n, start_at, probability".into()),
                );
            }
            let name = fault
                .name
                .clone()
                .unwrap_or_else(|| format!("step-{index}"));
            fault.name = Some(name.clone());
            cx.faults.push((at("saas_fault"), name));
            Action::SaasFault(Box::new(fault))
        }
        "saas" => Action::Saas(r.saas?),
        "lock" => {
            let l = r.lock?;
            match (l, *cx.lock_held) {
                (LockAction::Hold, true) => ctx.err(
                    &at("lock"),
                    "the runner already holds the refresh lock",
                    Some("lock = \"release\" first".into()),
                ),
                (LockAction::Release, false) => ctx.err(
                    &at("lock"),
                    "the runner does not hold the refresh lock",
                    Some("an earlier step lock = \"hold\"".into()),
                ),
                _ => {}
            }
            *cx.lock_held = l == LockAction::Hold;
            Action::Lock(l)
        }
        "corrupt" => Action::Corrupt(resolve_corrupt(ctx, &at("corrupt"), r.corrupt.as_ref()?)?),
        _ => Action::Check(resolve_check(ctx, names, &at("check"), r)?),
    };
    Some(Step {
        index,
        line: Some(line),
        note: r.note.clone(),
        action,
    })
}

fn resolve_check(ctx: &mut Ctx, names: &Names, cpath: &[String], r: &RawStep) -> Option<Check> {
    let cr = r.check.as_ref()?;
    let mut check = Check {
        lock_held: cr.lock_held,
        session: cr.session,
        queue_depth: cr.queue_depth,
        saas_events_delivered: cr.saas_events_delivered,
        ..Check::default()
    };
    if let Some(run) = &cr.running {
        check.running = expand_names(ctx, names, &kp(cpath, &["running"]), run, "running");
    }
    if let Some(ex) = &cr.exited {
        check.exited = expand_names(ctx, names, &kp(cpath, &["exited"]), ex, "exited");
    }
    for (endpoint, n) in cr.saas_requests.iter().flatten() {
        check_endpoint(ctx, &kp(cpath, &["saas_requests", endpoint]), endpoint);
        check.saas_requests.insert(endpoint.clone(), *n);
    }
    if check.lock_held.is_none()
        && check.session.is_none()
        && check.running.is_empty()
        && check.exited.is_empty()
        && check.saas_requests.is_empty()
        && check.queue_depth.is_none()
        && check.saas_events_delivered.is_none()
    {
        ctx.err(
            cpath,
            "`check` asserts nothing",
            Some("check = { lock_held = false, session = \"present\", running = [\"A\"], exited = [\"B\"], saas_requests = { \"/oauth/token\" = 1 } }".into()),
        );
    }
    Some(check)
}

/// An endpoint name the fake SaaS serves.
pub(crate) fn check_endpoint(ctx: &mut Ctx, path: &[String], endpoint: &str) {
    if !fake_saas::ENDPOINTS.contains(&endpoint) {
        ctx.err(
            path,
            format!("unknown SaaS endpoint {endpoint:?}"),
            Some(format!("one of {}", fake_saas::ENDPOINTS.join(", "))),
        );
    }
}
