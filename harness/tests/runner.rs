//! The runner's failure paths, end to end: real child processes (the `scenario` binary as the
//! executor), checked through the library's reports.

mod common;

use common::{assert_all_dead, assert_failure, run, HEAD};

#[test]
fn the_legacy_client_reproduces_the_original_bug() {
    let r = run(
        "legacy-bug",
        &format!(
            "{HEAD}
[[process]]
name = \"B\"
legacy = true
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
run = \"B\"
until = \"legacy.loaded\"
[[step]]
run = \"A\"
[[step]]
run = \"B\"
[expect]
exit = {{ A = 0, B = 1 }}
session = \"absent\"
stderr_contains = {{ B = \"session deleted\" }}
saas.statuses.\"/oauth/token\" = {{ \"200\" = 1, \"400\" = 1 }}
"
        ),
    );
    assert!(r.passed, "{:#?}\n{}", r.failures, r.timeline.render_text());
}

#[test]
fn a_wrong_expectation_fails_with_the_timeline() {
    let r = run(
        "wrong",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
exit = {{ A = 3 }}
outcomes = {{ A = \"adopted_newer\" }}
"
        ),
    );
    assert_failure(&r, "expect.exit: A exit 0, expected exit 3");
    assert_failure(
        &r,
        "expect.outcomes: A reported refreshed, expected adopted_newer",
    );
    let text = r.timeline.render_text();
    assert!(text.contains("refresh.network_before"), "{text}");
    assert!(text.contains("POST /oauth/token"), "{text}");
    // Tokens never appear in reports, only their labels.
    assert!(!text.contains("rt.") && !text.contains("at.sess"), "{text}");
    assert!(text.contains("‹A1›"), "{text}");
}

#[test]
fn a_kill_that_cannot_fire_fails_the_step() {
    let r = run(
        "kill",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
kill = \"A\"
at = \"logout.before_delete\"
[expect]
exit = {{ A = \"killed\" }}
"
        ),
    );
    assert_failure(
        &r,
        "kill did not fire: A ended (exit 0) before reaching logout.before_delete",
    );
}

#[test]
fn faults_that_never_fire_fail_the_scenario() {
    let r = run(
        "unfired",
        &format!(
            "{HEAD}
[[saas.fault]]
name = \"me-500\"
endpoint = \"/api/v1/me\"
status = 500
[[process]]
name = \"A\"
args = [\"auth\", \"status\"]
[[process.fault]]
point = \"refresh.network_before\"
action = \"fail\"
[expect]
exit = {{ A = 0 }}
"
        ),
    );
    assert_failure(&r, "fault \"me-500\" on the fake SaaS never fired");
    assert_failure(&r, "at refresh.network_before (hit #1) of A never fired");
}

#[test]
fn an_injected_point_failure_fires_and_is_retryable() {
    let r = run(
        "inject",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[process.fault]]
point = \"refresh.network_before\"
action = \"fail\"
message = \"simulated DNS failure\"
[expect]
exit = {{ A = 3 }}
stderr_contains = {{ A = \"simulated DNS failure\" }}
saas.requests.\"/oauth/token\" = 0
session = \"unchanged\"
"
        ),
    );
    assert!(r.passed, "{:#?}\n{}", r.failures, r.timeline.render_text());
}

#[test]
fn a_process_left_held_is_killed_and_reported() {
    let r = run(
        "held",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
run = \"A\"
until = \"refresh.lock_acquired\"
[expect]
exit = {{ A = 0 }}
"
        ),
    );
    assert_failure(&r, "no step let A (held at refresh.lock_acquired) finish");
    assert_failure(
        &r,
        "A was still running at the end (held at refresh.lock_acquired); killed",
    );
    assert_all_dead(&r);
}

#[test]
fn the_budget_is_hard_and_leaves_nothing_behind() {
    let started = std::time::Instant::now();
    let r = run(
        "budget",
        "[scenario]
name = \"t\"
description = \"the runner holds the lock; A waits its default 10 s\"
budget_s = 1
[seed.session]
access_expires_in_s = -60
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
lock = \"hold\"
[[step]]
run = \"A\"
[[step]]
lock = \"release\"
[expect]
exit = { A = 0 }
",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_failure(
        &r,
        "hard budget of 1.0 s exceeded while waiting for A to reach exit",
    );
    assert_all_dead(&r);
}

#[test]
fn replicas_run_concurrently_and_json_is_checked() {
    let r = run(
        "replicas",
        &format!(
            "{HEAD}
[[process]]
name = \"S\"
args = [\"auth\", \"status\", \"--json\"]
replicas = 3
[expect]
exit = {{ S = 0 }}
json = {{ S = {{ \"state\" = \"present\", \"access_token_usable\" = false }} }}
"
        ),
    );
    assert!(r.passed, "{:#?}\n{}", r.failures, r.timeline.render_text());
    assert_eq!(r.processes.len(), 3);
}

#[test]
fn a_stale_lock_record_without_a_flock_does_not_block() {
    let r = run(
        "stale-record",
        &format!(
            "{HEAD}
[seed.lock]
age_s = 1                  # looks fresh, but no process holds the flock
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
exit = {{ A = 0 }}
outcomes = {{ A = \"refreshed\" }}
[[expect.timing]]
process = \"A\"
from = \"refresh.lock_wait\"
to = \"refresh.lock_acquired\"
max_ms = 500
"
        ),
    );
    assert!(r.passed, "{:#?}\n{}", r.failures, r.timeline.render_text());
    assert!(r
        .timeline
        .render_text()
        .contains("seeded a stale lock record"));
}

#[test]
fn runtime_saas_faults_corruption_and_checks() {
    let r = run(
        "runtime",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[process]]
name = \"B\"
args = [\"auth\", \"token\"]
[[process]]
name = \"S\"
args = [\"auth\", \"status\", \"--json\"]
[[step]]
saas_fault = {{ name = \"down\", endpoint = \"/oauth/token\", status = 503, first_n = 1 }}
[[step]]
run = \"A\"
[[step]]
check = {{ exited = \"A\", lock_held = false, session = \"unchanged\", saas_requests = {{ \"/oauth/token\" = 1 }} }}
[[step]]
saas = \"clear_faults\"
[[step]]
run = \"B\"
[[step]]
corrupt = {{ file = \"session\", garbage = \"not json\" }}
[[step]]
run = \"S\"
[expect]
exit = {{ A = 3, B = 0, S = 1 }}
outcomes = {{ A = \"lock_timeout_error\", B = \"refreshed\" }}
json = {{ S = {{ \"state\" = \"unreadable\" }} }}
saas.statuses.\"/oauth/token\" = {{ \"503\" = 1, \"200\" = 1 }}
"
        ),
    );
    // The garbage was written by the scenario itself: not a half-written-file violation.
    assert!(r.passed, "{:#?}\n{}", r.failures, r.timeline.render_text());
    assert!(r
        .timeline
        .render_text()
        .contains("corrupted by the scenario"));
}

#[test]
fn a_failed_check_stops_the_scenario() {
    let r = run(
        "check",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
run = \"A\"
until = \"refresh.lock_acquired\"
[[step]]
check = {{ lock_held = false }}
[[step]]
run = \"A\"
"
        ),
    );
    assert_failure(&r, "check failed: refresh lock held = true, expected false");
    assert_all_dead(&r);
}
