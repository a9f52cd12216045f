//! `scenario explore` as a command, and the scenario keys it brings: its JSON and exit codes, a
//! failing exploration's replay files and pages, what `scenario check` refuses in `[explore]`,
//! `[expect_always]` and `broken`, and `[expect_always]` judged by a plain `scenario run`.

mod common;

use assert_cmd::Command;
use common::{assert_failure, run, HEAD};
use std::path::{Path, PathBuf};

/// The `scenario` binary, killed (and the test failed) if one run takes longer than a hang would.
fn scenario() -> Command {
    let mut cmd = Command::cargo_bin("scenario").unwrap();
    cmd.timeout(std::time::Duration::from_secs(300));
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const ONE_REFRESHER: &str = r#"
[[process]]
name = "A"
args = ["auth", "token"]

[explore]
points = ["refresh.lock_wait", "refresh.network_after"]
"#;

#[test]
fn explore_prints_one_json_document_and_exits_0() {
    let pair = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/explore/refresh-pair.toml");
    let out = scenario()
        .args([
            "explore",
            "--max-schedules",
            "3",
            "--seed",
            "2",
            "-j",
            "1",
            "--json",
        ])
        .arg(&pair)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["explorations"][0];
    assert_eq!(e["id"], "refresh-pair");
    assert_eq!(e["schedules"], 3);
    assert_eq!(e["failed"], 0);
    assert_eq!(e["exhaustive"], false);
    assert!(e["schedules_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        stderr.contains("explore refresh-pair"),
        "the summary goes to stderr: {stderr}"
    );
}

#[test]
fn a_failing_exploration_writes_replays_and_pages_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}{ONE_REFRESHER}\n[expect_always]\nmax_requests = {{ \"/oauth/token\" = 0 }}\n"
    );
    let f = write(dir.path(), "never.toml", &text);
    let report = dir.path().join("report");
    let out = scenario()
        .args(["explore", "--seed", "1", "-j", "1", "--report"])
        .arg(&report)
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "expect_always.max_requests: 1 request(s) to /oauth/token, at most 0 allowed"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("the whole space (exhaustive)"), "{stdout}");
    let replay = report.join("never.schedule-1.replay.toml");
    assert!(stdout.contains(&replay.display().to_string()), "{stdout}");
    assert!(report.join("index.html").exists());
    assert!(
        report.join("never_1.html").exists(),
        "the failing schedule's page"
    );
    let rerun = scenario().arg("run").arg(&replay).output().unwrap();
    assert_eq!(rerun.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("expect_always.max_requests"));
}

#[test]
fn explore_refuses_a_file_with_steps() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEAD}{ONE_REFRESHER}\n[[step]]\nrun = \"A\"\n");
    let f = write(dir.path(), "stepped.toml", &text);
    let out = scenario().arg("explore").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("declares [[step]] tables"));
}

#[test]
fn check_refuses_bad_explore_and_expect_always_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[explore]\npoints = [\"refresh.nope\"]\n",
            "unknown sync point \"refresh.nope\"",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[explore]\npoints = [\"refresh.lock_wait\"]\nkill_points = [\"refresh.network_after\"]\n",
            "is a kill point but not a point where processes are held",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[explore]\npoints = [\"legacy.loaded\"]\n",
            "no process can reach \"legacy.loaded\"",
        ),
        (
            "[[process]]\nname = \"D\"\nargs = [\"sync\", \"daemon\"]\n[explore]\n",
            "runs a sync daemon",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[expect_always]\n",
            "`[expect_always]` sets no key",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[expect_always]\noutcomes = { A = [\"refreshd\"] }\n",
            "unknown refresh outcome \"refreshd\"",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[expect_always]\noutcomes = { Z = [\"refreshed\"] }\n",
            "`expect_always.outcomes` names unknown process \"Z\"",
        ),
        (
            "[[process]]\nname = \"L\"\nlegacy = true\nbroken = \"stale_rejection_deletes\"\n[expect]\nexit = { L = 0 }\n",
            "`broken` switches a spec-kitty build",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\nenv = { KITTY_SCENARIO_BROKEN = \"stale_rejection_deletes\" }\n[expect]\nexit = { A = 0 }\n",
            "use `broken = \"stale_rejection_deletes\"`",
        ),
        (
            "[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\nbroken = \"everything\"\n[expect]\nexit = { A = 0 }\n",
            "stale_rejection_deletes",
        ),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let f = write(
            dir.path(),
            &format!("bad{i}.toml"),
            &format!("{HEAD}{body}"),
        );
        let out = scenario()
            .args(["check", "--json"])
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "case {i} validated:\n{body}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors: String = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}\n", e["message"], e["expected"]).replace("\\\"", "\""))
            .collect();
        assert!(
            errors.contains(needle),
            "case {i}: {needle:?} not in {errors}"
        );
        assert!(
            v["errors"][0]["line"].as_u64().unwrap() > 0,
            "case {i} is located"
        );
    }
    // An explore file asserts the universal invariant: it needs no [expect].
    let f = write(dir.path(), "ok.toml", &format!("{HEAD}{ONE_REFRESHER}"));
    scenario().arg("check").arg(&f).assert().success();
}

#[test]
fn scenario_run_judges_expect_always_and_the_universal_invariant() {
    let text = format!(
        "{HEAD}{ONE_REFRESHER}\n[expect_always]\nmax_requests = {{ \"/oauth/token\" = 0 }}\nsession = \"present\"\n"
    );
    let r = run("always", &text);
    assert_failure(
        &r,
        "expect_always.max_requests: 1 request(s) to /oauth/token, at most 0 allowed",
    );
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    // A declared fault makes the server refuse the refresh: the client's delete is legitimate,
    // but `present_unless_revoked` asks what the fake's own model decided (still active).
    let refused = format!(
        "{HEAD}{ONE_REFRESHER}\n[expect_always]\nsession = \"present_unless_revoked\"\n\n[[saas.fault]]\nendpoint = \"/oauth/token\"\nstatus = 400\nbody = '{{\"error\": \"invalid_grant\", \"error_reason\": \"revoked\"}}'\n"
    );
    let r = run("refused", &refused);
    assert_failure(&r, "expect_always.session: the session is absent at the end and the fake SaaS still holds the seeded session active");
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    let loss = r.session_loss.expect("the session was lost");
    assert_eq!(loss.kind, "server_fault", "{loss:?}");
}

#[test]
fn the_universal_invariant_tells_legitimate_losses_and_limits_apart() {
    use harness::LossVerdict;
    // A logout: the server revoked the session at the client's request.
    let logout =
        format!("{HEAD}[[process]]\nname = \"L\"\nargs = [\"auth\", \"logout\"]\n[explore]\n");
    let r = run("logout", &logout);
    common::assert_passed(&r);
    let loss = r.session_loss.expect("logged out");
    assert_eq!(
        (loss.verdict, loss.kind.as_str()),
        (LossVerdict::Legitimate, "server_revoked"),
        "{loss:?}"
    );
    // A kill after the rotation (the catalogue's kill-after-network, as an explore file's replay).
    let kill = |reuse: &str| {
        format!(
            "{HEAD}[saas]\nreuse = \"{reuse}\"\n[[process]]\nname = \"A\"\nargs = [\"auth\", \"token\"]\n[[process]]\nname = \"B\"\nargs = [\"auth\", \"token\"]\n[explore]\n\n[[step]]\nkill = \"A\"\nat = \"refresh.network_after\"\n[[step]]\nrun = \"B\"\n"
        )
    };
    let r = run("reject", &kill("reject"));
    common::assert_passed(&r);
    let loss = r.session_loss.expect("the honest loss");
    assert_eq!(
        (loss.verdict, loss.kind.as_str()),
        (LossVerdict::Limit, "kill_after_rotation"),
        "{loss:?}"
    );
    assert!(
        loss.cause.contains("A was killed at refresh.network_after"),
        "{}",
        loss.cause
    );
    let r = run("grace", &kill("grace"));
    common::assert_passed(&r);
    assert_eq!(r.session_loss, None, "grace recovers the rotation");
}

#[test]
fn a_seed_samples_the_same_schedules_whatever_the_number_of_workers() {
    let trio =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/explore/refresh-trio-kills.toml");
    let sample = |jobs: &str| {
        let out = scenario()
            .args([
                "explore",
                "--kills",
                "--mode",
                "random",
                "--seed",
                "7",
                "--max-schedules",
                "16",
                "--filter",
                "grace",
                "--json",
                "-j",
                jobs,
            ])
            .arg(&trio)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let e = v["explorations"][0].clone();
        assert_eq!(e["schedules"], 16);
        (
            e["distinct"].clone(),
            e["outcomes"].clone(),
            e["combinations"].clone(),
        )
    };
    let (one, two) = (sample("1"), sample("2"));
    assert_eq!(one, two, "-j changes how fast, never what is sampled");
}
