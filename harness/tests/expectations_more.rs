//! The expectation keys of issue 16, end to end, each shown passing and failing when it should:
//! tokens named by label or generation wherever a token is accepted, `stderr_count` /
//! `stdout_count`, `not_reached`, several `order` chains, and `[expect.lock_file]` (content,
//! holder pid, inodes never changed across the run).

mod common;

use common::{assert_failure, assert_passed, failures, run, HEAD};

/// The incident ordering: B holds R0 in memory, A refreshes (R1/A1), B adopts.
fn incident(expect: &str) -> String {
    format!(
        "{HEAD}
[[process]]
name = \"B\"
args = [\"auth\", \"token\"]
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
run = \"B\"
until = \"session.loaded\"
[[step]]
run = \"A\"
[[step]]
run = \"B\"
[expect]
{expect}"
    )
}

#[test]
fn the_new_keys_pass_on_the_incident() {
    let r = run(
        "keys-pass",
        &incident(
            "session_refresh_token = \"R1\"
session_access_token = { generation = 2 }
stderr_count = { A = { \"refresh_transaction\" = 1 }, B = { \"refresh_transaction outcome=adopted_newer\" = 1 } }
stdout_count = { A = { \"\\n\" = 1 } }
not_reached = { B = [\"refresh.network_before\", \"refresh.delete_decided\"] }
order = [[\"A:refresh.persisted\", \"B:refresh.reloaded\"], [\"B:session.loaded\", \"A:start\"]]
[expect.lock_file]
content = \"empty\"
inode_unchanged = true
",
        ),
    );
    assert_passed(&r);
}

#[test]
fn the_new_keys_fail_when_they_should() {
    let r = run(
        "keys-fail",
        &incident(
            "session_refresh_token = \"R0\"
session_access_token = { generation = 3 }
stderr_count = { A = { \"refresh_transaction\" = 2 } }
not_reached = { A = \"refresh.network_before\" }
order = [[\"A:refresh.persisted\", \"B:refresh.reloaded\"], [\"B:refresh.reloaded\", \"A:start\"]]
[expect.lock_file]
pid = \"A\"
",
        ),
    );
    assert_failure(
        &r,
        "expect.session_refresh_token: the session holds R1, expected R0",
    );
    assert_failure(
        &r,
        "expect.session_access_token: cannot resolve Generation(3)",
    );
    assert_failure(
        &r,
        "expect.stderr_count: stderr of A contains \"refresh_transaction\" 1 time(s), expected 2",
    );
    assert_failure(
        &r,
        "expect.not_reached: A reached refresh.network_before at",
    );
    assert_failure(&r, "expect.order[1]: A:start happened at");
    assert_failure(
        &r,
        "expect.lock_file.pid: refresh.lock holds empty at the end, expected a record of A's pid",
    );
    // The first chain held: only the second is reported.
    assert!(
        !failures(&r).iter().any(|f| f.contains("expect.order[0]")),
        "{:?}",
        failures(&r)
    );
}

#[test]
fn a_killed_holder_leaves_its_record_and_an_unlinked_lock_file_is_seen() {
    let r = run(
        "killed-holder",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
kill = \"A\"
at = \"refresh.network_before\"
[expect]
exit = {{ A = \"killed\" }}
[expect.lock_file]
content = \"record\"
pid = \"A\"
inode_unchanged = true
"
        ),
    );
    assert_passed(&r);
    let r = run(
        "unlinked",
        &format!(
            "{HEAD}
[[process]]
name = \"A\"
args = [\"auth\", \"token\"]
[[step]]
run = \"A\"
[[step]]
corrupt = {{ file = \"refresh_lock\", delete = true }}
[expect]
exit = {{ A = 0 }}
[expect.lock_file]
inode_unchanged = true
"
        ),
    );
    assert_failure(
        &r,
        "expect.lock_file.inode_unchanged: refresh.lock was unlinked at",
    );
}
