//! What an exploration leaves for people: a replay file per failing schedule (validated by the
//! same parser `scenario run` uses before its path is printed) and the text summary.

use super::replay::replay_file;
use super::tally::{ExploreReport, ScheduleSummary, LIST_CAP};

/// Limit schedules the text summary shows.
const LIMITS_SHOWN: usize = 5;
use crate::schema::{parse_str, Scenario};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `kill/grace` → `kill_grace`.
pub fn slug(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The id a schedule's own report carries (`refresh-pair#17`).
pub fn schedule_id(id: &str, number: usize) -> String {
    format!("{id}#{number}")
}

/// Writes a replay file into `dir` for each summary in `which` and records its path there.
pub fn write_replays(
    sc: &Scenario,
    which: &mut [ScheduleSummary],
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    if which.is_empty() {
        return Ok(Vec::new());
    }
    let source = std::fs::read_to_string(&sc.file)
        .map_err(|e| format!("cannot read {}: {e}", sc.file.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for s in which.iter_mut() {
        if s.steps.is_empty() {
            // It failed before its first decision (at setup): there is no ordering to replay.
            continue;
        }
        let mut why = s.problems.clone();
        if why.is_empty() {
            why.extend(
                s.loss
                    .as_ref()
                    .map(|l| format!("session lost: {}", l.cause)),
            );
        }
        let text = replay_file(sc, &source, s.number, &s.steps, &why)?;
        let path = dir.join(format!(
            "{}.schedule-{}.replay.toml",
            slug(&sc.id),
            s.number
        ));
        parse_str(&path, &text)
            .map_err(|e| format!("the replay of schedule {} does not validate: {e}", s.number))?;
        std::fs::write(&path, &text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        s.replay = Some(path.display().to_string());
        written.push(path);
    }
    Ok(written)
}

/// The summary a person reads.
pub fn render_text(r: &ExploreReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "explore {} ({}): {}, kills {}, seed {}",
        r.id,
        r.file,
        r.mode,
        if r.kills {
            format!("at {}", r.kill_points.join(", "))
        } else {
            "off".to_string()
        },
        r.seed
    );
    let _ = writeln!(out, "  held at: {}", r.points.join(", "));
    let coverage = if r.exhaustive {
        "the whole space (exhaustive)".to_string()
    } else {
        match &r.stopped_by {
            Some(why) => format!("stopped by {why} before the space was covered"),
            None => "a sample".to_string(),
        }
    };
    let _ = writeln!(
        out,
        "  schedules: {} ({} distinct; {coverage}), {} failed, {:.1} s, {:.2} schedules/s on {} job(s)",
        r.schedules, r.distinct, r.failed, r.elapsed_s, r.schedules_per_s, r.jobs
    );
    if r.diverged > 0 {
        let _ = writeln!(
            out,
            "  warning: {} schedule(s) could not follow their prefix (the processes did not behave the same way twice)",
            r.diverged
        );
    }
    let _ = writeln!(out, "  outcomes per process:");
    let width = r.outcomes.keys().map(String::len).max().unwrap_or(0);
    for (process, counts) in &r.outcomes {
        let list: Vec<String> = counts.iter().map(|(o, n)| format!("{o} {n}")).collect();
        let _ = writeln!(out, "    {process:<width$}  {}", list.join(" · "));
    }
    let _ = writeln!(out, "  outcome combinations ({}):", r.combinations.len());
    for c in r.combinations.iter().take(12) {
        let _ = writeln!(out, "    {:>6}  {}", c.count, c.outcomes);
    }
    if r.combinations.len() > 12 {
        let _ = writeln!(out, "    ... {} more", r.combinations.len() - 12);
    }
    if r.losses.is_empty() {
        let _ = writeln!(out, "  sessions lost: none");
    } else {
        let list: Vec<String> = r.losses.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "  sessions lost: {}", list.join(", "));
    }
    if r.limit_schedules > 0 {
        let _ = writeln!(
            out,
            "  documented limits ({} schedule(s); not failures):",
            r.limit_schedules
        );
        for s in r.limits.iter().take(LIMITS_SHOWN) {
            let cause = s.loss.as_ref().map(|l| l.cause.as_str()).unwrap_or("");
            let _ = writeln!(out, "    #{} {}\n        {cause}", s.number, s.schedule);
        }
        if r.limit_schedules > LIMITS_SHOWN {
            let _ = writeln!(
                out,
                "    ... {} more (--json lists the first {LIST_CAP}; --report DIR shows their timelines)",
                r.limit_schedules - LIMITS_SHOWN
            );
        }
    }
    for s in &r.failures {
        let _ = writeln!(out, "  FAILED schedule #{}: {}", s.number, s.schedule);
        for p in &s.problems {
            let _ = writeln!(out, "        - {p}");
        }
        if let Some(path) = &s.replay {
            let _ = writeln!(out, "        replay: {path}  (scenario run {path})");
        }
    }
    if r.failed > r.failures.len() {
        let _ = writeln!(
            out,
            "  ... and {} more failing schedule(s)",
            r.failed - r.failures.len()
        );
    }
    if let Some(first) = &r.first_failure {
        let _ = writeln!(
            out,
            "  first failure: schedule #{} after {:.1} s",
            first.schedule, first.after_s
        );
    }
    let _ = writeln!(
        out,
        "  result: {}",
        if r.failed == 0 { "PASS" } else { "FAIL" }
    );
    out
}
