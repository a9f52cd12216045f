//! `[explore]` → [`ExploreSpec`] and `[expect_always]` → [`ExpectAlways`] (or a variant's
//! `[variant.explore]`, `[variant.expect_always]`).
//!
//! Guarantees: every point named is one some declared process can reach; kill points are held
//! points; bounds are in range; an explore file runs no daemon (the explorer runs every process to
//! its end, and a daemon has none); every process, outcome, endpoint and token an
//! `[expect_always]` key names exists.

use super::expect::{check_outcome, group_path, per_process};
use super::expect_saas::{token_ref, TokenKind};
use super::processes::Names;
use super::steps::check_endpoint;
use crate::schema::diagnostics::{kp, Ctx};
use crate::schema::explore::{ExpectAlways, ExploreSpec, MANDATORY_POINTS, MAX_KILLS};
use crate::schema::model::{ProcessSpec, Seed, NO_OUTCOME};
use crate::schema::points::{is_known_point, is_legacy_point, known_points};
use crate::schema::raw::{RawExpectAlways, RawExplore};
use std::time::Duration;

/// Longest `[explore] budget_s`.
const MAX_EXPLORE_BUDGET_S: f64 = 3600.0;

/// Resolves `[explore]` at `base` for `processes`.
pub(crate) fn resolve_explore(
    ctx: &mut Ctx,
    base: &[String],
    r: &RawExplore,
    processes: &[ProcessSpec],
    names: &Names,
) -> ExploreSpec {
    let mut spec = ExploreSpec::default();
    let any_legacy = !names.legacy.is_empty();
    let any_spec_kitty = names.all.len() > names.legacy.len();
    let check_points = |ctx: &mut Ctx, key: &str, list: &[String]| {
        if list.is_empty() {
            ctx.err(
                &kp(base, &[key]),
                format!("`explore.{key}` is empty"),
                Some("points = [\"refresh.lock_wait\", \"refresh.network_after\"]".into()),
            );
        }
        for (i, p) in list.iter().enumerate() {
            let at = kp(base, &[key, &i.to_string()]);
            if !is_known_point(p) {
                ctx.err(
                    &at,
                    format!("unknown sync point {p:?}"),
                    Some(format!("one of {}", known_points().join(", "))),
                );
            } else if is_legacy_point(p) && !any_legacy {
                ctx.err(
                    &at,
                    format!("no process can reach {p:?}: only the legacy client (legacy = true) reports legacy.* points"),
                    None,
                );
            } else if !is_legacy_point(p) && !any_spec_kitty {
                ctx.err(
                    &at,
                    format!("no process can reach {p:?}: every process is the legacy client"),
                    None,
                );
            }
        }
    };
    if let Some(points) = &r.points {
        check_points(ctx, "points", points);
        spec.points = points.clone();
        for m in MANDATORY_POINTS {
            if !spec.points.iter().any(|p| p == m) {
                spec.points.push(m.to_string());
            }
        }
        spec.kill_points = points.clone();
    }
    if let Some(kills) = &r.kill_points {
        check_points(ctx, "kill_points", kills);
        for (i, p) in kills.iter().enumerate() {
            if is_known_point(p) && !spec.points.contains(p) {
                ctx.err(
                    &kp(base, &["kill_points", &i.to_string()]),
                    format!("{p:?} is a kill point but not a point where processes are held"),
                    Some(format!("add it to `points` ({})", spec.points.join(", "))),
                );
            }
        }
        spec.kill_points = kills.clone();
    }
    if let Some(n) = r.max_kills {
        if n == 0 || n > MAX_KILLS {
            ctx.err(
                &kp(base, &["max_kills"]),
                format!("`max_kills = {n}` is out of range"),
                Some(format!("1..={MAX_KILLS} (kills happen only with --kills)")),
            );
        }
        spec.max_kills = n.clamp(1, MAX_KILLS);
    }
    if r.max_schedules == Some(0) {
        ctx.err(
            &kp(base, &["max_schedules"]),
            "`max_schedules = 0` would try nothing",
            Some("a positive number, e.g. max_schedules = 500".into()),
        );
    }
    spec.max_schedules = r.max_schedules;
    if let Some(b) = r.budget_s {
        if !(b > 0.0 && b <= MAX_EXPLORE_BUDGET_S) {
            ctx.err(
                &kp(base, &["budget_s"]),
                format!("`explore.budget_s = {b}` is out of range"),
                Some(format!(
                    "seconds, more than 0 and at most {MAX_EXPLORE_BUDGET_S}"
                )),
            );
        }
        spec.budget = Some(Duration::from_secs_f64(
            b.clamp(0.001, MAX_EXPLORE_BUDGET_S),
        ));
    }
    for p in processes.iter().filter(|p| p.runs_daemon()) {
        let i = names.index.get(&p.group).copied().unwrap_or(0).to_string();
        ctx.err(
            &kp(&[], &["process", &i, "args"]),
            format!(
                "process `{}` runs a sync daemon: the explorer runs every process to its end, and a daemon has none",
                p.name
            ),
            Some("explore processes that end by themselves (auth token, auth status, the legacy client, ...)".into()),
        );
    }
    spec
}

/// Resolves `[expect_always]` at `base`.
pub(crate) fn resolve_expect_always(
    ctx: &mut Ctx,
    base: &[String],
    r: &RawExpectAlways,
    names: &Names,
    seed: &Seed,
) -> ExpectAlways {
    let mut x = ExpectAlways {
        session: r.session,
        ..ExpectAlways::default()
    };
    if x.session.is_some() && seed.session.is_none() {
        ctx.err(
            &kp(base, &["session"]),
            "`expect_always.session` is about the seeded session, and none is seeded",
            Some("a [seed.session] table".into()),
        );
    }
    for (endpoint, n) in r.max_requests.iter().flatten() {
        check_endpoint(ctx, &kp(base, &["max_requests", endpoint]), endpoint);
        x.max_requests.insert(endpoint.clone(), *n);
    }
    if let Some(t) = &r.session_refresh_token {
        x.session_refresh_token = Some(token_ref(
            ctx,
            &kp(base, &["session_refresh_token"]),
            t,
            TokenKind::Refresh,
            seed,
        ));
    }
    if let Some(o) = &r.outcomes {
        for (p, set) in per_process(ctx, names, &kp(base, &["outcomes"]), o, "outcomes") {
            let at = group_path(base, "outcomes", &p);
            if set.0.is_empty() {
                ctx.err(
                    &at,
                    "an empty set of outcomes can never match",
                    Some("outcomes = { A = [\"refreshed\", \"adopted_newer\", \"none\"] }".into()),
                );
            }
            for o in &set.0 {
                check_outcome(ctx, &at, o, true);
            }
            x.outcomes.insert(p, set.0);
        }
    }
    for (o, n) in r.max_outcomes.iter().flatten() {
        let at = kp(base, &["max_outcomes", o]);
        if o == NO_OUTCOME {
            ctx.err(&at, "`none` is not an outcome that can be counted", None);
        } else {
            check_outcome(ctx, &at, o, false);
        }
        x.max_outcomes.insert(o.clone(), *n);
    }
    if let Some(m) = &r.exit {
        x.exit = per_process(ctx, names, &kp(base, &["exit"]), m, "exit");
        for (p, set) in &x.exit {
            if set.0.is_empty() {
                ctx.err(
                    &group_path(base, "exit", p),
                    "an empty set of exits can never match",
                    Some("exit = { A = [0, 1] }".into()),
                );
            }
        }
    }
    if x.is_empty() {
        ctx.err(
            base,
            "`[expect_always]` sets no key",
            Some("e.g. max_requests = { \"/oauth/token\" = 1 } or session = \"present\"".into()),
        );
    }
    x
}
