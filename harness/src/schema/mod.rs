//! The scenario file format: strict serde structs (unknown keys are errors), then semantic
//! validation into the resolved [`Scenario`] the runner executes.
//!
//! Every error carries the file, the 1-based line and column and, where it helps, the expected
//! form. `SCENARIO_FORMAT.md` beside this crate documents the format for people.

mod diagnostics;
mod model;
mod raw;
mod resolve;
#[cfg(test)]
mod tests;
mod values;

pub use diagnostics::{line_col, Diagnostic, Invalid};
pub use model::{
    Action, Check, CorruptOp, Corruption, Expect, OutcomeExpect, PointFault, PrintedToken,
    ProcessSpec, Program, Scenario, Seed, SeedLock, SeedSession, Step, Timing, TokenRef, Until,
};
pub use values::{
    ExitExpect, FileKind, LockAction, OneOrMany, PointAction, SaasAction, SessionState,
};

use diagnostics::{Ctx, Locator};
use raw::RawFile;
use resolve::resolve;
use std::path::Path;

/// The pseudo-point that means "until the process exits".
pub const EXIT: &str = "exit";
/// Pseudo-points usable in `[[expect.timing]]` and `expect.order` besides real points.
pub const START: &str = "start";
/// Points the built-in legacy client reports (it is not production code, so they live here).
pub const LEGACY_POINTS: &[&str] = &[
    "legacy.loaded",
    "legacy.network_before",
    "legacy.network_after",
    "legacy.persisted",
    "legacy.deleted",
];
/// `expect.outcomes` value meaning "this process ran no refresh transaction".
pub const NO_OUTCOME: &str = "none";
/// Default hard budget of one scenario.
pub const DEFAULT_BUDGET_S: f64 = 30.0;
/// Largest budget a scenario may ask for.
pub const MAX_BUDGET_S: f64 = 600.0;
/// Most replicas one `[[process]]` may declare.
pub const MAX_REPLICAS: u32 = 64;

/// Whether `point` is a sync point some process can report.
pub fn is_known_point(point: &str) -> bool {
    spec_kitty::syncpoint::Point::from_name(point).is_some() || LEGACY_POINTS.contains(&point)
}

/// Every point name, for messages.
pub fn known_points() -> Vec<&'static str> {
    spec_kitty::syncpoint::Point::ALL
        .iter()
        .map(|p| p.as_str())
        .chain(LEGACY_POINTS.iter().copied())
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Loading
// ------------------------------------------------------------------------------------------------

/// Reads and validates one file: one scenario per variant (or one without variants).
pub fn load_file(path: &Path) -> Result<Vec<Scenario>, Invalid> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            expected: None,
        }])
    })?;
    parse_str(path, &src)
}

/// Validates scenario text (the `path` only names it in errors and gives the id).
pub fn parse_str(path: &Path, src: &str) -> Result<Vec<Scenario>, Invalid> {
    let raw: RawFile = toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map_or((0, 0), |s| line_col(src, s.start));
        let message = e.message().trim().replace('\n', " ");
        Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line,
            column,
            expected: expected_for_parse_error(&message),
            message,
        }])
    })?;
    let mut ctx = Ctx {
        file: path,
        src,
        loc: Locator::new(src),
        errors: Vec::new(),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string());
    let scenarios = resolve(&mut ctx, raw, &stem);
    if ctx.errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(Invalid(ctx.errors))
    }
}

fn expected_for_parse_error(message: &str) -> Option<String> {
    if message.contains("missing field `scenario`") {
        return Some("a `[scenario]` table with `name` and `description`".to_string());
    }
    if message.contains("expected one of") {
        // serde already names the accepted keys or values.
        return None;
    }
    Some("see harness/SCENARIO_FORMAT.md for the format".to_string())
}
