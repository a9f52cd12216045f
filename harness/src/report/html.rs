//! The HTML renderings of reports: one self-contained swimlane page per scenario (lanes side by
//! side, held segments in amber) and an index page for a report directory.
//!
//! Built with `maud`: the markup is checked at compile time and every interpolated string is
//! escaped by it, so no report text (a process's output, a failure) can break the page. Reads
//! only the report model. No script, no external resource.

use super::model::{EntryKind, Lane, ScenarioReport};
use super::text::marker;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Identifies pages this crate wrote (`<meta name="generator">`).
pub const GENERATOR: &str = "kitty-auth scenario runner";

const CSS: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em;color:#1d2330;background:#fafbfc}
h1{font-size:1.35em;margin:0 0 .2em}
.meta{color:#5a6270;margin:.2em 0}
.desc{white-space:pre-wrap;max-width:70em}
.status{display:inline-block;padding:.15em .6em;border-radius:4px;font-weight:600;color:#fff}
.pass{background:#2e7d32}.fail{background:#c62828}
ul.failures{background:#fff0f0;border:1px solid #f3c0c0;padding:.6em 1.6em;border-radius:4px;max-width:80em}
ul.failures li{white-space:pre-wrap;margin:.2em 0}
table{border-collapse:collapse}
table.procs td,table.procs th{border:1px solid #dde1e6;padding:.25em .6em;text-align:left;vertical-align:top}
table.swim{margin-top:1em;font-size:12.5px}
table.swim th{position:sticky;top:0;background:#eef1f5;border-bottom:2px solid #b8c0cc;padding:.35em .6em;z-index:1}
table.swim td{padding:.12em .5em;border-right:1px solid #e3e7ec;vertical-align:top;min-width:9em;max-width:28em;white-space:pre-wrap}
table.swim td.t{color:#6b7380;text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;border-right:2px solid #b8c0cc}
td.alive{background:linear-gradient(90deg,transparent 0,transparent 6px,#9fc5f8 6px,#9fc5f8 9px,transparent 9px)}
td.held{background:linear-gradient(90deg,transparent 0,transparent 6px,#f4b400 6px,#f4b400 9px,transparent 9px)}
td.ev{padding-left:14px}
.k-step{color:#37474f;font-weight:600}.k-point{color:#1a4f9c}.k-held{color:#8a5a00;font-weight:600}
.k-release{color:#2e7d32}.k-kill{color:#c62828;font-weight:700}.k-exit{font-weight:600}
.k-request{color:#6a1b9a}.k-file{color:#00695c}.k-violation,.k-anomaly{color:#c62828;font-weight:700}
.k-stderr{color:#8d4b00;font-family:ui-monospace,monospace}.k-stdout{color:#455a64;font-family:ui-monospace,monospace}
pre{background:#f1f3f6;padding:.5em;border-radius:4px;white-space:pre-wrap;max-width:90em}
details{margin:.3em 0}
"#;

/// Where a process lane stands while the table is drawn top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Life {
    NotStarted,
    Alive,
    Held,
    Ended,
}

impl Life {
    fn after(self, kind: EntryKind) -> Life {
        match kind {
            EntryKind::Spawn | EntryKind::Release => Life::Alive,
            EntryKind::Held => Life::Held,
            EntryKind::Exit | EntryKind::Kill => Life::Ended,
            _ => self,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Life::Alive => "alive",
            Life::Held => "held",
            Life::NotStarted | Life::Ended => "",
        }
    }
}

fn status(passed: bool) -> Markup {
    html! {
        @if passed { span.status.pass { "PASSED" } } @else { span.status.fail { "FAILED" } }
    }
}

fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="generator" content=(GENERATOR);
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// A self-contained HTML page: header, failures, processes, and the swimlane table.
pub fn render_page(report: &ScenarioReport) -> String {
    page(
        &report.id,
        html! {
            h1 { (report.title) }
            p.meta {
                (status(report.passed)) " \u{a0}" (report.id) " · "
                (format!("{:.0} ms", report.duration_ms)) " · "
                (report.file) ":" (report.line)
            }
            p.desc { (report.description) }
            @if !report.failures.is_empty() {
                ul.failures { @for f in &report.failures { li { (f.to_string()) } } }
            }
            table.procs {
                tr { th { "process" } th { "command" } th { "pid" } th { "end" } th { "refresh outcomes" } }
                @for p in &report.processes {
                    tr {
                        td { (p.name) }
                        td { code { (p.command) } }
                        td { (p.pid.map(|p| p.to_string()).unwrap_or_default()) }
                        td { (p.end) }
                        td { (p.outcomes.join(", ")) }
                    }
                }
            }
            @for p in report.processes.iter().filter(|p| !p.stdout.is_empty() || !p.stderr.is_empty()) {
                details {
                    summary { (p.name) " output" }
                    p { "stdout" } pre { (p.stdout) }
                    p { "stderr" } pre { (p.stderr) }
                }
            }
            @if let Some(root) = &report.kept_root {
                p.meta { "runtime root kept at " code { (root) } }
            }
            (swimlanes(report))
        },
    )
}

fn swimlanes(report: &ScenarioReport) -> Markup {
    let lanes: &[Lane] = &report.timeline.lanes;
    let mut life = vec![Life::NotStarted; lanes.len()];
    let mut rows = Vec::new();
    for e in &report.timeline.entries {
        let Some(idx) = lanes.iter().position(|l| l == &e.lane) else {
            continue;
        };
        let before = life[idx];
        if e.lane.is_process() {
            life[idx] = before.after(e.kind);
        }
        let cells: Vec<Markup> = lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                // The event's own cell shows the state it starts or continues, never "ended".
                let state = if i == idx {
                    before.max(life[i]).min(Life::Held)
                } else {
                    life[i]
                };
                let class = if lane.is_process() { state.class() } else { "" };
                if i == idx {
                    html! {
                        td class={ "ev " (class) } {
                            span class={ "k-" (e.kind.as_str()) } { (marker(e.kind)) (e.text) }
                        }
                    }
                } else {
                    html! { td class=(class) {} }
                }
            })
            .collect();
        rows.push(html! {
            tr { td.t { (format!("{:.1}", e.t_ms)) } @for c in cells { (c) } }
        });
    }
    html! {
        table.swim {
            thead { tr { th { "t (ms)" } @for l in lanes { th { (l.name()) } } } }
            tbody { @for r in rows { (r) } }
        }
    }
}

/// An index page linking every scenario page of a report directory: `(page file, report)`.
pub fn render_index(reports: &[(String, &ScenarioReport)]) -> String {
    page(
        "scenario report",
        html! {
            h1 { "Scenario report" }
            table.procs {
                tr { th { "scenario" } th { "result" } th { "time (ms)" } th { "title" } }
                @for (file, r) in reports {
                    tr {
                        td { a href=(file) { (r.id) } }
                        td { (status(r.passed)) }
                        td { (format!("{:.0}", r.duration_ms)) }
                        td { (r.title) }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::tests::timeline;

    #[test]
    fn html_is_self_contained_and_escaped() {
        let report = ScenarioReport {
            id: "x".into(),
            title: "x <title>".into(),
            timeline: timeline(),
            ..ScenarioReport::default()
        };
        let html = render_page(&report);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("x &lt;title&gt;"));
        assert!(html.contains("&lt;R0&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        // One header cell per lane plus time (the process table has five more).
        assert_eq!(html.matches("<th>").count(), 5 + 5);
        assert!(html.contains("class=\"ev held\""), "{html}");
        assert!(html.contains(GENERATOR));
    }

    #[test]
    fn index_links_pages() {
        let r = ScenarioReport {
            id: "a/b".into(),
            passed: true,
            ..ScenarioReport::default()
        };
        let html = render_index(&[("a_b.html".into(), &r)]);
        assert!(html.contains("href=\"a_b.html\""), "{html}");
        assert!(html.contains("PASSED"), "{html}");
    }
}
