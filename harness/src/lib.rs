//! The scenario runner: declarative TOML incident orderings run as real OS processes against an
//! embedded fake SaaS, ordered by named sync points, with fault injection, always-on invariants
//! and a hard time budget.
//!
//! Data flows one way: `schema` (a file → validated [`Scenario`]s) → `run` (one scenario as
//! real processes; uses `sync`, `watch`, `check`, `redact`) → `report` (the
//! [`ScenarioReport`] model) → renderers (text, HTML, JUnit) and the `cli`. `explore` runs one
//! scenario in many orders (each a schedule `run` executes) and writes a failing one as a replay
//! file. `multicall` and `legacy` are what children run; `interrupt` turns SIGINT/SIGTERM into a
//! [`Cancel`]. See `harness/README.md` for the module map.
//!
//! ```no_run
//! let scenarios = harness::load_file(std::path::Path::new("scenarios/incident.toml")).unwrap();
//! let report = harness::run_scenario(&scenarios[0], &harness::RunOptions::default());
//! println!("{}", report.timeline.render_text());
//! assert!(report.passed, "{:?}", report.failures);
//! ```

mod check;
mod child_env;
mod child_hooks;
mod cli;
mod discover;
mod explore;
mod interrupt;
mod legacy;
mod lock_watch;
mod multicall;
mod python;
mod redact;
mod report;
mod run;
mod schema;
mod sync;
mod threads;
mod watch;

/// Every variable the runner sets for its children to steer them (read only by the child side of
/// the multicall, never by production code): a test of the `spec-kitty` binary checks that none
/// of them appears in it.
pub use child_env::ALL as CHILD_HOOK_VARIABLES;
pub use cli::main as cli_main;
pub use discover::collect as discover_files;
pub use explore::{
    explore, render_text as render_explore_text, write_replays, ExploreOptions, ExploreReport,
    Mode as ExploreMode, ScheduleSummary,
};
pub use interrupt::Cancel;
pub use multicall::dispatch;
pub use report::html::{render_index as render_html_index, render_page as render_html};
pub use report::junit::render as render_junit;
pub use report::model::{
    Entry, EntryKind, Failure, Interruption, Lane, LossVerdict, ProcessReport, ScenarioReport,
    SessionLoss, Timeline,
};
pub use report::text::{render_report as render_text_report, render_timeline};
pub use run::fixtures::stored_session;
pub use run::{run_scenario, RunOptions};
pub use schema::{load_file, parse_str, Diagnostic, Invalid, Scenario};
