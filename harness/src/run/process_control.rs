//! Linux-only process control, in one place: process groups, the parent-death signal
//! (`PR_SET_PDEATHSIG`), `waitid` without reaping, and SIGKILL to a process or its group.
//!
//! Why one module: these are the only calls that depend on Linux semantics, and each has a
//! subtle guarantee the rest of the runner relies on:
//! * a child leads its own process group, so teardown can kill whatever it left behind, and a
//!   terminal's Ctrl-C does not reach it (the runner decides what happens to it);
//! * a child dies with the runner even when the runner is SIGKILLed (the death signal), and one
//!   whose runner died before the signal was armed never runs;
//! * a pid is signalled only while it cannot have been reused: the reaper waits for the exit
//!   without reaping, kills the group, then reaps.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};

/// Makes the spawned child the leader of a new process group that dies with this process.
///
/// The death signal is scoped to the spawning thread: the caller's thread must outlive the
/// child (the runner reaps every child before its scenario returns).
pub fn isolate(cmd: &mut Command) {
    cmd.process_group(0);
    let runner_pid = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec and only makes two system calls; it
    // neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid() != Some(runner_pid) {
                // The runner died before the death signal was armed.
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// Blocks until `child` has exited, without reaping it (its pid stays reserved).
pub fn wait_exited(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    loop {
        match rustix::process::waitid(
            rustix::process::WaitId::Pid(pid),
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT,
        ) {
            Err(e) if e == rustix::io::Errno::INTR => continue,
            _ => break,
        }
    }
}

/// SIGKILLs every process left in the group `child` leads. Call after [`wait_exited`] and
/// before reaping: the leader is a zombie then, so its group id cannot have been reused.
pub fn kill_group_of(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

/// SIGKILLs `pid`. The caller guarantees it is not reaped yet.
pub fn sigkill(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// SIGTERMs `pid` (a clean-shutdown request). The caller guarantees it is not reaped yet.
pub fn sigterm(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

/// The exit code, or the signal that ended the process.
pub fn code_and_signal(status: &ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}
