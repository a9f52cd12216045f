//! The `scenario` binary's command line: exit codes, validation messages, JSON, JUnit, reports.

use assert_cmd::Command;
use std::path::Path;

const GOOD: &str = r#"[scenario]
name = "status of a fresh session"
description = "a valid session is reported as present"

[seed.session]

[[process]]
name = "S"
args = ["auth", "status", "--json"]

[expect]
exit = { S = 0 }
json = { S = { "state" = "present" } }
saas.requests."/oauth/token" = 0
"#;

/// The `scenario` binary, killed (and the test failed) if one run takes longer than a hang would.
fn scenario() -> Command {
    let mut cmd = Command::cargo_bin("scenario").unwrap();
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_reports_file_line_and_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let bad = GOOD.replace(
        "args = [\"auth\", \"status\", \"--json\"]",
        "args = [\"auth\", \"status\", \"--json\"]\nlock_wait = 5",
    );
    let f = write(dir.path(), "bad.toml", &bad);
    let out = scenario().arg("check").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:10:1: unknown field `lock_wait`"),
        "{err}"
    );
    assert!(err.contains("lock_wait_ms"), "{err}");

    let sem = GOOD.replace("exit = { S = 0 }", "exit = { Q = 0 }");
    let f = write(dir.path(), "sem.toml", &sem);
    let out = scenario()
        .args(["check", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["line"], 12);
    assert!(v["errors"][0]["expected"].as_str().unwrap().contains("S"));

    let f = write(dir.path(), "good.toml", GOOD);
    scenario().arg("check").arg(&f).assert().success();
    scenario()
        .arg("check")
        .arg(dir.path().join("missing.toml"))
        .assert()
        .code(2);
}

#[test]
fn list_shows_ids() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.toml", GOOD);
    let out = scenario()
        .args(["list", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scenarios"][0]["id"], "one");
    assert_eq!(v["scenarios"][0]["processes"][0], "S");
}

#[test]
fn run_writes_json_junit_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "good.toml", GOOD);
    let junit = dir.path().join("junit.xml");
    let report = dir.path().join("report");
    let out = scenario()
        .args(["run", "--json", "--junit"])
        .arg(&junit)
        .arg("--report")
        .arg(&report)
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["passed"], 1);
    assert_eq!(v["scenarios"][0]["id"], "good");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"1\" failures=\"0\""), "{xml}");
    let html = std::fs::read_to_string(report.join("good.html")).unwrap();
    assert!(html.contains("<th>S</th>"), "{html}");
    assert!(report.join("good.timeline.txt").exists());
    assert!(report.join("index.html").exists());
}

#[test]
fn a_failing_run_exits_1_and_prints_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "fails.toml",
        &GOOD.replace("exit = { S = 0 }", "exit = { S = 1 }"),
    );
    let out = scenario().arg("run").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL fails"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expect.exit: S exit 0, expected exit 1"),
        "{err}"
    );
    assert!(
        err.contains("timeline:") && err.contains("■ exit 0"),
        "{err}"
    );
}

#[test]
fn nothing_runs_when_a_file_is_invalid_or_the_filter_matches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", GOOD);
    write(dir.path(), "b.toml", "[scenario]\nname = \"x\"\n");
    scenario().arg("run").arg(dir.path()).assert().code(2);
    let f = dir.path().join("a.toml");
    scenario()
        .args(["run", "--filter", "zzz"])
        .arg(&f)
        .assert()
        .code(2);
}

#[test]
fn keep_keeps_the_runtime_root() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "good.toml", GOOD);
    let out = scenario()
        .args(["run", "--keep", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept = v["scenarios"][0]["kept_root"].as_str().unwrap().to_string();
    assert!(Path::new(&kept).join("root/auth/session.json").exists());
    std::fs::remove_dir_all(kept).unwrap();
}

#[test]
fn a_scenario_that_asserts_nothing_is_refused_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let vacuous = GOOD.split("[expect]").next().unwrap().replace(
        "[seed.session]",
        "[seed.session]\n# no [expect], no check step",
    );
    let f = write(dir.path(), "vacuous.toml", &vacuous);
    for cmd in ["check", "run"] {
        let out = scenario().arg(cmd).arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("vacuous.toml:1:2: the scenario asserts nothing"),
            "{cmd}: {err}"
        );
        assert!(err.contains("expected: an [expect] table"), "{cmd}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("PASS"));
    }
    // An empty [expect] table is pointed at itself.
    let f = write(dir.path(), "empty.toml", &format!("{vacuous}\n[expect]\n"));
    let out = scenario().arg("check").arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("empty.toml:13:2: the scenario asserts nothing"),
        "{err}"
    );
}

#[test]
fn a_legacy_point_on_a_spec_kitty_process_is_refused_at_check() {
    let dir = tempfile::tempdir().unwrap();
    let bad = GOOD.replace(
        "args = [\"auth\", \"status\", \"--json\"]\n",
        "args = [\"auth\", \"status\", \"--json\"]\n[[process.fault]]\npoint = \"legacy.loaded\"\naction = \"fail\"\n",
    );
    let f = write(dir.path(), "legacy.toml", &bad);
    let out = scenario().arg("check").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "legacy.toml:11:1: process `S` runs spec-kitty and never reaches \"legacy.loaded\""
        ),
        "{err}"
    );
}

#[test]
fn a_reused_report_directory_keeps_no_stale_pages() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one.toml", GOOD);
    let two = write(dir.path(), "two.toml", GOOD);
    let report = dir.path().join("report");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(report.join("notes.html"), "not the runner's").unwrap();
    scenario()
        .arg("run")
        .arg("--report")
        .arg(&report)
        .arg(&one)
        .arg(&two)
        .assert()
        .success();
    assert!(report.join("two.html").exists());
    scenario()
        .arg("run")
        .arg("--report")
        .arg(&report)
        .arg(&one)
        .assert()
        .success();
    assert!(report.join("one.html").exists());
    assert!(!report.join("two.html").exists(), "a stale page survived");
    assert!(!report.join("two.timeline.txt").exists());
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(!index.contains("two.html"), "{index}");
    assert_eq!(
        std::fs::read_to_string(report.join("notes.html")).unwrap(),
        "not the runner's"
    );
}
