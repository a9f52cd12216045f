//! `--report DIR`: a text timeline and an HTML page per scenario, and `index.html`.
//!
//! Guarantee: a reused directory never shows stale pages. The runner lists the files it wrote
//! in a manifest (`.scenario-report`) and, before writing, deletes the files the previous
//! manifest lists, and only those: anything else in the directory is left alone.

use crate::report::html::{render_index, render_page};
use crate::report::model::ScenarioReport;
use crate::report::text::render_report;
use std::path::Path;

/// The manifest of the files the runner wrote into a report directory.
pub const MANIFEST: &str = ".scenario-report";

/// A file name for a scenario id (`kill/grace` → `kill_grace`).
fn slug(id: &str) -> String {
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

/// Deletes the files a previous run listed in the manifest (plain names inside `dir` only).
fn remove_previous(dir: &Path) -> std::io::Result<()> {
    let Ok(listed) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return Ok(());
    };
    for name in listed.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let plain = Path::new(name).file_name() == Some(std::ffi::OsStr::new(name));
        if plain && name != MANIFEST {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Writes `<dir>/<slug>.timeline.txt`, `<dir>/<slug>.html`, `<dir>/index.html` and the
/// manifest, after removing what the previous run wrote there.
pub fn write_report_dir(dir: &Path, reports: &[ScenarioReport]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    remove_previous(dir)?;
    let mut written = Vec::new();
    let mut index = Vec::new();
    for r in reports {
        let s = slug(&r.id);
        let text = format!("{s}.timeline.txt");
        std::fs::write(dir.join(&text), render_report(r))?;
        written.push(text);
        let html = format!("{s}.html");
        std::fs::write(dir.join(&html), render_page(r))?;
        written.push(html.clone());
        index.push((html, r));
    }
    std::fs::write(dir.join("index.html"), render_index(&index))?;
    written.push("index.html".to_string());
    written.push(String::new());
    std::fs::write(dir.join(MANIFEST), written.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_directory_loses_only_the_runners_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let report = |id: &str| ScenarioReport {
            id: id.into(),
            passed: true,
            ..ScenarioReport::default()
        };
        std::fs::write(dir.path().join("notes.html"), "mine").unwrap();
        write_report_dir(dir.path(), &[report("old"), report("kept")]).unwrap();
        assert!(dir.path().join("old.html").exists());
        write_report_dir(dir.path(), &[report("kept")]).unwrap();
        assert!(!dir.path().join("old.html").exists());
        assert!(!dir.path().join("old.timeline.txt").exists());
        assert!(dir.path().join("kept.html").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.html")).unwrap(),
            "mine"
        );
        let index = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(!index.contains("old.html"), "{index}");
    }
}
