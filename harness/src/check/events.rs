//! Expectations on when things happened: `order` (in each chain, first occurrences in this
//! order), `[[expect.timing]]` (time between two events of one process) and `not_reached` (a
//! point a process never reported).

use super::observed::Observed;
use crate::report::model::Failure;
use crate::schema::{EXIT, START};
use crate::sync::state::Proc;

/// First time `point` (or `start` / `exit`) happened for `p`, at or after `after`.
fn event_time(p: &Proc, point: &str, after: f64) -> Option<f64> {
    match point {
        START => p.started_ms.filter(|t| *t >= after),
        EXIT => p.exit.as_ref().map(|e| e.t_ms).filter(|t| *t >= after),
        _ => p
            .hits
            .iter()
            .find(|h| h.point == point && h.t_ms >= after)
            .map(|h| h.t_ms),
    }
}

/// One `order` chain: first occurrences in this order; the first break is reported.
fn check_chain(o: &Observed, chain: &[(String, String)], key: &str, f: &mut Vec<Failure>) {
    let mut last: Option<(f64, String)> = None;
    for (p, point) in chain {
        let after = last.as_ref().map_or(0.0, |(t, _)| *t);
        match o
            .procs
            .get(p)
            .and_then(|proc_| event_time(proc_, point, 0.0))
        {
            None => {
                f.push(Failure::expect(key, format!("{p}:{point} never happened")));
                return;
            }
            Some(t) if t < after => {
                f.push(Failure::expect(
                    key,
                    format!(
                        "{p}:{point} happened at {t:.1} ms, before {} at {after:.1} ms",
                        last.as_ref().map(|(_, e)| e.as_str()).unwrap_or("")
                    ),
                ));
                return;
            }
            Some(t) => last = Some((t, format!("{p}:{point}"))),
        }
    }
}

/// Every failed order, timing or `not_reached` expectation.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    let x = &o.sc.expect;
    let several = x.order.len() > 1;
    for (i, chain) in x.order.iter().enumerate() {
        let key = if several {
            format!("order[{i}]")
        } else {
            "order".to_string()
        };
        check_chain(o, chain, &key, &mut f);
    }
    for (name, points) in &x.not_reached {
        let Some(p) = o.procs.get(name) else { continue };
        for point in points {
            if let Some(hit) = p.hits.iter().find(|h| &h.point == point) {
                f.push(Failure::expect(
                    "not_reached",
                    format!("{name} reached {point} at {:.1} ms", hit.t_ms),
                ));
            }
        }
    }
    for t in &x.timing {
        let p = &o.procs[&t.process];
        let Some(from) = event_time(p, &t.from, 0.0) else {
            f.push(Failure::expect(
                "timing",
                format!("{} never reached {}", t.process, t.from),
            ));
            continue;
        };
        let Some(to) = event_time(p, &t.to, from) else {
            f.push(Failure::expect(
                "timing",
                format!("{} never reached {} after {}", t.process, t.to, t.from),
            ));
            continue;
        };
        let d = to - from;
        if t.max_ms.is_some_and(|m| d > m as f64) || t.min_ms.is_some_and(|m| d < m as f64) {
            f.push(Failure::expect(
                "timing",
                format!(
                    "{} took {d:.1} ms from {} to {}, expected {}{}",
                    t.process,
                    t.from,
                    t.to,
                    t.min_ms
                        .map(|m| format!("at least {m} ms "))
                        .unwrap_or_default(),
                    t.max_ms
                        .map(|m| format!("at most {m} ms"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    f
}
