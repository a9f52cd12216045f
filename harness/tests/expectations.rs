//! The expectation keys and runner fixes of issue 8, end to end: server-side session state,
//! tokens named by label or generation, exit sets, strict outcome counts, variants that replace
//! steps, self-explaining `*_contains` messages, and the implicit step's position.

mod common;

use common::{assert_failure, assert_passed, failures, run, HEAD};
use harness::{parse_str, run_scenario, RunOptions};
use std::path::{Path, PathBuf};

fn catalogue(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_family_revocation_is_proved_by_the_servers_state_and_fails_under_reject() {
    let src = catalogue("family-revoked.toml");
    let r = run("family-revoked", &src);
    assert_passed(&r);
    // The same ordering against a server that only rejects: the logout would not have been
    // legitimate, and the server-state expectation says so.
    let r = run(
        "family-revoked-reject",
        &src.replace("reuse = \"revoke_family\"", "reuse = \"reject\""),
    );
    assert_failure(
        &r,
        "expect.saas.session: the seeded session (sess_1) is not family_revoked: it is active (reason: none, reuse detections: 1)",
    );
}

#[test]
fn server_state_names_revocation_reasons_and_counts_reuse() {
    let r = run(
        "server-state",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
saas = \"revoke_session\"
[[step]]
run = \"A\"
[[expect.saas.session]]
state = \"family_revoked\"
[[expect.saas.session]]
session = \"latest\"
state = \"revoked\"
reason = \"admin\"
reuse_detections = 0
"
        ),
    );
    // The admin revocation is a revocation, not a family revocation.
    assert_failure(&r, "is not family_revoked: it is revoked (reason: admin");
    assert_eq!(failures(&r).len(), 1, "{:#?}", failures(&r));
}

#[test]
fn printed_token_names_a_token_by_label_or_generation_when_the_session_is_gone() {
    let r = run(
        "printed",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[process]]
name = \"L\"
args = [\"auth\", \"logout\"]
[[step]]
run = \"A\"
[[step]]
run = \"L\"
[expect]
session = \"absent\"
printed_token = {{ A = \"A1\" }}
"
        ),
    );
    assert_passed(&r);
    let r = run(
        "printed-generation",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
printed_token = {{ A = {{ generation = 3 }} }}
"
        ),
    );
    assert_failure(
        &r,
        "expect.printed_token: A printed A1, expected the access token of generation 3",
    );
}

#[test]
fn exit_accepts_a_set_for_a_race_without_a_fixed_winner() {
    let src = format!(
        "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
exit = {{ A = [1, 0] }}
"
    );
    assert_passed(&run("exit-set", &src));
    let r = run("exit-set-miss", &src.replace("[1, 0]", "[1, 3]"));
    assert_failure(&r, "expect.exit: A exit 0, expected one of exit 1, exit 3");
}

#[test]
fn outcome_counts_exact_refuses_unlisted_outcomes() {
    let src = format!(
        "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[process]]
name = \"B\"
args = [\"auth\", \"token\"]
[[step]]
run = \"A\"
[[step]]
run = \"B\"
[expect]
outcome_counts = {{ refreshed = 1 }}
"
    );
    // One after the other, B finds A's fresh token and runs no transaction: only `refreshed`
    // is reported. Released together, the loser adopts the winner's session: the lenient form
    // ignores that unlisted outcome, the strict one does not.
    assert_passed(&run("lenient", &src));
    let strict = src.replace("outcome_counts = ", "outcome_counts_exact = ");
    assert!(strict.contains("outcome_counts_exact = { refreshed = 1 }"));
    assert_passed(&run("strict-ok", &strict));
    let together = src.replace(
        "[[step]]\nrun = \"A\"\n[[step]]\nrun = \"B\"\n",
        "[[step]]\nrun = [\"A\", \"B\"]\nuntil = \"session.loaded\"\n[[step]]\nrun = [\"A\", \"B\"]\n",
    );
    assert_passed(&run("lenient-together", &together));
    let r = run(
        "strict-together",
        &together.replace("outcome_counts = ", "outcome_counts_exact = "),
    );
    assert_failure(
        &r,
        "expect.outcome_counts_exact: adopted_newer reported 1 time(s), but it is not listed",
    );
}

#[test]
fn a_variant_can_replace_the_steps() {
    let src = format!(
        "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
exit = {{ A = 0 }}
[[variant]]
name = \"free\"
[[variant]]
name = \"killed\"
[[variant.step]]
kill = \"A\"
at = \"refresh.network_before\"
[variant.expect]
exit = {{ A = \"killed\" }}
saas.requests.\"/oauth/token\" = 0
"
    );
    let scenarios = parse_str(Path::new("v.toml"), &src).unwrap();
    let opts = RunOptions {
        executor: PathBuf::from(env!("CARGO_BIN_EXE_scenario")),
        ..RunOptions::default()
    };
    assert_eq!(scenarios.len(), 2);
    for sc in &scenarios {
        assert_passed(&run_scenario(sc, &opts));
    }
}

#[test]
fn a_contains_failure_says_what_was_compared() {
    let r = run(
        "contains",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
stdout_contains = {{ A = \"‹A1›\" }}
"
        ),
    );
    let f = failures(&r);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with("expect.stdout_contains: stdout of A does not contain the expected text \"‹A1›\", written with a token label"),
        "{}",
        f[0]
    );
    assert!(
        f[0].contains("the stdout (tokens shown as ‹labels›) was \"‹A1›\\n\""),
        "{}",
        f[0]
    );
}

#[test]
fn the_implicit_step_has_no_line() {
    let r = run(
        "implicit",
        "[scenario]
name = \"t\"
description = \"no steps; the token endpoint hangs past the budget\"
budget_s = 1
[seed.session]
access_expires_in_s = -60
[[saas.fault]]
endpoint = \"/oauth/token\"
action = \"delay_only\"
delay_ms = 5000
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[expect]
exit = { A = 0 }
",
    );
    assert_failure(
        &r,
        "implicit step (no [[step]] declared: every process runs to exit): hard budget of 1.0 s exceeded",
    );
    assert!(
        !failures(&r).iter().any(|f| f.contains("(line ")),
        "{:#?}",
        failures(&r)
    );
}
