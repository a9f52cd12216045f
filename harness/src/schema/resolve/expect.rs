//! `[expect]` (or a variant's `[variant.expect]`) → [`Expect`], with group names expanded to
//! their replicas. The SaaS keys (`expect.saas.*`) are in `expect_saas`; event order and timing
//! in `events`.
//!
//! Guarantees: every process, point, outcome, endpoint and token name an expectation uses
//! exists; keys that contradict each other are refused.

use super::events::{check_event_ref, resolve_order, resolve_timing};
use super::expect_saas::{resolve_saas_expect, token_ref, TokenKind};
use super::expect_sync::resolve_diagnostics;
use super::processes::Names;
use super::steps::expand_names;
use crate::schema::diagnostics::{kp, Ctx};
use crate::schema::model::{
    DaemonsExpect, Expect, LockFileExpect, OutcomeExpect, PrintedToken, Seed, NO_OUTCOME,
};
use crate::schema::points::{known_points, EXIT, START};
use crate::schema::raw::{RawExpect, RawLockFile};
use crate::schema::values::{LockContent, OneOrMany, SessionState, TokenName};
use spec_kitty::refresh::Outcome;
use std::collections::BTreeMap;

/// A per-process map (`{ A = ..., W = ... }`) with groups expanded to their replicas.
pub(crate) fn per_process<T: Clone>(
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
                format!(
                    "`{}.{what}` names unknown process {k:?}",
                    path.iter().rev().nth(1).map_or("expect", String::as_str)
                ),
                Some(format!(
                    "one of the declared processes: {}",
                    names.listing()
                )),
            ),
        }
    }
    out
}

/// The key path of the entry a replica came from (`W#3` → `W`).
pub(crate) fn group_path(base: &[String], key: &str, process: &str) -> Vec<String> {
    kp(base, &[key, process.split('#').next().unwrap_or(process)])
}

pub(crate) fn check_outcome(ctx: &mut Ctx, path: &[String], o: &str, allow_none: bool) {
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

/// Resolves one `[expect]` table at `base`.
pub(crate) fn resolve_expect(
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
        session_writes_only_on_rotation: r.session_writes_only_on_rotation.unwrap_or(false),
        ..Expect::default()
    };
    if let Some(m) = &r.exit {
        x.exit = per_process(ctx, names, &at("exit"), m, "exit");
        for (p, set) in &x.exit {
            if set.0.is_empty() {
                ctx.err(
                    &group_path(base, "exit", p),
                    "an empty set of exits can never match",
                    Some("exit = { A = 0 }, or a set for a race: exit = { A = [0, 3] }".into()),
                );
            }
        }
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
    resolve_json(ctx, base, r, names, &mut x);
    if let Some(t) = &r.session_refresh_token {
        x.session_refresh_token = Some(token_ref(
            ctx,
            &at("session_refresh_token"),
            t,
            TokenKind::Refresh,
            seed,
        ));
    }
    if let Some(t) = &r.session_access_token {
        x.session_access_token = Some(token_ref(
            ctx,
            &at("session_access_token"),
            t,
            TokenKind::Access,
            seed,
        ));
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
    resolve_outcomes(ctx, base, r, names, &mut x);
    if let Some(sr) = &r.saas {
        resolve_saas_expect(ctx, &at("saas"), sr, seed, names, &mut x);
    }
    if let Some(order) = &r.order {
        for (i, chain) in order.chains.iter().enumerate() {
            let path = if order.nested {
                kp(&at("order"), &[&i.to_string()])
            } else {
                at("order")
            };
            x.order.push(resolve_order(ctx, &path, chain, names));
        }
    }
    for (key, raw, out) in [
        ("stdout_count", &r.stdout_count, &mut x.stdout_count),
        ("stderr_count", &r.stderr_count, &mut x.stderr_count),
    ] {
        let Some(m) = raw else { continue };
        for (p, counts) in per_process(ctx, names, &at(key), m, key) {
            if counts.is_empty() || counts.keys().any(String::is_empty) {
                ctx.err(
                    &group_path(base, key, &p),
                    "a count needs a non-empty text",
                    Some(format!(
                        "{key} = {{ A = {{ \"refresh_transaction\" = 1 }} }}"
                    )),
                );
            }
            out.insert(p, counts);
        }
    }
    if let Some(l) = &r.lock_file {
        x.lock_file = resolve_lock_file(ctx, &at("lock_file"), l, names);
    }
    if let Some(m) = &r.not_reached {
        x.not_reached = resolve_not_reached(ctx, base, m, names);
    }
    if let Some(m) = &r.printed_token {
        for (p, v) in per_process(ctx, names, &at("printed_token"), m, "printed_token") {
            let which = printed_token(ctx, &group_path(base, "printed_token", &p), &v, seed);
            x.printed_token.insert(p, which);
        }
    }
    x.timing = resolve_timing(ctx, base, &r.timing, names);
    if let Some(d) = &r.daemons {
        let singleton = d
            .singleton
            .as_ref()
            .map(|n| {
                expand_names(
                    ctx,
                    names,
                    &kp(base, &["daemons", "singleton"]),
                    &OneOrMany(vec![n.clone()]),
                    "singleton",
                )
            })
            .unwrap_or_default();
        let reported_by = d
            .reported_by
            .as_ref()
            .map(|l| {
                expand_names(
                    ctx,
                    names,
                    &kp(base, &["daemons", "reported_by"]),
                    l,
                    "reported_by",
                )
            })
            .unwrap_or_default();
        x.daemons = Some(DaemonsExpect {
            alive: d.alive,
            singleton,
            reported_by,
        });
    }
    resolve_diagnostics(ctx, base, r.diagnostics.as_ref(), names, &mut x);
    x.queue_depth = r.queue_depth;
    x
}

fn resolve_json(ctx: &mut Ctx, base: &[String], r: &RawExpect, names: &Names, x: &mut Expect) {
    for (group, fields) in r.json.iter().flatten() {
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
                            "a dotted path such as \"session.present\" or \"findings.0.id\"".into(),
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

fn resolve_outcomes(ctx: &mut Ctx, base: &[String], r: &RawExpect, names: &Names, x: &mut Expect) {
    if let Some(o) = &r.outcomes {
        for (p, v) in per_process(ctx, names, &kp(base, &["outcomes"]), o, "outcomes") {
            let opath = group_path(base, "outcomes", &p);
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
    let (key, counts) = match (&r.outcome_counts, &r.outcome_counts_exact) {
        (Some(_), Some(_)) => {
            ctx.err(
                &kp(base, &["outcome_counts_exact"]),
                "`outcome_counts` and `outcome_counts_exact` cannot both be set",
                Some(
                    "outcome_counts_exact = { ... } alone: it also checks every listed count"
                        .into(),
                ),
            );
            return;
        }
        (Some(c), None) => ("outcome_counts", c),
        (None, Some(c)) => ("outcome_counts_exact", c),
        (None, None) => return,
    };
    x.outcome_counts_exact = key == "outcome_counts_exact";
    for (k, v) in counts {
        check_outcome(ctx, &kp(base, &[key, k]), k, false);
        x.outcome_counts.insert(k.clone(), *v);
    }
}

/// A label the SaaS can issue for an access token: `A0`, `A1`, ...
fn is_access_label(s: &str) -> bool {
    s.strip_prefix('A')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn printed_token(ctx: &mut Ctx, path: &[String], v: &TokenName, seed: &Seed) -> PrintedToken {
    const FORMS: &str = "\"session\" (the final session's access token), \"seed\", an access token label such as \"A1\" (as the timeline shows it), or { generation = N }";
    match v {
        TokenName::Word(w) if w == "session" => PrintedToken::Session,
        TokenName::Word(w) if w == "seed" => {
            if seed.session.is_none() {
                ctx.err(path, "\"seed\" needs a seeded session", None);
            }
            PrintedToken::Seed
        }
        TokenName::Word(w) if is_access_label(w) => PrintedToken::Label(w.clone()),
        TokenName::Word(w) => {
            let hint = if w.starts_with('R') {
                format!("{w:?} names a refresh token, which `auth token` never prints")
            } else {
                format!("unknown printed token {w:?}")
            };
            ctx.err(path, hint, Some(FORMS.into()));
            PrintedToken::Session
        }
        TokenName::Generation(g) => {
            if seed.session.is_none() {
                ctx.err(
                    path,
                    "`generation` counts the seeded session's generations: it needs a [seed.session]",
                    Some(FORMS.into()),
                );
            }
            if *g < 1 {
                ctx.err(path, format!("generation {g} is not a generation"), Some("generation = 2 (the seeded session starts at 1 unless [seed.session] says otherwise)".into()));
            }
            PrintedToken::Generation(*g)
        }
    }
}

/// `[expect.lock_file]`: at least one key; `pid` is a process name or a number, and goes with a
/// record.
fn resolve_lock_file(
    ctx: &mut Ctx,
    path: &[String],
    r: &RawLockFile,
    names: &Names,
) -> LockFileExpect {
    let mut x = LockFileExpect {
        content: r.content,
        inode_unchanged: r.inode_unchanged.unwrap_or(false),
        ..LockFileExpect::default()
    };
    if r.content.is_none() && r.pid.is_none() && r.inode_unchanged.is_none() {
        ctx.err(
            path,
            "`[expect.lock_file]` asserts nothing",
            Some("content = \"empty\", pid = \"A\" or inode_unchanged = true".into()),
        );
    }
    if r.inode_unchanged == Some(false) {
        ctx.err(
            &kp(path, &["inode_unchanged"]),
            "`inode_unchanged = false` asserts nothing",
            Some("inode_unchanged = true, or remove the key".into()),
        );
    }
    match &r.pid {
        None => {}
        Some(toml::Value::String(name)) if names.all.contains(name) => {
            x.pid_of = Some(name.clone())
        }
        Some(toml::Value::Integer(n)) if u32::try_from(*n).is_ok_and(|n| n > 0) => {
            x.pid = u32::try_from(*n).ok()
        }
        Some(other) => ctx.err(
            &kp(path, &["pid"]),
            format!("`pid = {other}` is neither a declared process nor a pid"),
            Some(format!(
                "a process name ({}) or a positive integer",
                names.all.join(", ")
            )),
        ),
    }
    if r.pid.is_some() && matches!(r.content, Some(c) if c != LockContent::Record) {
        ctx.err(
            &kp(path, &["pid"]),
            "`pid` names the holder record, but `content` says there is none",
            Some("content = \"record\", or no `content`".into()),
        );
    }
    x
}

/// `not_reached = { A = ["refresh.network_before"] }`: sync points (not `start` or `exit`) each
/// process can reach and must not have.
pub(crate) fn resolve_not_reached(
    ctx: &mut Ctx,
    base: &[String],
    m: &BTreeMap<String, OneOrMany>,
    names: &Names,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (p, points) in per_process(ctx, names, &kp(base, &["not_reached"]), m, "not_reached") {
        let path = group_path(base, "not_reached", &p);
        if points.0.is_empty() {
            ctx.err(
                &path,
                "`not_reached` lists no point",
                Some("not_reached = { A = \"refresh.network_before\" }".into()),
            );
        }
        for point in &points.0 {
            if point == START || point == EXIT {
                ctx.err(
                    &path,
                    format!("{point:?} is not a sync point: a process that never started or ended is an `exit` expectation"),
                    Some(format!("a sync point: {}", known_points().join(", "))),
                );
            } else {
                check_event_ref(ctx, &path, names, &p, point);
            }
        }
        out.insert(p, points.0);
    }
    out
}
