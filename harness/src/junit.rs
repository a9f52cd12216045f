//! JUnit XML for CI: one `<testcase>` per scenario; a failure carries the failure list and the
//! text timeline.

use crate::runner::ScenarioReport;
use std::fmt::Write as _;

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The JUnit document for a run.
pub fn render(reports: &[ScenarioReport]) -> String {
    let failures = reports.iter().filter(|r| !r.passed).count();
    let total_s: f64 = reports.iter().map(|r| r.duration_ms).sum::<f64>() / 1000.0;
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total_s:.3}\">",
        reports.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{total_s:.3}\">",
        reports.len()
    );
    for r in reports {
        let _ = write!(
            x,
            "    <testcase classname=\"scenarios\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3}\"",
            xml_escape(&r.id),
            xml_escape(&r.file),
            r.line,
            r.duration_ms / 1000.0
        );
        if r.passed {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        let summary = r
            .failures
            .first()
            .cloned()
            .unwrap_or_else(|| "failed".into());
        let mut body = String::new();
        for f in &r.failures {
            let _ = writeln!(body, "- {f}");
        }
        body.push_str("\ntimeline:\n");
        body.push_str(&r.timeline.render_text());
        let _ = writeln!(
            x,
            "      <failure message=\"{}\" type=\"scenario\">{}</failure>",
            xml_escape(summary.lines().next().unwrap_or("")),
            xml_escape(&body)
        );
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_and_failures() {
        let ok = ScenarioReport {
            id: "incident".into(),
            file: "scenarios/incident.toml".into(),
            line: 1,
            passed: true,
            duration_ms: 1234.0,
            ..ScenarioReport::default()
        };
        let bad = ScenarioReport {
            id: "kill/<grace>".into(),
            passed: false,
            duration_ms: 10.0,
            failures: vec!["expect.exit: B exited 1, expected 0 & \u{1} more".into()],
            ..ScenarioReport::default()
        };
        let xml = render(&[ok, bad]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<testcase classname=\"scenarios\" name=\"incident\" file=\"scenarios/incident.toml\" line=\"1\" time=\"1.234\"/>"), "{xml}");
        assert!(xml.contains("name=\"kill/&lt;grace&gt;\""), "{xml}");
        assert!(
            xml.contains("message=\"expect.exit: B exited 1, expected 0 &amp;  more\""),
            "{xml}"
        );
        assert!(xml.contains("timeline:"), "{xml}");
        assert!(!xml.contains('\u{1}'));
    }
}
