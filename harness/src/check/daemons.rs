//! `[expect.daemons]`: the daemons serving the scenario's root just before teardown (how many,
//! which process is behind the recorded singleton, who reported it), and the always-on rule
//! that every decoy listener the scenario placed in the port range is still listening.

use super::observed::Observed;
use super::process::json_path;
use crate::report::model::Failure;

/// Every failed daemon expectation, and any decoy that lost its port.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f: Vec<Failure> = o
        .decoys_lost
        .iter()
        .map(|port| {
            Failure::Invariant(format!(
                "the decoy listener on port {port} no longer listens: something touched a listener that is not ours"
            ))
        })
        .collect();
    let Some(exp) = &o.sc.expect.daemons else {
        return f;
    };
    let census = o.census;
    let listing = || {
        census
            .daemons
            .iter()
            .map(|(pid, name)| format!("pid {pid} ({name})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(n) = exp.alive {
        if census.daemons.len() != n as usize {
            f.push(Failure::expect(
                "daemons.alive",
                format!(
                    "{} daemon(s) serve the root at the end, expected {n}: [{}]",
                    census.daemons.len(),
                    listing()
                ),
            ));
        }
    }
    if !exp.singleton.is_empty() {
        match census.singleton() {
            Some(found) if exp.singleton.iter().any(|n| n == found) => {}
            found => f.push(Failure::expect(
                "daemons.singleton",
                format!(
                    "the state file names pid {:?} ({}), expected a daemon of {}; daemons: [{}]",
                    census.recorded_pid,
                    found.unwrap_or("no live daemon"),
                    exp.singleton.join(" or "),
                    listing()
                ),
            )),
        }
    }
    for name in &exp.reported_by {
        let stdout = o.output(name, true);
        let json: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
        let pid = json
            .as_ref()
            .and_then(|v| json_path(v, "pid"))
            .and_then(|v| v.as_u64());
        let port = json
            .as_ref()
            .and_then(|v| json_path(v, "port"))
            .and_then(|v| v.as_u64());
        let want = (
            census.recorded_pid.map(u64::from),
            census.recorded_port.map(u64::from),
        );
        if (pid, port) != want || want.0.is_none() {
            f.push(Failure::expect(
                "daemons.reported_by",
                format!(
                    "{name} reported pid {pid:?} port {port:?}, the singleton is pid {:?} port {:?}",
                    want.0, want.1
                ),
            ));
        }
    }
    f
}
