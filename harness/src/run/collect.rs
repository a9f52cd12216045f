//! Turning what a run recorded into timeline events: the runner's notes, every sync point hit,
//! every output line, every SaaS request and response from the journal, and every version of
//! the session file (decrypted to the token labels it holds).
//!
//! Pure functions from recorded data to [`Timeline`]. Guarantee: every text passes through
//! [`Tokens::redact`] or names tokens by label, so no token reaches a report.

use crate::redact::Tokens;
use crate::report::model::{Entry, EntryKind, Lane, Timeline};
use crate::sync::state::{Note, Proc};
use crate::watch::Version;
use chrono::{DateTime, Utc};
use fake_saas::JournalEntry;
use spec_kitty::session::StoredSession;
use std::collections::BTreeMap;
use std::path::Path;

/// What a run recorded.
pub struct Recorded<'a> {
    /// Process names in declaration order (one lane each).
    pub processes: Vec<String>,
    pub notes: &'a [Note],
    pub procs: &'a BTreeMap<String, Proc>,
    /// (process, is stdout, time, line) for every output line.
    pub lines: &'a [(String, bool, f64, String)],
    pub journal: &'a [JournalEntry],
    pub versions: &'a [Version],
    /// Each version decrypted ([`open_versions`]), in the same order.
    pub opened: &'a [Option<StoredSession>],
    /// Wall-clock time of the scenario's start (journal times are wall-clock).
    pub start_wall: DateTime<Utc>,
    pub tokens: &'a Tokens,
}

/// The whole timeline, sorted by time.
pub fn timeline(r: &Recorded) -> Timeline {
    let mut timeline = Timeline {
        lanes: std::iter::once(Lane::Runner)
            .chain(r.processes.iter().map(|p| Lane::Process(p.clone())))
            .chain([Lane::Saas, Lane::File])
            .collect(),
        entries: Vec::new(),
    };
    let entries = &mut timeline.entries;
    for n in r.notes {
        entries.push(Entry {
            t_ms: n.t_ms,
            lane: n.lane.clone(),
            kind: n.kind,
            text: r.tokens.redact(&n.text),
        });
    }
    for p in r.procs.values() {
        for h in &p.hits {
            let mut text = h.point.clone();
            if let Some(d) = &h.detail {
                text.push_str(&format!(" [{}]", r.tokens.redact(d)));
            }
            if h.held {
                text.push_str(" — held");
            } else if h.reply != "continue" {
                text.push_str(&format!(" → {}", h.reply));
            }
            entries.push(Entry {
                t_ms: h.t_ms,
                lane: Lane::Process(p.name.clone()),
                kind: if h.held {
                    EntryKind::Held
                } else {
                    EntryKind::Point
                },
                text,
            });
        }
    }
    for (name, stdout, t, line) in r.lines {
        entries.push(Entry {
            t_ms: *t,
            lane: Lane::Process(name.clone()),
            kind: if *stdout {
                EntryKind::Stdout
            } else {
                EntryKind::Stderr
            },
            text: r.tokens.redact(&strip_ansi(line.trim_end())),
        });
    }
    for j in r.journal {
        push_journal(entries, j, r.start_wall, r.tokens);
    }
    push_versions(entries, r.versions, r.opened, r.start_wall, r.tokens);
    timeline.sort();
    timeline
}

fn ms_since(start: DateTime<Utc>, iso: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(iso).ok()?.with_timezone(&Utc);
    Some((t - start).num_microseconds()? as f64 / 1000.0)
}

fn push_journal(entries: &mut Vec<Entry>, j: &JournalEntry, start: DateTime<Utc>, tokens: &Tokens) {
    let Some(t) = ms_since(start, &j.time) else {
        return;
    };
    let mut req = format!("→ {} {}", j.method, j.endpoint);
    if let Some(g) = &j.grant_type {
        req.push_str(&format!(" grant={g}"));
    }
    if let Some(tok) = &j.token {
        req.push_str(&format!(" token={}", tokens.label_or_redact(tok)));
    }
    if let Some(ua) = &j.user_agent {
        if !ua.starts_with("spec-kitty") {
            req.push_str(&format!(" ua={ua}"));
        }
    }
    entries.push(Entry {
        t_ms: t,
        lane: Lane::Saas,
        kind: EntryKind::Request,
        text: req,
    });
    let mut resp = format!(
        "← #{} {} {} {}",
        j.seq,
        j.endpoint,
        j.status_label(),
        j.outcome
    );
    if let Some(g) = j.generation {
        resp.push_str(&format!(" gen={g}"));
    }
    if let Some(f) = &j.fault {
        resp.push_str(&format!(" [fault {f}]"));
    }
    resp.push_str(&format!(" ({} ms)", j.latency_ms));
    entries.push(Entry {
        t_ms: t + j.latency_ms as f64,
        lane: Lane::Saas,
        kind: EntryKind::Request,
        text: resp,
    });
}

/// Decrypts session versions with the machine key (each salt's key derived once,
/// `super::ciphers`).
struct Decryptor;

impl Decryptor {
    fn open(&mut self, salt: &[u8], bytes: &[u8]) -> Option<StoredSession> {
        let plain = super::ciphers::cipher(salt)
            .open(bytes, Path::new("session.json"))
            .ok()?;
        StoredSession::from_json(&plain).ok()
    }
}

/// Every version of the session file decrypted (`None`: deleted, invalid, or not decryptable
/// here), deriving each salt's key once.
pub fn open_versions(versions: &[Version]) -> Vec<Option<StoredSession>> {
    let mut decryptor = Decryptor;
    versions
        .iter()
        .map(|v| match (&v.bytes, &v.invalid, &v.salt) {
            (Some(bytes), None, Some(salt)) => decryptor.open(salt, bytes),
            _ => None,
        })
        .collect()
}

fn push_versions(
    entries: &mut Vec<Entry>,
    versions: &[Version],
    opened: &[Option<StoredSession>],
    start: DateTime<Utc>,
    tokens: &Tokens,
) {
    for (i, v) in versions.iter().enumerate() {
        let (kind, text) = match (&v.bytes, &v.invalid) {
            (None, _) if i == 0 => continue,
            (None, _) => (EntryKind::File, "deleted".to_string()),
            (Some(bytes), Some(why)) if v.injected => (
                EntryKind::File,
                format!("corrupted by the scenario ({} bytes): {why}", bytes.len()),
            ),
            (Some(bytes), Some(why)) => (
                EntryKind::Violation,
                format!("INVALID ({} bytes): {why}", bytes.len()),
            ),
            (Some(_), None) => {
                let label = opened
                    .get(i)
                    .and_then(Option::as_ref)
                    .map(|s| {
                        let at = start + chrono::Duration::microseconds((v.t_ms * 1000.0) as i64);
                        format!(
                            "holds {}/{} generation {} (access expires in {} s)",
                            tokens.label_or_redact(&s.refresh_token),
                            tokens.label_or_redact(&s.access_token),
                            s.generation
                                .map(|g| g.to_string())
                                .unwrap_or_else(|| "?".into()),
                            (s.access_token_expires_at - at).num_seconds()
                        )
                    })
                    .unwrap_or_else(|| "valid envelope (not decryptable here)".to_string());
                let when = if i == 0 { "at start" } else { "replaced" };
                (EntryKind::File, format!("{when}: {label}"))
            }
        };
        entries.push(Entry {
            t_ms: v.t_ms,
            lane: Lane::File,
            kind,
            text,
        });
    }
}

/// `text` without ANSI escape sequences (CSI `ESC [ ... letter`), for the timeline.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(strip_ansi("\u{1b}[32m INFO\u{1b}[0m done"), " INFO done");
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
