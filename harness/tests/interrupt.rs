//! SIGINT and SIGTERM to the `scenario` binary, running or exploring (what Ctrl-C and a CI job's timeout send): the
//! children die, the `kitty-scenario-*` temp directory is removed, what was running is printed,
//! and the exit code is 130 / 143. Every wait here is on an event with a deadline.

use rustix::process::{test_kill_process, Pid, Signal};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scenario that blocks: A is held at `session.loaded` while the runner sleeps a minute.
const BLOCKS: &str = r#"[scenario]
name = "blocks"
description = "A is held while the runner sleeps: only a signal ends it early"
budget_s = 120

[seed.session]

[[process]]
name = "A"
args = ["auth", "token"]

[[step]]
run = "A"
until = "session.loaded"

[[step]]
sleep_ms = 60000

[[step]]
run = "A"

[expect]
exit = { A = 0 }
"#;

const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `cond` until it holds or the deadline passes (then panics with `what`).
fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn temp_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("kitty-scenario-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    test_kill_process(Pid::from_raw(pid as i32).unwrap()).is_ok()
}

/// Starts `scenario run` on the blocking scenario with its own TMPDIR; returns when a child
/// runs and the temp directory exists.
fn start_blocked(dir: &Path) -> (Child, u32, PathBuf) {
    let file = dir.join("blocks.toml");
    std::fs::write(&file, BLOCKS).unwrap();
    start_scenario(dir, &["run".as_ref(), file.as_os_str()])
}

/// Starts `scenario ARGS...` with `dir/tmp` as its TMPDIR; returns when a child runs and a
/// `kitty-scenario-*` temp directory exists.
fn start_scenario(dir: &Path, args: &[&std::ffi::OsStr]) -> (Child, u32, PathBuf) {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_scenario"))
        .args(args)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runner = child.id();
    let spec_kitty = wait_for("the scenario's child process", || {
        children_of(runner).into_iter().next()
    });
    let temp = wait_for("the kitty-scenario-* temp directory", || {
        temp_dirs(&tmp).into_iter().next()
    });
    (child, spec_kitty, temp)
}

fn signal_and_wait(mut child: Child, signal: Signal) -> (i32, String) {
    rustix::process::kill_process(Pid::from_raw(child.id() as i32).unwrap(), signal).unwrap();
    let status = wait_for("the scenario binary to exit", || child.try_wait().unwrap());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code().expect("exited, not killed"), stderr)
}

fn interrupted_cleanly(signal: Signal, name: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let (child, spec_kitty, temp) = start_blocked(dir.path());
    assert!(alive(spec_kitty));
    assert!(temp.exists());
    let (got, stderr) = signal_and_wait(child, signal);
    assert_eq!(got, code, "{stderr}");
    assert!(!alive(spec_kitty), "the child {spec_kitty} survived {name}");
    assert!(
        !temp.exists(),
        "{} was left behind\n{stderr}",
        temp.display()
    );
    assert!(temp_dirs(&dir.path().join("tmp")).is_empty());
    assert!(
        stderr.contains(&format!(
            "interrupted by {name}: 1 scenario(s) were running"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("blocks: killed A ("), "{stderr}");
    assert!(stderr.contains("temp directory removed"), "{stderr}");
}

#[test]
fn sigterm_kills_children_removes_temp_dirs_and_exits_143() {
    interrupted_cleanly(Signal::TERM, "SIGTERM", 143);
}

#[test]
fn sigint_kills_children_removes_temp_dirs_and_exits_130() {
    interrupted_cleanly(Signal::INT, "SIGINT", 130);
}

#[test]
fn an_exploration_stopped_by_sigterm_leaves_nothing_behind_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let soak = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/explore/soak-four.toml");
    let args = "explore --mode random --kills --seed 1 -j 1 --max-schedules 500";
    let mut args: Vec<&std::ffi::OsStr> = args.split(' ').map(|a| a.as_ref()).collect();
    args.push(soak.as_os_str());
    let (child, spec_kitty, _) = start_scenario(dir.path(), &args);
    let (code, stderr) = signal_and_wait(child, Signal::TERM);
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert!(!alive(spec_kitty), "the child {spec_kitty} survived");
    let left = temp_dirs(&dir.path().join("tmp"));
    assert!(left.is_empty(), "{left:?} left behind\n{stderr}");
}
