//! The runner's sync side, end to end: the seed-visibility invariant refuses a scenario that
//! seeds where a process does not read (the original's drift), and the sync expectation keys
//! (`diagnostics`, `queue_depth`, `[expect.saas.events]`) pass when true and fail, saying why,
//! when not.

mod common;

use common::{assert_failure, assert_passed, failures, run};
use harness::{parse_str, run_scenario, RunOptions};
use std::path::{Path, PathBuf};

const SEEDED: &str = "[scenario]\nname = \"t\"\ndescription = \"d\"\n[seed.session]\n";

fn opts() -> RunOptions {
    RunOptions {
        executor: PathBuf::from(env!("CARGO_BIN_EXE_scenario")),
        ..RunOptions::default()
    }
}

fn two_status_processes() -> harness::Scenario {
    let src = format!(
        "{SEEDED}
[[process]]
name = \"A\"
args = [\"auth\", \"status\", \"--json\"]
[[process]]
name = \"B\"
args = [\"auth\", \"status\", \"--json\"]
[expect]
exit = {{ A = 0, B = 0 }}
"
    );
    parse_str(Path::new("drift.toml"), &src).unwrap().remove(0)
}

#[test]
fn a_process_reading_another_home_is_refused_before_anything_runs() {
    let elsewhere = tempfile::tempdir().unwrap();
    let mut sc = two_status_processes();
    // A scenario file cannot set SPEC_KITTY_HOME (the schema refuses it); a drift in the runner
    // or an inherited variable could. Model it directly on the resolved scenario.
    sc.processes[1].env.insert(
        "SPEC_KITTY_HOME".into(),
        elsewhere.path().display().to_string(),
    );
    let r = run_scenario(&sc, &opts());
    let f = failures(&r);
    assert!(!r.passed);
    let refusal = f
        .iter()
        .find(|m| m.starts_with("setup: seed visibility: process B"))
        .unwrap_or_else(|| panic!("{f:#?}"));
    // Both paths are named: where B would read, and where the scenario seeded.
    assert!(
        refusal.contains(&format!(
            "{}",
            elsewhere.path().join("auth/session.json").display()
        )),
        "{refusal}"
    );
    assert!(
        refusal.contains("but the scenario seeded") && refusal.contains("/root/auth/session.json"),
        "{refusal}"
    );
    // Nothing ran: the refusal is the setup's, before any step, so it is the only failure (no
    // expectation was judged against a run that did not happen) and no process got a pid.
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        r.processes.iter().all(|p| p.pid.is_none()),
        "{:#?}",
        r.processes
    );
}

#[test]
fn the_originals_drift_an_empty_home_override_falls_back_to_home_and_is_refused() {
    let mut sc = two_status_processes();
    // Empty means unset: production then reads $HOME/.spec-kitty, not the seeded root.
    sc.processes[0]
        .env
        .insert("SPEC_KITTY_HOME".into(), String::new());
    let r = run_scenario(&sc, &opts());
    assert_failure(&r, "seed visibility: process A would read its session from");
    assert_failure(&r, "/home/.spec-kitty/auth/session.json");
}

#[test]
fn a_visible_seed_is_noted_in_the_timeline() {
    let r = run_scenario(&two_status_processes(), &opts());
    assert_passed(&r);
    let text = r.timeline.render_text();
    assert!(
        text.contains("seed visibility: A, B read")
            && text.contains("decrypts to the seeded session"),
        "{text}"
    );
}

#[test]
fn sync_expectations_fail_with_what_was_observed() {
    let r = run(
        "sync-wrong",
        &format!(
            "{SEEDED}
[saas]
[[saas.fault]]
endpoint = \"/api/v1/events/batch/\"
status = 503
[[process]]
name = \"C\"
args = [\"sync\", \"enqueue\", \"t\", \"--json\"]
env = {{ SPEC_KITTY_ENABLE_SAAS_SYNC = \"1\" }}
[expect]
exit = {{ C = 0 }}
diagnostics = {{ C = \"sync.server_auth_failure\" }}
queue_depth = 0
[expect.saas.events]
delivered = 1
exactly_once = true
"
        ),
    );
    assert_failure(
        &r,
        "expect.diagnostics: C printed diagnostic_code sync.server_unreachable, expected sync.server_auth_failure",
    );
    assert_failure(
        &r,
        "expect.queue_depth: 1 event(s) are left in the sync queue, expected 0",
    );
    assert_failure(
        &r,
        "expect.saas.events.delivered: the fake SaaS accepted 0 distinct event(s), expected 1",
    );
    // The event is still queued, so exactly-once itself holds.
    assert!(
        !failures(&r).iter().any(|f| f.contains("exactly_once")),
        "{:#?}",
        failures(&r)
    );
}

#[test]
fn codes_that_are_never_emitted_or_unknown_are_refused_by_check() {
    let src = format!(
        "{SEEDED}
[[process]]
name = \"C\"
args = [\"auth\", \"status\"]
[expect]
diagnostics = {{ C = \"sync.websocket_offline\" }}
[expect.saas.events]
exactly_once = true
"
    );
    let err = parse_str(Path::new("x.toml"), &src)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "sync.websocket_offline is never emitted by this implementation: there is no websocket"
        ),
        "{err}"
    );
    assert!(
        err.contains("`exactly_once` compares what `sync enqueue` processes recorded"),
        "{err}"
    );
    let src = src.replace("sync.websocket_offline", "sync.nope");
    let err = parse_str(Path::new("x.toml"), &src)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown diagnostic code \"sync.nope\""),
        "{err}"
    );
}
