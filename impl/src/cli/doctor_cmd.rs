//! `spec-kitty auth doctor`: the report, and the opt-in repairs, each followed by a fresh
//! report. Exit 0 when no critical finding remains, 1 when one does, 2 on an internal error.

use super::output::{exit, Failure, Output};
use crate::doctor::findings::Severity;
use crate::doctor::{facts, render, repairs, Report};
use crate::paths::RuntimeRoot;
use std::time::Duration;

/// What was asked for.
pub struct DoctorArgs {
    pub reset: bool,
    pub unstick_lock: bool,
    pub server: bool,
    pub stuck_threshold: Duration,
    pub verbose: bool,
}

/// Runs `auth doctor`.
pub fn run(root: &RuntimeRoot, out: Output, args: &DoctorArgs) -> i32 {
    // An internal error is one line; its backtrace (with -v) is kept from the panic site.
    static BACKTRACE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let verbose = args.verbose;
    std::panic::set_hook(Box::new(move |_| {
        if verbose {
            *BACKTRACE.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::backtrace::Backtrace::force_capture().to_string());
        }
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| report(root, args)));
    let _ = std::panic::take_hook();
    match outcome {
        Ok(report) => {
            let code = if report.has_critical() {
                exit::RELOGIN
            } else {
                exit::OK
            };
            if !out.json {
                print!(
                    "{}",
                    render::render(&report, super::output::stdout_colour())
                );
                return code;
            }
            // The document is the report; like every command's, a non-zero exit carries
            // `error` (here: which critical findings remain and the first fix).
            match critical_failure(&report) {
                None => out.success(&report, || {}),
                Some(failure) => out.failure(&report, &failure),
            }
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            if let Some(bt) = BACKTRACE.lock().unwrap_or_else(|p| p.into_inner()).take() {
                eprintln!("{bt}");
            }
            out.fail(&Failure::new(
                exit::USAGE,
                "internal",
                format!("auth doctor failed internally ({what}); run with -v for a backtrace and report it"),
            ))
        }
    }
}

/// The failure a report with critical findings amounts to, for `--json`.
fn critical_failure(report: &Report) -> Option<Failure> {
    let critical: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .collect();
    let first = critical.first()?;
    let ids: Vec<&str> = critical.iter().map(|f| f.id).collect();
    Some(Failure::new(
        exit::RELOGIN,
        "critical_findings",
        format!(
            "critical: {} ({}): run `{}`",
            ids.join(", "),
            first.summary,
            first.remediation.command
        ),
    ))
}

fn report(root: &RuntimeRoot, args: &DoctorArgs) -> Report {
    let mut done = Vec::new();
    if args.reset {
        done.push(repairs::reset(root));
    }
    if args.unstick_lock {
        done.push(repairs::unstick_lock(root, args.stuck_threshold));
    }
    let server = args.server.then(|| {
        let (repair, check) = repairs::server_check(root);
        done.push(repair);
        check
    });
    let mut facts = facts::gather(root, args.stuck_threshold);
    facts.session.server_check = server;
    Report::new(facts, done)
}
