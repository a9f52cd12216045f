//! `scenario explore`: searches the orders in which real processes may pass the sync points a
//! scenario names (and, with kills, where they may die) for a broken invariant, and turns every
//! failure into a replay file `scenario run` reproduces.
//!
//! The parts: `search` (the bounded depth-first or random search on worker threads), `choosers`
//! (how one schedule's decisions are taken), `tally` (what was found, as data), `replay` (a
//! schedule as ordinary steps, and the replay file), `output` (writing replays, the text
//! summary). One schedule is run by `crate::run::schedule`, with the runner's own world, steps,
//! checks and report. This module only declares them.

mod choosers;
mod output;
mod replay;
mod search;
mod tally;

pub use output::{render_text, schedule_id, write_replays};
pub use search::{explore, ExploreOptions, Mode, Progress};
pub use tally::{ExploreReport, ScheduleSummary};
