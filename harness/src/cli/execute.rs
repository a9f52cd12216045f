//! Running the selected scenarios on worker threads: results printed as each completes, a
//! progress line on a terminal, and, after SIGINT or SIGTERM, no new scenario started and a
//! summary of what the signal stopped.
//!
//! Guarantee: [`run_all`] returns one report per scenario it started, in input order, after
//! every started scenario has torn down (children reaped, temp directories removed unless
//! `--keep`).

use crate::report::model::ScenarioReport;
use crate::run::{run_scenario, RunOptions};
use crate::schema::Scenario;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs scenarios on `jobs` worker threads; prints each result as it completes. Returns the
/// reports of the scenarios started, in the input order.
pub fn run_all(
    scenarios: &[Scenario],
    opts: &RunOptions,
    jobs: usize,
    json: bool,
) -> Vec<ScenarioReport> {
    let progress = std::io::stderr().is_terminal();
    let running: std::sync::Mutex<Vec<String>> = std::sync::Mutex::default();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, ScenarioReport)>();
    let total = scenarios.len();
    let mut slots: Vec<Option<ScenarioReport>> = vec![None; total];
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(total) {
            let tx = tx.clone();
            let next = &next;
            let running = &running;
            scope.spawn(move || loop {
                if opts.cancel.signal().is_some() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return;
                }
                let id = scenarios[i].id.clone();
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(id.clone());
                let report = run_scenario(&scenarios[i], opts);
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|r| r != &id);
                if tx.send((i, report)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        let status = |done: usize| {
            let names = running.lock().unwrap_or_else(|p| p.into_inner()).join(", ");
            eprint!("\r\x1b[2K[{done}/{total}] running {names}");
        };
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok((i, report)) => {
                    done += 1;
                    if progress {
                        eprint!("\r\x1b[2K");
                    }
                    if report.interrupted.is_none() {
                        print_result(&report, json);
                    }
                    slots[i] = Some(report);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if progress && done < total && opts.cancel.signal().is_none() {
                status(done);
            }
        }
        if progress {
            eprint!("\r\x1b[2K");
        }
    });
    slots.into_iter().flatten().collect()
}

/// What a signal stopped: each interrupted scenario and the processes it killed.
pub fn print_interrupted(signal: &str, reports: &[ScenarioReport], keep: bool) {
    let stopped: Vec<&ScenarioReport> =
        reports.iter().filter(|r| r.interrupted.is_some()).collect();
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "scenario: interrupted by {signal}: {} scenario(s) were running",
        stopped.len()
    );
    for r in stopped {
        let killed = r
            .interrupted
            .as_ref()
            .map(|i| i.killed.join(", "))
            .unwrap_or_default();
        let _ = writeln!(
            e,
            "  {}: {}",
            r.id,
            if killed.is_empty() {
                "no process was running".to_string()
            } else {
                format!("killed {killed}")
            }
        );
        match &r.kept_root {
            Some(root) if keep => {
                let _ = writeln!(e, "    temp directory kept (--keep): {root}");
            }
            _ => {
                let _ = writeln!(e, "    temp directory removed");
            }
        }
    }
}

fn print_result(r: &ScenarioReport, json: bool) {
    let line = match &r.skipped {
        Some(reason) => format!("SKIP {} ({reason})", r.id),
        None => format!(
            "{} {} ({:.2} s)",
            if r.passed { "PASS" } else { "FAIL" },
            r.id,
            r.duration_ms / 1000.0
        ),
    };
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
        let _ = std::io::stdout().flush();
    }
    if let Some(root) = &r.kept_root {
        eprintln!("  kept runtime root of {}: {root}", r.id);
    }
    if !r.passed {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(
            e,
            "--- {} failed: {} ({}:{})",
            r.id, r.title, r.file, r.line
        );
        for f in &r.failures {
            let _ = writeln!(e, "  - {f}");
        }
        let _ = writeln!(e, "  timeline:");
        for l in r.timeline.render_text().lines() {
            let _ = writeln!(e, "  {l}");
        }
        let _ = writeln!(e, "---");
    }
}
