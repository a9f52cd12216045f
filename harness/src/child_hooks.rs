//! The child side of the runner: inside a spawned `__exec` child, reads the variables the runner
//! set ([`crate::child_env`]) and installs the sync-point client and overrides through
//! `spec_kitty::hooks`, the run-time registry the `spec-kitty` binary itself never fills.

use crate::child_env;
use crate::schema::IoOpName;
use crate::sync::wire::{to_line, PointMessage, Reply};
use spec_kitty::hooks::{self, Hooks, IoOp, Overrides, Resume, SyncPoints};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Reports points over the runner's socket: one connection per process; the mutex also
/// serialises points hit from several threads.
struct SocketPoints {
    socket: PathBuf,
    process: String,
    connection: Mutex<Option<BufReader<UnixStream>>>,
}

impl SyncPoints for SocketPoints {
    fn reached(&self, point: &str, detail: Option<&str>) -> Resume {
        let mut guard = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            match UnixStream::connect(&self.socket) {
                Ok(stream) => *guard = Some(BufReader::new(stream)),
                // The runner is gone: behave as production would.
                Err(_) => return Resume::Continue,
            }
        }
        let reader = guard.as_mut().expect("connected above");
        let message = PointMessage {
            process: self.process.clone(),
            pid: std::process::id(),
            point: point.to_string(),
            detail: detail.map(str::to_string),
        };
        let mut reply = String::new();
        let exchanged = reader
            .get_mut()
            .write_all(to_line(&message).as_bytes())
            .and_then(|_| reader.read_line(&mut reply));
        match exchanged {
            Ok(n) if n > 0 => {}
            _ => {
                *guard = None;
                return Resume::Continue;
            }
        }
        match serde_json::from_str::<Reply>(reply.trim()) {
            Ok(Reply::Continue) => Resume::Continue,
            Ok(Reply::Sleep { ms }) => Resume::Sleep(Duration::from_millis(ms)),
            Ok(Reply::Fail { message }) => Resume::Fail(message),
            Ok(Reply::IoFault { op, errno }) => Resume::IoFault {
                op: match op {
                    IoOpName::SessionWrite => IoOp::SessionWrite,
                    IoOpName::SessionDelete => IoOp::SessionDelete,
                    IoOpName::SessionRead => IoOp::SessionRead,
                    IoOpName::LockRecordWrite => IoOp::LockRecordWrite,
                },
                errno,
            },
            Err(e) => Resume::Fail(format!(
                "sync-point protocol error: cannot read the runner's reply {:?}: {e}",
                reply.trim()
            )),
        }
    }
}

/// Installs the hooks the runner asked for through the environment. Called once, first thing in
/// an `__exec` child; a variable that is not set leaves its hook empty.
pub fn install_from_env() {
    let ms = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_millis)
    };
    let sync_points = std::env::var_os(child_env::SOCKET)
        .filter(|s| !s.is_empty())
        .map(|socket| {
            Box::new(SocketPoints {
                socket: socket.into(),
                process: std::env::var(child_env::PROCESS).unwrap_or_default(),
                connection: Mutex::new(None),
            }) as Box<dyn SyncPoints>
        });
    let hooks = Hooks {
        sync_points,
        overrides: Overrides {
            lock_wait: ms(child_env::LOCK_WAIT_MS),
            refresh_ceiling: ms(child_env::REFRESH_CEILING_MS),
            clock_offset_s: std::env::var(child_env::CLOCK_OFFSET_S)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            // Installed once per process, so leaking the one string is bounded.
            daemon_version: std::env::var(child_env::DAEMON_VERSION)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| &*Box::leak(v.into_boxed_str())),
            // A daemon this child spawns must be this executable acting as spec-kitty again.
            reexec_prefix: &[child_env::EXEC_ARG, child_env::SPEC_KITTY],
            stale_rejection_deletes: std::env::var(child_env::BROKEN).ok().as_deref()
                == Some(child_env::BROKEN_STALE_REJECTION_DELETES),
        },
    };
    if hooks::install(hooks).is_err() {
        eprintln!("__exec: test hooks were already installed in this process");
    }
}
