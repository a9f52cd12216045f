//! Tests of the scenario file format that span the submodules (parse, resolve, locate).

use super::values::ExitSet;
use super::*;
use std::time::Duration;

fn parse(src: &str) -> Result<Vec<Scenario>, Invalid> {
    parse_str(Path::new("t.toml"), src)
}

const GOOD: &str = r#"
[scenario]
name = "incident"
description = "B loads, A rotates, B refreshes."

[saas]
rotation = true
reuse = "reject"

[seed.session]
access_expires_in_s = -60

[[process]]
name = "B"
args = ["auth", "token"]

[[process]]
name = "A"
args = ["auth", "token"]
lock_wait_ms = 500

[[step]]
run = "B"
until = "session.loaded"

[[step]]
run = "A"

[[step]]
run = "B"
until = "exit"

[expect]
exit = { A = 0, B = 0 }
saas.requests."/oauth/token" = 1
session = "present"
session_refresh_token = "saas:latest"
outcomes = { A = "refreshed", B = "adopted_newer" }
"#;

#[test]
fn good_file_resolves() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!(s.id, "t");
    assert_eq!(s.budget, Duration::from_secs(30));
    assert_eq!(s.processes.len(), 2);
    assert_eq!(s.steps.len(), 3);
    assert!(
        matches!(&s.steps[0].action, Action::Run { until: Until::Point { point, nth: 1 }, .. } if point == "session.loaded")
    );
    assert!(matches!(
        &s.steps[1].action,
        Action::Run {
            until: Until::Exit,
            ..
        }
    ));
    assert_eq!(s.expect.exit["A"], ExitSet(vec![ExitExpect::Code(0)]));
    assert_eq!(s.expect.saas_requests["/oauth/token"], 1);
    assert_eq!(s.expect.session_refresh_token, Some(TokenRef::SaasLatest));
    assert_eq!(
        s.expect.outcomes["B"],
        OutcomeExpect::All("adopted_newer".into())
    );
    assert_eq!(s.seed.session.as_ref().unwrap().access_expires_in_s, -60);
    assert!(s.processes[0].prints_token());
    assert_eq!(s.steps[0].line, Some(22));
}

fn first_error(src: &str) -> Diagnostic {
    parse(src).unwrap_err().0.remove(0)
}

#[test]
fn unknown_key_names_line_and_expected_keys() {
    let src = GOOD.replace("lock_wait_ms = 500", "lock_wait = 500");
    let d = first_error(&src);
    assert_eq!(d.line, 20, "{d}");
    assert!(d.message.contains("unknown field `lock_wait`"), "{d}");
    assert!(d.message.contains("lock_wait_ms"), "{d}");
}

#[test]
fn unknown_point_is_located() {
    let src = GOOD.replace("until = \"session.loaded\"", "until = \"session.loadded\"");
    let d = first_error(&src);
    assert_eq!(d.line, 24, "{d}");
    assert!(d.message.contains("session.loadded"), "{d}");
    assert!(
        d.expected
            .as_deref()
            .unwrap()
            .contains("refresh.lock_acquired"),
        "{d}"
    );
}

#[test]
fn unknown_process_in_step_and_expect() {
    let src = GOOD.replace("run = \"A\"", "run = \"Q\"");
    let err = parse(&src).unwrap_err();
    let d = &err.0[0];
    assert_eq!(d.line, 27, "{err}");
    assert!(d.message.contains("\"Q\""), "{err}");
    assert!(d.expected.as_deref().unwrap().contains("A, B"), "{err}");
    // A is now never run.
    assert!(
        err.0
            .iter()
            .any(|d| d.message.contains("no step runs it") && d.line == 18),
        "{err}"
    );

    let src = GOOD.replace("exit = { A = 0, B = 0 }", "exit = { A = 0, C = 0 }");
    let d = first_error(&src);
    assert_eq!(d.line, 34, "{d}");
    assert!(d.message.contains("\"C\""), "{d}");
}

#[test]
fn step_with_two_actions_or_none() {
    let src = GOOD.replace("run = \"A\"", "run = \"A\"\nsleep_ms = 3");
    let d = first_error(&src);
    assert!(d.message.contains("several actions"), "{d}");
    assert_eq!(d.line, 28, "{d}");
    let src = GOOD.replace("run = \"A\"", "note = \"nothing\"");
    let err = parse(&src).unwrap_err();
    assert!(
        err.0.iter().any(|d| d.message.contains("does nothing")),
        "{err}"
    );
}

#[test]
fn bad_values_are_typed_errors() {
    let d = first_error(&GOOD.replace("reuse = \"reject\"", "reuse = \"explode\""));
    assert_eq!(d.line, 8, "{d}");
    assert!(d.message.contains("explode"), "{d}");
    let d = first_error(&GOOD.replace("exit = { A = 0, B = 0 }", "exit = { A = 0, B = \"dead\" }"));
    assert!(d.message.contains("\"killed\""), "{d}");
    let d = first_error(&GOOD.replace("session = \"present\"", "session = \"gone\""));
    assert!(
        d.message.contains("gone") && d.message.contains("absent"),
        "{d}"
    );
    let d = first_error(&GOOD.replace(
        "outcomes = { A = \"refreshed\"",
        "outcomes = { A = \"refresh\"",
    ));
    assert!(d.message.contains("\"refresh\""), "{d}");
    assert_eq!(d.line, 38, "{d}");
}

#[test]
fn reserved_env_is_rejected() {
    let src = GOOD.replace("lock_wait_ms = 500", "env = { SPEC_KITTY_HOME = \"/tmp\" }");
    let d = first_error(&src);
    assert!(d.message.contains("SPEC_KITTY_HOME"), "{d}");
    assert_eq!(d.line, 20, "{d}");
}

#[test]
fn lock_hold_must_be_released() {
    let src = GOOD.replace(
        "[[step]]\nrun = \"A\"\n",
        "[[step]]\nlock = \"hold\"\n[[step]]\nrun = \"A\"\n",
    );
    let err = parse(&src).unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|d| d.message.contains("still holds the refresh lock")),
        "{err}"
    );
}

#[test]
fn replicas_expand_and_groups_apply() {
    let src = r#"
[scenario]
name = "n"
description = "d"
[seed.session]
[[process]]
name = "W"
args = ["auth", "token"]
replicas = 3
[expect]
exit = { W = 0 }
outcome_counts = { refreshed = 1, adopted_newer = 2 }
"#;
    let s = parse(src).unwrap().remove(0);
    assert_eq!(
        s.processes
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["W#1", "W#2", "W#3"]
    );
    assert_eq!(s.expect.exit.len(), 3);
    assert!(
        matches!(&s.steps[0].action, Action::Run { procs, until: Until::Exit } if procs.len() == 3)
    );
}

#[test]
fn variants_make_one_scenario_each() {
    let src = format!(
        "{GOOD}\n[[variant]]\nname = \"grace\"\n[variant.saas]\nreuse = \"grace\"\n\n[[variant]]\nname = \"reject\"\n[variant.expect]\nsession = \"absent\"\n"
    );
    let s = parse(&src).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].id, "t/grace");
    assert_eq!(s[0].saas.reuse, fake_saas::ReusePolicy::Grace);
    assert_eq!(s[0].expect.session, Some(SessionState::Present));
    assert_eq!(s[1].saas.reuse, fake_saas::ReusePolicy::Reject);
    assert_eq!(s[1].expect.session, Some(SessionState::Absent));
    assert!(s[1].expect.exit.is_empty());
}

#[test]
fn saas_semantic_error_is_located() {
    let src = GOOD.replace("reuse = \"reject\"", "reuse = \"reject\"\naccess_ttl_s = 0");
    let d = first_error(&src);
    assert!(d.message.contains("access_ttl_s"), "{d}");
    assert_eq!(d.line, 9, "{d}");
}

#[test]
fn corruption_needs_one_change() {
    let src = GOOD.replace(
        "[seed.session]\n",
        "[[seed.corrupt]]\nfile = \"session\"\ntruncate = 3\ndelete = true\n[seed.session]\n",
    );
    let d = first_error(&src);
    assert!(d.message.contains("exactly one change"), "{d}");
    assert_eq!(d.line, 10, "{d}");
}

#[test]
fn a_scenario_must_assert_something() {
    let src = GOOD.split("[expect]").next().unwrap().to_string();
    let d = first_error(&src);
    assert!(d.message.contains("asserts nothing"), "{d}");
    assert_eq!(d.line, 2, "{d}");
    // A check step is an assertion.
    let with_check = src.replace(
        "[[step]]\nrun = \"A\"\n",
        "[[step]]\nrun = \"A\"\n[[step]]\ncheck = { session = \"present\" }\n",
    );
    assert!(parse(&with_check).is_ok());
    // A variant with an empty [variant.expect] is pointed at.
    let v = format!("{GOOD}\n[[variant]]\nname = \"v\"\n[variant.expect]\n");
    let d = first_error(&v);
    assert!(d.message.contains("asserts nothing"), "{d}");
    assert_eq!((d.line, d.column), (42, 10), "{d}");
}

#[test]
fn legacy_points_only_on_the_legacy_client() {
    let src = GOOD.replace("until = \"session.loaded\"", "until = \"legacy.loaded\"");
    let d = first_error(&src);
    assert!(d.message.contains("never reaches \"legacy.loaded\""), "{d}");
    assert_eq!(d.line, 24, "{d}");
    let src = GOOD.replace("order = [", "order = [\"A:legacy.persisted\", ");
    let src = src.replace(
        "outcomes = { A = \"refreshed\", B = \"adopted_newer\" }",
        "outcomes = { A = \"refreshed\", B = \"adopted_newer\" }\norder = [\"B:exit\", \"A:legacy.deleted\"]",
    );
    let d = first_error(&src);
    assert!(
        d.message.contains("never reaches \"legacy.deleted\""),
        "{d}"
    );
}

#[test]
fn new_expectation_keys_resolve_and_refuse_contradictions() {
    let src = GOOD.replace(
        "exit = { A = 0, B = 0 }",
        "exit = { A = [0, 3], B = 0 }\nprinted_token = { A = \"A1\", B = { generation = 2 } }\noutcome_counts_exact = { refreshed = 1, adopted_newer = 1 }",
    ) + "\n[[expect.saas.session]]\nstate = \"active\"\nreuse_detections = 0\n";
    let s = parse(&src).unwrap().remove(0);
    assert_eq!(
        s.expect.exit["A"],
        ExitSet(vec![ExitExpect::Code(0), ExitExpect::Code(3)])
    );
    assert_eq!(
        s.expect.printed_token["A"],
        PrintedToken::Label("A1".into())
    );
    assert_eq!(s.expect.printed_token["B"], PrintedToken::Generation(2));
    assert!(s.expect.outcome_counts_exact);
    assert_eq!(s.expect.saas_sessions.len(), 1);
    assert_eq!(s.expect.saas_sessions[0].session, SessionRef::Seed);

    let bad = |from: &str, to: &str| first_error(&src.replace(from, to));
    let d = bad("A = [0, 3]", "A = []");
    assert!(d.message.contains("empty set of exits"), "{d}");
    let d = bad("A = \"A1\"", "A = \"R1\"");
    assert!(d.message.contains("refresh token"), "{d}");
    let d = bad(
        "outcome_counts_exact",
        "outcome_counts = { refreshed = 1 }\noutcome_counts_exact",
    );
    assert!(d.message.contains("cannot both be set"), "{d}");
    let d = bad(
        "state = \"active\"",
        "state = \"active\"\nreason = \"admin\"",
    );
    assert!(d.message.contains("contradicts"), "{d}");
    let d = bad("state = \"active\"", "reason = \"stolen\"");
    assert!(d.message.contains("unknown revocation reason"), "{d}");
}

#[test]
fn a_variant_can_replace_the_steps() {
    let src = format!(
        "{GOOD}\n[[variant]]\nname = \"same\"\n\n[[variant]]\nname = \"other\"\n[[variant.step]]\nrun = [\"A\", \"B\"]\n[[variant.step]]\nsleep_ms = 1\n"
    );
    let s = parse(&src).unwrap();
    assert_eq!(s[0].steps.len(), 3);
    assert_eq!(s[1].steps.len(), 2);
    assert_eq!(s[1].steps[0].line, Some(45));
    // Replaced steps are validated like the file's: every process must still be run.
    let src = format!("{GOOD}\n[[variant]]\nname = \"v\"\n[[variant.step]]\nrun = \"A\"\n");
    let err = parse(&src).unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|d| d.message.contains("`B` is declared but no step runs it")),
        "{err}"
    );
}

#[test]
fn an_external_command_reaches_no_point_and_takes_no_hook() {
    let head = "[scenario]\nname = \"t\"\ndescription = \"d\"\n[[process]]\nname = \"P\"\ncommand = [\"{python_spec_kitty}\", \"auth\", \"status\"]\n";
    let ok = format!("{head}[expect]\nexit = {{ P = 0 }}\norder = [\"P:start\", \"P:exit\"]\n");
    let sc = parse(&ok).unwrap();
    assert!(sc[0].needs_python());
    let refused = [
        ("[[process.fault]]\npoint = \"session.loaded\"\naction = \"fail\"\n[expect]\nexit = { P = 0 }\n", "`fault` could never act on it"),
        ("lock_wait_ms = 300\n[expect]\nexit = { P = 0 }\n", "`lock_wait_ms` could never act on it"),
        ("[[step]]\nrun = \"P\"\nuntil = \"session.loaded\"\n[expect]\nexit = { P = 0 }\n", "reaches no sync point"),
        ("[expect]\norder = [\"P:refresh.lock_wait\", \"P:exit\"]\n", "reaches no sync point"),
    ];
    for (tail, message) in refused {
        let e = first_error(&format!("{head}{tail}"));
        assert!(e.message.contains(message), "{tail}: {}", e.message);
    }
    let typo = first_error("[scenario]\nname = \"t\"\ndescription = \"d\"\n[[process]]\nname = \"P\"\ncommand = [\"{python_spec_kity}\"]\n[expect]\nexit = { P = 0 }\n");
    assert!(
        typo.message.contains("unknown placeholder"),
        "{}",
        typo.message
    );
    let both = first_error("[scenario]\nname = \"t\"\ndescription = \"d\"\n[[process]]\nname = \"P\"\ncommand = [\"sh\"]\nargs = [\"auth\"]\n[expect]\nexit = { P = 0 }\n");
    assert!(
        both.message.contains("does not go with `args`"),
        "{}",
        both.message
    );
}

#[test]
fn await_saas_names_known_endpoints() {
    let e = first_error("[scenario]\nname = \"t\"\ndescription = \"d\"\n[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[[step]]\nrelease = \"A\"\n[[step]]\nawait_saas = { \"/oauth/tokn\" = 1 }\n[expect]\nexit = { A = 0 }\n");
    assert!(e.message.contains("unknown SaaS endpoint"), "{}", e.message);
}

#[test]
fn named_tokens_order_chains_and_lock_file_keys_are_checked() {
    let head = "[scenario]\nname = \"t\"\ndescription = \"d\"\n[seed.session]\n[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[expect]\n";
    let sc = parse(&format!("{head}session_refresh_token = \"R2\"\nsaas.revoked_token = {{ generation = 1 }}\norder = [[\"A:start\", \"A:exit\"], [\"A:session.loaded\", \"A:exit\"]]\n")).unwrap();
    assert_eq!(
        sc[0].expect.session_refresh_token,
        Some(TokenRef::Label("R2".into()))
    );
    assert_eq!(sc[0].expect.order.len(), 2);
    let cases = [
        ("session_refresh_token = \"A1\"\n", "labels an access token"),
        (
            "session_access_token = \"saas:latest\"\n",
            "this key names an access token",
        ),
        ("order = [\"A:start\", [\"A:exit\"]]\n", "not both"),
        ("not_reached = { A = \"exit\" }\n", "is not a sync point"),
        (
            "stderr_count = { A = {} }\n",
            "a count needs a non-empty text",
        ),
        (
            "[expect.lock_file]\npid = \"Z\"\n",
            "neither a declared process nor a pid",
        ),
        (
            "[expect.lock_file]\ncontent = \"empty\"\npid = 5\n",
            "`content` says there is none",
        ),
        ("[expect.lock_file]\n", "asserts nothing"),
    ];
    for (tail, message) in cases {
        let e = first_error(&format!("{head}{tail}"));
        assert!(e.message.contains(message), "{tail}: {}", e.message);
    }
}

#[test]
fn io_faults_need_a_known_op_and_errno() {
    let head = "[scenario]\nname = \"t\"\ndescription = \"d\"\n[seed.session]\n[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[[process.fault]]\npoint = \"refresh.network_after\"\n";
    let tail = "[expect]\nexit = { A = 0 }\n";
    let sc = parse(&format!(
        "{head}action = \"io_fault\"\nop = \"session_write\"\nerrno = \"ENOSPC\"\n{tail}"
    ))
    .unwrap();
    assert_eq!(
        sc[0].processes[0].faults[0].io,
        Some((IoOpName::SessionWrite, "ENOSPC".into(), 28))
    );
    for (fault, message) in [
        (
            "action = \"io_fault\"\nop = \"session_write\"\nerrno = \"ENOSPACE\"\n",
            "unknown errno",
        ),
        ("action = \"io_fault\"\nerrno = \"EIO\"\n", "needs `op`"),
        (
            "action = \"io_fault\"\nop = \"session_read\"\n",
            "needs `op` and `errno`",
        ),
        (
            "action = \"fail\"\nop = \"session_read\"\n",
            "only for action = \"io_fault\"",
        ),
    ] {
        let e = first_error(&format!("{head}{fault}{tail}"));
        assert!(e.message.contains(message), "{fault}: {}", e.message);
    }
    let e = first_error(&format!(
        "{head}action = \"io_fault\"\nop = \"session_wrote\"\nerrno = \"EIO\"\n{tail}"
    ));
    assert!(e.message.contains("session_write"), "{}", e.message);
}

#[test]
fn threads_is_a_program_of_its_own() {
    let head = "[scenario]\nname = \"t\"\ndescription = \"d\"\n[[process]]\nname = \"T\"\n";
    let tail = "[expect]\nexit = { T = 0 }\n";
    let sc = parse(&format!("{head}threads = 4\n{tail}")).unwrap();
    assert_eq!(sc[0].processes[0].program, Program::Threads(4));
    for (keys, message) in [
        ("threads = 0\n", "out of range"),
        (
            "threads = 4\nargs = [\"auth\", \"token\"]\n",
            "does not go with",
        ),
    ] {
        let e = first_error(&format!("{head}{keys}{tail}"));
        assert!(e.message.contains(message), "{keys}: {}", e.message);
    }
}
