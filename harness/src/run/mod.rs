//! Runs one scenario end to end: an isolated runtime root, an embedded fake SaaS, a sync-point
//! socket, real child processes ordered by the steps, a hard budget, teardown that leaves no
//! process behind, then the invariants and expectations, and the report.
//!
//! The parts: `lifecycle` (one run in order: setup, a driver, teardown, checks, the
//! `ScenarioReport`), `world` (the resources and their teardown), `fixtures` (seeding and
//! corrupting files), `visibility` (each process will read what was seeded), `children`
//! (spawning, output, reaping), `process_control` (the Linux-only calls), `steps` (the file's
//! ordering and every wait), `schedule` (an explored ordering: a chooser decides who goes on at
//! every held point), `collect` (recorded data → timeline). This module only declares them.

mod children;
mod ciphers;
mod collect;
mod daemons;
pub(crate) mod fixtures;
mod lifecycle;
mod process_control;
pub(crate) mod schedule;
mod steps;
mod visibility;
mod world;

pub use lifecycle::run_scenario;
pub use world::RunOptions;
