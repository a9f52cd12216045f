//! From what doctor observed to what is wrong: each finding has a stable id, a severity, a
//! one-line summary and the exact command that fixes it.
//!
//! Why one place: the human text and the JSON are both rendered from these values, so they always
//! agree, and a script can key on the ids.

use super::facts::Facts;
use crate::daemon::control::State;
use serde::Serialize;

/// How bad a finding is. `critical` means the CLI cannot work as it is (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warn,
    Info,
}

/// The fix for a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remediation {
    /// The exact command to run.
    pub command: String,
    /// What it does, or what to check first.
    pub description: String,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub remediation: Remediation,
}

fn finding(
    id: &'static str,
    severity: Severity,
    summary: String,
    command: &str,
    description: &str,
) -> Finding {
    Finding {
        id,
        severity,
        summary,
        remediation: Remediation {
            command: command.to_string(),
            description: description.to_string(),
        },
    }
}

/// Every finding `facts` shows, most severe first.
pub fn derive(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    session(facts, &mut out);
    lock(facts, &mut out);
    daemon(facts, &mut out);
    if !facts.unsafe_modes.is_empty() {
        let list: Vec<String> = facts
            .unsafe_modes
            .iter()
            .map(|m| format!("{} has mode {} (expected {})", m.path, m.mode, m.expected))
            .collect();
        let chmods: Vec<String> = facts
            .unsafe_modes
            .iter()
            .map(|m| format!("chmod {} {}", &m.expected[1..], m.path))
            .collect();
        out.push(finding(
            "F-009",
            Severity::Warn,
            format!("files other users may read: {}", list.join("; ")),
            &chmods.join(" && "),
            "restore the private modes the CLI creates these files with",
        ));
    }
    out.sort_by_key(|f| f.severity);
    out
}

fn session(facts: &Facts, out: &mut Vec<Finding>) {
    let s = &facts.session;
    match s.state.as_str() {
        "absent" => {
            let (cause, description) = match &s.ended {
                Some(e) => (
                    format!("the last session ended at {}: {}", e.at, e.message),
                    "log in again; the cause above is a legitimate end of the last session",
                ),
                None => (
                    "no session has been recorded on this machine".to_string(),
                    "log in; no earlier session here ended (or its record was removed)",
                ),
            };
            out.push(finding(
                "F-001",
                Severity::Critical,
                format!("no session: not logged in ({cause})"),
                "spec-kitty auth login",
                description,
            ));
        }
        "unreadable" => out.push(finding(
            "F-008",
            Severity::Critical,
            format!(
                "the session file cannot be used: {}",
                s.error.as_deref().unwrap_or("unknown reason")
            ),
            "spec-kitty auth logout && spec-kitty auth login",
            "the file was left in place; logging out removes it (fix the mode instead if that is the reason)",
        )),
        // A passing reason (e.g. a parent directory's permissions): nothing is wrong with the
        // session itself, so the fix is never to delete it.
        "error" => out.push(finding(
            "F-013",
            Severity::Critical,
            format!(
                "the session file cannot be accessed right now: {}",
                s.error.as_deref().unwrap_or("unknown reason")
            ),
            "spec-kitty auth status",
            "fix what the message names (often a directory's permissions or ownership), then check again; the session was not touched and needs no new login",
        )),
        _ => {}
    }
    if s.refresh_expired {
        out.push(finding(
            "F-010",
            Severity::Warn,
            format!(
                "the refresh token has expired: the session ends when the access token expires ({})",
                s.access_token_expires_at.as_deref().unwrap_or("?")
            ),
            "spec-kitty auth login",
            "log in again before then to keep working without interruption",
        ));
    }
    if let Some(check) = &s.server_check {
        if check.state == "invalid" {
            out.push(finding(
                "F-012",
                Severity::Critical,
                format!(
                    "the server no longer accepts this session ({})",
                    check.reason.as_deref().unwrap_or("no reason given")
                ),
                "spec-kitty auth login",
                "the next refresh would be refused; log in again",
            ));
        }
    }
}

fn lock(facts: &Facts, out: &mut Vec<Finding>) {
    let l = &facts.refresh_lock;
    if l.stuck {
        let who = l
            .holder
            .as_ref()
            .map(|h| format!("pid {} on {} since {}", h.pid, h.host, h.started_at))
            .unwrap_or_else(|| "an unknown process".into());
        out.push(finding(
            "F-003",
            Severity::Critical,
            format!(
                "the refresh lock has been held for over {} s by {who}; every refresh waits for it",
                l.stuck_threshold_s
            ),
            "spec-kitty auth doctor --unstick-lock",
            "terminates the holder if it is a hung spec-kitty process of yours, so the lock is released; the session is not touched",
        ));
    }
    if let Some(h) = &l.holder {
        if !h.same_host {
            out.push(finding(
                "F-007",
                Severity::Warn,
                format!(
                    "the refresh lock record names another host ({}, pid {}): is this runtime root shared between machines?",
                    h.host, h.pid
                ),
                "spec-kitty auth doctor --unstick-lock",
                "a runtime root must not be shared between hosts (the session key is per host); if that host is gone, this clears its leftover record",
            ));
        }
    }
    if l.record == "leftover" || (l.record == "unreadable" && !l.held) {
        out.push(finding(
            "F-011",
            Severity::Info,
            "the refresh lock file holds a leftover record, but no process holds the lock (harmless)".into(),
            "spec-kitty auth doctor --unstick-lock",
            "empties the leftover record once it is older than the stuck threshold",
        ));
    }
}

fn daemon(facts: &Facts, out: &mut Vec<Finding>) {
    let d = &facts.daemon;
    if let Some(error) = &d.config_error {
        out.push(finding(
            "F-014",
            Severity::Warn,
            format!("the daemon settings cannot be used ({error}); orphans were not looked for"),
            "unset SPEC_KITTY_DAEMON_PORTS SPEC_KITTY_DAEMON_TICK_S",
            "or set them to valid values; `sync start` refuses to run until then",
        ));
    }
    match d.state {
        State::VersionMismatch => out.push(finding(
            "F-004",
            Severity::Warn,
            format!(
                "the sync daemon runs version {} but this CLI is {}",
                d.package_version.as_deref().unwrap_or("?"),
                d.expected_version
            ),
            "spec-kitty sync restart",
            "replaces it with a daemon of this version",
        )),
        State::NotRunning => out.push(finding(
            "F-005",
            Severity::Info,
            "the sync daemon is not running".into(),
            "spec-kitty sync start",
            "starts it (it also starts on its own when sync is enabled)",
        )),
        State::Unhealthy => out.push(finding(
            "F-005",
            Severity::Info,
            format!(
                "a sync daemon is recorded but does not answer{}",
                d.state_file_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
            ),
            "spec-kitty sync restart",
            "stops what is recorded (only a verified spec-kitty daemon of yours) and starts a healthy one",
        )),
        State::Running => {}
    }
    if let (Some(theirs), Some(ours)) = (&d.session_fingerprint, &facts.session.fingerprint) {
        if theirs != ours {
            out.push(finding(
                "F-006",
                Severity::Warn,
                "the daemon holds a different session in memory than the one on disk".into(),
                "spec-kitty sync restart",
                "harmless: its next refresh reloads and adopts the newer one; a restart makes it do so now",
            ));
        }
    }
    if !facts.orphans.is_empty() {
        let list: Vec<String> = facts
            .orphans
            .iter()
            .map(|o| format!("pid {} on port {}", o.pid.unwrap_or(0), o.port))
            .collect();
        out.push(finding(
            "F-002",
            Severity::Warn,
            format!("orphan sync daemons: {}", list.join(", ")),
            "spec-kitty auth doctor --reset",
            "stops them (never the active daemon, never a listener that is not ours)",
        ));
    }
}
