//! The `scenario` command line: `run`, `list`, `check`, `explore`. Running the scenarios is
//! `execute`; exploring one file is `explore`; the `--report` directory is `report_dir`.
//!
//! Exit codes: 0 every scenario passed (or every file is valid), 1 a scenario failed, 2 invalid
//! input (a file that does not validate, a missing path, a filter that matches nothing; nothing
//! is run), 130 / 143 stopped by SIGINT / SIGTERM (children killed, temp directories removed).

mod common;
mod execute;
mod explore;
mod report_dir;

use crate::discover;
use crate::interrupt::{self, signal_name, Cancel};
use crate::report::junit;
use crate::report::model::ScenarioReport;
use crate::run::RunOptions;
use crate::schema::{load_file, Diagnostic, Scenario};
use clap::{Parser, Subcommand};
use common::{matches, print_json};
use std::path::PathBuf;

/// Runs declarative TOML scenarios as real processes against an embedded fake SaaS.
#[derive(Debug, Parser)]
#[command(name = "scenario", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// One JSON document on stdout; all prose goes to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Write a JUnit XML report to FILE (run only).
    #[arg(long, value_name = "FILE", global = true)]
    pub junit: Option<PathBuf>,
    /// Write a text timeline and an HTML swimlane page per scenario into DIR (run; explore:
    /// failing and limit schedules, and the replay files).
    #[arg(long, value_name = "DIR", global = true)]
    pub report: Option<PathBuf>,
    /// Keep each scenario's temp runtime root and print where it is (run only).
    #[arg(long, global = true)]
    pub keep: bool,
    /// Only scenarios whose id or name contains SUBSTR.
    #[arg(long, value_name = "SUBSTR", global = true)]
    pub filter: Option<String>,
    /// Scenarios (explore: schedules) run in parallel (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs", value_name = "N", global = true)]
    pub jobs: Option<usize>,
    /// The executable children run as (`<exe> __exec spec-kitty ...`); default: this one.
    #[arg(long, value_name = "PATH", global = true)]
    pub executor: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios (files, or directories of *.toml; default: ./scenarios).
    Run { paths: Vec<PathBuf> },
    /// List the scenarios (one per variant).
    List { paths: Vec<PathBuf> },
    /// Validate scenario files without running anything.
    Check { paths: Vec<PathBuf> },
    /// Search the orders of one file's processes for a broken invariant; a replay file per failure.
    ///
    /// Every process is held at every sync point `[explore] points` names; the explorer decides
    /// who goes on (and, with --kills, who dies) at each, depth-first or at random from a seed.
    Explore(explore::ExploreArgs),
    /// Install the Python original (spec-kitty-cli 3.2.7) into its cached venv now, and print
    /// the path of its executable (what `{python_spec_kitty}` stands for); exit 1 if it cannot be.
    InstallPython,
}

/// Parses the process arguments and runs; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

struct Loaded {
    files: Vec<PathBuf>,
    scenarios: Vec<Scenario>,
    errors: Vec<Diagnostic>,
}

fn load(paths: &[PathBuf]) -> Result<Loaded, String> {
    let files = discover::collect(&discover::or_default(paths))?;
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        match load_file(f) {
            Ok(s) => scenarios.extend(s),
            Err(inv) => errors.extend(inv.0),
        }
    }
    let mut ids = std::collections::BTreeMap::<String, PathBuf>::new();
    for s in &scenarios {
        if let Some(other) = ids.insert(s.id.clone(), s.file.clone()) {
            errors.push(Diagnostic {
                file: s.file.clone(),
                line: 0,
                column: 0,
                message: format!("scenario id {:?} is also used by {}", s.id, other.display()),
                expected: Some("unique file names across the paths given".into()),
            });
        }
    }
    Ok(Loaded {
        files,
        scenarios,
        errors,
    })
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    if let Command::InstallPython = cli.command {
        return match crate::python::spec_kitty() {
            Ok(exe) => {
                println!("{}", exe.display());
                0
            }
            Err(e) => {
                eprintln!("scenario: the Python original cannot be installed: {e}");
                1
            }
        };
    }
    let paths = match &cli.command {
        Command::Run { paths } | Command::List { paths } | Command::Check { paths } => {
            paths.clone()
        }
        Command::Explore(args) => vec![args.file.clone()],
        Command::InstallPython => Vec::new(),
    };
    let loaded = match load(&paths) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("scenario: {e}");
            if cli.json {
                print_json(&serde_json::json!({"valid": false, "errors": [{"message": e}]}));
            }
            return 2;
        }
    };
    for d in &loaded.errors {
        eprintln!("{d}");
    }
    match &cli.command {
        Command::InstallPython => 0,
        Command::Explore(args) => {
            if !loaded.errors.is_empty() {
                eprintln!("{} error(s): nothing was explored", loaded.errors.len());
                return 2;
            }
            let common = explore::Common {
                json: cli.json,
                report: cli.report.clone(),
                filter: cli.filter.clone(),
                jobs: cli.jobs,
                executor: cli.executor.clone(),
            };
            explore::run(&common, args, loaded.scenarios)
        }
        Command::Check { .. } => {
            let valid = loaded.errors.is_empty();
            if cli.json {
                print_json(&serde_json::json!({
                    "valid": valid,
                    "files": loaded.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                    "scenarios": loaded.scenarios.len(),
                    "errors": loaded.errors,
                }));
            }
            if valid {
                eprintln!(
                    "{} file(s), {} scenario(s): valid",
                    loaded.files.len(),
                    loaded.scenarios.len()
                );
                0
            } else {
                eprintln!("{} error(s)", loaded.errors.len());
                2
            }
        }
        Command::List { .. } => {
            if !loaded.errors.is_empty() {
                return 2;
            }
            let list: Vec<&Scenario> = loaded
                .scenarios
                .iter()
                .filter(|s| matches(s, &cli.filter))
                .collect();
            if cli.json {
                let items: Vec<serde_json::Value> = list
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.id,
                            "name": s.title,
                            "file": s.file.display().to_string(),
                            "line": s.line,
                            "description": s.description,
                            "budget_s": s.budget.as_secs_f64(),
                            "processes": s.processes.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                            "steps": s.steps.len(),
                        })
                    })
                    .collect();
                print_json(&serde_json::json!({ "scenarios": items }));
            } else {
                let width = list.iter().map(|s| s.id.len()).max().unwrap_or(0);
                for s in &list {
                    println!("{:<width$}  {}", s.id, s.title);
                }
            }
            0
        }
        Command::Run { .. } => {
            if !loaded.errors.is_empty() {
                eprintln!("{} error(s): nothing was run", loaded.errors.len());
                return 2;
            }
            let selected: Vec<Scenario> = loaded
                .scenarios
                .into_iter()
                .filter(|s| matches(s, &cli.filter))
                .collect();
            if selected.is_empty() {
                eprintln!(
                    "scenario: no scenario matches the filter {:?}",
                    cli.filter.as_deref().unwrap_or("")
                );
                return 2;
            }
            let cancel = Cancel::new();
            if let Err(e) = interrupt::install(cancel.clone()) {
                eprintln!("scenario: cannot handle SIGINT/SIGTERM ({e}); a signal will leave temp directories behind");
            }
            let mut opts = RunOptions {
                keep: cli.keep,
                cancel,
                ..RunOptions::default()
            };
            if let Some(exe) = &cli.executor {
                opts.executor = exe.clone();
            }
            let jobs = cli
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1);
            let reports = execute::run_all(&selected, &opts, jobs, cli.json);
            let code = finish_run(&cli, &reports);
            match opts.cancel.signal() {
                Some(signal) => {
                    execute::print_interrupted(&signal_name(signal), &reports, cli.keep);
                    interrupt::exit_code(signal)
                }
                None => code,
            }
        }
    }
}

fn finish_run(cli: &Cli, reports: &[ScenarioReport]) -> i32 {
    let passed = reports.iter().filter(|r| r.passed).count();
    let failed = reports.len() - passed;
    let total_ms: f64 = reports.iter().map(|r| r.duration_ms).sum();
    let mut code = if failed == 0 { 0 } else { 1 };
    if let Some(path) = &cli.junit {
        if let Err(e) = std::fs::write(path, junit::render(reports)) {
            eprintln!("scenario: cannot write {}: {e}", path.display());
            code = code.max(1);
        }
    }
    if let Some(dir) = &cli.report {
        match report_dir::write_report_dir(dir, reports) {
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
    let skipped = reports.iter().filter(|r| r.skipped.is_some()).count();
    let summary = if skipped == 0 {
        format!("{passed} passed, {failed} failed")
    } else {
        format!("{passed} passed ({skipped} skipped), {failed} failed")
    };
    if cli.json {
        eprintln!("{summary} ({:.2} s of scenario time)", total_ms / 1000.0);
        print_json(&serde_json::json!({
            "passed": passed,
            "failed": failed,
            "scenarios": reports,
        }));
    } else {
        println!("{summary}");
    }
    code
}
