//! A schedule as ordinary steps, and the replay file: the scenario (its variant's tables swapped
//! in) plus those steps, in the same TOML format, which `scenario run` reproduces.
//!
//! Why it reproduces: in an explored schedule every segment between two decisions runs alone
//! (every other process is held, not started, or ended), and a process that waits for a lock is
//! released only when the lock is free. `run = "X"`, `until = "P"` gives the same segment: the
//! runner holds every other process where it stands, and X's next held point was P. Consecutive
//! segments of one process merge into one step (`nth` counts the hits of P they pass through);
//! a kill is `kill = "X"`, `at = "P"` on a process already held at P.

use crate::run::schedule::{Decision, Move, Reached};
use crate::schema::Scenario;
use std::fmt;
use toml::{Table, Value};

/// One step of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStep {
    /// `run = process`, `until = point` (`None`: exit), `nth`.
    Run {
        process: String,
        until: Option<String>,
        nth: u32,
    },
    /// `kill = process`, `at = point`.
    Kill { process: String, at: String },
}

impl fmt::Display for ReplayStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayStep::Run {
                process,
                until: None,
                ..
            } => write!(f, "{process}→exit"),
            ReplayStep::Run {
                process,
                until: Some(p),
                nth: 1,
            } => write!(f, "{process}→{p}"),
            ReplayStep::Run {
                process,
                until: Some(p),
                nth,
            } => write!(f, "{process}→{p}#{nth}"),
            ReplayStep::Kill { process, at } => write!(f, "kill {process}@{at}"),
        }
    }
}

/// The decisions of a schedule as steps, consecutive segments of one process merged.
pub fn steps(decisions: &[Decision]) -> Vec<ReplayStep> {
    let mut out: Vec<ReplayStep> = Vec::new();
    // The held points the current merged `run` step passed, to count `nth`.
    let mut passed: Vec<String> = Vec::new();
    for d in decisions {
        let process = d.choice.process.clone();
        match (d.choice.mv, &d.reached) {
            (Move::Kill, _) => {
                passed.clear();
                out.push(ReplayStep::Kill {
                    process,
                    at: d.choice.at.clone().unwrap_or_default(),
                });
            }
            (_, reached) => {
                let until = match reached {
                    Some(Reached::Point(p)) => Some(p.clone()),
                    _ => None,
                };
                let merge = matches!(out.last(), Some(ReplayStep::Run { process: p, until: Some(_), .. }) if *p == process);
                if !merge {
                    passed.clear();
                }
                if let Some(p) = &until {
                    passed.push(p.clone());
                }
                let nth = until
                    .as_ref()
                    .map_or(1, |p| passed.iter().filter(|x| *x == p).count() as u32);
                let step = ReplayStep::Run {
                    process,
                    until,
                    nth,
                };
                if merge {
                    *out.last_mut().expect("merging into the last step") = step;
                } else {
                    out.push(step);
                }
            }
        }
    }
    out
}

/// The schedule in one line: `B→session.loaded, L→exit, kill A@refresh.network_after, ...`.
pub fn describe(steps: &[ReplayStep]) -> String {
    steps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The replay file of schedule `number` of `sc` (read from `source`, the text of `sc.file`).
pub fn replay_file(
    sc: &Scenario,
    source: &str,
    number: usize,
    steps: &[ReplayStep],
    why: &[String],
) -> Result<String, String> {
    let doc: Table = toml::from_str(source).map_err(|e| format!("cannot re-read the file: {e}"))?;
    let variant: Option<&Table> = sc.variant.as_ref().and_then(|name| {
        doc.get("variant")?
            .as_array()?
            .iter()
            .filter_map(Value::as_table)
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name.as_str()))
    });
    let pick = |key: &str| -> Option<Value> {
        variant
            .and_then(|v| v.get(key))
            .or_else(|| doc.get(key))
            .cloned()
    };
    let meta = doc.get("scenario").and_then(Value::as_table);
    let mut text = format!(
        "# Replay of schedule {number} of {} ({}), written by `scenario explore`.\n# Run it: scenario run <this file> [--report DIR]\n\n[scenario]\n",
        sc.id,
        sc.file.display()
    );
    text.push_str(&entry(
        "name",
        Value::String(format!("{} — replay of schedule {number}", sc.title)),
    )?);
    text.push_str(&entry(
        "description",
        Value::String(format!(
            "{}\n\nReplay of schedule {number} found by `scenario explore`: every segment runs alone, so `scenario run` repeats it exactly. It failed with:\n{}",
            sc.description,
            why.iter()
                .map(|w| format!("- {w}"))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    )?);
    if let Some(budget) = meta.and_then(|m| m.get("budget_s")) {
        text.push_str(&entry("budget_s", budget.clone())?);
    }
    text.push('\n');
    for key in ["saas", "seed", "process", "explore", "expect_always"] {
        if let Some(v) = pick(key) {
            let mut one = Table::new();
            one.insert(key.into(), v);
            text.push_str(
                &toml::to_string(&one).map_err(|e| format!("cannot write the replay: {e}"))?,
            );
            text.push('\n');
        }
    }
    for (i, s) in steps.iter().enumerate() {
        text.push_str("[[step]]\n");
        for (k, v) in step_entries(i + 1, s) {
            text.push_str(&entry(k, v)?);
        }
        text.push('\n');
    }
    Ok(text)
}

/// `key = value` on one line (a long string as a multi-line string).
fn entry(key: &str, value: Value) -> Result<String, String> {
    let mut one = Table::new();
    one.insert(key.into(), value);
    toml::to_string_pretty(&one).map_err(|e| format!("cannot write the replay: {e}"))
}

/// A step's keys in the order a person writes them.
fn step_entries(i: usize, s: &ReplayStep) -> Vec<(&'static str, Value)> {
    let mut out = match s {
        ReplayStep::Run {
            process,
            until,
            nth,
        } => {
            let mut v = vec![
                ("run", Value::String(process.clone())),
                (
                    "until",
                    Value::String(until.clone().unwrap_or_else(|| "exit".into())),
                ),
            ];
            if *nth > 1 {
                v.push(("nth", Value::Integer(i64::from(*nth))));
            }
            v
        }
        ReplayStep::Kill { process, at } => vec![
            ("kill", Value::String(process.clone())),
            ("at", Value::String(at.clone())),
        ],
    };
    out.push(("note", Value::String(format!("explored step {i}"))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::schedule::Choice;

    fn d(mv: Move, p: &str, at: Option<&str>, reached: Reached) -> Decision {
        Decision {
            choice: Choice {
                mv,
                process: p.into(),
                at: at.map(str::to_string),
            },
            reached: Some(reached),
        }
    }

    #[test]
    fn segments_of_one_process_merge_and_count_their_hits() {
        let pt = |p: &str| Reached::Point(p.into());
        let s = steps(&[
            d(Move::Start, "A", None, pt("refresh.lock_wait")),
            d(
                Move::Release,
                "A",
                Some("refresh.lock_wait"),
                pt("storage.lock_busy"),
            ),
            d(Move::Start, "B", None, pt("refresh.lock_wait")),
            d(
                Move::Release,
                "A",
                Some("storage.lock_busy"),
                pt("refresh.lock_wait"),
            ),
            d(
                Move::Release,
                "A",
                Some("refresh.lock_wait"),
                pt("refresh.lock_wait"),
            ),
            d(Move::Kill, "A", Some("refresh.lock_wait"), Reached::Killed),
            d(Move::Release, "B", Some("refresh.lock_wait"), Reached::Exit),
        ]);
        assert_eq!(
            describe(&s),
            "A→storage.lock_busy, B→refresh.lock_wait, A→refresh.lock_wait#2, kill A@refresh.lock_wait, B→exit"
        );
    }
}
