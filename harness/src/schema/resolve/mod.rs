//! Semantic validation, the second of the two stages: from the raw (serde) structures to the
//! resolved [`Scenario`]s, one per variant.
//!
//! Order: `[scenario]`, then processes (they define the names everything else refers to), then
//! steps, seed and SaaS, then per variant the tables it replaces, then expectations. Every error
//! is recorded with its key path; nothing stops at the first.
//!
//! Guarantee: a scenario that asserts nothing (no `[expect]` key and no `check` step) is refused,
//! so no scenario can pass vacuously.

mod events;
mod expect;
mod expect_saas;
mod expect_sync;
mod explore;
mod processes;
mod saas_seed;
mod steps;

use crate::schema::diagnostics::{kp, Ctx, KeyPath};
use crate::schema::explore::ExpectAlways;
use crate::schema::model::{Expect, Scenario, DEFAULT_BUDGET_S, MAX_BUDGET_S};
use crate::schema::raw::{RawExpect, RawExpectAlways, RawExplore, RawFile, RawVariant};
use expect::resolve_expect;
use explore::{resolve_expect_always, resolve_explore};
use processes::{resolve_processes, valid_name, Names};
use saas_seed::{check_fault_names, name_unnamed_faults, resolve_saas, resolve_seed};
use std::collections::BTreeSet;
use std::time::Duration;
use steps::{resolve_steps, Steps};

/// What every variant of a file shares.
struct Base<'a> {
    raw: &'a RawFile,
    stem: &'a str,
    title: String,
    description: String,
    budget: Duration,
    line: usize,
    processes: Vec<crate::schema::model::ProcessSpec>,
    names: Names,
    steps: Steps,
}

/// Resolves a parsed file into its scenarios (one, or one per `[[variant]]`).
pub(crate) fn resolve(ctx: &mut Ctx, raw: RawFile, stem: &str) -> Vec<Scenario> {
    let meta = &raw.scenario;
    let title = meta.name.trim().to_string();
    if title.is_empty() {
        ctx.err(
            &kp(&[], &["scenario", "name"]),
            "`scenario.name` is empty",
            Some("a short title, e.g. name = \"incident: rotate, then a stale refresh\"".into()),
        );
    }
    let description = meta.description.trim().to_string();
    if description.is_empty() {
        ctx.err(
            &kp(&[], &["scenario", "description"]),
            "`scenario.description` is empty",
            Some("the real-world event the scenario models".into()),
        );
    }
    let budget_s = match meta.budget_s {
        Some(v) => {
            if !(v > 0.0 && v <= MAX_BUDGET_S) {
                ctx.err(
                    &kp(&[], &["scenario", "budget_s"]),
                    format!("`budget_s` = {v} is out of range"),
                    Some(format!("seconds, more than 0 and at most {MAX_BUDGET_S}")),
                );
            }
            v
        }
        None => DEFAULT_BUDGET_S,
    };
    let line = ctx.line_of(&kp(&[], &["scenario"])).max(1);
    let (processes, names) = resolve_processes(ctx, &[], &raw.processes);
    let steps = resolve_steps(ctx, &[], &raw.steps, &names);
    let base = Base {
        raw: &raw,
        stem,
        title,
        description,
        budget: Duration::from_secs_f64(budget_s.clamp(0.001, MAX_BUDGET_S)),
        line,
        processes,
        names,
        steps,
    };
    if raw.variants.is_empty() {
        return vec![make(ctx, &base, None)];
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, v) in raw.variants.iter().enumerate() {
        let path = kp(&[], &["variant", &i.to_string(), "name"]);
        if !valid_name(&v.name) {
            ctx.err(
                &path,
                format!("variant name {:?} is not a valid name", v.name),
                Some("letters, digits, `_` and `-`, starting with a letter".into()),
            );
        }
        if !seen.insert(v.name.clone()) {
            ctx.err(&path, format!("duplicate variant name {:?}", v.name), None);
        }
        out.push(make(ctx, &base, Some((i, v))));
    }
    out
}

/// One scenario: the file's tables, with those a variant replaces swapped in.
fn make(ctx: &mut Ctx, base: &Base, variant: Option<(usize, &RawVariant)>) -> Scenario {
    let raw = base.raw;
    let root: KeyPath = match variant {
        Some((i, _)) => kp(&[], &["variant", &i.to_string()]),
        None => Vec::new(),
    };
    let v = variant.map(|(_, v)| v);
    let (saas_path, saas_raw) = match v.and_then(|v| v.saas.as_ref()) {
        Some(s) => (kp(&root, &["saas"]), Some(s)),
        None => (kp(&[], &["saas"]), raw.saas.as_ref()),
    };
    let (seed_path, seed_raw) = match v.and_then(|v| v.seed.as_ref()) {
        Some(s) => (kp(&root, &["seed"]), Some(s)),
        None => (kp(&[], &["seed"]), raw.seed.as_ref()),
    };
    let (expect_path, expect_raw): (KeyPath, Option<&RawExpect>) =
        match v.and_then(|v| v.expect.as_ref()) {
            Some(e) => (kp(&root, &["expect"]), Some(e)),
            None => (kp(&[], &["expect"]), raw.expect.as_ref()),
        };
    let variant_procs = v
        .and_then(|v| v.processes.as_ref())
        .map(|p| resolve_processes(ctx, &root, p));
    // Without any step in the file, a variant's processes get their own implicit step (an
    // explore file has no steps: the explorer orders the processes).
    let implicit = raw.steps.is_empty();
    if variant_procs.is_some() && v.is_some_and(|v| v.steps.is_none()) && !implicit {
        ctx.err(
            &kp(&root, &["process"]),
            "a variant that replaces the processes must declare its own steps",
            Some("[[variant.step]] tables after the [[variant.process]] tables".into()),
        );
    }
    let (processes, names) = match &variant_procs {
        Some((p, n)) => (p, n),
        None => (&base.processes, &base.names),
    };
    let variant_steps = match v.and_then(|v| v.steps.as_ref()) {
        Some(s) => Some(resolve_steps(ctx, &root, s, names)),
        None if variant_procs.is_some() && implicit => Some(resolve_steps(ctx, &root, &[], names)),
        None => None,
    };
    let steps = variant_steps.as_ref().unwrap_or(&base.steps);

    let mut saas = saas_raw
        .map(|s| resolve_saas(ctx, &saas_path, s))
        .unwrap_or_default();
    check_fault_names(ctx, &saas, &steps.faults);
    name_unnamed_faults(&mut saas.faults);
    let seed = seed_raw
        .map(|s| resolve_seed(ctx, &seed_path, s))
        .unwrap_or_default();
    if let (Some(path), None) = (&steps.uses_seed_session, &seed.session) {
        ctx.err(
            path,
            "this SaaS action needs a seeded session",
            Some("a [seed.session] table".into()),
        );
    }
    let expect = match expect_raw {
        Some(e) => resolve_expect(ctx, &expect_path, e, names, &seed),
        None => Expect::default(),
    };
    let (always_path, always_raw): (KeyPath, Option<&RawExpectAlways>) =
        match v.and_then(|v| v.expect_always.as_ref()) {
            Some(e) => (kp(&root, &["expect_always"]), Some(e)),
            None => (kp(&[], &["expect_always"]), raw.expect_always.as_ref()),
        };
    let expect_always = match always_raw {
        Some(e) => resolve_expect_always(ctx, &always_path, e, names, &seed),
        None => ExpectAlways::default(),
    };
    let (explore_path, explore_raw): (KeyPath, Option<&RawExplore>) =
        match v.and_then(|v| v.explore.as_ref()) {
            Some(e) => (kp(&root, &["explore"]), Some(e)),
            None => (kp(&[], &["explore"]), raw.explore.as_ref()),
        };
    let explore = explore_raw.map(|e| resolve_explore(ctx, &explore_path, e, processes, names));
    // An explore file asserts the universal invariant (no session lost without a cause).
    if expect.is_empty() && !steps.has_check() && expect_always.is_empty() && explore.is_none() {
        let at = match expect_raw {
            Some(_) => expect_path,
            None => kp(&[], &["scenario"]),
        };
        ctx.err(
            &at,
            "the scenario asserts nothing: no [expect] key and no `check` step, so it would pass whatever happened",
            Some("an [expect] table, e.g. exit = { A = 0 } and session = \"present\", or a step check = { session = \"present\" }".into()),
        );
    }

    let vname = v.map(|v| v.name.clone());
    let mut description = base.description.clone();
    if let Some(vd) = v.and_then(|v| v.description.as_ref()) {
        description = format!(
            "{description}\n\nVariant {}: {}",
            vname.as_deref().unwrap_or(""),
            vd.trim()
        );
    }
    Scenario {
        id: match &vname {
            Some(v) => format!("{}/{v}", base.stem),
            None => base.stem.to_string(),
        },
        file: ctx.file.to_path_buf(),
        title: match &vname {
            Some(v) => format!("{} [{v}]", base.title),
            None => base.title.clone(),
        },
        description,
        variant: vname,
        budget: base.budget,
        saas,
        seed,
        processes: processes.clone(),
        steps: steps.steps.clone(),
        expect,
        expect_always,
        explore,
        line: base.line,
    }
}
