//! Run-time test hooks: the one door through which a test executable may steer a `spec-kitty`
//! process (hold it at sync points, shorten its bounds, shift its clock).
//!
//! Why a registry and not a cargo feature or environment variables: cargo unifies features
//! across a workspace, so a feature the harness turns on would end up in the `spec-kitty` binary a
//! plain `cargo build --release` produces, and a variable production code reads is a variable any
//! user's environment can set. Here the hooks are values in a [`OnceLock`] that stays empty unless
//! an executable calls [`install`] before running the CLI. The `spec-kitty` binary's `main` never
//! does, so nothing a user's environment holds can reach these code paths; the scenario runner's
//! own executable installs them in its children (it owns the variables it reads them from).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The runner's word to a process that reached a sync point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Go on.
    Continue,
    /// Sleep this long, then go on.
    Sleep(Duration),
    /// Fail the operation at this point with the runner's message.
    Fail(String),
    /// Go on, and make the next `op` of this process fail with this `errno` (then it works
    /// again): "disk full after the server rotated" as an exact ordering, through the
    /// operation's own error path.
    IoFault { op: IoOp, errno: i32 },
}

/// A storage or lock operation an [`Resume::IoFault`] can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Writing the session (the temp file of an atomic replace).
    SessionWrite,
    /// Deleting the session file.
    SessionDelete,
    /// Reading the session file.
    SessionRead,
    /// Writing the holder record into `refresh.lock`.
    LockRecordWrite,
}

/// Receives every sync point a process reaches and decides how it goes on. Implemented by the
/// scenario runner's child-side client; a kill is not part of this interface (the runner sends
/// SIGKILL while the process blocks inside [`SyncPoints::reached`]).
pub trait SyncPoints: Send + Sync {
    /// `point` was reached (with an optional detail for the timeline); blocks for the word.
    fn reached(&self, point: &str, detail: Option<&str>) -> Resume;
}

/// Bounds and clock shifts a scenario may impose on one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// How long to wait for the refresh lock (production: 10 s).
    pub lock_wait: Option<Duration>,
    /// The one deadline for everything done while holding the refresh lock (production: 10 s).
    pub refresh_ceiling: Option<Duration>,
    /// Seconds added to this process's clock (models clock skew).
    pub clock_offset_s: i64,
    /// The package version a daemon reports (models version skew between daemons).
    pub daemon_version: Option<&'static str>,
    /// Arguments that make this executable act as `spec-kitty` when re-executed (the runner's
    /// multicall executable needs `["__exec", "spec-kitty"]`); empty for the real binary.
    pub reexec_prefix: &'static [&'static str],
    /// **A deliberately broken build, for tests only**: the refresh transaction's
    /// stale-rejection branch deletes the session, as the original client did. It exists so the
    /// scenario explorer can prove it finds the original incident's bug on its own
    /// (`harness/SCENARIO_FORMAT.md`, `broken = "stale_rejection_deletes"`); only a test
    /// executable can set it, never the `spec-kitty` binary.
    pub stale_rejection_deletes: bool,
}

/// Everything an executable may install.
#[derive(Default)]
pub struct Hooks {
    /// Where sync points report; `None`: points cost nothing and do nothing.
    pub sync_points: Option<Box<dyn SyncPoints>>,
    /// Bound and clock overrides.
    pub overrides: Overrides,
}

static INSTALLED: OnceLock<Hooks> = OnceLock::new();

/// [`install`] was called twice in one process.
#[derive(Debug, thiserror::Error)]
#[error("test hooks are already installed in this process")]
pub struct AlreadyInstalled;

/// Installs the hooks for the rest of this process's life. Call it before running the CLI; only
/// test executables do.
pub fn install(hooks: Hooks) -> Result<(), AlreadyInstalled> {
    INSTALLED.set(hooks).map_err(|_| AlreadyInstalled)
}

/// The sync-point receiver, when one is installed.
pub(crate) fn sync_points() -> Option<&'static dyn SyncPoints> {
    INSTALLED.get()?.sync_points.as_deref()
}

/// I/O faults armed by [`Resume::IoFault`], each failing its operation once. Only ever
/// filled when hooks are installed (a reply needs a receiver).
static ARMED: Mutex<Vec<(IoOp, i32)>> = Mutex::new(Vec::new());

/// Arms "the next `op` fails with `errno`" (from a sync point's reply).
pub(crate) fn arm_io_fault(op: IoOp, errno: i32) {
    ARMED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((op, errno));
}

/// The error the next `op` must fail with, when a fault is armed for it (consumed). Without
/// installed hooks (the `spec-kitty` binary) this is one load of an empty `OnceLock`.
pub(crate) fn io_fault(op: IoOp) -> Option<std::io::Error> {
    INSTALLED.get()?;
    let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
    let i = armed.iter().position(|(o, _)| *o == op)?;
    let (_, errno) = armed.remove(i);
    Some(std::io::Error::from_raw_os_error(errno))
}

/// The installed overrides (all empty in production).
pub(crate) fn overrides() -> Overrides {
    INSTALLED.get().map(|h| h.overrides).unwrap_or_default()
}
