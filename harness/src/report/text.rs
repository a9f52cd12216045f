//! The plain-text renderings of a report: the timeline (one line per event, printed on failure
//! and written to `<id>.timeline.txt`) and the failure block JUnit and `cargo test` show.
//!
//! Reads only the report model. Guarantee: one line per event in time order, the lane column
//! aligned, continuation lines of multi-line text indented under the event.

use super::model::{EntryKind, ScenarioReport, Timeline};
use std::fmt::Write as _;

/// The marker that starts an event's text (shared with the HTML page).
pub fn marker(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Step => "▶ ",
        EntryKind::Point => "● ",
        EntryKind::Held => "‖ ",
        EntryKind::Release => "▷ ",
        EntryKind::Kill => "✖ ",
        EntryKind::Exit => "■ ",
        EntryKind::Spawn => "◆ ",
        EntryKind::Request => "⇄ ",
        EntryKind::File => "✎ ",
        EntryKind::Violation | EntryKind::Anomaly => "‼ ",
        EntryKind::Stdout => "» ",
        EntryKind::Stderr => "! ",
        EntryKind::Seed
        | EntryKind::Saas
        | EntryKind::Lock
        | EntryKind::Check
        | EntryKind::Daemon => "· ",
    }
}

impl Timeline {
    /// The text form: one line per event (see [`render_timeline`]).
    pub fn render_text(&self) -> String {
        render_timeline(self)
    }
}

/// The text form of a timeline: a header, then one line per event.
pub fn render_timeline(timeline: &Timeline) -> String {
    let width = timeline
        .lanes
        .iter()
        .map(|l| l.name().chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 24);
    let mut out = String::new();
    let _ = writeln!(out, "{:>10}  {:<width$}  event", "t (ms)", "lane");
    for e in &timeline.entries {
        let marker = marker(e.kind);
        for (i, line) in e.text.lines().enumerate() {
            if i == 0 {
                let _ = writeln!(
                    out,
                    "{:>10.1}  {:<width$}  {marker}{line}",
                    e.t_ms,
                    e.lane.name()
                );
            } else {
                let _ = writeln!(out, "{:>10}  {:<width$}    {line}", "", "");
            }
        }
    }
    out
}

/// Every failure as `- ...`, a blank line, then `timeline:` and the timeline.
pub fn failure_body(report: &ScenarioReport) -> String {
    let mut body = String::new();
    for f in &report.failures {
        let _ = writeln!(body, "- {f}");
    }
    body.push_str("\ntimeline:\n");
    body.push_str(&render_timeline(&report.timeline));
    body
}

/// The whole report as text: title, description, result, failures, timeline.
pub fn render_report(report: &ScenarioReport) -> String {
    let mut text = format!(
        "{} — {}\n{}\nresult: {} in {:.0} ms\n",
        report.id,
        report.title,
        report.description,
        if report.passed { "PASSED" } else { "FAILED" },
        report.duration_ms
    );
    for f in &report.failures {
        let _ = writeln!(text, "- {f}");
    }
    text.push('\n');
    text.push_str(&render_timeline(&report.timeline));
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::model::{Entry, Lane};

    /// A small timeline with entries out of order (shared with the HTML tests).
    pub(crate) fn timeline() -> Timeline {
        let entry = |t_ms: f64, lane: Lane, kind: EntryKind, text: &str| Entry {
            t_ms,
            lane,
            kind,
            text: text.into(),
        };
        let a = || Lane::Process("A".into());
        let mut t = Timeline {
            lanes: vec![Lane::Runner, a(), Lane::Saas, Lane::File],
            entries: vec![
                entry(5.0, a(), EntryKind::Held, "session.loaded"),
                entry(
                    0.0,
                    Lane::Runner,
                    EntryKind::Step,
                    "step 1: run A until session.loaded",
                ),
                entry(1.0, a(), EntryKind::Spawn, "pid 10: spec-kitty auth token"),
                entry(
                    7.5,
                    Lane::Saas,
                    EntryKind::Request,
                    "POST /oauth/token <R0> → 200",
                ),
            ],
        };
        t.sort();
        t
    }

    #[test]
    fn text_is_time_ordered_with_lanes() {
        let text = timeline().render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[1].contains("runner") && lines[1].contains("▶ step 1"),
            "{text}"
        );
        assert!(lines[2].contains("◆ pid 10"), "{text}");
        assert!(lines[3].contains("‖ session.loaded"), "{text}");
        assert!(lines[4].trim_start().starts_with("7.5"), "{text}");
    }
}
