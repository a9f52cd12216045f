//! Helpers shared by the runner tests: run a scenario text with the `scenario` binary as the
//! executor, and assert on its report.

#![allow(dead_code)]

use harness::{parse_str, run_scenario, RunOptions, ScenarioReport};
use std::path::{Path, PathBuf};

pub fn run(name: &str, src: &str) -> ScenarioReport {
    let mut scenarios = parse_str(Path::new(&format!("{name}.toml")), src)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{e}"));
    assert_eq!(scenarios.len(), 1);
    let opts = RunOptions {
        executor: PathBuf::from(env!("CARGO_BIN_EXE_scenario")),
        ..RunOptions::default()
    };
    run_scenario(&scenarios.remove(0), &opts)
}

pub fn assert_failure(r: &ScenarioReport, needle: &str) {
    assert!(!r.passed, "{} passed unexpectedly", r.id);
    assert!(
        r.failures.iter().any(|f| f.to_string().contains(needle)),
        "no failure contains {needle:?}: {:#?}\n{}",
        r.failures,
        r.timeline.render_text()
    );
}

pub fn assert_all_dead(r: &ScenarioReport) {
    for p in &r.processes {
        if let Some(pid) = p.pid {
            let alive = rustix::process::test_kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
            )
            .is_ok();
            assert!(!alive, "{} (pid {pid}) is still alive", p.name);
        }
    }
}

pub const HEAD: &str =
    "[scenario]\nname = \"t\"\ndescription = \"d\"\n[seed.session]\naccess_expires_in_s = -60\n";

/// The failures of `r`, one line each.
pub fn failures(r: &ScenarioReport) -> Vec<String> {
    r.failures.iter().map(|f| f.to_string()).collect()
}

/// Panics with the failures and the timeline unless `r` passed.
pub fn assert_passed(r: &ScenarioReport) {
    assert!(
        r.passed,
        "{} failed: {:#?}\n{}",
        r.id,
        failures(r),
        r.timeline.render_text()
    );
}
