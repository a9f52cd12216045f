//! External `command` participants and the `await_saas` step, end to end: real child processes
//! (any program, in the scenario's isolated environment), ordered by `until = "exit"` while the
//! other processes are held, and by what they send to the fake SaaS.

mod common;

use common::{assert_all_dead, assert_failure, assert_passed, run, HEAD};

/// A shell script standing in for any client of the runtime root: it proves it got the
/// scenario's root, SaaS and home, and none of the runner's own variables.
const PROBE: &str = r#"[ -s "$SPEC_KITTY_HOME/auth/session.json" ] && echo "root: seeded session visible"
case "$SPEC_KITTY_SAAS_URL" in http://127.0.0.1:*) echo "saas: loopback";; esac
case "$XDG_CACHE_HOME" in "$HOME"/*) echo "cache: under the scenario home";; esac
[ -z "$KITTY_SCENARIO_SOCKET" ] && echo "runner variables: none"
exit 3"#;

fn probe_scenario(expected_exit: u32) -> String {
    let script = PROBE
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!(
        "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[process]]
name = \"C\"
command = [\"sh\", \"-c\", \"{script}\"]
[[step]]
run = \"A\"
until = \"session.loaded\"
[[step]]
run = \"C\"
until = \"exit\"
[[step]]
run = \"A\"
[expect]
exit = {{ A = 0, C = {expected_exit} }}
stdout_contains = {{ C = [\"root: seeded session visible\", \"saas: loopback\", \"cache: under the scenario home\", \"runner variables: none\"] }}
order = [\"A:session.loaded\", \"C:exit\", \"A:refresh.lock_wait\"]
"
    )
}

#[test]
fn an_external_command_runs_in_the_scenarios_environment_between_held_points() {
    let r = run("command", &probe_scenario(3));
    assert_passed(&r);
    let text = r.timeline.render_text();
    assert!(text.contains("pid ") && text.contains("sh -c"), "{text}");
    assert!(text.contains("runner variables: none"), "{text}");
    assert_all_dead(&r);
}

#[test]
fn an_external_command_with_another_exit_fails_the_scenario() {
    let r = run("command-exit", &probe_scenario(0));
    assert_failure(&r, "expect.exit: C exit 3, expected exit 0");
}

#[test]
fn a_missing_program_fails_the_step_that_starts_it() {
    let r = run(
        "command-missing",
        &format!(
            "{HEAD}
[[process]]
name = \"C\"
command = [\"/nonexistent/kitty-program\"]
[expect]
exit = {{ C = 0 }}
"
        ),
    );
    assert_failure(&r, "cannot start C (/nonexistent/kitty-program)");
}

#[test]
fn await_saas_orders_a_process_by_the_request_it_sent() {
    let r = run(
        "await",
        &format!(
            "{HEAD}
[[saas.fault]]
endpoint = \"/oauth/token\"
action = \"delay_only\"
delay_ms = 300
[[process]]
name = \"C\"
args = [\"auth\", \"token\"]
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
release = \"C\"
[[step]]
await_saas = {{ \"/oauth/token\" = 1 }}
[[step]]
run = \"A\"
until = \"refresh.lock_busy\"
[[step]]
run = [\"A\", \"C\"]
[expect]
outcomes = {{ C = \"refreshed\", A = \"adopted_newer\" }}
saas.requests.\"/oauth/token\" = 1
"
        ),
    );
    assert_passed(&r);
    assert!(r
        .timeline
        .render_text()
        .contains("received 1 request(s) to /oauth/token"));
}

#[test]
fn await_saas_for_a_request_that_never_comes_fails_within_the_budget() {
    let r = run(
        "await-never",
        "[scenario]\nname = \"t\"\ndescription = \"d\"\nbudget_s = 2\n[seed.session]\n
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
run = \"A\"
[[step]]
await_saas = { \"/oauth/token\" = 1 }
[expect]
exit = { A = 0 }
",
    );
    assert_failure(
        &r,
        "hard budget of 2.0 s exceeded while waiting for 1 request(s) to /oauth/token (received 0)",
    );
}

/// Runs `scenario run` on a Python scenario where `python3` cannot be found and the cache is
/// empty: the venv cannot be installed.
fn run_without_python(require: Option<&str>) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("py.toml");
    std::fs::write(
        &file,
        format!(
            "{HEAD}
[[process]]
name = \"P\"
command = [\"{{python_spec_kitty}}\", \"auth\", \"status\"]
[expect]
exit = {{ P = 0 }}
"
        ),
    )
    .unwrap();
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_scenario"));
    cmd.timeout(std::time::Duration::from_secs(120))
        .arg("run")
        .arg(&file)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("PATH", dir.path().join("no-such-bin"))
        .env_remove(harness_require_env());
    if let Some(v) = require {
        cmd.env(harness_require_env(), v);
    }
    cmd.output().unwrap()
}

fn harness_require_env() -> &'static str {
    "KITTY_AUTH_REQUIRE_PYTHON"
}

#[test]
fn a_python_scenario_is_skipped_with_the_reason_where_python_cannot_be_installed() {
    let out = run_without_python(None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("SKIP py ("), "{stdout}");
    assert!(
        stdout.contains("spec-kitty-cli==3.2.7) cannot be installed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 passed (1 skipped), 0 failed"),
        "{stdout}"
    );
}

#[test]
fn a_python_scenario_fails_where_python_is_required_and_cannot_be_installed() {
    let out = run_without_python(Some("1"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("KITTY_AUTH_REQUIRE_PYTHON is set: it is required here"),
        "{stderr}"
    );
}

fn threads_scenario(expect: &str) -> String {
    format!(
        "{HEAD}
[[process]]
name = \"T\"
threads = 6
[expect]
{expect}"
    )
}

#[test]
fn six_threads_of_one_token_manager_make_one_transaction_and_one_request() {
    let r = run(
        "threads",
        &threads_scenario(
            "exit = { T = 0 }
stdout_contains = { T = \"threads=6 ok=6 distinct_tokens=1\" }
outcomes = { T = [\"refreshed\"] }
saas.requests.\"/oauth/token\" = 1
",
        ),
    );
    assert_passed(&r);
    // Its stdout is a summary, never a token (the always-on invariant covers it too).
    let p = &r.processes[0];
    assert!(p.command.contains("token-threads 6"), "{}", p.command);
    assert!(!p.stdout.contains('‹'), "{}", p.stdout);
}

#[test]
fn a_threads_scenario_expecting_one_request_per_thread_fails() {
    let r = run(
        "threads-wrong",
        &threads_scenario(
            "outcomes = { T = [\"refreshed\", \"refreshed\"] }
saas.requests.\"/oauth/token\" = 6
",
        ),
    );
    assert_failure(&r, "expect.saas.requests");
    assert_failure(&r, "expect.outcomes");
}
