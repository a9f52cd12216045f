//! The scenario file format in two stages, as ripgrep splits its flags: strict serde structures
//! first (`raw`: unknown keys are errors), then semantic validation (`resolve`) into the resolved
//! [`Scenario`] the runner executes (`model`).
//!
//! Every error carries the file, the 1-based line and column and, where it helps, the expected
//! form (`diagnostics`). `SCENARIO_FORMAT.md` beside this crate documents the format for people.
//! The children import one another, never this module; it only declares and re-exports them.

mod diagnostics;
mod explore;
mod model;
mod points;
mod raw;
mod resolve;
#[cfg(test)]
mod tests;
mod values;

pub use diagnostics::{line_col, Diagnostic, Invalid};
pub use explore::{ExploreSpec, REFRESH_LOCK_POINTS, SESSION_LOCK_POINT};
pub use model::{
    Action, Check, CorruptOp, Corruption, OutcomeExpect, PointFault, PrintedToken, ProcessSpec,
    Program, Scenario, Seed, SessionRef, Step, Until, NO_OUTCOME,
};
pub use points::{EXIT, START};
pub use values::{
    AlwaysSession, DecoyKind, ExitExpect, FileKind, IoOpName, LockAction, LockContent, PointAction,
    SaasAction, ServerState, SessionState, TokenRef,
};

use diagnostics::{Ctx, Locator};
use raw::RawFile;
use std::path::Path;

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
    // One parse: the document gives both the values (deserialised from it) and the positions
    // every later error points at.
    let parse_error = |span: Option<std::ops::Range<usize>>, message: &str| {
        let (line, column) = span.map_or((0, 0), |s| line_col(src, s.start));
        let message = message.trim().replace('\n', " ");
        Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line,
            column,
            expected: expected_for_parse_error(&message),
            message,
        }])
    };
    let doc = toml_edit::ImDocument::parse(src.to_string())
        .map_err(|e| parse_error(e.span(), e.message()))?;
    let raw: RawFile = toml_edit::de::from_document(doc.clone())
        .map_err(|e| parse_error(e.span(), e.message()))?;
    let mut ctx = Ctx {
        file: path,
        src,
        loc: Locator::new(doc),
        errors: Vec::new(),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string());
    let scenarios = resolve::resolve(&mut ctx, raw, &stem);
    if ctx.errors.is_empty() {
        Ok(scenarios)
    } else {
        // Tables shared by several variants are validated once per variant: report each once.
        let mut seen = Vec::new();
        ctx.errors.retain(|d| {
            let new = !seen.contains(d);
            if new {
                seen.push(d.clone());
            }
            new
        });
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
