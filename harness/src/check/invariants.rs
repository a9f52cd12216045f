//! The always-on invariants, checked for every scenario whatever its `[expect]` says: the
//! session file was never seen half-written; no issued token in any stderr, nor in any stdout
//! but that of `auth token`; every `--json` stdout is exactly one JSON value; the refresh lock
//! is free at the end (unless `expect.lock_held` says otherwise); every declared fault fired;
//! the sync protocol saw no stranger. (No process left running is checked at teardown.)

use super::observed::{truncate, Observed};
use crate::report::model::Failure;

/// Every broken invariant.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    for v in o.versions {
        if let (Some(why), false) = (&v.invalid, v.injected) {
            f.push(Failure::Invariant(format!(
                "session.json was seen half-written or malformed at {:.1} ms: {why}",
                v.t_ms
            )));
        }
    }
    for spec in &o.sc.processes {
        let Some((stdout, stderr)) = o.outputs.get(&spec.name) else {
            continue;
        };
        for (tok, label, refresh) in o.tokens.all() {
            let kind = if refresh { "refresh" } else { "access" };
            if stderr.contains(tok) {
                f.push(Failure::Invariant(format!(
                    "stderr of {} contains {kind} token {label}",
                    spec.name
                )));
            }
            if stdout.contains(tok) && !spec.prints_token() {
                f.push(Failure::Invariant(format!(
                    "stdout of {} contains {kind} token {label} (only `auth token` may print one)",
                    spec.name
                )));
            }
        }
        let p = &o.procs[&spec.name];
        if spec.wants_json() && p.kill.is_none() && p.exit.is_some() {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(stdout) {
                f.push(Failure::Invariant(format!(
                    "stdout of {} (--json) is not exactly one JSON value: {e}; stdout was {:?}",
                    spec.name,
                    truncate(stdout, 300)
                )));
            }
        }
    }
    match (o.lock_held_at_end, o.sc.expect.lock_held) {
        (Ok(held), Some(expected)) if *held != expected => f.push(Failure::expect(
            "lock_held",
            format!(
                "the refresh lock is {}held at the end, expected {}held",
                if *held { "" } else { "not " },
                if expected { "" } else { "not " }
            ),
        )),
        (Ok(true), None) => f.push(Failure::Invariant(
            "the refresh lock is still held at the end".into(),
        )),
        (Err(e), _) => f.push(Failure::Invariant(format!(
            "cannot probe the refresh lock at the end: {e}"
        ))),
        _ => {}
    }
    for name in o.declared_saas_faults {
        if o.faults_fired.get(name).copied().unwrap_or(0) == 0 {
            f.push(Failure::Unfired(format!(
                "fault {name:?} on the fake SaaS never fired"
            )));
        }
    }
    for p in o.procs.values() {
        for (i, fault) in p.faults.iter().enumerate() {
            if p.faults_fired.get(i).copied().unwrap_or(0) == 0 {
                f.push(Failure::Unfired(format!(
                    "fault {:?} at {} (hit #{}) of {} never fired: {} reached it {} time(s)",
                    fault.action,
                    fault.point,
                    fault.nth,
                    p.name,
                    p.name,
                    p.counts.get(&fault.point).copied().unwrap_or(0)
                )));
            }
        }
    }
    for a in o.anomalies {
        f.push(Failure::SyncProtocol(a.clone()));
    }
    f
}
