//! `expect.order` (one chain or several) and `[[expect.timing]]`: references to
//! events (`process:point`, `start`, `exit`) and the constraints between them.
//!
//! Guarantee: every event named exists and can be reached by its process.

use super::processes::Names;
use crate::schema::diagnostics::{kp, Ctx};
use crate::schema::model::Timing;
use crate::schema::points::{is_known_point, known_points, EXIT, START};
use crate::schema::raw::RawTiming;

/// `process:point` (or `process:start` / `process:exit`): whether both exist.
pub(crate) fn check_event_ref(
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
    } else if ok {
        names.check_reachable(ctx, path, proc_, point);
    }
    ok
}

/// `order = ["A:refresh.persisted", "B:refresh.reloaded"]`.
pub(crate) fn resolve_order(
    ctx: &mut Ctx,
    path: &[String],
    order: &[String],
    names: &Names,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if order.len() < 2 {
        ctx.err(
            path,
            "`order` needs at least two events",
            Some("order = [\"A:refresh.lock_released\", \"L:logout.before_delete\"]".into()),
        );
    }
    for (i, item) in order.iter().enumerate() {
        let ipath = kp(path, &[&i.to_string()]);
        match item.split_once(':') {
            Some((p, point)) => {
                if check_event_ref(ctx, &ipath, names, p, point) {
                    out.push((p.to_string(), point.to_string()));
                }
            }
            None => ctx.err(
                &ipath,
                format!("{item:?} is not `process:point`"),
                Some("\"A:refresh.persisted\"".into()),
            ),
        }
    }
    out
}

/// `[[expect.timing]]` under `base`.
pub(crate) fn resolve_timing(
    ctx: &mut Ctx,
    base: &[String],
    raw: &[RawTiming],
    names: &Names,
) -> Vec<Timing> {
    let mut out = Vec::new();
    for (i, tr) in raw.iter().enumerate() {
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
            out.push(Timing {
                process: p.clone(),
                from: tr.from.clone(),
                to: tr.to.clone(),
                max_ms: tr.max_ms,
                min_ms: tr.min_ms,
            });
        }
    }
    out
}
