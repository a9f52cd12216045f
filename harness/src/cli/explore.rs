//! `scenario explore FILE`: explores each scenario (variant) of one file, prints what was found,
//! writes a replay file per failing schedule (into `--report DIR`, or a new temp directory that
//! is kept and named), and with `--report` the timeline pages of the failing and limit schedules.
//!
//! Exit codes: 0 no schedule failed (documented limits are not failures), 1 some did, 2 invalid
//! input, 130 / 143 stopped by SIGINT / SIGTERM.

use super::common::{matches, print_json};
use super::report_dir::write_report_dir;
use crate::explore::{
    explore, render_text, schedule_id, write_replays, ExploreOptions, ExploreReport, Mode, Progress,
};
use crate::interrupt::{self, signal_name, Cancel};
use crate::report::model::ScenarioReport;
use crate::run::RunOptions;
use crate::schema::Scenario;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// The global flags `explore` reads.
#[derive(Debug, Clone)]
pub struct Common {
    pub json: bool,
    pub report: Option<PathBuf>,
    pub filter: Option<String>,
    pub jobs: Option<usize>,
    pub executor: Option<PathBuf>,
}

/// `scenario explore`'s own arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ExploreArgs {
    /// The scenario file (every variant is explored; `--filter` picks some).
    pub file: PathBuf,
    /// At most N schedules per scenario (default: `[explore] max_schedules`, else 1000).
    #[arg(long, value_name = "N")]
    pub max_schedules: Option<u64>,
    /// Seed of the random sampling (default: from the clock, and printed).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Total time per scenario (default: `[explore] budget_s`, else 300).
    #[arg(long, value_name = "SECONDS")]
    pub budget: Option<f64>,
    /// `dfs`: depth-first over every decision (sampling once the space exceeds the bound);
    /// `random`: PCT-style sampling from the seed.
    #[arg(long, value_enum, default_value = "dfs")]
    pub mode: ModeArg,
    /// Schedules may also SIGKILL a held process at the scenario's kill points.
    #[arg(long)]
    pub kills: bool,
    /// Stop at the first failing schedule.
    #[arg(long)]
    pub fail_fast: bool,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Dfs,
    Random,
}

/// Explores `scenarios` (the file's, already validated); returns the exit code.
pub fn run(cli: &Common, args: &ExploreArgs, scenarios: Vec<Scenario>) -> i32 {
    let mut selected = Vec::new();
    for sc in scenarios.iter().filter(|s| matches(s, &cli.filter)) {
        match sc.explorable() {
            Ok(s) => selected.push(s),
            Err(e) => {
                eprintln!("scenario: {e}");
                return 2;
            }
        }
    }
    if selected.is_empty() {
        eprintln!(
            "scenario: no scenario of {} matches the filter",
            args.file.display()
        );
        return 2;
    }
    if args.budget.is_some_and(|b| !(b > 0.0 && b <= 86_400.0)) {
        eprintln!("scenario: --budget takes seconds, more than 0 and at most 86400");
        return 2;
    }
    let cancel = Cancel::new();
    if let Err(e) = interrupt::install(cancel.clone()) {
        eprintln!("scenario: cannot handle SIGINT/SIGTERM ({e})");
    }
    let mut run = RunOptions {
        cancel: cancel.clone(),
        ..RunOptions::default()
    };
    if let Some(exe) = &cli.executor {
        run.executor = exe.clone();
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let opts = ExploreOptions {
        max_schedules: args.max_schedules,
        budget: args.budget.map(Duration::from_secs_f64),
        seed,
        mode: match args.mode {
            ModeArg::Dfs => Mode::Dfs,
            ModeArg::Random => Mode::Random,
        },
        kills: args.kills,
        jobs: cli
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        fail_fast: args.fail_fast,
        run,
    };
    let terminal = std::io::stderr().is_terminal();
    let mut replay_dir: Option<PathBuf> = cli.report.clone();
    let mut pages: Vec<ScenarioReport> = Vec::new();
    let mut reports: Vec<ExploreReport> = Vec::new();
    let mut code = 0;
    for sc in &selected {
        let progress = |p: Progress| {
            if terminal {
                eprint!(
                    "\r\x1b[2K{}: {} schedule(s), {} failed, {} branch(es) open",
                    sc.id, p.done, p.failed, p.open
                );
            }
        };
        let mut report = explore(sc, &opts, &progress);
        if terminal {
            eprint!("\r\x1b[2K");
        }
        if !report.failures.is_empty() {
            let dir = match &replay_dir {
                Some(d) => d.clone(),
                None => match new_replay_dir() {
                    Ok(d) => {
                        replay_dir = Some(d.clone());
                        d
                    }
                    Err(e) => {
                        eprintln!("scenario: {e}");
                        return 2;
                    }
                },
            };
            if let Err(e) = write_replays(sc, &mut report.failures, &dir) {
                eprintln!("scenario: {e}");
                code = 1;
            }
        }
        if cli.report.is_some() {
            for s in report.failures.iter().chain(&report.limits) {
                let mut page = s.report.clone();
                page.id = schedule_id(&sc.id, s.number);
                page.title = format!("{} — schedule {}: {}", sc.title, s.number, s.schedule);
                pages.push(page);
            }
        }
        if report.failed > 0 {
            code = 1;
        }
        let text = render_text(&report);
        if cli.json {
            eprint!("{text}");
        } else {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
        reports.push(report);
        if cancel.signal().is_some() {
            break;
        }
    }
    if let Some(dir) = &cli.report {
        match write_report_dir(dir, &pages) {
            Ok(()) => eprintln!("report: {}", dir.join("index.html").display()),
            Err(e) => {
                eprintln!(
                    "scenario: cannot write the report into {}: {e}",
                    dir.display()
                );
                code = code.max(1);
            }
        }
    }
    if cli.json {
        let failed: usize = reports.iter().map(|r| r.failed).sum();
        print_json(&serde_json::json!({ "failed": failed, "explorations": reports }));
    }
    match cancel.signal() {
        Some(signal) => {
            eprintln!("scenario: interrupted by {}", signal_name(signal));
            interrupt::exit_code(signal)
        }
        None => code,
    }
}

/// A new directory for replay files, kept after the run (its path is printed with each replay).
fn new_replay_dir() -> Result<PathBuf, String> {
    tempfile::Builder::new()
        .prefix("kitty-explore-")
        .tempdir()
        .map(|d| d.keep())
        .map_err(|e| format!("cannot create a directory for the replay files: {e}"))
}
