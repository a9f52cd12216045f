//! Semantic validation: from the raw (serde) structures to the resolved [`Scenario`]s.

use super::diagnostics::{kp, Ctx, KeyPath};
use super::raw::{RawCorrupt, RawExpect, RawFile, RawProcess, RawSeed, RawStep, RawVariant};
use super::{
    is_known_point, known_points, Action, Check, CorruptOp, Corruption, Expect, FileKind,
    LockAction, OneOrMany, OutcomeExpect, PointAction, PointFault, PrintedToken, ProcessSpec,
    Program, SaasAction, Scenario, Seed, SeedLock, SeedSession, SessionState, Step, Timing,
    TokenRef, Until, DEFAULT_BUDGET_S, EXIT, MAX_BUDGET_S, MAX_REPLICAS, NO_OUTCOME, START,
};
use fake_saas::{FaultSpec, SaasConfig};
use spec_kitty::refresh::Outcome;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Environment variables a scenario may not set through `env` (the runner owns them).
const RESERVED_ENV: &[(&str, &str)] = &[
    (
        "SPEC_KITTY_HOME",
        "the runner sets it to the scenario's temp runtime root",
    ),
    (
        "SPEC_KITTY_SAAS_URL",
        "the runner points it at the embedded fake SaaS",
    ),
    (
        crate::child_env::SOCKET,
        "the runner sets it to its sync-point socket",
    ),
    (
        crate::child_env::PROCESS,
        "the runner sets it to the process name",
    ),
    (
        crate::child_env::LOCK_WAIT_MS,
        "use `lock_wait_ms = N` on the process",
    ),
    (
        crate::child_env::REFRESH_CEILING_MS,
        "use `refresh_ceiling_ms = N` on the process",
    ),
    (
        crate::child_env::CLOCK_OFFSET_S,
        "use `clock_offset_s = N` on the process",
    ),
    (
        "HOME",
        "the runner sets it to the scenario's temp directory",
    ),
];

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Names of declared processes and groups.
struct Names {
    /// group → replica names (a process without replicas is its own single-member group).
    groups: BTreeMap<String, Vec<String>>,
    /// every concrete process name, in declaration order.
    all: Vec<String>,
    /// processes whose stdout is JSON.
    json: BTreeSet<String>,
}

impl Names {
    fn expand(&self, name: &str) -> Option<Vec<String>> {
        if let Some(members) = self.groups.get(name) {
            return Some(members.clone());
        }
        self.all
            .iter()
            .any(|n| n == name)
            .then(|| vec![name.to_string()])
    }

    fn listing(&self) -> String {
        let mut names: Vec<String> = self.groups.keys().cloned().collect();
        for n in &self.all {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names.join(", ")
    }
}

pub(super) fn resolve(ctx: &mut Ctx, raw: RawFile, stem: &str) -> Vec<Scenario> {
    let meta = &raw.scenario;
    let root: KeyPath = Vec::new();
    let title = meta.name.trim().to_string();
    if title.is_empty() {
        ctx.err(
            &kp(&root, &["scenario", "name"]),
            "`scenario.name` is empty",
            Some("a short title, e.g. name = \"incident: rotate, then a stale refresh\"".into()),
        );
    }
    let description = meta.description.trim().to_string();
    if description.is_empty() {
        ctx.err(
            &kp(&root, &["scenario", "description"]),
            "`scenario.description` is empty",
            Some("the real-world event the scenario models".into()),
        );
    }
    let budget_s = match meta.budget_s {
        Some(v) => {
            if !(v > 0.0 && v <= MAX_BUDGET_S) {
                ctx.err(
                    &kp(&root, &["scenario", "budget_s"]),
                    format!("`budget_s` = {v} is out of range"),
                    Some(format!("seconds, more than 0 and at most {MAX_BUDGET_S}")),
                );
            }
            v
        }
        None => DEFAULT_BUDGET_S,
    };
    let line = ctx.line_of(&kp(&root, &["scenario"])).max(1);

    // Processes.
    let mut processes = Vec::new();
    let mut names = Names {
        groups: BTreeMap::new(),
        all: Vec::new(),
        json: BTreeSet::new(),
    };
    let mut process_index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in raw.processes.iter().enumerate() {
        resolve_process(ctx, i, p, &mut processes, &mut names, &mut process_index);
    }

    // Steps.
    let mut steps = Vec::new();
    let mut lock_held = false;
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut step_faults: Vec<(KeyPath, String)> = Vec::new();
    let mut uses_seed_session = None;
    for (i, s) in raw.steps.iter().enumerate() {
        if let Some(step) = resolve_step(
            ctx,
            i,
            s,
            &names,
            &mut lock_held,
            &mut started,
            &mut step_faults,
        ) {
            if matches!(
                step.action,
                Action::Saas(SaasAction::RevokeSession | SaasAction::ExpireRefresh)
            ) {
                uses_seed_session = Some(kp(&root, &["step", &i.to_string(), "saas"]));
            }
            steps.push(step);
        }
    }
    if lock_held {
        let last = raw.steps.len().saturating_sub(1).to_string();
        ctx.err(
            &kp(&root, &["step", &last]),
            "the runner still holds the refresh lock after the last step",
            Some("a later step `lock = \"release\"`".into()),
        );
    }
    if raw.steps.is_empty() {
        if !names.all.is_empty() {
            // Implicit ordering: everything runs concurrently to exit.
            steps.push(Step {
                index: 1,
                line,
                note: Some("implicit: no [[step]] declared, every process runs to exit".into()),
                action: Action::Run {
                    procs: names.all.clone(),
                    until: Until::Exit,
                },
            });
        }
    } else {
        for (group, members) in &names.groups {
            for m in members {
                if !started.contains(m) {
                    let i = process_index.get(group).copied().unwrap_or(0).to_string();
                    ctx.err(
                        &kp(&root, &["process", &i, "name"]),
                        format!("process `{m}` is declared but no step runs it"),
                        Some(format!("a step `run = \"{group}\"`, `release = \"{group}\"` or `kill = \"{group}\"`, or remove the process")),
                    );
                }
            }
        }
    }

    let base_seed = raw
        .seed
        .as_ref()
        .map(|s| resolve_seed(ctx, &kp(&root, &["seed"]), s));
    let base_saas = raw
        .saas
        .as_ref()
        .map(|s| resolve_saas(ctx, &kp(&root, &["saas"]), s, &step_faults));

    let make = |ctx: &mut Ctx, variant: Option<(usize, &RawVariant)>| -> Scenario {
        let (vname, vdesc, saas, seed, expect) = match variant {
            Some((i, v)) => {
                let base = kp(&root, &["variant", &i.to_string()]);
                let saas = match &v.saas {
                    Some(s) => Some(resolve_saas(ctx, &kp(&base, &["saas"]), s, &step_faults)),
                    None => base_saas.clone(),
                };
                let seed = match &v.seed {
                    Some(s) => Some(resolve_seed(ctx, &kp(&base, &["seed"]), s)),
                    None => base_seed.clone(),
                };
                let (expect_path, expect_raw) = match &v.expect {
                    Some(e) => (kp(&base, &["expect"]), Some(e)),
                    None => (kp(&root, &["expect"]), raw.expect.as_ref()),
                };
                (
                    Some(v.name.clone()),
                    v.description.clone(),
                    saas,
                    seed,
                    (expect_path, expect_raw),
                )
            }
            None => (
                None,
                None,
                base_saas.clone(),
                base_seed.clone(),
                (kp(&root, &["expect"]), raw.expect.as_ref()),
            ),
        };
        let seed = seed.unwrap_or_default();
        if let (Some(path), None) = (&uses_seed_session, &seed.session) {
            ctx.err(
                path,
                "this SaaS action needs a seeded session",
                Some("a [seed.session] table".into()),
            );
        }
        let expect = match expect.1 {
            Some(e) => resolve_expect(ctx, &expect.0, e, &names, &seed),
            None => Expect::default(),
        };
        let mut description = description.clone();
        if let Some(vd) = vdesc {
            description = format!(
                "{description}\n\nVariant {}: {}",
                vname.as_deref().unwrap_or(""),
                vd.trim()
            );
        }
        let mut saas = saas.unwrap_or_default();
        name_unnamed_faults(&mut saas.faults);
        Scenario {
            id: match &vname {
                Some(v) => format!("{stem}/{v}"),
                None => stem.to_string(),
            },
            file: ctx.file.to_path_buf(),
            title: match &vname {
                Some(v) => format!("{title} [{v}]"),
                None => title.clone(),
            },
            description,
            variant: vname,
            budget: Duration::from_secs_f64(budget_s.clamp(0.001, MAX_BUDGET_S)),
            saas,
            seed,
            processes: processes.clone(),
            steps: steps.clone(),
            expect,
            line,
        }
    };

    if raw.variants.is_empty() {
        vec![make(ctx, None)]
    } else {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, v) in raw.variants.iter().enumerate() {
            let path = kp(&root, &["variant", &i.to_string(), "name"]);
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
            out.push(make(ctx, Some((i, v))));
        }
        out
    }
}

/// Gives every unnamed fault the name fake-saas would give it, so `faults_fired` can be checked.
fn name_unnamed_faults(faults: &mut [FaultSpec]) {
    for (i, f) in faults.iter_mut().enumerate() {
        if f.name.is_none() {
            f.name = Some(format!("fault-{i}"));
        }
    }
}

/// `fault[1].probability` → `["fault", "1", "probability"]`.
fn config_key_path(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        match part.split_once('[') {
            Some((name, idx)) => {
                out.push(name.to_string());
                out.push(idx.trim_end_matches(']').to_string());
            }
            None => out.push(part.to_string()),
        }
    }
    out
}

fn resolve_saas(
    ctx: &mut Ctx,
    path: &[String],
    config: &SaasConfig,
    step_faults: &[(KeyPath, String)],
) -> SaasConfig {
    if let Err(e) = config.validate() {
        let at = match &e {
            fake_saas::ConfigError::Invalid { key, .. } => {
                let mut p = path.to_vec();
                p.extend(config_key_path(key));
                p
            }
            _ => path.to_vec(),
        };
        ctx.err(
            &at,
            format!("[saas]: {e}"),
            Some("see the [saas] section in harness/SCENARIO_FORMAT.md".into()),
        );
    }
    if config.port.is_some() {
        ctx.err(
            &kp(path, &["port"]),
            "[saas] `port` cannot be set in a scenario",
            Some(
                "leave it unset: each scenario's fake SaaS listens on a port the OS chooses".into(),
            ),
        );
    }
    let mut names: BTreeSet<String> = config
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| f.name.clone().unwrap_or_else(|| format!("fault-{i}")))
        .collect();
    for (at, name) in step_faults {
        if !names.insert(name.clone()) {
            ctx.err(
                at,
                format!("fault name {name:?} is used twice"),
                Some("unique fault names: each must be shown to have fired".into()),
            );
        }
    }
    config.clone()
}

fn resolve_corrupt(ctx: &mut Ctx, path: &[String], r: &RawCorrupt) -> Option<Corruption> {
    let mut ops = Vec::new();
    if let Some(n) = r.truncate {
        ops.push(CorruptOp::Truncate(n));
    }
    if let Some(g) = &r.garbage {
        ops.push(CorruptOp::Garbage(g.clone()));
    }
    if let Some(a) = &r.append {
        ops.push(CorruptOp::Append(a.clone()));
    }
    match r.delete {
        Some(true) => ops.push(CorruptOp::Delete),
        Some(false) => ctx.err(
            &kp(path, &["delete"]),
            "`delete = false` does nothing",
            Some("`delete = true`, or remove the key".into()),
        ),
        None => {}
    }
    if let Some(m) = r.mode {
        if m > 0o7777 {
            ctx.err(
                &kp(path, &["mode"]),
                format!("mode {m} is not a file mode"),
                Some("an octal mode such as 0o644".into()),
            );
        }
        ops.push(CorruptOp::Mode(m));
    }
    if ops.len() != 1 {
        ctx.err(
            path,
            format!("a corruption needs exactly one change, found {}", ops.len()),
            Some("one of `truncate = N`, `garbage = \"text\"`, `append = \"text\"`, `delete = true`, `mode = 0o644` (use several entries to combine)".into()),
        );
        return None;
    }
    Some(Corruption {
        file: r.file,
        op: ops.remove(0),
    })
}

fn resolve_seed(ctx: &mut Ctx, path: &[String], raw: &RawSeed) -> Seed {
    let session = raw.session.as_ref().map(|r| SeedSession {
        access_expires_in_s: r.access_expires_in_s.unwrap_or(3600),
        refresh_expires_in_s: r.refresh_expires_in_s.unwrap_or(2_592_000),
        refresh_expiry_known: r.refresh_expiry_known.unwrap_or(true),
        generation: r.generation,
    });
    let lock = raw.lock.as_ref().map(|r| {
        if r.pid == Some(0) {
            ctx.err(
                &kp(path, &["lock", "pid"]),
                "`pid = 0` is not a process",
                Some("a pid, e.g. 4194304 (above Linux's pid_max: surely dead)".into()),
            );
        }
        SeedLock {
            pid: r.pid.unwrap_or(4_194_304),
            host: r.host.clone(),
            age_s: r.age_s.unwrap_or(3600),
            version: r.version.clone().unwrap_or_else(|| "3.2.7".to_string()),
        }
    });
    let mut corrupt = Vec::new();
    for (i, c) in raw.corrupt.iter().enumerate() {
        let cpath = kp(path, &["corrupt", &i.to_string()]);
        if let Some(c2) = resolve_corrupt(ctx, &cpath, c) {
            let needs_file = !matches!(c2.op, CorruptOp::Garbage(_));
            let missing = match c2.file {
                FileKind::Session | FileKind::Salt => session.is_none(),
                FileKind::RefreshLock => lock.is_none(),
            };
            if needs_file && missing {
                ctx.err(
                    &kp(&cpath, &["file"]),
                    format!("cannot {c2}: nothing seeds that file"),
                    Some("a [seed.session] (session, salt) or [seed.lock] (refresh_lock) table, or `garbage = \"...\"` to create the file".into()),
                );
            }
            corrupt.push(c2);
        }
    }
    Seed {
        session,
        lock,
        corrupt,
    }
}

fn resolve_process(
    ctx: &mut Ctx,
    index: usize,
    r: &RawProcess,
    out: &mut Vec<ProcessSpec>,
    names: &mut Names,
    process_index: &mut BTreeMap<String, usize>,
) {
    let base = kp(&[], &["process", &index.to_string()]);
    let name = r.name.clone();
    if !valid_name(&name) {
        ctx.err(
            &kp(&base, &["name"]),
            format!("process name {name:?} is not a valid name"),
            Some("1-32 letters, digits, `_` or `-`, starting with a letter".into()),
        );
    }
    if names.groups.contains_key(&name) || names.all.contains(&name) {
        ctx.err(
            &kp(&base, &["name"]),
            format!("duplicate process name {name:?}"),
            Some("unique names".into()),
        );
        return;
    }
    process_index.insert(name.clone(), index);
    let legacy = r.legacy.unwrap_or(false);
    let program = match (&r.args, legacy) {
        (Some(args), false) => {
            if args.is_empty() {
                ctx.err(
                    &kp(&base, &["args"]),
                    "`args` is empty",
                    Some("spec-kitty arguments, e.g. args = [\"auth\", \"token\"]".into()),
                );
            }
            Program::SpecKitty(args.clone())
        }
        (args, true) => {
            let args = args.clone().unwrap_or_default();
            for (i, a) in args.iter().enumerate() {
                if !crate::legacy::FLAGS.contains(&a.as_str()) {
                    ctx.err(
                        &kp(&base, &["args", &i.to_string()]),
                        format!("the legacy client does not take {a:?}"),
                        Some("no args, or any of \"--force\" (refresh even when the access token is still valid) and \"--no-locks\" (also ignore session.lock, as the oldest clients did)".into()),
                    );
                }
            }
            Program::Legacy(args)
        }
        (None, false) => {
            ctx.err(
                &kp(&base, &["name"]),
                format!("process `{name}` has neither `args` nor `legacy = true`"),
                Some("args = [\"auth\", \"token\"] (a spec-kitty command line without the program name) or legacy = true".into()),
            );
            Program::SpecKitty(Vec::new())
        }
    };
    if r.legacy == Some(false) {
        ctx.err(
            &kp(&base, &["legacy"]),
            "`legacy = false` is the default",
            Some("remove the key".into()),
        );
    }
    let mut env = BTreeMap::new();
    if let Some(e) = &r.env {
        for (k, v) in e {
            let at = kp(&base, &["env", k]);
            if let Some((_, why)) = RESERVED_ENV.iter().find(|(n, _)| n == k) {
                ctx.err(
                    &at,
                    format!("`env` may not set {k}"),
                    Some((*why).to_string()),
                );
            } else if k.is_empty() || k.contains('=') || k.contains('\0') {
                ctx.err(
                    &at,
                    format!("{k:?} is not an environment variable name"),
                    None,
                );
            }
            env.insert(k.clone(), v.clone());
        }
    }
    let mut faults = Vec::new();
    for (i, fr) in r.faults.iter().enumerate() {
        let fpath = kp(&base, &["fault", &i.to_string()]);
        let point = &fr.point;
        if !is_known_point(point) {
            ctx.err(
                &kp(&fpath, &["point"]),
                format!("unknown sync point {point:?}"),
                Some(format!("one of {}", known_points().join(", "))),
            );
        }
        if fr.nth == Some(0) {
            ctx.err(
                &kp(&fpath, &["nth"]),
                "`nth` is 1-based",
                Some("nth = 1 for the first time the point is reached".into()),
            );
        }
        match fr.action {
            PointAction::Fail => {
                if fr.ms.is_some() {
                    ctx.err(
                        &kp(&fpath, &["ms"]),
                        "`ms` is only for action = \"sleep\"",
                        None,
                    );
                }
            }
            PointAction::Sleep => {
                if fr.ms.is_none() {
                    ctx.err(
                        &kp(&fpath, &["action"]),
                        "action = \"sleep\" needs `ms`",
                        Some("ms = 200".into()),
                    );
                }
                if fr.message.is_some() {
                    ctx.err(
                        &kp(&fpath, &["message"]),
                        "`message` is only for action = \"fail\"",
                        None,
                    );
                }
            }
        }
        faults.push(PointFault {
            point: point.clone(),
            nth: fr.nth.unwrap_or(1).max(1),
            action: fr.action,
            message: fr
                .message
                .clone()
                .unwrap_or_else(|| format!("injected failure at {point}")),
            ms: fr.ms.unwrap_or(0),
        });
    }
    let replicas = match r.replicas {
        Some(v) => {
            if v == 0 || v > MAX_REPLICAS {
                ctx.err(
                    &kp(&base, &["replicas"]),
                    format!("`replicas = {v}` is out of range"),
                    Some(format!("1..={MAX_REPLICAS}")),
                );
            }
            Some(v.clamp(1, MAX_REPLICAS))
        }
        None => None,
    };
    let members: Vec<String> = match replicas {
        Some(n) => (1..=n).map(|i| format!("{name}#{i}")).collect(),
        None => vec![name.clone()],
    };
    for m in &members {
        let spec = ProcessSpec {
            name: m.clone(),
            group: name.clone(),
            program: program.clone(),
            env: env.clone(),
            clock_offset_s: r.clock_offset_s,
            lock_wait_ms: r.lock_wait_ms,
            refresh_ceiling_ms: r.refresh_ceiling_ms,
            faults: faults.clone(),
        };
        if spec.wants_json() {
            names.json.insert(m.clone());
        }
        names.all.push(m.clone());
        out.push(spec);
    }
    names.groups.insert(name, members);
}

fn expand_names(
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
    let n = nth.unwrap_or(1);
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
        nth: n.max(1),
    }
}

fn resolve_step(
    ctx: &mut Ctx,
    i: usize,
    r: &RawStep,
    names: &Names,
    lock_held: &mut bool,
    started: &mut BTreeSet<String>,
    step_faults: &mut Vec<(KeyPath, String)>,
) -> Option<Step> {
    let index = i + 1;
    let base = kp(&[], &["step", &i.to_string()]);
    let at = |k: &str| kp(&base, &[k]);
    let line = ctx.line_of(&base);
    let mut keys = Vec::new();
    for (present, key) in [
        (r.run.is_some(), "run"),
        (r.release.is_some(), "release"),
        (r.kill.is_some(), "kill"),
        (r.sleep_ms.is_some(), "sleep_ms"),
        (r.saas_fault.is_some(), "saas_fault"),
        (r.saas.is_some(), "saas"),
        (r.lock.is_some(), "lock"),
        (r.corrupt.is_some(), "corrupt"),
        (r.check.is_some(), "check"),
    ] {
        if present {
            keys.push(key);
        }
    }
    const FORMS: &str = "exactly one of `run` (+ `until`, `nth`), `release`, `kill` (+ `at`, `nth`), `sleep_ms`, `saas_fault`, `saas`, `lock`, `corrupt`, `check`";
    if keys.len() != 1 {
        let (msg, path) = if keys.is_empty() {
            (format!("step {index} does nothing"), base.clone())
        } else {
            (
                format!("step {index} has several actions: {}", keys.join(", ")),
                at(keys[1]),
            )
        };
        ctx.err(&path, msg, Some(FORMS.into()));
        return None;
    }
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
    let action = if let Some(run) = &r.run {
        let procs = expand_names(ctx, names, &at("run"), run, "run");
        started.extend(procs.iter().cloned());
        let until = match &r.until {
            Some(u) => point_until(ctx, &at("until"), u, r.nth, &at("nth"), true),
            None => Until::Exit,
        };
        Action::Run { procs, until }
    } else if let Some(rel) = &r.release {
        let procs = expand_names(ctx, names, &at("release"), rel, "release");
        started.extend(procs.iter().cloned());
        Action::Release { procs }
    } else if let Some(k) = &r.kill {
        let procs = expand_names(ctx, names, &at("kill"), k, "kill");
        started.extend(procs.iter().cloned());
        let point =
            r.at.as_ref()
                .map(|a| point_until(ctx, &at("at"), a, r.nth, &at("nth"), false));
        Action::Kill { procs, at: point }
    } else if let Some(ms) = r.sleep_ms {
        if ms > 60_000 {
            ctx.err(
                &at("sleep_ms"),
                format!("sleep_ms = {ms} is longer than a minute"),
                Some("order with sync points; sleep only for what has no point".into()),
            );
        }
        Action::Sleep(Duration::from_millis(ms))
    } else if let Some(f) = &r.saas_fault {
        let mut fault = f.clone();
        if let Err(e) = fault.validate("saas_fault") {
            let path = match &e {
                fake_saas::ConfigError::Invalid { key, .. } => {
                    let mut p = base.clone();
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
        step_faults.push((at("saas_fault"), name));
        Action::SaasFault(Box::new(fault))
    } else if let Some(a) = r.saas {
        Action::Saas(a)
    } else if let Some(l) = r.lock {
        match (l, *lock_held) {
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
        *lock_held = l == LockAction::Hold;
        Action::Lock(l)
    } else if let Some(c) = &r.corrupt {
        Action::Corrupt(resolve_corrupt(ctx, &at("corrupt"), c)?)
    } else if let Some(cr) = &r.check {
        let cpath = at("check");
        let mut check = Check {
            lock_held: cr.lock_held,
            session: cr.session,
            ..Check::default()
        };
        if let Some(run) = &cr.running {
            check.running = expand_names(ctx, names, &kp(&cpath, &["running"]), run, "running");
        }
        if let Some(ex) = &cr.exited {
            check.exited = expand_names(ctx, names, &kp(&cpath, &["exited"]), ex, "exited");
        }
        if let Some(req) = &cr.saas_requests {
            for (endpoint, n) in req {
                check_endpoint(ctx, &kp(&cpath, &["saas_requests", endpoint]), endpoint);
                check.saas_requests.insert(endpoint.clone(), *n);
            }
        }
        if check.lock_held.is_none()
            && check.session.is_none()
            && check.running.is_empty()
            && check.exited.is_empty()
            && check.saas_requests.is_empty()
        {
            ctx.err(
                &cpath,
                "`check` asserts nothing",
                Some("check = { lock_held = false, session = \"present\", running = [\"A\"], exited = [\"B\"], saas_requests = { \"/oauth/token\" = 1 } }".into()),
            );
        }
        Action::Check(check)
    } else {
        unreachable!("one key was counted")
    };
    Some(Step {
        index,
        line,
        note: r.note.clone(),
        action,
    })
}

fn check_endpoint(ctx: &mut Ctx, path: &[String], endpoint: &str) {
    if !fake_saas::ENDPOINTS.contains(&endpoint) {
        ctx.err(
            path,
            format!("unknown SaaS endpoint {endpoint:?}"),
            Some(format!("one of {}", fake_saas::ENDPOINTS.join(", "))),
        );
    }
}

fn token_ref(ctx: &mut Ctx, path: &[String], s: &str, seed: &Seed) -> TokenRef {
    match s {
        "seed" | "saas:latest" if seed.session.is_none() => {
            ctx.err(
                path,
                format!("{s:?} needs a seeded session"),
                Some("a [seed.session] table".into()),
            );
            TokenRef::Seed
        }
        "seed" => TokenRef::Seed,
        "saas:latest" => TokenRef::SaasLatest,
        "" => {
            ctx.err(
                path,
                "empty token",
                Some("\"seed\", \"saas:latest\" or a literal token".into()),
            );
            TokenRef::Literal(String::new())
        }
        other => TokenRef::Literal(other.to_string()),
    }
}

fn check_outcome(ctx: &mut Ctx, path: &[String], o: &str, allow_none: bool) {
    let outcomes = Outcome::ALL.map(Outcome::as_str);
    if !(outcomes.contains(&o) || (allow_none && o == NO_OUTCOME)) {
        let mut list = outcomes.join(", ");
        if allow_none {
            list.push_str(", none");
        }
        ctx.err(
            path,
            format!("unknown refresh outcome {o:?}"),
            Some(format!("one of {list}")),
        );
    }
}

/// `process:point` (or `process:start` / `process:exit`).
fn check_event_ref(
    ctx: &mut Ctx,
    path: &[String],
    names: &Names,
    proc_: &str,
    point: &str,
) -> bool {
    let mut ok = true;
    if !names.all.iter().any(|n| n == proc_) {
        ctx.err(
            path,
            format!("unknown process {proc_:?}"),
            Some(format!(
                "one of {} (a replica is named like W#1)",
                names.all.join(", ")
            )),
        );
        ok = false;
    }
    if !(is_known_point(point) || point == EXIT || point == START) {
        ctx.err(
            path,
            format!("unknown point {point:?}"),
            Some(format!(
                "\"start\", \"exit\" or a sync point: {}",
                known_points().join(", ")
            )),
        );
        ok = false;
    }
    ok
}

fn per_process<T: Clone>(
    ctx: &mut Ctx,
    names: &Names,
    path: &[String],
    map: &BTreeMap<String, T>,
    what: &str,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        match names.expand(k) {
            Some(members) => {
                for m in members {
                    out.insert(m, v.clone());
                }
            }
            None => ctx.err(
                &kp(path, &[k]),
                format!("`expect.{what}` names unknown process {k:?}"),
                Some(format!(
                    "one of the declared processes: {}",
                    names.listing()
                )),
            ),
        }
    }
    out
}

fn resolve_expect(
    ctx: &mut Ctx,
    base: &[String],
    r: &RawExpect,
    names: &Names,
    seed: &Seed,
) -> Expect {
    let at = |k: &str| kp(base, &[k]);
    let mut x = Expect {
        session: r.session,
        lock_held: r.lock_held,
        ..Expect::default()
    };
    if let Some(m) = &r.exit {
        x.exit = per_process(ctx, names, &at("exit"), m, "exit");
    }
    let texts = |ctx: &mut Ctx, m: &Option<BTreeMap<String, OneOrMany>>, what: &str| {
        m.as_ref()
            .map(|m| {
                per_process(ctx, names, &kp(base, &[what]), m, what)
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default()
    };
    x.stdout_contains = texts(ctx, &r.stdout_contains, "stdout_contains");
    x.stdout_not_contains = texts(ctx, &r.stdout_not_contains, "stdout_not_contains");
    x.stderr_contains = texts(ctx, &r.stderr_contains, "stderr_contains");
    x.stderr_not_contains = texts(ctx, &r.stderr_not_contains, "stderr_not_contains");
    if let Some(j) = &r.json {
        for (group, fields) in j {
            let gpath = kp(base, &["json", group]);
            let Some(members) = names.expand(group) else {
                ctx.err(
                    &gpath,
                    format!("`expect.json` names unknown process {group:?}"),
                    Some(format!(
                        "one of the declared processes: {}",
                        names.listing()
                    )),
                );
                continue;
            };
            for p in members {
                if !names.json.contains(&p) {
                    ctx.err(
                        &gpath,
                        format!("`expect.json` names process {p:?}, which does not pass `--json`"),
                        Some("a process whose args include \"--json\"".into()),
                    );
                }
                let mut list = Vec::new();
                for (path, value) in fields {
                    if path.is_empty() || path.split('.').any(str::is_empty) {
                        ctx.err(
                            &kp(&gpath, &[path]),
                            format!("bad JSON path {path:?}"),
                            Some(
                                "a dotted path such as \"session.present\" or \"findings.0.id\""
                                    .into(),
                            ),
                        );
                    }
                    let json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
                    list.push((path.clone(), json));
                }
                x.json.insert(p, list);
            }
        }
    }
    if let Some(t) = &r.session_refresh_token {
        x.session_refresh_token = Some(token_ref(ctx, &at("session_refresh_token"), t, seed));
    }
    if let Some(t) = &r.session_access_token {
        x.session_access_token = Some(token_ref(ctx, &at("session_access_token"), t, seed));
    }
    if x.session == Some(SessionState::Absent)
        && (x.session_refresh_token.is_some() || x.session_access_token.is_some())
    {
        ctx.err(
            &at("session"),
            "`session = \"absent\"` contradicts an expected session token",
            None,
        );
    }
    if let Some(o) = &r.outcomes {
        for (p, v) in per_process(ctx, names, &at("outcomes"), o, "outcomes") {
            let opath = kp(base, &["outcomes", p.split('#').next().unwrap_or(&p)]);
            let exp = match v.0.as_slice() {
                [] => OutcomeExpect::None,
                [one] if one == NO_OUTCOME => OutcomeExpect::None,
                [one] => {
                    check_outcome(ctx, &opath, one, true);
                    OutcomeExpect::All(one.clone())
                }
                many => {
                    for m in many {
                        check_outcome(ctx, &opath, m, false);
                    }
                    OutcomeExpect::Sequence(many.to_vec())
                }
            };
            x.outcomes.insert(p, exp);
        }
    }
    if let Some(c) = &r.outcome_counts {
        for (k, v) in c {
            check_outcome(ctx, &kp(base, &["outcome_counts", k]), k, false);
            x.outcome_counts.insert(k.clone(), *v);
        }
    }
    if let Some(sr) = &r.saas {
        let spath = at("saas");
        if let Some(req) = &sr.requests {
            for (endpoint, n) in req {
                check_endpoint(ctx, &kp(&spath, &["requests", endpoint]), endpoint);
                x.saas_requests.insert(endpoint.clone(), *n);
            }
        }
        if let Some(st) = &sr.statuses {
            for (endpoint, codes) in st {
                let epath = kp(&spath, &["statuses", endpoint]);
                check_endpoint(ctx, &epath, endpoint);
                let mut m = BTreeMap::new();
                for (code, n) in codes {
                    match code.parse::<u16>() {
                        Ok(c) if (100..=599).contains(&c) => {
                            m.insert(c, *n);
                        }
                        _ => ctx.err(
                            &kp(&epath, &[code]),
                            format!("{code:?} is not an HTTP status"),
                            Some(
                                "statuses = { \"/oauth/token\" = { \"200\" = 1, \"409\" = 1 } }"
                                    .into(),
                            ),
                        ),
                    }
                }
                x.saas_statuses.insert(endpoint.clone(), m);
            }
        }
        if sr.seed_token_presented.is_some() && seed.session.is_none() {
            ctx.err(
                &kp(&spath, &["seed_token_presented"]),
                "`seed_token_presented` needs a seeded session",
                None,
            );
        }
        x.seed_token_presented = sr.seed_token_presented;
        x.max_token_presented = sr.max_token_presented;
        if let Some(t) = &sr.revoked_token {
            x.revoked_token = Some(token_ref(ctx, &kp(&spath, &["revoked_token"]), t, seed));
        }
    }
    if let Some(order) = &r.order {
        if order.len() < 2 {
            ctx.err(
                &at("order"),
                "`order` needs at least two events",
                Some("order = [\"A:refresh.lock_released\", \"L:logout.before_delete\"]".into()),
            );
        }
        for (i, item) in order.iter().enumerate() {
            let ipath = kp(base, &["order", &i.to_string()]);
            match item.split_once(':') {
                Some((p, point)) => {
                    if check_event_ref(ctx, &ipath, names, p, point) {
                        x.order.push((p.to_string(), point.to_string()));
                    }
                }
                None => ctx.err(
                    &ipath,
                    format!("{item:?} is not `process:point`"),
                    Some("\"A:refresh.persisted\"".into()),
                ),
            }
        }
    }
    if let Some(m) = &r.printed_token {
        for (p, v) in per_process(ctx, names, &at("printed_token"), m, "printed_token") {
            let ppath = kp(base, &["printed_token", p.split('#').next().unwrap_or(&p)]);
            let which = match v.as_str() {
                "session" => PrintedToken::Session,
                "seed" => {
                    if seed.session.is_none() {
                        ctx.err(&ppath, "\"seed\" needs a seeded session", None);
                    }
                    PrintedToken::Seed
                }
                other => {
                    ctx.err(
                        &ppath,
                        format!("unknown printed token {other:?}"),
                        Some("\"session\" (the final session's access token) or \"seed\"".into()),
                    );
                    PrintedToken::Session
                }
            };
            x.printed_token.insert(p, which);
        }
    }
    for (i, tr) in r.timing.iter().enumerate() {
        let tpath = kp(base, &["timing", &i.to_string()]);
        let p = &tr.process;
        let ok = check_event_ref(ctx, &kp(&tpath, &["from"]), names, p, &tr.from)
            & check_event_ref(ctx, &kp(&tpath, &["to"]), names, p, &tr.to);
        if tr.max_ms.is_none() && tr.min_ms.is_none() {
            ctx.err(
                &tpath,
                "a timing needs `max_ms` or `min_ms`",
                Some("max_ms = 300".into()),
            );
        }
        if ok {
            x.timing.push(Timing {
                process: p.clone(),
                from: tr.from.clone(),
                to: tr.to.clone(),
                max_ms: tr.max_ms,
                min_ms: tr.min_ms,
            });
        }
    }
    x
}
