//! I/O faults at named points (`action = "io_fault"`), end to end: the reply to a sync point
//! makes the process's next storage or lock operation fail with the chosen errno, through the
//! operation's own error path, and the scenario proves what the process did about it.

mod common;

use common::{assert_failure, assert_passed, run, HEAD};

fn lock_record_eio(exit: u32) -> String {
    format!(
        "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[process.fault]]
point = \"refresh.lock_wait\"
action = \"io_fault\"
op = \"lock_record_write\"
errno = \"EIO\"
[[process]]
name = \"B\"
args = [\"auth\", \"token\"]
[[process.fault]]
point = \"refresh.lock_acquired\"
action = \"io_fault\"
op = \"session_read\"
errno = \"EACCES\"
[[step]]
run = \"A\"
[[step]]
run = \"B\"
[expect]
exit = {{ A = {exit}, B = 3 }}
stderr_contains = {{ A = [\"refresh.lock\", \"Input/output error\", \"nothing was deleted\"], B = \"Permission denied\" }}
not_reached = {{ A = \"refresh.network_before\", B = \"refresh.network_before\" }}
session = \"unchanged\"
saas.requests.\"/oauth/token\" = 0
[expect.lock_file]
content = \"empty\"
inode_unchanged = true
"
    )
}

#[test]
fn a_failed_lock_record_write_and_a_failed_read_under_the_lock_spend_and_delete_nothing() {
    let r = run("io-lock", &lock_record_eio(3));
    assert_passed(&r);
    let text = r.timeline.render_text();
    assert!(
        text.contains("the next lock_record_write fails with Input/output error"),
        "{text}"
    );
}

#[test]
fn an_io_fault_scenario_with_a_wrong_expectation_fails() {
    let r = run("io-lock-wrong", &lock_record_eio(0));
    assert_failure(&r, "expect.exit: A exit 3, expected exit 0");
}
