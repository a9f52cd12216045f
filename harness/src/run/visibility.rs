//! The seed-visibility invariant: before any process starts, each one's own environment must
//! resolve to the runtime root the scenario seeded, and the seeded session must decrypt there.
//!
//! Why: in the original, a test seeded its session under `$HOME/.spec-kitty` while the process
//! it started read `$SPEC_KITTY_HOME`; the process ran unauthenticated, and a benign skip was
//! then misreported as an authentication failure for months. Here the runner asks the
//! production library (`spec_kitty::paths::RuntimeRoot::from_vars`, the rule `from_env`
//! applies, and `spec_kitty::storage`) where each child will look, with the exact environment
//! the child will get (`children::child_environment`), and refuses to run a scenario whose seed
//! a process would not see, naming both paths.

use super::children::{child_environment, Launch};
use super::fixtures::Seeded;
use crate::schema::{FileKind, Scenario};
use spec_kitty::paths::{RuntimeRoot, HOME_ENV};
use spec_kitty::storage::SessionStore;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;

/// The value `name` will have in a child started by `cmd` (its own setting, else inherited).
fn child_var(cmd: &Command, name: &str) -> Option<OsString> {
    for (k, v) in cmd.get_envs() {
        if k == OsStr::new(name) {
            return v.map(OsStr::to_os_string);
        }
    }
    std::env::var_os(name)
}

fn shown(v: &Option<OsString>) -> String {
    match v {
        Some(v) => format!("{:?}", v.to_string_lossy()),
        None => "unset".to_string(),
    }
}

/// Checks every process of `sc`; returns one line per distinct root checked, or the refusal.
pub fn check(
    sc: &Scenario,
    launch: &Launch,
    seeded_root: &RuntimeRoot,
    seeded: &Seeded,
) -> Result<Vec<String>, String> {
    // A scenario that damages the session on purpose cannot expect it to decrypt.
    let damaged = sc
        .seed
        .corrupt
        .iter()
        .any(|c| matches!(c.file, FileKind::Session | FileKind::Salt));
    let mut checked: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for spec in &sc.processes {
        let mut cmd = Command::new("spec-kitty");
        child_environment(&mut cmd, launch, spec);
        let (skh, home) = (child_var(&cmd, HOME_ENV), child_var(&cmd, "HOME"));
        let root = RuntimeRoot::from_vars(skh.clone(), home.clone()).map_err(|e| {
            format!(
                "seed visibility: process {} cannot resolve a runtime root ({e}) with SPEC_KITTY_HOME={} and HOME={}",
                spec.name,
                shown(&skh),
                shown(&home)
            )
        })?;
        if root.session_file() != seeded_root.session_file() {
            return Err(format!(
                "seed visibility: process {} would read its session from {} (SPEC_KITTY_HOME={}, HOME={}), but the scenario seeded {}: a seed the process does not read proves nothing",
                spec.name,
                root.session_file().display(),
                shown(&skh),
                shown(&home),
                seeded_root.session_file().display()
            ));
        }
        checked
            .entry(root.base().to_path_buf())
            .or_default()
            .push(spec.name.clone());
    }
    let mut notes = Vec::new();
    for (base, names) in checked {
        let root = RuntimeRoot::new(&base);
        let mut note = format!(
            "seed visibility: {} read {}",
            names.join(", "),
            root.session_file().display()
        );
        if let (Some(want), false) = (&seeded.session, damaged) {
            let read = SessionStore::for_root(&root).and_then(|s| s.read());
            match read {
                Ok(Some(s))
                    if s.session_id == want.session_id && s.refresh_token == want.refresh_token => {
                }
                Ok(Some(s)) => {
                    return Err(format!(
                        "seed visibility: {} holds session {}, not the seeded {}",
                        root.session_file().display(),
                        s.session_id,
                        want.session_id
                    ))
                }
                Ok(None) => {
                    return Err(format!(
                        "seed visibility: the session seeded for {} is not at {}",
                        names.join(", "),
                        root.session_file().display()
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "seed visibility: the session {} will load cannot be read: {e}",
                        names.join(", ")
                    ))
                }
            }
            note.push_str(", which decrypts to the seeded session");
        }
        notes.push(note);
    }
    Ok(notes)
}
