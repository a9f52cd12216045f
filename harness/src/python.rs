//! The published Python original as a scenario participant: `spec-kitty-cli==3.2.7`, installed
//! from the package registry into a venv in a per-user cache, once, and found by the runner when
//! a `command` names `{python_spec_kitty}`.
//!
//! Why a cache and a lock: a cold install takes tens of seconds and needs the registry; every
//! later run (and every parallel test in this and other processes) must reuse it, and two
//! installers must never write one venv at once. The venv is built in place under an exclusive
//! `flock` (a venv's scripts name its absolute path, so it cannot be built elsewhere and renamed)
//! and marked complete last, so a half-built venv is never used: the next installer removes it.
//!
//! Where it cannot be installed (no `python3`, no registry), scenarios that need it are skipped
//! with the reason, unless [`REQUIRE_ENV`] is set (`.ci/run` sets it): then it is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The argument (or part of one) in `command` that stands for the Python CLI's executable.
pub const PLACEHOLDER: &str = "{python_spec_kitty}";
/// The published package and version the scenarios run.
pub const REQUIREMENT: &str = "spec-kitty-cli==3.2.7";
/// Set (and not `0`): a Python original that cannot be installed fails the scenario.
pub const REQUIRE_ENV: &str = "KITTY_AUTH_REQUIRE_PYTHON";
/// Bound on creating the venv and installing into it (a cold install takes about a minute).
const INSTALL_BOUND: Duration = Duration::from_secs(600);
/// Written last into a complete venv.
const MARKER: &str = ".kitty-auth-complete";

/// The `{word}` in `arg` that is not [`PLACEHOLDER`], if any (so a typo is refused by `check`).
pub fn unknown_placeholder(arg: &str) -> Option<String> {
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        let close = tail.find('}')?;
        let word = &tail[..=close];
        let inner = &word[1..word.len() - 1];
        if !inner.is_empty()
            && inner.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && word != PLACEHOLDER
        {
            return Some(word.to_string());
        }
        rest = &tail[close + 1..];
    }
    None
}

/// `argv` with [`PLACEHOLDER`] replaced by `exe`.
pub fn substitute(argv: &[String], exe: &Path) -> Vec<String> {
    let exe = exe.to_string_lossy();
    argv.iter().map(|a| a.replace(PLACEHOLDER, &exe)).collect()
}

/// Whether a missing Python original is a failure here ([`REQUIRE_ENV`] set, not `0`).
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The venv's directory: `$XDG_CACHE_HOME/kitty-auth/python-spec-kitty-cli-3.2.7`, else
/// `$HOME/.cache/...`, else a per-user directory in the temp directory.
pub fn venv_dir() -> PathBuf {
    let name = format!("python-{}", REQUIREMENT.replace("==", "-"));
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "kitty-auth-cache-{}",
                rustix::process::getuid().as_raw()
            ))
        });
    cache.join("kitty-auth").join(name)
}

/// The Python original's `spec-kitty` executable, installed on first use (once per process;
/// across processes under the cache's lock), or why it cannot be.
pub fn spec_kitty() -> Result<&'static Path, &'static str> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| ensure(&venv_dir()))
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(String::as_str)
}

/// Installs the venv at `dir` unless a complete one is there; returns its `spec-kitty`.
pub fn ensure(dir: &Path) -> Result<PathBuf, String> {
    let exe = dir.join("bin").join("spec-kitty");
    let complete = |dir: &Path| dir.join(MARKER).is_file() && exe.is_file();
    if complete(dir) {
        return Ok(exe);
    }
    let parent = dir.parent().ok_or("the cache directory has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create the cache {}: {e}", parent.display()))?;
    let mut lock_name = dir.file_name().unwrap_or_default().to_os_string();
    lock_name.push(".lock");
    let lock_path = dir.with_file_name(lock_name);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    // Blocks while another process installs; that installer is bounded by INSTALL_BOUND.
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if complete(dir) {
        return Ok(exe);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot remove the half-built {}: {e}", dir.display()))?;
    }
    let dir_s = dir.to_string_lossy().into_owned();
    bounded(
        Command::new("python3").args(["-m", "venv", &dir_s]),
        "python3 -m venv",
    )?;
    let python = dir.join("bin").join("python");
    bounded(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            REQUIREMENT,
        ]),
        &format!("pip install {REQUIREMENT}"),
    )?;
    if !exe.is_file() {
        return Err(format!("{REQUIREMENT} installed no {}", exe.display()));
    }
    // Bytecode compiled once here: children run with whatever PYTHONDONTWRITEBYTECODE the
    // runner has, and without it every start would compile the package's modules anew.
    bounded(
        Command::new(&python).args(["-m", "compileall", "-q", "-j", "0", &dir_s]),
        "python -m compileall",
    )?;
    let mut marker = std::fs::File::create(dir.join(MARKER))
        .map_err(|e| format!("cannot mark {} complete: {e}", dir.display()))?;
    let _ = writeln!(marker, "{REQUIREMENT}");
    Ok(exe)
}

/// Runs `cmd` to its end within [`INSTALL_BOUND`]; an error carries the end of its stderr.
fn bounded(cmd: &mut Command, what: &str) -> Result<(), String> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(INSTALL_BOUND) {
        Ok(out) => out,
        Err(_) => {
            // Not reaped yet (the waiter still waits), so the pid is still this child's.
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            let _ = waiter.join();
            return Err(format!(
                "{what}: no end within {} s",
                INSTALL_BOUND.as_secs()
            ));
        }
    };
    let _ = waiter.join();
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
    Err(format!("{what} failed ({}): {tail}", out.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_checked_and_substituted() {
        assert_eq!(unknown_placeholder("{python_spec_kitty}"), None);
        assert_eq!(unknown_placeholder("x={python_spec_kitty}/y"), None);
        assert_eq!(
            unknown_placeholder("{python_spec_kity}"),
            Some("{python_spec_kity}".into())
        );
        assert_eq!(unknown_placeholder("{\"json\": 1}"), None);
        let argv = vec![PLACEHOLDER.to_string(), "auth".to_string()];
        assert_eq!(
            substitute(&argv, Path::new("/v/bin/spec-kitty")),
            vec!["/v/bin/spec-kitty".to_string(), "auth".to_string()]
        );
    }
}
