//! JUnit XML for CI: one `<testcase>` per scenario (with `file` and `line` attributes); a
//! failure carries its first line as the message and every failure plus the text timeline as
//! the body.
//!
//! Built as data with `quick-junit` and serialised once, so escaping and characters XML cannot
//! carry are its concern, not ours. Reads only the report model.

use super::model::ScenarioReport;
use super::text::failure_body;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// The suite, the report and every test case's class name.
const SUITE: &str = "scenarios";

/// The JUnit document for a run.
pub fn render(reports: &[ScenarioReport]) -> String {
    let mut suite = TestSuite::new(SUITE);
    let mut total = Duration::ZERO;
    for r in reports {
        let time = Duration::from_secs_f64(r.duration_ms.max(0.0) / 1000.0);
        total += time;
        let status = if let Some(reason) = &r.skipped {
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason.as_str());
            status
        } else if r.passed {
            TestCaseStatus::success()
        } else {
            let summary = r
                .failures
                .first()
                .map(|f| f.to_string())
                .unwrap_or_else(|| "failed".into());
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(summary.lines().next().unwrap_or(""))
                .set_type("scenario")
                .set_description(failure_body(r));
            status
        };
        let mut case = TestCase::new(r.id.as_str(), status);
        case.set_classname(SUITE).set_time(time);
        case.extra.insert("file".into(), r.file.as_str().into());
        case.extra.insert("line".into(), r.line.to_string().into());
        suite.add_test_case(case);
    }
    suite.set_time(total);
    let mut report = Report::new(SUITE);
    report.set_time(total).add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialise the JUnit report: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Failure;

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
            failures: vec![Failure::expect(
                "exit",
                "B exited 1, expected 0 & \u{1} more",
            )],
            ..ScenarioReport::default()
        };
        let xml = render(&[ok, bad]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"incident\" classname=\"scenarios\" time=\"1.234\" file=\"scenarios/incident.toml\" line=\"1\""), "{xml}");
        assert!(xml.contains("name=\"kill/&lt;grace&gt;\""), "{xml}");
        assert!(
            xml.contains("message=\"expect.exit: B exited 1, expected 0 &amp;  more\""),
            "{xml}"
        );
        assert!(xml.contains("timeline:"), "{xml}");
        assert!(!xml.contains('\u{1}'));
    }
}
