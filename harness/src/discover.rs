//! Finding scenario files: explicit files as given, directories as their `*.toml` files in
//! name order (not recursive).
//!
//! Guarantee: the order is deterministic (so runs and reports are), each file appears once, and
//! a missing path or an empty directory is an error rather than a silent empty run.

use std::path::{Path, PathBuf};

/// The directory `scenario` uses when no path is given.
pub const DEFAULT_DIR: &str = "scenarios";

/// Expands `paths` into scenario files. An unreadable or missing path is an error.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            format!(
                "{}: {e}; give scenario files or directories of them (the catalogue is `{DEFAULT_DIR}/`)",
                p.display()
            )
        })?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml") && f.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{}: no *.toml scenario files", p.display()));
            }
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));
    Ok(files)
}

/// `paths`, or the default directory when none is given.
pub fn or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![Path::new(DEFAULT_DIR).to_path_buf()]
    } else {
        paths.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.toml", "a.toml", "notes.md"] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let files = collect(&[dir.path().to_path_buf(), dir.path().join("a.toml")]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        let missing = collect(&[dir.path().join("missing.toml")]).unwrap_err();
        assert!(
            missing.contains("missing.toml") && missing.contains("scenarios/"),
            "names the path and what to give instead: {missing}"
        );
    }
}
