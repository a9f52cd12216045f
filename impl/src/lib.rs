//! spec-kitty's auth session subsystem: encrypted session storage byte-compatible with
//! spec-kitty-cli 3.2.7, a machine-wide refresh lock, and the refresh transaction that never
//! deletes newer material than what the server refused.
//!
//! One module per concept: [`paths`] (where state lives), [`session`] (the model), [`storage`]
//! (the encrypted file), [`lock`] (the refresh lock), [`oauth`] (the SaaS client), [`refresh`]
//! (the transaction), [`token_manager`] (what callers use), [`cli`] (the `spec-kitty` binary),
//! [`syncpoint`] (named points the scenario runner orders processes by).

pub mod cli;
pub mod lock;
pub mod oauth;
pub mod paths;
pub mod pyjson;
pub mod refresh;
pub mod session;
pub mod storage;
pub mod syncpoint;
pub mod token_manager;

/// The CLI's version: the one canonical source (Cargo.toml), written into lock records and
/// reported by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The current time as this process sees it. Scenario builds may shift it to model clock skew;
/// production builds cannot.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::seconds(syncpoint::clock_offset_s())
}
