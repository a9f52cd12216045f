//! The always-on invariants and the scenario's `[expect]`, evaluated after the run.
//!
//! Invariants (every scenario): the session file was never seen half-written; no issued token
//! in any stderr, nor in any stdout but that of `auth token`; every `--json` stdout is exactly
//! one JSON value; no process left running (checked at teardown); the refresh lock is free at
//! the end; every declared fault fired; the sync protocol saw no stranger.

use crate::schema::{ExitExpect, OutcomeExpect, Scenario, SessionState, TokenRef};
use crate::sync::Proc;
use crate::watch::Version;
use fake_saas::{JournalEntry, SeededSession};
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::session::StoredSession;
use spec_kitty::storage::SessionStore;
use std::collections::BTreeMap;

/// Shortest string treated as a secret token (shorter ones would match by accident).
const MIN_TOKEN_LEN: usize = 8;

/// Every token the SaaS issued (and the seeded pair), with short labels for reports:
/// refresh tokens `R0, R1, ...` and access tokens `A0, A1, ...` in issue order (0 = seeded).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// (token, label, is_refresh)
    list: Vec<(String, String, bool)>,
}

impl Tokens {
    /// Labels `issued` in order; the seeded tokens are first in that order anyway.
    pub fn new(issued: &[String], seeded: Option<&SeededSession>) -> Tokens {
        let mut list: Vec<(String, String, bool)> = Vec::new();
        let (mut a, mut r) = (0, 0);
        let mut push =
            |tok: &str, refresh: Option<bool>, list: &mut Vec<(String, String, bool)>| {
                if tok.len() < MIN_TOKEN_LEN || list.iter().any(|(t, _, _)| t == tok) {
                    return;
                }
                let refresh = refresh.unwrap_or_else(|| tok.starts_with("rt."));
                let label = if refresh {
                    r += 1;
                    format!("R{}", r - 1)
                } else {
                    a += 1;
                    format!("A{}", a - 1)
                };
                list.push((tok.to_string(), label, refresh));
            };
        if let Some(s) = seeded {
            push(&s.refresh_token, Some(true), &mut list);
            push(&s.access_token, Some(false), &mut list);
        }
        for t in issued {
            push(t, None, &mut list);
        }
        Tokens { list }
    }

    /// All known token strings.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.list
            .iter()
            .map(|(t, l, r)| (t.as_str(), l.as_str(), *r))
    }

    /// The label of `token`, if known.
    pub fn label(&self, token: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(t, _, _)| t == token)
            .map(|(_, l, _)| l.as_str())
    }

    /// The label, or the redacted form of an unknown token.
    pub fn label_or_redact(&self, token: &str) -> String {
        match self.label(token) {
            Some(l) => l.to_string(),
            None if token.len() >= MIN_TOKEN_LEN => {
                let tail: String = token
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("unknown…{tail}")
            }
            None => token.to_string(),
        }
    }

    /// `text` with every known token replaced by `‹label›`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut sorted: Vec<&(String, String, bool)> = self.list.iter().collect();
        sorted.sort_by_key(|(t, _, _)| std::cmp::Reverse(t.len()));
        for (t, l, _) in sorted {
            if out.contains(t.as_str()) {
                out = out.replace(t.as_str(), &format!("‹{l}›"));
            }
        }
        out
    }
}

/// Everything the checks look at.
pub struct Observed<'a> {
    pub sc: &'a Scenario,
    pub procs: &'a BTreeMap<String, Proc>,
    /// name → (stdout, stderr)
    pub outputs: &'a BTreeMap<String, (String, String)>,
    pub journal: &'a [JournalEntry],
    pub counters: &'a BTreeMap<String, u64>,
    pub faults_fired: &'a BTreeMap<String, u64>,
    pub declared_saas_faults: &'a [String],
    pub versions: &'a [Version],
    pub final_bytes: Option<&'a [u8]>,
    pub final_session: &'a Result<Option<StoredSession>, String>,
    pub seeded_bytes: Option<&'a [u8]>,
    pub seeded: Option<&'a SeededSession>,
    pub latest_refresh: Option<&'a str>,
    pub lock_held_at_end: &'a Result<bool, String>,
    pub tokens: &'a Tokens,
    pub anomalies: &'a [String],
}

/// Whether the session file of `root` is in `state` now.
pub fn session_state(
    root: &RuntimeRoot,
    state: SessionState,
    seeded: Option<&[u8]>,
) -> Result<(), String> {
    let bytes = std::fs::read(root.session_file()).ok();
    let read = SessionStore::for_root(root)
        .and_then(|s| s.read())
        .map_err(|e| e.to_string());
    check_session_state(state, bytes.as_deref(), &read, seeded)
}

fn check_session_state(
    state: SessionState,
    bytes: Option<&[u8]>,
    read: &Result<Option<StoredSession>, String>,
    seeded: Option<&[u8]>,
) -> Result<(), String> {
    match state {
        SessionState::Present => match read {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("session is absent, expected present".into()),
            Err(e) => Err(format!("session is unreadable ({e}), expected present")),
        },
        SessionState::Absent => match bytes {
            None => Ok(()),
            Some(b) => Err(format!(
                "session file exists ({} bytes), expected absent",
                b.len()
            )),
        },
        SessionState::Unchanged => {
            if bytes == seeded {
                Ok(())
            } else {
                Err(format!(
                    "session file changed: {} bytes at the start, {} at the end",
                    seeded.map_or("no file".to_string(), |b| b.len().to_string()),
                    bytes.map_or("no file".to_string(), |b| b.len().to_string())
                ))
            }
        }
    }
}

fn is_refresh_request(j: &JournalEntry) -> bool {
    j.endpoint == "/oauth/token" && j.grant_type.as_deref() == Some("refresh_token")
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

/// First time `point` (or `start` / `exit`) happened for `p`, at or after `after`.
fn event_time(p: &Proc, point: &str, after: f64) -> Option<f64> {
    match point {
        crate::schema::START => p.started_ms.filter(|t| *t >= after),
        crate::schema::EXIT => p.exit.as_ref().map(|e| e.t_ms).filter(|t| *t >= after),
        _ => p
            .hits
            .iter()
            .find(|h| h.point == point && h.t_ms >= after)
            .map(|h| h.t_ms),
    }
}

/// Every failed invariant and expectation, one line each.
pub fn evaluate(o: &Observed) -> Vec<String> {
    let mut f = Vec::new();
    let x = &o.sc.expect;

    // --- invariants -------------------------------------------------------------------------
    for v in o.versions {
        if let (Some(why), false) = (&v.invalid, v.injected) {
            f.push(format!(
                "invariant: session.json was seen half-written or malformed at {:.1} ms: {why}",
                v.t_ms
            ));
        }
    }
    for spec in &o.sc.processes {
        let Some((stdout, stderr)) = o.outputs.get(&spec.name) else {
            continue;
        };
        for (tok, label, refresh) in o.tokens.all() {
            let kind = if refresh { "refresh" } else { "access" };
            if stderr.contains(tok) {
                f.push(format!(
                    "invariant: stderr of {} contains {kind} token {label}",
                    spec.name
                ));
            }
            if stdout.contains(tok) && !spec.prints_token() {
                f.push(format!(
                    "invariant: stdout of {} contains {kind} token {label} (only `auth token` may print one)",
                    spec.name
                ));
            }
        }
        let p = &o.procs[&spec.name];
        if spec.wants_json() && p.kill.is_none() && p.exit.is_some() {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(stdout) {
                f.push(format!(
                    "invariant: stdout of {} (--json) is not exactly one JSON value: {e}; stdout was {:?}",
                    spec.name,
                    truncate(stdout, 300)
                ));
            }
        }
    }
    match (o.lock_held_at_end, x.lock_held) {
        (Ok(held), Some(expected)) if *held != expected => f.push(format!(
            "expect.lock_held: the refresh lock is {}held at the end, expected {}held",
            if *held { "" } else { "not " },
            if expected { "" } else { "not " }
        )),
        (Ok(true), None) => f.push("invariant: the refresh lock is still held at the end".into()),
        (Err(e), _) => f.push(format!(
            "invariant: cannot probe the refresh lock at the end: {e}"
        )),
        _ => {}
    }
    for name in o.declared_saas_faults {
        if o.faults_fired.get(name).copied().unwrap_or(0) == 0 {
            f.push(format!("fault {name:?} on the fake SaaS never fired"));
        }
    }
    for p in o.procs.values() {
        for (i, fault) in p.faults.iter().enumerate() {
            if p.faults_fired.get(i).copied().unwrap_or(0) == 0 {
                f.push(format!(
                    "fault {:?} at {} (hit #{}) of {} never fired: {} reached it {} time(s)",
                    fault.action,
                    fault.point,
                    fault.nth,
                    p.name,
                    p.name,
                    p.counts.get(&fault.point).copied().unwrap_or(0)
                ));
            }
        }
    }
    for a in o.anomalies {
        f.push(format!("sync protocol: {a}"));
    }

    // --- expectations -----------------------------------------------------------------------
    for (name, exp) in &x.exit {
        let p = &o.procs[name];
        let got = match (&p.exit, &p.kill) {
            (None, _) => "never started".to_string(),
            (Some(_), Some(k)) if !k.teardown => "killed".to_string(),
            (Some(e), _) => e.describe(),
        };
        let ok = match (exp, &p.exit, &p.kill) {
            (ExitExpect::Code(c), Some(e), None) => e.code == Some(*c),
            (ExitExpect::Killed, Some(_), Some(k)) => !k.teardown,
            _ => false,
        };
        if !ok {
            let (_, stderr) = o.outputs.get(name).cloned().unwrap_or_default();
            f.push(format!(
                "expect.exit: {name} {got}, expected {exp}{}",
                if stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!("; stderr: {}", truncate(stderr.trim(), 400))
                }
            ));
        }
    }
    let output = |name: &str, stdout: bool| -> String {
        o.outputs
            .get(name)
            .map(|(a, b)| if stdout { a.clone() } else { b.clone() })
            .unwrap_or_default()
    };
    for (map, stdout, want, key) in [
        (&x.stdout_contains, true, true, "stdout_contains"),
        (&x.stdout_not_contains, true, false, "stdout_not_contains"),
        (&x.stderr_contains, false, true, "stderr_contains"),
        (&x.stderr_not_contains, false, false, "stderr_not_contains"),
    ] {
        for (name, needles) in map {
            let text = output(name, stdout);
            for needle in needles {
                if text.contains(needle.as_str()) != want {
                    f.push(format!(
                        "expect.{key}: {} of {name} {} {needle:?}; it was {:?}",
                        if stdout { "stdout" } else { "stderr" },
                        if want { "does not contain" } else { "contains" },
                        truncate(&text, 400)
                    ));
                }
            }
        }
    }
    for (name, fields) in &x.json {
        let text = output(name, true);
        match serde_json::from_str::<serde_json::Value>(&text) {
            Err(e) => f.push(format!("expect.json: stdout of {name} is not JSON ({e})")),
            Ok(v) => {
                for (path, want) in fields {
                    match json_path(&v, path) {
                        Some(got) if got == want => {}
                        Some(got) => f.push(format!(
                            "expect.json: {name} {path} = {got}, expected {want}"
                        )),
                        None => f.push(format!(
                            "expect.json: {name} has no {path} (expected {want}); stdout was {}",
                            truncate(&text, 400)
                        )),
                    }
                }
            }
        }
    }
    if let Some(state) = x.session {
        if let Err(e) = check_session_state(state, o.final_bytes, o.final_session, o.seeded_bytes) {
            f.push(format!("expect.session: {e}"));
        }
    }
    for (what, exp) in [
        ("refresh", &x.session_refresh_token),
        ("access", &x.session_access_token),
    ] {
        let Some(exp) = exp else { continue };
        let want: Option<String> = match exp {
            TokenRef::Seed => o.seeded.map(|s| {
                if what == "refresh" {
                    s.refresh_token.clone()
                } else {
                    s.access_token.clone()
                }
            }),
            TokenRef::SaasLatest if what == "refresh" => o.latest_refresh.map(str::to_string),
            TokenRef::SaasLatest => None,
            TokenRef::Literal(t) => Some(t.clone()),
        };
        let key = format!("expect.session_{what}_token");
        match (o.final_session, want) {
            (_, None) => f.push(format!("{key}: cannot resolve {exp:?}")),
            (Ok(Some(s)), Some(want)) => {
                let got = if what == "refresh" {
                    &s.refresh_token
                } else {
                    &s.access_token
                };
                if *got != want {
                    f.push(format!(
                        "{key}: the session holds {}, expected {} ({exp:?})",
                        o.tokens.label_or_redact(got),
                        o.tokens.label_or_redact(&want)
                    ));
                }
            }
            (Ok(None), _) => f.push(format!("{key}: there is no session")),
            (Err(e), _) => f.push(format!("{key}: the session is unreadable: {e}")),
        }
    }
    for (name, exp) in &x.outcomes {
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
            f.push(format!(
                "expect.outcomes: {name} reported {got}, expected {want}"
            ));
        }
    }
    if !x.outcome_counts.is_empty() {
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for p in o.procs.values() {
            for oc in &p.outcomes {
                *counts.entry(oc.as_str()).or_default() += 1;
            }
        }
        for (outcome, n) in &x.outcome_counts {
            let got = counts.get(outcome.as_str()).copied().unwrap_or(0);
            if got != *n {
                f.push(format!("expect.outcome_counts: {outcome} reported {got} time(s), expected {n} (all: {counts:?})"));
            }
        }
    }
    for (endpoint, n) in &x.saas_requests {
        let got = o.counters.get(endpoint).copied().unwrap_or(0);
        if got != *n {
            f.push(format!(
                "expect.saas.requests: {endpoint} got {got} request(s), expected {n}"
            ));
        }
    }
    for (endpoint, codes) in &x.saas_statuses {
        let mut got: BTreeMap<u16, u64> = BTreeMap::new();
        for j in o.journal.iter().filter(|j| &j.endpoint == endpoint) {
            if let (Some(s), false) = (j.status, j.closed) {
                *got.entry(s).or_default() += 1;
            }
        }
        for (code, n) in codes {
            let g = got.get(code).copied().unwrap_or(0);
            if g != *n {
                f.push(format!("expect.saas.statuses: {endpoint} answered {code} {g} time(s), expected {n} (all: {got:?})"));
            }
        }
    }
    let mut presented: BTreeMap<&str, u64> = BTreeMap::new();
    for j in o.journal.iter().filter(|j| is_refresh_request(j)) {
        if let Some(t) = &j.token {
            *presented.entry(t.as_str()).or_default() += 1;
        }
    }
    if let (Some(n), Some(seed)) = (x.seed_token_presented, o.seeded) {
        let got = presented
            .get(seed.refresh_token.as_str())
            .copied()
            .unwrap_or(0);
        if got != n {
            f.push(format!("expect.saas.seed_token_presented: the seeded refresh token R0 was presented {got} time(s), expected {n}"));
        }
    }
    if let Some(n) = x.max_token_presented {
        if let Some((tok, got)) = presented.iter().max_by_key(|(_, c)| **c) {
            if *got > n {
                f.push(format!(
                    "expect.saas.max_token_presented: refresh token {} was presented {got} times, at most {n} expected",
                    o.tokens.label_or_redact(tok)
                ));
            }
        }
    }
    for (name, which) in &x.printed_token {
        let printed = output(name, true);
        let printed = printed.trim();
        let want = match which {
            crate::schema::PrintedToken::Seed => o.seeded.map(|s| s.access_token.clone()),
            crate::schema::PrintedToken::Session => match o.final_session {
                Ok(Some(s)) => Some(s.access_token.clone()),
                _ => None,
            },
        };
        match want {
            Some(w) if w == printed => {}
            Some(w) => f.push(format!(
                "expect.printed_token: {name} printed {}, expected {} ({which:?})",
                if printed.is_empty() {
                    "nothing".to_string()
                } else {
                    o.tokens.label_or_redact(printed)
                },
                o.tokens.label_or_redact(&w)
            )),
            None => f.push(format!(
                "expect.printed_token: no {which:?} access token to compare with"
            )),
        }
    }
    if let Some(exp) = &x.revoked_token {
        let want = match exp {
            TokenRef::Seed => o.seeded.map(|s| s.refresh_token.clone()),
            TokenRef::SaasLatest => o.latest_refresh.map(str::to_string),
            TokenRef::Literal(t) => Some(t.clone()),
        };
        let got = o
            .journal
            .iter()
            .rev()
            .find(|j| j.endpoint == "/oauth/revoke")
            .and_then(|j| j.token.clone());
        match (got, want) {
            (Some(g), Some(w)) if g == w => {}
            (Some(g), Some(w)) => f.push(format!(
                "expect.saas.revoked_token: {} was revoked, expected {}",
                o.tokens.label_or_redact(&g),
                o.tokens.label_or_redact(&w)
            )),
            (None, _) => f.push("expect.saas.revoked_token: no /oauth/revoke request".to_string()),
            (_, None) => f.push(format!("expect.saas.revoked_token: cannot resolve {exp:?}")),
        }
    }
    let mut last: Option<(f64, String)> = None;
    for (p, point) in &x.order {
        let after = last.as_ref().map_or(0.0, |(t, _)| *t);
        match o
            .procs
            .get(p)
            .and_then(|proc_| event_time(proc_, point, 0.0))
        {
            None => {
                f.push(format!("expect.order: {p}:{point} never happened"));
                break;
            }
            Some(t) if t < after => {
                f.push(format!(
                    "expect.order: {p}:{point} happened at {t:.1} ms, before {} at {after:.1} ms",
                    last.as_ref().map(|(_, e)| e.as_str()).unwrap_or("")
                ));
                break;
            }
            Some(t) => last = Some((t, format!("{p}:{point}"))),
        }
    }
    for t in &x.timing {
        let p = &o.procs[&t.process];
        let Some(from) = event_time(p, &t.from, 0.0) else {
            f.push(format!(
                "expect.timing: {} never reached {}",
                t.process, t.from
            ));
            continue;
        };
        let Some(to) = event_time(p, &t.to, from) else {
            f.push(format!(
                "expect.timing: {} never reached {} after {}",
                t.process, t.to, t.from
            ));
            continue;
        };
        let d = to - from;
        if t.max_ms.is_some_and(|m| d > m as f64) || t.min_ms.is_some_and(|m| d < m as f64) {
            f.push(format!(
                "expect.timing: {} took {d:.1} ms from {} to {}, expected {}{}",
                t.process,
                t.from,
                t.to,
                t.min_ms
                    .map(|m| format!("at least {m} ms "))
                    .unwrap_or_default(),
                t.max_ms
                    .map(|m| format!("at most {m} ms"))
                    .unwrap_or_default()
            ));
        }
    }
    f
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_labels_and_redaction() {
        let issued = vec![
            "at.s1.g1.aaaa0001".to_string(),
            "rt.s1.g1.bbbb0001".to_string(),
            "at.s1.g2.aaaa0002".to_string(),
            "rt.s1.g2.bbbb0002".to_string(),
        ];
        let t = Tokens::new(&issued, None);
        assert_eq!(t.label("rt.s1.g1.bbbb0001"), Some("R0"));
        assert_eq!(t.label("rt.s1.g2.bbbb0002"), Some("R1"));
        assert_eq!(t.label("at.s1.g2.aaaa0002"), Some("A1"));
        assert_eq!(t.redact("token=rt.s1.g2.bbbb0002!"), "token=‹R1›!");
        assert_eq!(t.label_or_redact("zzzzzzzzzz1234"), "unknown…1234");
    }

    #[test]
    fn json_paths() {
        let v = serde_json::json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(json_path(&v, "a.b.1.c"), Some(&serde_json::json!("x")));
        assert_eq!(json_path(&v, "a.b.0"), Some(&serde_json::json!(1)));
        assert_eq!(json_path(&v, "a.z"), None);
    }

    #[test]
    fn invariants_catch_leaks_bad_json_partial_files_and_a_held_lock() {
        let sc = crate::schema::parse_str(
            std::path::Path::new("t.toml"),
            r#"
[scenario]
name = "t"
description = "d"
[seed.session]
[[process]]
name = "T"
args = ["auth", "token"]
[[process]]
name = "S"
args = ["auth", "status", "--json"]
"#,
        )
        .unwrap()
        .remove(0);
        let issued = vec![
            "rt.s1.g1.bbbb0001".to_string(),
            "at.s1.g1.aaaa0001".to_string(),
        ];
        let tokens = Tokens::new(&issued, None);
        let mut procs = BTreeMap::new();
        for name in ["T", "S"] {
            let mut p = Proc::new(name, vec![]);
            p.exit = Some(crate::sync::ExitInfo {
                code: Some(0),
                signal: None,
                t_ms: 1.0,
            });
            procs.insert(name.to_string(), p);
        }
        let mut outputs = BTreeMap::new();
        // `auth token` may print a token on stdout, never on stderr.
        outputs.insert(
            "T".to_string(),
            (
                "at.s1.g1.aaaa0001\n".to_string(),
                "log rt.s1.g1.bbbb0001\n".to_string(),
            ),
        );
        // Anything else may print none, and --json must be one JSON value.
        outputs.insert(
            "S".to_string(),
            (
                "{\"a\": 1}\n{\"t\": \"at.s1.g1.aaaa0001\"}\n".to_string(),
                String::new(),
            ),
        );
        let versions = vec![Version {
            t_ms: 3.0,
            bytes: Some(b"{\"version\": 2".to_vec()),
            salt: None,
            invalid: Some("not complete JSON".into()),
            injected: false,
        }];
        let final_session = Ok(None);
        let lock = Ok(true);
        let o = Observed {
            sc: &sc,
            procs: &procs,
            outputs: &outputs,
            journal: &[],
            counters: &BTreeMap::new(),
            faults_fired: &BTreeMap::new(),
            declared_saas_faults: &[],
            versions: &versions,
            final_bytes: None,
            final_session: &final_session,
            seeded_bytes: None,
            seeded: None,
            latest_refresh: None,
            lock_held_at_end: &lock,
            tokens: &tokens,
            anomalies: &[],
        };
        let f = evaluate(&o);
        let has = |needle: &str| {
            assert!(
                f.iter().any(|x| x.contains(needle)),
                "{needle:?} not in {f:#?}"
            )
        };
        has("stderr of T contains refresh token R0");
        has("stdout of S contains access token A0");
        has("stdout of S (--json) is not exactly one JSON value");
        has("session.json was seen half-written or malformed at 3.0 ms");
        has("the refresh lock is still held at the end");
        assert!(!f.iter().any(|x| x.contains("stdout of T")), "{f:#?}");
        assert_eq!(f.len(), 5, "{f:#?}");
    }

    #[test]
    fn session_states() {
        let none: Result<Option<StoredSession>, String> = Ok(None);
        assert!(check_session_state(SessionState::Absent, None, &none, None).is_ok());
        assert!(check_session_state(SessionState::Present, None, &none, None).is_err());
        assert!(
            check_session_state(SessionState::Unchanged, Some(b"ab"), &none, Some(b"ab")).is_ok()
        );
        assert!(
            check_session_state(SessionState::Unchanged, Some(b"ab"), &none, Some(b"a")).is_err()
        );
    }
}
