//! Facts about other processes, from Linux `/proc`: who owns a process, what it runs, whether it
//! really listens on a port, and whether it is alive.
//!
//! Why: before signalling anything, the daemon sweep and `auth doctor` verify that the process
//! runs as this OS user and really is what it claims (the health answer of a listener is only its
//! own word). Everything here only reads, except [`signal_verified`], which signals a process
//! only after those checks pass, and [`wait_exit`], which waits on the kernel's exit event.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The uid owning process `pid`, if it exists.
pub fn uid_of(pid: u32) -> Option<u32> {
    std::fs::metadata(format!("/proc/{pid}"))
        .ok()
        .map(|m| m.uid())
}

/// Whether process `pid` runs as the calling user.
pub fn is_ours(pid: u32) -> bool {
    uid_of(pid) == Some(rustix::process::getuid().as_raw())
}

/// Whether process `pid` exists (and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The command line of process `pid`, if readable.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// The executable process `pid` runs (`/proc/<pid>/exe`), if readable.
pub fn exe_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The inodes of sockets listening on TCP `port` (IPv4 and IPv6, any address).
pub fn listening_inodes(port: u16) -> Vec<u64> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(
            text.lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port)),
        );
    }
    inodes
}

/// One `/proc/net/tcp` row: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`.
fn listening_inode(line: &str, port: u16) -> Option<u64> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local_port = fields.get(1)?.rsplit_once(':')?.1;
    let listening = *fields.get(3)? == "0A";
    (listening && u16::from_str_radix(local_port, 16).ok()? == port)
        .then(|| fields.get(9)?.parse().ok())
        .flatten()
}

/// Whether process `pid` holds a descriptor on the socket with inode `inode`.
pub fn holds_socket(pid: u32, inode: u64) -> bool {
    let want = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == want.as_str())
    })
}

/// Whether process `pid` really listens on TCP `port`.
pub fn listens_on(pid: u32, port: u16) -> bool {
    listening_inodes(port)
        .into_iter()
        .any(|inode| holds_socket(pid, inode))
}

/// The pids holding a `flock` on the file at `path` (from `/proc/locks`): the truth about who
/// holds a lock, whatever a record in the file says.
pub fn flock_holders(path: &std::path::Path) -> Vec<u32> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let dev = meta.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    locks
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // `1: FLOCK  ADVISORY  WRITE 3568 fd:01:1837534 0 EOF`
            (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&id.as_str()))
                .then(|| f.get(4)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Waits (at most `timeout`) for process `pid` to exit, on the kernel's exit notification (a
/// pidfd), not by polling. True when it is gone.
pub fn wait_exit(pid: u32, timeout: std::time::Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let Some(raw) = rustix::process::Pid::from_raw(pid as i32) else {
        return true;
    };
    let fd = match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        // No such process: already gone.
        Err(rustix::io::Errno::SRCH) => return true,
        Err(_) => return !is_alive(pid),
    };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return !is_alive(pid),
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return !is_alive(pid),
        }
    }
}

/// Why a process was not signalled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSignalled {
    #[error("pid {0} runs as another user")]
    NotOurs(u32),
    #[error("pid {pid} does not listen on port {port}")]
    NotListening { pid: u32, port: u16 },
    #[error("pid {0} is gone")]
    Gone(u32),
}

/// Sends `signal` to `pid`, but only after verifying that it runs as this user and (when
/// `port` is given) really listens on that port.
pub fn signal_verified(
    pid: u32,
    port: Option<u16>,
    signal: rustix::process::Signal,
) -> Result<(), NotSignalled> {
    if !is_alive(pid) {
        return Err(NotSignalled::Gone(pid));
    }
    if !is_ours(pid) {
        return Err(NotSignalled::NotOurs(pid));
    }
    if let Some(port) = port {
        if !listens_on(pid, port) {
            return Err(NotSignalled::NotListening { pid, port });
        }
    }
    let target = rustix::process::Pid::from_raw(pid as i32).ok_or(NotSignalled::Gone(pid))?;
    rustix::process::kill_process(target, signal).map_err(|_| NotSignalled::Gone(pid))
}

/// Ends `pid`: SIGTERM, then SIGKILL if it is still there after `grace`, each sent through
/// [`signal_verified`] (never to another user's process) and each followed by a bounded wait.
/// The name of the signal after which it was gone, or `None` when it survived both.
pub fn terminate(pid: u32, grace: std::time::Duration) -> Option<&'static str> {
    [
        (rustix::process::Signal::TERM, "SIGTERM"),
        (rustix::process::Signal::KILL, "SIGKILL"),
    ]
    .into_iter()
    .find_map(|(signal, name)| {
        let _ = signal_verified(pid, None, signal);
        wait_exit(pid, grace).then_some(name)
    })
}

/// The processes (other than this one) whose environment has `name=value`: every process a
/// scenario started carries its own runtime root, however it was detached.
pub fn pids_with_env(name: &str, value: &str) -> Vec<u32> {
    let needle = format!("{name}={value}");
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && is_ours(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_ours_alive_and_listening_where_it_listens() {
        let me = std::process::id();
        assert!(is_ours(me));
        assert!(is_alive(me));
        assert!(exe_of(me).is_some());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_on(me, port));
        drop(listener);
        assert!(!listens_on(me, port));
        assert!(!is_alive(u32::MAX - 1));
    }

    #[test]
    fn waits_on_the_exit_event_and_signals_only_verified_processes() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(!wait_exit(pid, std::time::Duration::from_millis(50)));
        // It listens on nothing: a port-verified signal is refused, and it lives on.
        assert_eq!(
            signal_verified(pid, Some(1), rustix::process::Signal::TERM),
            Err(NotSignalled::NotListening { pid, port: 1 })
        );
        assert!(is_alive(pid));
        signal_verified(pid, None, rustix::process::Signal::TERM).unwrap();
        let _ = child.wait();
        assert!(wait_exit(pid, std::time::Duration::from_secs(5)));
    }

    #[test]
    fn flock_holders_come_from_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let file = std::fs::File::create(&path).unwrap();
        assert!(flock_holders(&path).is_empty());
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
        assert_eq!(flock_holders(&path), vec![std::process::id()]);
        rustix::fs::flock(&file, rustix::fs::FlockOperation::Unlock).unwrap();
        assert!(flock_holders(&path).is_empty());
    }

    #[test]
    fn rows_of_proc_net_tcp() {
        let row = "   0: 0100007F:24B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(row, 0x24B8), Some(123456));
        assert_eq!(listening_inode(row, 9401), None);
        let established = row.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 0x24B8), None);
    }
}
