//! Small helpers every `scenario` subcommand shares: the `--filter` match and the one JSON
//! document on stdout.

use crate::schema::Scenario;
use std::io::Write;

/// Whether `s` passes `--filter` (its id or name contains the text).
pub fn matches(s: &Scenario, filter: &Option<String>) -> bool {
    match filter {
        None => true,
        Some(f) => s.id.contains(f.as_str()) || s.title.contains(f.as_str()),
    }
}

/// Prints `value` as the one JSON document on stdout.
pub fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
