//! The scenario runner: declarative TOML incident orderings run as real OS processes against an
//! embedded fake SaaS, ordered by named sync points, with fault injection, always-on invariants
//! and a hard time budget.
//!
//! Modules: [`schema`] (the file format and its validation), [`multicall`] (how the runner's own
//! executable becomes `spec-kitty` or the legacy client in a child), [`legacy`] (the built-in
//! old client), [`sync`] (the sync-point socket server and per-process state), [`watch`] (the
//! session-file watcher), [`runner`] (one scenario end to end), [`checks`] (invariants and
//! expectations), [`timeline`] (text and HTML swimlanes), [`junit`], [`cli`] (the `scenario`
//! binary), [`discover`] (finding scenario files).

pub mod checks;
pub mod child_env;
pub mod child_hooks;
pub mod cli;
pub mod discover;
pub mod junit;
pub mod legacy;
pub mod multicall;
pub mod runner;
pub mod schema;
pub mod sync;
pub mod timeline;
pub mod watch;
pub mod wire;

pub use runner::{run_scenario, RunOptions, ScenarioReport};
pub use schema::{load_file, Diagnostic, Invalid, Scenario};
