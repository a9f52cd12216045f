//! Expectations on what each process did: `exit`, `stdout_contains` and friends, `json`,
//! `outcomes`, `outcome_counts` / `outcome_counts_exact`, `printed_token`.
//!
//! Guarantee: a failure message says what was compared with what. Output is compared raw and
//! shown redacted (tokens as `‹labels›`), and a message says so whenever the expected text
//! holds a token or a label, so it never reads as "does not contain X; it was X".

use super::observed::{truncate, Observed};
use crate::redact::{token_generation, Tokens};
use crate::report::model::Failure;
use crate::schema::{ExitExpect, OutcomeExpect, PrintedToken};
use std::collections::BTreeMap;

/// Every failed process expectation.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    exits(o, &mut f);
    texts(o, &mut f);
    counts(o, &mut f);
    json(o, &mut f);
    outcomes(o, &mut f);
    outcome_counts(o, &mut f);
    printed_tokens(o, &mut f);
    f
}

fn exits(o: &Observed, f: &mut Vec<Failure>) {
    for (name, set) in &o.sc.expect.exit {
        let p = &o.procs[name];
        let got = match (&p.exit, &p.kill) {
            (None, _) => "never started".to_string(),
            (Some(_), Some(k)) if !k.teardown => "killed".to_string(),
            (Some(e), _) => e.describe(),
        };
        let ok = set.0.iter().any(|exp| match (exp, &p.exit, &p.kill) {
            (ExitExpect::Code(c), Some(e), None) => e.code == Some(*c),
            (ExitExpect::Killed, Some(_), Some(k)) => !k.teardown,
            (ExitExpect::Signal(n), Some(e), None) => e.signal == Some(*n),
            _ => false,
        });
        if !ok {
            let stderr = o.output(name, false);
            f.push(Failure::expect(
                "exit",
                format!(
                    "{name} {got}, expected {set}{}",
                    if stderr.trim().is_empty() {
                        String::new()
                    } else {
                        format!("; stderr: {}", truncate(stderr.trim(), 400))
                    }
                ),
            ));
        }
    }
}

/// How the expected text reads in a message: quoted, and saying when it holds a token (shown
/// as its label) or a label (which raw output never contains).
fn describe_expected(needle: &str, tokens: &Tokens) -> String {
    let labels = tokens.labels_in(needle);
    if !labels.is_empty() {
        format!(
            "the expected text {:?} (it holds token {}, shown as its label; the comparison used the token itself)",
            tokens.redact(needle),
            labels.join(", ")
        )
    } else if needle.contains('‹') && needle.contains('›') {
        format!(
            "the expected text {needle:?}, written with a token label: labels exist only in reports, a process's output holds the token itself (to name a printed token use printed_token = {{ A = \"A1\" }})"
        )
    } else {
        format!("{needle:?}")
    }
}

fn texts(o: &Observed, f: &mut Vec<Failure>) {
    let x = &o.sc.expect;
    for (map, stdout, want, key) in [
        (&x.stdout_contains, true, true, "stdout_contains"),
        (&x.stdout_not_contains, true, false, "stdout_not_contains"),
        (&x.stderr_contains, false, true, "stderr_contains"),
        (&x.stderr_not_contains, false, false, "stderr_not_contains"),
    ] {
        let stream = if stdout { "stdout" } else { "stderr" };
        for (name, needles) in map {
            let text = o.output(name, stdout);
            for needle in needles {
                if text.contains(needle.as_str()) != want {
                    f.push(Failure::expect(
                        key,
                        format!(
                            "{stream} of {name} {} {}; the {stream} (tokens shown as ‹labels›) was {:?}",
                            if want { "does not contain" } else { "contains" },
                            describe_expected(needle, o.tokens),
                            truncate(&o.tokens.redact(&text), 400)
                        ),
                    ));
                }
            }
        }
    }
}

/// `stdout_count` / `stderr_count`: exactly how often each text occurs (non-overlapping) in the
/// raw output.
fn counts(o: &Observed, f: &mut Vec<Failure>) {
    let x = &o.sc.expect;
    for (map, stdout, key) in [
        (&x.stdout_count, true, "stdout_count"),
        (&x.stderr_count, false, "stderr_count"),
    ] {
        let stream = if stdout { "stdout" } else { "stderr" };
        for (name, counts) in map {
            let text = o.output(name, stdout);
            for (needle, want) in counts {
                let got = text.matches(needle.as_str()).count() as u64;
                if got != *want {
                    f.push(Failure::expect(
                        key,
                        format!(
                            "{stream} of {name} contains {} {got} time(s), expected {want}",
                            describe_expected(needle, o.tokens)
                        ),
                    ));
                }
            }
        }
    }
}

/// Navigates a dotted path (`a.b.0.c`) in a JSON value.
pub fn json_path<'v>(v: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn json(o: &Observed, f: &mut Vec<Failure>) {
    for (name, fields) in &o.sc.expect.json {
        let text = o.output(name, true);
        match serde_json::from_str::<serde_json::Value>(&text) {
            Err(e) => f.push(Failure::expect(
                "json",
                format!("stdout of {name} is not JSON ({e})"),
            )),
            Ok(v) => {
                for (path, want) in fields {
                    match json_path(&v, path) {
                        Some(got) if got == want => {}
                        Some(got) => f.push(Failure::expect(
                            "json",
                            format!("{name} {path} = {got}, expected {want}"),
                        )),
                        None => f.push(Failure::expect(
                            "json",
                            format!(
                                "{name} has no {path} (expected {want}); stdout was {}",
                                truncate(&text, 400)
                            ),
                        )),
                    }
                }
            }
        }
    }
}

fn outcomes(o: &Observed, f: &mut Vec<Failure>) {
    for (name, exp) in &o.sc.expect.outcomes {
        let got = &o.procs[name].outcomes;
        let ok = match exp {
            OutcomeExpect::None => got.is_empty(),
            OutcomeExpect::All(one) => !got.is_empty() && got.iter().all(|g| g == one),
            OutcomeExpect::Sequence(seq) => got == seq,
        };
        if !ok {
            let want = match exp {
                OutcomeExpect::None => "no refresh transaction".to_string(),
                OutcomeExpect::All(one) => one.clone(),
                OutcomeExpect::Sequence(seq) => seq.join(", "),
            };
            let got = if got.is_empty() {
                "no refresh transaction".to_string()
            } else {
                got.join(", ")
            };
            f.push(Failure::expect(
                "outcomes",
                format!("{name} reported {got}, expected {want}"),
            ));
        }
    }
}

fn outcome_counts(o: &Observed, f: &mut Vec<Failure>) {
    let x = &o.sc.expect;
    if x.outcome_counts.is_empty() {
        return;
    }
    let key = if x.outcome_counts_exact {
        "outcome_counts_exact"
    } else {
        "outcome_counts"
    };
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for p in o.procs.values() {
        for oc in &p.outcomes {
            *counts.entry(oc.as_str()).or_default() += 1;
        }
    }
    for (outcome, n) in &x.outcome_counts {
        let got = counts.get(outcome.as_str()).copied().unwrap_or(0);
        if got != *n {
            f.push(Failure::expect(
                key,
                format!("{outcome} reported {got} time(s), expected {n} (all: {counts:?})"),
            ));
        }
    }
    if x.outcome_counts_exact {
        for (outcome, got) in &counts {
            if !x.outcome_counts.contains_key(*outcome) {
                f.push(Failure::expect(
                    key,
                    format!("{outcome} reported {got} time(s), but it is not listed: only the listed outcomes may occur (all: {counts:?})"),
                ));
            }
        }
    }
}

fn printed_tokens(o: &Observed, f: &mut Vec<Failure>) {
    for (name, which) in &o.sc.expect.printed_token {
        let raw = o.output(name, true);
        let printed = raw.trim();
        let shown = if printed.is_empty() {
            "nothing".to_string()
        } else {
            o.tokens.label_or_redact(printed)
        };
        let want: Result<Option<&str>, String> = match which {
            PrintedToken::Seed => o
                .seeded
                .map(|s| Some(s.access_token.as_str()))
                .ok_or_else(|| "there is no seeded session".to_string()),
            PrintedToken::Session => match o.final_session {
                Ok(Some(s)) => Ok(Some(s.access_token.as_str())),
                Ok(None) => Err("the session is absent at the end: name the token by its label (\"A1\") or { generation = N }".to_string()),
                Err(e) => Err(format!("the session is unreadable at the end ({e})")),
            },
            PrintedToken::Label(label) => o
                .tokens
                .by_label(label)
                .map(Some)
                .ok_or_else(|| format!("no access token labelled {label} was issued")),
            PrintedToken::Generation(_) => Ok(None),
        };
        let ok = match (&want, which) {
            (Ok(Some(w)), _) => *w == printed,
            (Ok(None), PrintedToken::Generation(g)) => {
                o.tokens.label(printed).is_some_and(|l| l.starts_with('A'))
                    && token_generation(printed) == Some(*g)
            }
            _ => false,
        };
        match want {
            _ if ok => {}
            Ok(w) => f.push(Failure::expect(
                "printed_token",
                format!(
                    "{name} printed {shown}, expected {which}{}",
                    w.map(|w| format!(" ({})", o.tokens.label_or_redact(w)))
                        .unwrap_or_default()
                ),
            )),
            Err(why) => f.push(Failure::expect(
                "printed_token",
                format!("{name} printed {shown}; cannot compare with {which}: {why}"),
            )),
        }
    }
}
