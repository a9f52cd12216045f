//! Named sync points: places in production code where a process started by the scenario runner
//! reports that it got there and waits for the runner's word.
//!
//! Why: races between processes (two CLIs refreshing, a daemon killed mid-persist) cannot be
//! reproduced by sleeping and hoping. The runner orders them by holding each process at a named
//! point until the scenario says it may go on.
//!
//! With the `sync-points` cargo feature and `SPEC_KITTY_SYNC_SOCKET` set, [`hit`] connects to that
//! Unix socket (once per process), writes one JSON line
//! `{"process": <SPEC_KITTY_SYNC_PROCESS>, "pid": <pid>, "point": <name>, "detail": <str|null>}`
//! and blocks for one JSON reply line:
//!
//! * `{"action": "continue"}` — go on;
//! * `{"action": "sleep", "ms": N}` — sleep N ms, then go on;
//! * `{"action": "fail", "message": "..."}` — the call site fails with [`InjectedFault`].
//!
//! A kill is not a message: the runner sends SIGKILL while the process waits for its reply, so the
//! process dies exactly at that point, as a real crash would.
//!
//! Without the feature every function here is an empty inline function and compiles to nothing.
//! The same feature gates the test-only overrides ([`override_ms`], [`clock_offset_s`]) so a
//! production build cannot be slowed, sped up or time-shifted through the environment.

/// Environment variable naming the runner's Unix socket.
pub const SOCKET_ENV: &str = "SPEC_KITTY_SYNC_SOCKET";
/// Environment variable naming this process inside the scenario.
pub const PROCESS_ENV: &str = "SPEC_KITTY_SYNC_PROCESS";
/// Test override: ceiling (ms) on the refresh transaction's network leg (default 10 000).
pub const REFRESH_CEILING_ENV: &str = "SPEC_KITTY_TEST_REFRESH_CEILING_MS";
/// Test override: how long (ms) to wait for the refresh lock (default 10 000).
pub const LOCK_WAIT_ENV: &str = "SPEC_KITTY_TEST_LOCK_WAIT_MS";
/// Test override: seconds added to this process's clock (models clock skew).
pub const CLOCK_OFFSET_ENV: &str = "SPEC_KITTY_TEST_CLOCK_OFFSET_S";

/// Every sync point production code reports, in the order a refresh reaches them.
pub mod points {
    /// The token manager loaded the persisted session into memory.
    pub const SESSION_LOADED: &str = "session.loaded";
    /// The refresh lock wait started.
    pub const LOCK_WAIT: &str = "refresh.lock_wait";
    /// A lock attempt found the lock held by someone else (reported once per wait).
    pub const LOCK_BUSY: &str = "refresh.lock_busy";
    /// The refresh lock was acquired.
    pub const LOCK_ACQUIRED: &str = "refresh.lock_acquired";
    /// The persisted session was reloaded under the lock.
    pub const RELOADED: &str = "refresh.reloaded";
    /// Just before the token endpoint is called.
    pub const NETWORK_BEFORE: &str = "refresh.network_before";
    /// The token endpoint answered (any answer), before anything is persisted.
    pub const NETWORK_AFTER: &str = "refresh.network_after";
    /// The refreshed session was persisted.
    pub const PERSISTED: &str = "refresh.persisted";
    /// The refresh lock was released.
    pub const LOCK_RELEASED: &str = "refresh.lock_released";
    /// The transaction's outcome is known (detail: the outcome's name).
    pub const OUTCOME: &str = "refresh.outcome";
    /// The session temp file is written and fsynced, before the rename over `session.json`.
    pub const TEMP_WRITTEN: &str = "storage.temp_written";
    /// Logout holds the refresh lock and is about to delete the session.
    pub const LOGOUT_BEFORE_DELETE: &str = "logout.before_delete";

    /// All production points, for validation of scenario files.
    pub const ALL: &[&str] = &[
        SESSION_LOADED,
        LOCK_WAIT,
        LOCK_BUSY,
        LOCK_ACQUIRED,
        RELOADED,
        NETWORK_BEFORE,
        NETWORK_AFTER,
        PERSISTED,
        LOCK_RELEASED,
        OUTCOME,
        TEMP_WRITTEN,
        LOGOUT_BEFORE_DELETE,
    ];
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

/// Reports `point` to the runner and waits for its word. A no-op outside the harness.
#[inline(always)]
pub fn hit(point: &str) -> Result<(), InjectedFault> {
    hit_with(point, None)
}

/// Like [`hit`], with a detail string shown in the runner's timeline.
#[cfg(not(feature = "sync-points"))]
#[inline(always)]
pub fn hit_with(_point: &str, _detail: Option<&str>) -> Result<(), InjectedFault> {
    Ok(())
}

/// A test-only duration override in milliseconds. Always `None` without the feature.
#[cfg(not(feature = "sync-points"))]
#[inline(always)]
pub fn override_ms(_env: &str) -> Option<u64> {
    None
}

/// Seconds this process's clock is shifted by. Always 0 without the feature.
#[cfg(not(feature = "sync-points"))]
#[inline(always)]
pub fn clock_offset_s() -> i64 {
    0
}

#[cfg(feature = "sync-points")]
pub use enabled::{clock_offset_s, hit_with, override_ms};

#[cfg(feature = "sync-points")]
mod enabled {
    use super::{InjectedFault, PROCESS_ENV, SOCKET_ENV};
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::Mutex;

    /// One connection per process; the mutex also serialises points hit from several threads.
    static CONNECTION: Mutex<Option<BufReader<UnixStream>>> = Mutex::new(None);

    pub fn hit_with(point: &str, detail: Option<&str>) -> Result<(), InjectedFault> {
        let Some(socket) = std::env::var_os(SOCKET_ENV).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        let mut guard = CONNECTION.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            match UnixStream::connect(&socket) {
                Ok(stream) => *guard = Some(BufReader::new(stream)),
                // The runner is gone: behave as production would.
                Err(_) => return Ok(()),
            }
        }
        let reader = guard.as_mut().expect("connected above");
        let message = serde_json::json!({
            "process": std::env::var(PROCESS_ENV).unwrap_or_default(),
            "pid": std::process::id(),
            "point": point,
            "detail": detail,
        });
        let mut line = message.to_string();
        line.push('\n');
        if reader.get_mut().write_all(line.as_bytes()).is_err() {
            *guard = None;
            return Ok(());
        }
        let mut reply = String::new();
        match reader.read_line(&mut reply) {
            Ok(0) | Err(_) => {
                *guard = None;
                return Ok(());
            }
            Ok(_) => {}
        }
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap_or_default();
        match reply.get("action").and_then(|a| a.as_str()) {
            Some("sleep") => {
                let ms = reply.get("ms").and_then(|m| m.as_u64()).unwrap_or(0);
                drop(guard);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(())
            }
            Some("fail") => Err(InjectedFault {
                point: point.to_string(),
                message: reply
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("injected failure")
                    .to_string(),
            }),
            _ => Ok(()),
        }
    }

    pub fn override_ms(env: &str) -> Option<u64> {
        std::env::var(env).ok()?.trim().parse().ok()
    }

    pub fn clock_offset_s() -> i64 {
        std::env::var(super::CLOCK_OFFSET_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}
