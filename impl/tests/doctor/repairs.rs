//! The opt-in repairs of `auth doctor`, each with the finding it answers: `--unstick-lock`
//! (a leftover record, a hung holder, a holder that is not ours, an unreadable record),
//! `--reset` (orphans), `sync restart` for a daemon that does not answer, and `--server`
//! (active, invalid, check failed). Each says what it did; the report is assembled again.

use super::*;

#[test]
fn f007_and_f011_a_leftover_record_from_another_host_and_its_unsticking() {
    let d = Doc::seeded(3600, 86_400);
    let old = LockRecord {
        host: "build-box-7".into(),
        pid: 4242,
        schema_version: 1,
        started_at: "2026-01-01T00:00:00+00:00".into(),
        version: "3.2.7".into(),
    };
    std::fs::write(d.root().root.refresh_lock_file(), old.to_json()).unwrap();
    let (_, report) = d.doctor(&[]);
    assert_eq!(report["refresh_lock"]["held"], false);
    assert_eq!(report["refresh_lock"]["record"], "leftover");
    assert!(finding(&report, "F-007")["summary"]
        .as_str()
        .unwrap()
        .contains("build-box-7"));
    finding(&report, "F-011");
    let (code, report) = d.doctor(&["--unstick-lock"]);
    assert_eq!(code, 0);
    assert_eq!(report["repairs"][0]["action"], "unstick_lock");
    assert!(repair_result(&report).contains("cleared"), "{report}");
    assert_eq!(report["refresh_lock"]["record"], "empty");
    assert!(!ids(&report).contains(&"F-011".to_string()));
}

/// Waits (bounded) until doctor reports `id`.
fn await_finding(d: &Doc, extra: &[&str], id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, report) = d.doctor(extra);
        if ids(&report).iter().any(|f| f == id) {
            return report;
        }
        assert!(Instant::now() < deadline, "{id} never reported: {report}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the first repair of `report` says it did.
fn repair_result(report: &Value) -> &str {
    report["repairs"][0]["result"].as_str().unwrap()
}

/// Starts `cmd` (an `auth token` of `d`'s root) against a token endpoint that hangs, so the
/// refresher holds the lock for as long as its ceiling lasts.
fn hung_holder(d: &Doc, cmd: &mut Command) -> std::process::Child {
    let mut hang = fake_saas::FaultSpec::respond("/oauth/token", 503);
    hang.delay_ms = 60_000;
    d.seeded.as_ref().unwrap().saas.add_fault(hang);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn f003_a_hung_holder_is_reported_and_unsticking_terminates_it_leaving_the_session_intact() {
    let d = Doc::seeded(-60, 86_400);
    let mut holder = hung_holder(&d, d.cmd().args(["auth", "token"]));
    let report = await_finding(&d, &["--stuck-threshold", "1"], "F-003");
    assert_eq!(report["refresh_lock"]["held"], true);
    assert_eq!(
        report["refresh_lock"]["holder"]["pid"].as_u64(),
        Some(holder.id() as u64)
    );
    assert_eq!(report["refresh_lock"]["holder"]["holds_flock"], true);
    let before = std::fs::read(d.root().root.session_file()).unwrap();
    let (code, report) = d.doctor(&["--unstick-lock", "--stuck-threshold", "1"]);
    assert_eq!(code, 0, "{report}");
    assert!(repair_result(&report).contains("terminated"), "{report}");
    assert_eq!(report["refresh_lock"]["held"], false);
    assert!(
        holder.wait().unwrap().code().is_none(),
        "the holder was terminated"
    );
    assert_eq!(
        std::fs::read(d.root().root.session_file()).unwrap(),
        before,
        "session intact"
    );
}

#[test]
fn unsticking_never_terminates_a_holder_that_is_not_a_spec_kitty_process() {
    let d = Doc::seeded(3600, 86_400);
    // This test process holds the lock: a process of this user, but not spec-kitty.
    let _held = spec_kitty::lock::RefreshLock::try_acquire(&d.root().root.refresh_lock_file())
        .unwrap()
        .unwrap();
    let (code, report) = d.doctor(&["--unstick-lock", "--stuck-threshold", "0"]);
    let result = repair_result(&report);
    assert!(result.contains("did not terminate"), "{result}");
    assert!(
        result.contains("does not run this spec-kitty executable") || result.contains("under the"),
        "{result}"
    );
    assert_eq!(code, 1, "still stuck: critical");
}

#[test]
fn f002_orphans_and_the_reset_that_removes_them() {
    let d = Doc::bare();
    assert!(d.run(&["sync", "start"]).status.success());
    let s: Value = serde_json::from_slice(&d.run(&["sync", "status", "--json"]).stdout).unwrap();
    let orphan = s["daemon"]["pid"].as_u64().unwrap() as u32;
    std::fs::remove_file(d.root().root.daemon_lock_file()).unwrap();
    std::fs::remove_file(d.root().root.daemon_state_file()).unwrap();
    assert!(d.run(&["sync", "start"]).status.success());
    let (_, report) = d.doctor(&[]);
    let f2 = finding(&report, "F-002");
    assert!(f2["summary"]
        .as_str()
        .unwrap()
        .contains(&orphan.to_string()));
    assert_eq!(
        f2["remediation"]["command"],
        "spec-kitty auth doctor --reset"
    );
    let (_, report) = d.doctor(&["--reset"]);
    assert!(repair_result(&report).contains("removed"), "{report}");
    assert!(!ids(&report).contains(&"F-002".to_string()), "{report}");
    assert!(procfs::wait_exit(orphan, Duration::from_secs(5)));
    assert_eq!(
        report["daemon"]["state"], "running",
        "the active daemon is untouched"
    );
}

#[test]
fn f005_a_recorded_daemon_that_does_not_answer_and_the_restart_that_fixes_it() {
    use spec_kitty::daemon::state_file::{self, ControlToken, DaemonRecord};
    let d = Doc::seeded(3600, 86_400);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let record = DaemonRecord {
        port,
        token: ControlToken::generate(),
        pid: std::process::id(),
    };
    std::fs::create_dir_all(d.base()).unwrap();
    state_file::write(&d.root().root.daemon_state_file(), &record).unwrap();

    let (code, report) = d.doctor(&[]);
    assert_eq!(code, 0, "{report}");
    let f005 = finding(&report, "F-005");
    assert!(
        f005["summary"]
            .as_str()
            .unwrap()
            .contains("recorded but does not answer"),
        "{f005}"
    );
    assert_eq!(f005["remediation"]["command"], "spec-kitty sync restart");

    let out = d.run(&["sync", "restart", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restarted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(restarted["pid"].as_u64(), Some(std::process::id() as u64));
    let (_, report) = d.doctor(&[]);
    assert!(!ids(&report).contains(&"F-005".to_string()), "{report}");
    // Still here: the unverified pid was never signalled.
    assert!(procfs::is_alive(std::process::id()));
    assert!(d.run(&["sync", "stop"]).status.success());
}

#[test]
fn f012_server_check_says_active_or_invalid() {
    let d = Doc::seeded(3600, 86_400);
    let (code, report) = d.doctor(&["--server"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["session"]["server_check"]["state"], "active");
    let s = d.seeded.as_ref().unwrap();
    s.saas.revoke_session(&s.seeded.session_id);
    let (code, report) = d.doctor(&["--server"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["session"]["server_check"]["state"], "invalid");
    finding(&report, "F-012");
}

#[test]
fn f012_server_check_failed_names_a_safe_reason_and_refreshes_first_when_needed() {
    // An expired access token: --server refreshes through the transaction, then asks.
    let d = Doc::seeded(-60, 86_400);
    let s = d.seeded.as_ref().unwrap();
    let (code, report) = d.doctor(&["--server"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["session"]["server_check"]["state"], "active");
    assert_eq!(
        s.saas.counters().get("/oauth/token").copied(),
        Some(1),
        "one refresh, through the transaction"
    );

    // The server answers 503: the check failed; that is not a verdict on the session.
    s.saas
        .add_fault(fake_saas::FaultSpec::respond("/api/v1/session-status", 503));
    let (code, report) = d.doctor(&["--server"]);
    let check = &report["session"]["server_check"];
    assert_eq!(check["state"], "check_failed", "{report}");
    assert!(
        check["reason"].as_str().unwrap().contains("503"),
        "{report}"
    );
    assert_eq!(code, 0, "a failed check is no critical finding: {report}");
    assert!(!ids(&report).contains(&"F-012".to_string()), "{report}");
    let repair = &report["repairs"][0];
    assert_eq!(repair["ok"], false, "{report}");

    // Nothing listens at the SaaS address: the same, and the session is kept.
    let out = common::bounded_output(
        d.cmd()
            .env("SPEC_KITTY_SAAS_URL", "http://127.0.0.1:9")
            .args(["auth", "doctor", "--server", "--json"]),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["session"]["server_check"]["state"], "check_failed");
    assert_eq!(report["session"]["state"], "present", "{report}");
}

#[test]
fn unsticking_clears_a_lock_record_that_cannot_be_read_when_the_flock_is_free() {
    let d = Doc::seeded(3600, 86_400);
    let lock = d.root().root.refresh_lock_file();
    std::fs::write(&lock, b"{\"pid\": 12, \"started_at\": \"not a time\"").unwrap();
    let (_, report) = d.doctor(&[]);
    assert_eq!(report["refresh_lock"]["held"], false, "{report}");
    let (code, report) = d.doctor(&["--unstick-lock"]);
    assert_eq!(code, 0, "{report}");
    assert!(repair_result(&report).contains("cleared"), "{report}");
    assert_eq!(report["refresh_lock"]["record"], "empty", "{report}");
    assert!(
        std::fs::read(&lock).unwrap().is_empty(),
        "emptied in place, never unlinked"
    );
}

#[test]
fn unsticking_kills_a_holder_that_does_not_act_on_sigterm() {
    let d = Doc::seeded(-60, 86_400);
    // The holder ignores SIGTERM (an ignored signal stays ignored across exec), so only the
    // SIGKILL that follows can free the lock. Same pid, same executable: spec-kitty itself.
    let mut holder = hung_holder(
        &d,
        &mut common::under_shell(d.cmd().args(["auth", "token"]), "trap '' TERM"),
    );
    await_finding(&d, &["--stuck-threshold", "1"], "F-003");
    let (code, report) = d.doctor(&["--unstick-lock", "--stuck-threshold", "1"]);
    assert_eq!(code, 0, "{report}");
    let result = repair_result(&report);
    assert!(
        result.contains("terminated") && result.contains("SIGKILL"),
        "{result}"
    );
    assert_eq!(report["refresh_lock"]["held"], false, "{report}");
    assert!(
        holder.wait().unwrap().code().is_none(),
        "killed by a signal"
    );
}
