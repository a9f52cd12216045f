//! Named sync points: places in production code where a process started by the scenario runner
//! reports that it got there and waits for the runner's word.
//!
//! Why: races between processes (two CLIs refreshing, a daemon killed mid-persist) cannot be
//! reproduced by sleeping and hoping. The runner orders them by holding each process at a named
//! point until the scenario says it may go on.
//!
//! A point is a typed [`Point`]; [`hit`] hands it to the receiver installed through
//! [`crate::hooks`] and obeys the answer (continue, sleep, fail). When nothing is installed — always,
//! in the `spec-kitty` binary — a point is one load of an empty `OnceLock` and does nothing.
//! A kill is not an answer: the runner sends SIGKILL while the process blocks here, so it dies
//! exactly at that point, as a real crash would.

use crate::hooks::{self, Resume};
use std::fmt;

/// Every sync point production code reports, in the order a refresh reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// The token manager loaded the persisted session into memory.
    SessionLoaded,
    /// The refresh lock wait started.
    LockWait,
    /// A lock attempt found the lock held by someone else (reported once per wait).
    LockBusy,
    /// The refresh lock was acquired.
    LockAcquired,
    /// The persisted session was reloaded under the lock.
    Reloaded,
    /// Just before the token endpoint is called.
    NetworkBefore,
    /// The token endpoint answered (any answer), before anything is persisted.
    NetworkAfter,
    /// A `session.lock` attempt found it held by someone else (reported once per wait).
    SessionLockBusy,
    /// The session temp file is written and fsynced, before the rename over `session.json`.
    TempWritten,
    /// The refreshed session was persisted.
    Persisted,
    /// A rejection was judged to concern the persisted material, which is about to be deleted
    /// (under `session.lock`, in the same hold as the comparison).
    DeleteDecided,
    /// The refresh lock was released.
    LockReleased,
    /// The transaction's outcome is known (detail: the outcome's name).
    Outcome,
    /// Logout holds the refresh lock and is about to delete the session.
    LogoutBeforeDelete,
    /// The daemon holds the singleton lock, wrote the state file and serves health.
    DaemonReady,
    /// The daemon ran a lifecycle tick and is still the singleton (detail: `singleton`).
    DaemonTick,
    /// The daemon is about to retire (detail: why).
    DaemonRetiring,
    /// The sync sender is about to post a batch (detail: the number of events).
    SyncBatchSending,
    /// The SaaS answered a batch, before the delivered events leave the local queue (detail:
    /// `accepted=N duplicates=M`): a kill here models a sender dying after the server took them.
    SyncBatchAnswered,
}

impl Point {
    /// All production points, for validation of scenario files.
    pub const ALL: [Point; 19] = [
        Point::SessionLoaded,
        Point::LockWait,
        Point::LockBusy,
        Point::LockAcquired,
        Point::Reloaded,
        Point::NetworkBefore,
        Point::NetworkAfter,
        Point::SessionLockBusy,
        Point::TempWritten,
        Point::Persisted,
        Point::DeleteDecided,
        Point::LockReleased,
        Point::Outcome,
        Point::LogoutBeforeDelete,
        Point::DaemonReady,
        Point::DaemonTick,
        Point::DaemonRetiring,
        Point::SyncBatchSending,
        Point::SyncBatchAnswered,
    ];

    /// The point's name in scenario files and timelines.
    pub const fn as_str(self) -> &'static str {
        match self {
            Point::SessionLoaded => "session.loaded",
            Point::LockWait => "refresh.lock_wait",
            Point::LockBusy => "refresh.lock_busy",
            Point::LockAcquired => "refresh.lock_acquired",
            Point::Reloaded => "refresh.reloaded",
            Point::NetworkBefore => "refresh.network_before",
            Point::NetworkAfter => "refresh.network_after",
            Point::SessionLockBusy => "storage.lock_busy",
            Point::TempWritten => "storage.temp_written",
            Point::Persisted => "refresh.persisted",
            Point::DeleteDecided => "refresh.delete_decided",
            Point::LockReleased => "refresh.lock_released",
            Point::Outcome => "refresh.outcome",
            Point::LogoutBeforeDelete => "logout.before_delete",
            Point::DaemonReady => "daemon.ready",
            Point::DaemonTick => "daemon.tick",
            Point::DaemonRetiring => "daemon.retiring",
            Point::SyncBatchSending => "sync.batch_sending",
            Point::SyncBatchAnswered => "sync.batch_answered",
        }
    }

    /// The point named `name`, if production code has one.
    pub fn from_name(name: &str) -> Option<Point> {
        Point::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure the scenario runner injected at a sync point.
#[derive(Debug, Clone, thiserror::Error)]
#[error("fault injected at sync point {point}: {message}")]
pub struct InjectedFault {
    /// The point at which it was injected.
    pub point: String,
    /// The runner's message.
    pub message: String,
}

/// Reports `point` and obeys the answer. A no-op unless a test executable installed hooks.
#[inline]
pub fn hit(point: Point) -> Result<(), InjectedFault> {
    hit_named(point.as_str(), None)
}

/// Like [`hit`], with a detail string shown in the runner's timeline.
#[inline]
pub fn hit_with(point: Point, detail: Option<&str>) -> Result<(), InjectedFault> {
    hit_named(point.as_str(), detail)
}

/// Reports a point by name: for other participants built on this library (the harness's legacy
/// client has points of its own).
pub fn hit_named(point: &str, detail: Option<&str>) -> Result<(), InjectedFault> {
    let Some(receiver) = hooks::sync_points() else {
        return Ok(());
    };
    match receiver.reached(point, detail) {
        Resume::Continue => Ok(()),
        Resume::Sleep(duration) => {
            std::thread::sleep(duration);
            Ok(())
        }
        Resume::Fail(message) => Err(InjectedFault {
            point: point.to_string(),
            message,
        }),
        Resume::IoFault { op, errno } => {
            hooks::arm_io_fault(op, errno);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Point::ALL.iter().map(|p| p.as_str()).collect();
        for p in Point::ALL {
            assert_eq!(Point::from_name(p.as_str()), Some(p));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Point::ALL.len());
        assert_eq!(Point::from_name("refresh.nope"), None);
    }

    #[test]
    fn without_installed_hooks_points_do_nothing() {
        for p in Point::ALL {
            assert!(hit(p).is_ok());
        }
    }
}
