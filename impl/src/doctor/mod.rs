//! `spec-kitty auth doctor`: one read-only command that explains any auth or daemon problem and
//! names the exact fix, and a few opt-in repairs.
//!
//! Read top-down: [`facts`] (what is observed, read-only), [`findings`] (what is wrong and the
//! fix), [`repairs`] (`--reset`, `--unstick-lock`, `--server`), [`render`] (the human text, from
//! the same values as the JSON). The JSON schema is documented in `docs/doctor.md`.

pub mod facts;
pub mod findings;
pub mod render;
pub mod repairs;

use facts::Facts;
use findings::{Finding, Severity};
use repairs::Repair;
use serde::Serialize;

/// The version of the `--json` document's shape.
pub const SCHEMA_VERSION: u32 = 1;
/// Default: a lock held longer than this by a live process is stuck.
pub const DEFAULT_STUCK_THRESHOLD_S: u64 = 60;

/// The whole report: what `--json` prints and what the human text renders.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    #[serde(flatten)]
    pub facts: Facts,
    pub findings: Vec<Finding>,
    /// What the requested repairs did (absent when none was asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<Repair>,
}

impl Report {
    /// Assembles the report from `facts`.
    pub fn new(facts: Facts, repairs: Vec<Repair>) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            findings: findings::derive(&facts),
            facts,
            repairs,
        }
    }

    /// Whether a critical finding remains (the exit code is then 1).
    pub fn has_critical(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Critical)
    }
}
