//! Expectations on when things happened: `order` (first occurrences in this order) and
//! `[[expect.timing]]` (time between two events of one process).

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

/// Every failed order or timing expectation.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    let x = &o.sc.expect;
    let mut last: Option<(f64, String)> = None;
    for (p, point) in &x.order {
        let after = last.as_ref().map_or(0.0, |(t, _)| *t);
        match o
            .procs
            .get(p)
            .and_then(|proc_| event_time(proc_, point, 0.0))
        {
            None => {
                f.push(Failure::expect(
                    "order",
                    format!("{p}:{point} never happened"),
                ));
                break;
            }
            Some(t) if t < after => {
                f.push(Failure::expect(
                    "order",
                    format!(
                        "{p}:{point} happened at {t:.1} ms, before {} at {after:.1} ms",
                        last.as_ref().map(|(_, e)| e.as_str()).unwrap_or("")
                    ),
                ));
                break;
            }
            Some(t) => last = Some((t, format!("{p}:{point}"))),
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
