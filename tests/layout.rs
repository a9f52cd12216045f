//! The shape of every crate of the workspace (`impl`, `fake-saas`, `harness`), kept by a test so
//! it does not drift: every source and test file opens with a `//!` saying why it exists; no file
//! is much over 600 lines; and no module imports one that imports it back, directly or through
//! others (each crate's import graph has no cycle).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 650;
/// The crates whose shape is kept.
const CRATES: [&str; 3] = ["impl", "fake-saas", "harness"];

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `run/steps.rs` → `["run", "steps"]`; `run/mod.rs` → `["run"]`; `lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source without `#[cfg(test)]` modules (tests may import anything) and line comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest declared module a path (`crate::a::b::Item`, `super::x`) names.
fn resolve(
    modules: &BTreeSet<Vec<String>>,
    current: &[String],
    segments: &[&str],
) -> Option<Vec<String>> {
    let (mut base, rest): (Vec<String>, &[&str]) = match *segments.first()? {
        "crate" => (Vec::new(), &segments[1..]),
        "super" => {
            let mut base = current.to_vec();
            let mut rest = segments;
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        "self" => (current.to_vec(), &segments[1..]),
        _ => (current.to_vec(), segments),
    };
    let mut best = modules.contains(&base).then(|| base.clone());
    for s in rest {
        base.push(s.to_string());
        if modules.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best.filter(|b| b != current)
}

fn paths_in(code: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':') {
            let start = i;
            while i < bytes.len() && (is_ident(bytes[i]) || bytes[i] == b':') {
                i += 1;
            }
            let path: Vec<&str> = code[start..i]
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            if path.len() > 1 {
                out.push(path);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_file_explains_itself_and_stays_small() {
    let mut files = Vec::new();
    for krate in CRATES {
        let root = workspace().join(krate);
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("tests"), &mut files);
    }
    rust_files(&workspace().join("tests"), &mut files);
    assert!(files.len() > 50, "the walk found the sources");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} has no `//!` summary",
            f.display()
        );
        let lines = text.lines().count();
        assert!(lines <= MAX_LINES, "{} has {lines} lines", f.display());
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in CRATES {
        let edges = import_graph(&workspace().join(krate).join("src"));
        assert!(
            edges.values().any(|t| !t.is_empty()),
            "{krate}: no imports found"
        );
        assert_acyclic(krate, &edges);
    }
}

type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// Module → the modules of the same crate it names.
fn import_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.retain(|f| f.file_name().is_some_and(|n| n != "main.rs"));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(src, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &files {
        let current = module_path(src, f);
        let code = code(&std::fs::read_to_string(f).unwrap());
        let targets = paths_in(&code)
            .into_iter()
            .filter_map(|p| resolve(&modules, &current, &p))
            .collect();
        edges.insert(current, targets);
    }
    edges
}

/// Panics naming the first import cycle found.
fn assert_acyclic(krate: &str, edges: &Graph) {
    // Depth-first search for a back edge.
    fn visit(
        krate: &str,
        m: &Vec<String>,
        edges: &Graph,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == m) {
            let cycle: Vec<String> = stack[i..]
                .iter()
                .chain([m])
                .map(|p| format!("crate::{}", p.join("::")))
                .collect();
            panic!("{krate}: import cycle: {}", cycle.join(" → "));
        }
        stack.push(m.clone());
        for t in edges.get(m).into_iter().flatten() {
            visit(krate, t, edges, stack, done);
        }
        stack.pop();
        done.insert(m.clone());
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(krate, m, edges, &mut Vec::new(), &mut done);
    }
}

/// Every text file of the repository, outside build output and git's own files.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        if p.is_dir() {
            repository_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The repository stands alone: no file (README, docs, code, comments, tests, CI) points at the
/// design notes the project started from, which a user's clone does not have. What the code
/// relies on of them is written down in `docs/` and the crate READMEs instead.
#[test]
fn no_file_points_outside_the_repository() {
    // Spelled in pieces so that this file does not match itself.
    let forbidden = [
        format!("../{}", "shared"),
        format!("{} §", "DESIGN"),
        format!("{}.md", "DESIGN"),
    ];
    let mut files = Vec::new();
    repository_files(workspace(), &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // not text
        };
        for needle in &forbidden {
            if text.contains(needle.as_str()) {
                offenders.push(format!("{} mentions {needle:?}", file.display()));
            }
        }
    }
    assert!(files.len() > 100, "the walk found the repository");
    assert!(offenders.is_empty(), "{offenders:#?}");
}
