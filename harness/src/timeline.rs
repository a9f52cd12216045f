//! The timeline of one scenario run: every sync point, spawn, release, kill and exit per
//! process, every SaaS request and response, every change of `session.json`, in time order.
//! Rendered as text (printed on failure) and as a self-contained HTML swimlane page.

use crate::runner::ScenarioReport;
use serde::Serialize;
use std::fmt::Write as _;

/// The runner's own lane.
pub const RUNNER_LANE: &str = "runner";
/// The fake SaaS's lane.
pub const SAAS_LANE: &str = "saas";
/// The session file's lane.
pub const FILE_LANE: &str = "session.json";

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Milliseconds since the scenario started.
    pub t_ms: f64,
    pub lane: String,
    /// `step`, `spawn`, `point`, `held`, `release`, `kill`, `exit`, `stdout`, `stderr`,
    /// `request`, `file`, `violation`, `anomaly`, `lock`, `saas`, `check`.
    pub kind: String,
    pub text: String,
}

/// All events plus the lane order (runner, processes in declaration order, saas, file).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub lanes: Vec<String>,
    pub entries: Vec<Entry>,
}

impl Timeline {
    /// Sorts entries by time (stable: same-time entries keep their insertion order).
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| {
            a.t_ms
                .partial_cmp(&b.t_ms)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }

    /// The text form: one line per event.
    pub fn render_text(&self) -> String {
        let width = self
            .lanes
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(6)
            .clamp(6, 24);
        let mut out = String::new();
        let _ = writeln!(out, "{:>10}  {:<width$}  event", "t (ms)", "lane");
        for e in &self.entries {
            let marker = marker(&e.kind);
            for (i, line) in e.text.lines().enumerate() {
                if i == 0 {
                    let _ = writeln!(out, "{:>10.1}  {:<width$}  {marker}{line}", e.t_ms, e.lane);
                } else {
                    let _ = writeln!(out, "{:>10}  {:<width$}    {line}", "", "");
                }
            }
        }
        out
    }
}

fn marker(kind: &str) -> &'static str {
    match kind {
        "step" => "▶ ",
        "point" => "● ",
        "held" => "‖ ",
        "release" => "▷ ",
        "kill" => "✖ ",
        "exit" => "■ ",
        "spawn" => "◆ ",
        "request" => "⇄ ",
        "file" => "✎ ",
        "violation" | "anomaly" => "‼ ",
        "stdout" => "» ",
        "stderr" => "! ",
        _ => "· ",
    }
}

/// Escapes text for HTML: the XML escaping JUnit reports use is valid HTML too.
use crate::junit::xml_escape as escape;

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
table.swim td{padding:.12em .5em;border-right:1px solid #e3e7ec;vertical-align:top;min-width:9em;max-width:28em}
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

/// A self-contained HTML page: header, failures, processes, and the swimlane table.
pub fn render_html(report: &ScenarioReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        escape(&report.id)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p class=\"meta\"><span class=\"status {}\">{}</span> &nbsp;{} &middot; {:.0} ms &middot; {}:{}</p><p class=\"desc\">{}</p>",
        escape(&report.title),
        if report.passed { "pass" } else { "fail" },
        if report.passed { "PASSED" } else { "FAILED" },
        escape(&report.id),
        report.duration_ms,
        escape(&report.file),
        report.line,
        escape(&report.description)
    );
    if !report.failures.is_empty() {
        h.push_str("<ul class=\"failures\">");
        for f in &report.failures {
            let _ = write!(h, "<li>{}</li>", escape(f));
        }
        h.push_str("</ul>");
    }
    h.push_str("<table class=\"procs\"><tr><th>process</th><th>command</th><th>pid</th><th>end</th><th>refresh outcomes</th></tr>");
    for p in &report.processes {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.name),
            escape(&p.command),
            p.pid.map(|p| p.to_string()).unwrap_or_default(),
            escape(&p.end),
            escape(&p.outcomes.join(", "))
        );
    }
    h.push_str("</table>");
    for p in &report.processes {
        if p.stdout.is_empty() && p.stderr.is_empty() {
            continue;
        }
        let _ = write!(
            h,
            "<details><summary>{} output</summary><p>stdout</p><pre>{}</pre><p>stderr</p><pre>{}</pre></details>",
            escape(&p.name),
            escape(&p.stdout),
            escape(&p.stderr)
        );
    }
    if let Some(root) = &report.kept_root {
        let _ = write!(
            h,
            "<p class=\"meta\">runtime root kept at <code>{}</code></p>",
            escape(root)
        );
    }

    // Swimlanes.
    let lanes = &report.timeline.lanes;
    h.push_str("<table class=\"swim\"><thead><tr><th>t (ms)</th>");
    for l in lanes {
        let _ = write!(h, "<th>{}</th>", escape(l));
    }
    h.push_str("</tr></thead><tbody>");
    // Per process lane: 0 not started, 1 alive, 2 held, 3 exited.
    let mut state: Vec<u8> = vec![0; lanes.len()];
    let process_lane = |l: &str| l != RUNNER_LANE && l != SAAS_LANE && l != FILE_LANE;
    for e in &report.timeline.entries {
        let Some(idx) = lanes.iter().position(|l| l == &e.lane) else {
            continue;
        };
        // Update this lane's state from the event.
        let before = state[idx];
        if process_lane(&e.lane) {
            state[idx] = match e.kind.as_str() {
                "spawn" | "release" => 1,
                "held" => 2,
                "exit" | "kill" => 3,
                _ => state[idx],
            };
        }
        let _ = write!(h, "<tr><td class=\"t\">{:.1}</td>", e.t_ms);
        for (i, l) in lanes.iter().enumerate() {
            let s = if i == idx {
                before.max(state[i]).min(2)
            } else {
                state[i]
            };
            let life = if process_lane(l) {
                match s {
                    1 => " alive",
                    2 => " held",
                    _ => "",
                }
            } else {
                ""
            };
            if i == idx {
                let _ = write!(
                    h,
                    "<td class=\"ev{life}\"><span class=\"k-{}\">{}{}</span></td>",
                    escape(&e.kind),
                    marker(&e.kind),
                    escape(&e.text).replace('\n', "<br>")
                );
            } else {
                let _ = write!(h, "<td class=\"{}\"></td>", life.trim());
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></body></html>\n");
    h
}

/// An index page linking every scenario page of a report directory.
pub fn render_index(reports: &[(String, &ScenarioReport)]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>scenario report</title><style>{CSS}</style></head><body><h1>Scenario report</h1><table class=\"procs\"><tr><th>scenario</th><th>result</th><th>time (ms)</th><th>title</th></tr>"
    );
    for (file, r) in reports {
        let _ = write!(
            h,
            "<tr><td><a href=\"{}\">{}</a></td><td><span class=\"status {}\">{}</span></td><td>{:.0}</td><td>{}</td></tr>",
            escape(file),
            escape(&r.id),
            if r.passed { "pass" } else { "fail" },
            if r.passed { "PASSED" } else { "FAILED" },
            r.duration_ms,
            escape(&r.title)
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> Timeline {
        let mut t = Timeline {
            lanes: vec![
                RUNNER_LANE.into(),
                "A".into(),
                SAAS_LANE.into(),
                FILE_LANE.into(),
            ],
            entries: vec![
                Entry {
                    t_ms: 5.0,
                    lane: "A".into(),
                    kind: "held".into(),
                    text: "session.loaded".into(),
                },
                Entry {
                    t_ms: 0.0,
                    lane: RUNNER_LANE.into(),
                    kind: "step".into(),
                    text: "step 1: run A until session.loaded".into(),
                },
                Entry {
                    t_ms: 1.0,
                    lane: "A".into(),
                    kind: "spawn".into(),
                    text: "pid 10: spec-kitty auth token".into(),
                },
                Entry {
                    t_ms: 7.5,
                    lane: SAAS_LANE.into(),
                    kind: "request".into(),
                    text: "POST /oauth/token <R0> → 200".into(),
                },
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

    #[test]
    fn html_is_self_contained_and_escaped() {
        let report = ScenarioReport {
            id: "x".into(),
            title: "x <title>".into(),
            timeline: timeline(),
            ..ScenarioReport::default()
        };
        let html = render_html(&report);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("x &lt;title&gt;"));
        assert!(html.contains("&lt;R0&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        // One header cell per lane plus time.
        assert_eq!(html.matches("<th>").count(), 5 + 5);
        assert!(html.contains("class=\"ev held\""), "{html}");
    }
}
