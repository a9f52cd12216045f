//! Sync: the always-on `sync_diagnostic` invariant (at most one line per process, in the
//! original's exact shape) and the sync expectations: `diagnostics`, `queue_depth` and
//! `[expect.saas.events]` (`delivered`, `received`, `exactly_once`).
//!
//! Guarantee: `exactly_once` is judged from three independent sources: the event ids the
//! `sync enqueue` processes printed, the ids the fake SaaS accepted, and the ids still in the
//! runtime root's queue (read through `spec_kitty::sync`). Every recorded event must be in
//! exactly one of the last two.

use super::observed::{truncate, Observed};
use crate::report::model::Failure;
use std::collections::{BTreeMap, BTreeSet};

/// What a diagnostic line starts with.
const PREFIX: &str = "sync_diagnostic ";

/// The `sync_diagnostic` lines of `stderr`.
fn diagnostic_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with(PREFIX)).collect()
}

/// The code of a well-formed line, or why it is not one.
fn parse_line(line: &str) -> Result<&str, String> {
    let rest = line
        .strip_prefix("sync_diagnostic severity=warning diagnostic_code=")
        .ok_or("it does not start with `sync_diagnostic severity=warning diagnostic_code=`")?;
    let (code, rest) = rest.split_once(' ').ok_or("it ends after the code")?;
    if !rest.starts_with("fatal=false sync_phase=final_sync message=") {
        return Err("`fatal=false sync_phase=final_sync message=` does not follow the code".into());
    }
    Ok(code)
}

/// Every sync invariant broken and sync expectation failed.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    for spec in &o.sc.processes {
        let stderr = o.output(&spec.name, false);
        let lines = diagnostic_lines(&stderr);
        if lines.len() > 1 {
            f.push(Failure::Invariant(format!(
                "stderr of {} has {} sync_diagnostic lines, at most one is allowed: {:?}",
                spec.name,
                lines.len(),
                lines
            )));
        }
        for line in &lines {
            if let Err(why) = parse_line(line) {
                f.push(Failure::Invariant(format!(
                    "stderr of {} has a malformed sync_diagnostic line ({why}): {:?}",
                    spec.name,
                    truncate(line, 200)
                )));
            }
        }
    }
    diagnostics(o, &mut f);
    queue(o, &mut f);
    events(o, &mut f);
    f
}

fn diagnostics(o: &Observed, f: &mut Vec<Failure>) {
    for (name, want) in &o.sc.expect.diagnostics {
        let stderr = o.output(name, false);
        let codes: Vec<&str> = diagnostic_lines(&stderr)
            .into_iter()
            .filter_map(|l| parse_line(l).ok())
            .collect();
        let ok = match want {
            None => codes.is_empty(),
            Some(code) => codes == [code.as_str()],
        };
        if !ok {
            f.push(Failure::expect(
                "diagnostics",
                format!(
                    "{name} printed {}, expected {}; stderr: {}",
                    if codes.is_empty() {
                        "no sync_diagnostic".to_string()
                    } else {
                        format!("diagnostic_code {}", codes.join(", "))
                    },
                    want.as_deref().unwrap_or("none"),
                    truncate(stderr.trim(), 400)
                ),
            ));
        }
    }
}

fn queue(o: &Observed, f: &mut Vec<Failure>) {
    let Some(want) = o.sc.expect.queue_depth else {
        return;
    };
    match o.queue {
        Ok(ids) if ids.len() as u64 == want => {}
        Ok(ids) => f.push(Failure::expect(
            "queue_depth",
            format!(
                "{} event(s) are left in the sync queue, expected {want}",
                ids.len()
            ),
        )),
        Err(e) => f.push(Failure::expect(
            "queue_depth",
            format!("cannot read the sync queue: {e}"),
        )),
    }
}

/// The event id a `sync enqueue` process printed.
fn recorded_id(stdout: &str, json: bool) -> Option<String> {
    if json {
        let doc: serde_json::Value = serde_json::from_str(stdout).ok()?;
        doc["event"]["event_id"].as_str().map(str::to_string)
    } else {
        stdout.lines().next().map(|l| l.trim().to_string())
    }
    .filter(|id| !id.is_empty())
}

fn events(o: &Observed, f: &mut Vec<Failure>) {
    let x = &o.sc.expect.saas_events;
    let stats = o.saas_event_stats;
    if let Some(n) = x.delivered {
        if stats.accepted != n {
            f.push(Failure::expect(
                "saas.events.delivered",
                format!(
                    "the fake SaaS accepted {} distinct event(s), expected {n}",
                    stats.accepted
                ),
            ));
        }
    }
    if let Some(n) = x.received {
        if stats.received != n {
            f.push(Failure::expect(
                "saas.events.received",
                format!(
                    "the fake SaaS received {} event(s) ({} duplicate), expected {n}",
                    stats.received, stats.duplicates
                ),
            ));
        }
    }
    if !x.exactly_once {
        return;
    }
    let key = "saas.events.exactly_once";
    let queued: BTreeSet<&str> = match o.queue {
        Ok(ids) => ids.iter().map(String::as_str).collect(),
        Err(e) => {
            f.push(Failure::expect(
                key,
                format!("cannot read the sync queue: {e}"),
            ));
            return;
        }
    };
    let mut delivered: BTreeMap<&str, u32> = BTreeMap::new();
    for id in o.saas_event_ids {
        *delivered.entry(id.as_str()).or_default() += 1;
    }
    for (id, n) in &delivered {
        if *n > 1 {
            f.push(Failure::expect(
                key,
                format!("event {id} was accepted {n} times"),
            ));
        }
        if queued.contains(id) {
            f.push(Failure::expect(
                key,
                format!("event {id} was delivered and is still queued: it would be sent again"),
            ));
        }
    }
    let mut recorded = 0;
    for spec in o.sc.processes.iter().filter(|p| p.records_events()) {
        let p = &o.procs[&spec.name];
        let succeeded = p.kill.is_none() && p.exit.as_ref().and_then(|e| e.code) == Some(0);
        if !succeeded {
            continue;
        }
        let Some(id) = recorded_id(&o.output(&spec.name, true), spec.wants_json()) else {
            f.push(Failure::expect(
                key,
                format!("{} exited 0 but printed no event id", spec.name),
            ));
            continue;
        };
        recorded += 1;
        if !delivered.contains_key(id.as_str()) && !queued.contains(id.as_str()) {
            f.push(Failure::expect(
                key,
                format!(
                    "event {id} recorded by {} was lost: neither delivered nor queued",
                    spec.name
                ),
            ));
        }
    }
    if recorded == 0 {
        f.push(Failure::expect(
            key,
            "no `sync enqueue` process recorded an event, so nothing could be delivered exactly once",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shape_is_checked() {
        let good = "sync_diagnostic severity=warning diagnostic_code=sync.server_unreachable fatal=false sync_phase=final_sync message=x y";
        assert_eq!(parse_line(good), Ok("sync.server_unreachable"));
        assert!(parse_line("sync_diagnostic severity=error diagnostic_code=x").is_err());
        assert!(parse_line(
            "sync_diagnostic severity=warning diagnostic_code=sync.x fatal=true sync_phase=final_sync message="
        )
        .is_err());
        assert_eq!(diagnostic_lines("a\nsync_diagnostic x\nb\n").len(), 1);
    }

    #[test]
    fn recorded_ids_come_from_json_or_the_first_line() {
        assert_eq!(
            recorded_id("{\"event\": {\"event_id\": \"ab\"}}\n", true).as_deref(),
            Some("ab")
        );
        assert_eq!(recorded_id("cd\n", false).as_deref(), Some("cd"));
        assert_eq!(recorded_id("", false), None);
    }
}
