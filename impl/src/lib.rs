//! spec-kitty's auth session subsystem: encrypted session storage byte-compatible with
//! spec-kitty-cli 3.2.7, a machine-wide refresh lock, and the refresh transaction that never
//! deletes newer material than what the server refused.
//!
//! One module per concept, read top-down: [`paths`] (where state lives), [`fsutil`] (careful
//! access to files others may have left), [`session`] (the model), [`pyjson`] (Python's JSON
//! spelling), [`storage`] (the encrypted file), [`lock`] (the refresh lock), [`deadline`] (one
//! bound for a piece of work), [`oauth`] (the SaaS client), [`refresh`] (the transaction),
//! [`token_manager`] (what callers use), [`procfs`] (facts about other processes), [`daemon`]
//! (the per-user sync daemon), [`sync`] (the event queue and its sender), [`cli`] (the
//! `spec-kitty` binary), and the test seams
//! [`syncpoint`] (named points) and [`hooks`] (the run-time registry only test executables fill).

pub mod cli;
pub mod daemon;
pub mod deadline;
pub mod doctor;
pub mod ended;
pub mod exit;
pub mod fsutil;
pub mod hooks;
pub mod lock;
pub mod oauth;
pub mod paths;
pub mod procfs;
pub mod pyjson;
pub mod refresh;
pub mod session;
pub mod storage;
pub mod sync;
pub mod syncpoint;
pub mod token_manager;

/// The CLI's version: the one canonical source (Cargo.toml), written into lock records and
/// reported by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The current time as this process sees it. A test executable may shift it through
/// [`hooks::install`] to model clock skew; the `spec-kitty` binary never does.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    oauth::after(chrono::Utc::now(), hooks::overrides().clock_offset_s)
}
