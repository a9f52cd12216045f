//! The scenario catalogue as tests: one libtest-mimic trial per scenario (per variant) in
//! `scenarios/*.toml`, each run by the harness library with this test binary as the executor
//! (children are `<this exe> __exec spec-kitty ...`), so `cargo test` and nextest run the
//! catalogue without locating any other binary.

use harness::{run_scenario, RunOptions};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;

fn main() {
    // First: when spawned by a scenario as `<exe> __exec ...`, become that program.
    harness::dispatch();
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = match harness::discover_files(&[dir]) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("scenarios: {e}");
            std::process::exit(2);
        }
    };
    let mut trials = Vec::new();
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match harness::load_file(&file) {
            Ok(scenarios) => {
                for sc in scenarios {
                    let name = sc.id.clone();
                    trials.push(Trial::test(name, move || {
                        let report = run_scenario(&sc, &RunOptions::default());
                        if report.passed {
                            return Ok(());
                        }
                        let mut msg =
                            format!("{} failed ({:.0} ms):\n", report.id, report.duration_ms);
                        for f in &report.failures {
                            msg.push_str(&format!("  - {f}\n"));
                        }
                        msg.push_str("timeline:\n");
                        msg.push_str(&report.timeline.render_text());
                        Err(Failed::from(msg))
                    }));
                }
            }
            Err(invalid) => {
                let msg = invalid.to_string();
                trials.push(Trial::test(stem, move || Err(Failed::from(msg))));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
