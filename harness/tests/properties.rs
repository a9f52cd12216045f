//! Scenario TOML from anyone's editor: any text (a catalogue scenario with lines deleted,
//! duplicated, replaced or bytes damaged, or plain garbage) either loads or is refused with
//! diagnostics that each carry a 1-based line and column inside the text, never a panic.
//!
//! Why mutate the catalogue: random text rarely gets past the TOML syntax; edits of real
//! scenarios reach the schema and the semantic checks, where positions are hardest to keep.
//! `PROPTEST_CASES=<n>` runs `n` cases (docs/fuzzing.md).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn catalogue() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Lines an editor (or a careless merge) might leave.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[scenario]".to_string()),
        Just("[[step]]".to_string()),
        Just("[[process]]".to_string()),
        Just("[saas]".to_string()),
        Just("[expect]".to_string()),
        Just("[[variant]]".to_string()),
        Just("name = \"x\"".to_string()),
        Just("description = \"".to_string()),
        Just("until = { point = \"nowhere\" }".to_string()),
        Just("reuse = 7".to_string()),
        Just("= 1".to_string()),
        Just("a.b.c = [1, \"two\", {}]".to_string()),
        "[a-z_]{1,12} = [0-9]{1,20}",
        "[a-z_]{1,12} = \"[ -~]{0,12}\"",
        any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(prop::sample::Index),
    Duplicate(prop::sample::Index),
    Replace(prop::sample::Index, String),
    Insert(prop::sample::Index, String),
    Truncate(prop::sample::Index),
    Bytes(prop::sample::Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = || any::<prop::sample::Index>();
    prop_oneof![
        i().prop_map(Edit::Delete),
        i().prop_map(Edit::Duplicate),
        (i(), line()).prop_map(|(i, l)| Edit::Replace(i, l)),
        (i(), line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        i().prop_map(Edit::Truncate),
        (i(), any::<u8>()).prop_map(|(i, b)| Edit::Bytes(i, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len();
        match e {
            Edit::Delete(i) if n > 0 => {
                lines.remove(i.index(n));
            }
            Edit::Duplicate(i) if n > 0 => {
                let at = i.index(n);
                lines.insert(at, lines[at].clone());
            }
            Edit::Replace(i, l) if n > 0 => lines[i.index(n)] = l.clone(),
            Edit::Insert(i, l) => lines.insert(i.index(n + 1), l.clone()),
            Edit::Truncate(i) => {
                let mut joined = lines.join("\n");
                let mut at = i.index(joined.len() + 1);
                while !joined.is_char_boundary(at) {
                    at -= 1;
                }
                joined.truncate(at);
                lines = joined.lines().map(str::to_string).collect();
            }
            Edit::Bytes(i, b) => {
                let mut bytes = lines.join("\n").into_bytes();
                if !bytes.is_empty() {
                    let at = i.index(bytes.len());
                    bytes[at] = *b;
                }
                lines = String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn text(files: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (prop::sample::select(files), prop::collection::vec(edit(), 1..4))
            .prop_map(|(f, edits)| apply(&f, &edits)),
        1 => any::<String>(),
        1 => prop::collection::vec(line(), 0..8).prop_map(|l| l.join("\n")),
    ]
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every diagnostic of `src` points inside it (1-based line and column).
fn check(src: &str) -> Result<(), TestCaseError> {
    let lines = src.split('\n').count();
    if let Err(invalid) = harness::parse_str(Path::new("fuzz.toml"), src) {
        prop_assert!(!invalid.0.is_empty());
        for d in &invalid.0 {
            prop_assert!(
                d.line >= 1 && d.column >= 1 && d.line <= lines,
                "diagnostic without a position in the text: {:?}",
                d
            );
        }
    }
    Ok(())
}

#[test]
fn any_scenario_text_loads_or_is_refused_with_positions() {
    let n = cases(400);
    let config = Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    };
    let started = Instant::now();
    TestRunner::new(config)
        .run(&text(catalogue()), |src| check(&src))
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "property scenario_toml: {n} cases in {secs:.2} s ({:.0} cases/s)",
        n as f64 / secs
    );
}

/// Re-checks an earlier finding: errors the TOML parser reports without a span (a missing
/// top-level table) and semantic errors about a key absent from the file must still point into
/// the text (the document's start at worst), not line 0.
#[test]
fn errors_without_a_parser_span_still_have_a_position() {
    for src in ["", "x = 1", "[scenario]\nname = \"n\"\n"] {
        let invalid = harness::parse_str(Path::new("fuzz.toml"), src).unwrap_err();
        assert!(!invalid.0.is_empty(), "{src:?}");
        check(src).unwrap();
    }
}
