//! Expectations on the fake SaaS: what it saw (`saas.requests`, `saas.statuses`, tokens
//! presented, the token revoked) and what it decided (`[[expect.saas.session]]`: active,
//! revoked, family revoked, the reason, reuse detections), so a scenario can prove that a logout
//! was legitimate.

use super::observed::Observed;
use crate::report::model::Failure;
use crate::schema::{ServerState, SessionRef};
use fake_saas::JournalEntry;
use std::collections::BTreeMap;

fn is_refresh_request(j: &JournalEntry) -> bool {
    j.endpoint == "/oauth/token" && j.grant_type.as_deref() == Some("refresh_token")
}

/// Every failed SaaS expectation.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    let x = &o.sc.expect;
    for (endpoint, n) in &x.saas_requests {
        let got = o.counters.get(endpoint).copied().unwrap_or(0);
        if got != *n {
            f.push(Failure::expect(
                "saas.requests",
                format!("{endpoint} got {got} request(s), expected {n}"),
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
                f.push(Failure::expect(
                    "saas.statuses",
                    format!("{endpoint} answered {code} {g} time(s), expected {n} (all: {got:?})"),
                ));
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
            f.push(Failure::expect(
                "saas.seed_token_presented",
                format!("the seeded refresh token R0 was presented {got} time(s), expected {n}"),
            ));
        }
    }
    if let Some(n) = x.max_token_presented {
        if let Some((tok, got)) = presented.iter().max_by_key(|(_, c)| **c) {
            if *got > n {
                f.push(Failure::expect(
                    "saas.max_token_presented",
                    format!(
                        "refresh token {} was presented {got} times, at most {n} expected",
                        o.tokens.label_or_redact(tok)
                    ),
                ));
            }
        }
    }
    revoked_token(o, &mut f);
    sessions(o, &mut f);
    f
}

fn revoked_token(o: &Observed, f: &mut Vec<Failure>) {
    let Some(exp) = &o.sc.expect.revoked_token else {
        return;
    };
    let want = o.token(exp, true);
    let got = o
        .journal
        .iter()
        .rev()
        .find(|j| j.endpoint == "/oauth/revoke")
        .and_then(|j| j.token.clone());
    let key = "saas.revoked_token";
    match (got, want) {
        (Some(g), Some(w)) if g == w => {}
        (Some(g), Some(w)) => f.push(Failure::expect(
            key,
            format!(
                "{} was revoked, expected {}",
                o.tokens.label_or_redact(&g),
                o.tokens.label_or_redact(&w)
            ),
        )),
        (None, _) => f.push(Failure::expect(key, "no /oauth/revoke request")),
        (_, None) => f.push(Failure::expect(key, format!("cannot resolve {exp:?}"))),
    }
}

fn sessions(o: &Observed, f: &mut Vec<Failure>) {
    let key = "saas.session";
    for exp in &o.sc.expect.saas_sessions {
        let (what, found) = match &exp.session {
            SessionRef::Seed => {
                let id = o.seeded.map(|s| s.session_id.as_str()).unwrap_or("");
                (
                    format!("the seeded session ({id})"),
                    o.server_sessions.iter().find(|s| s.id == id),
                )
            }
            SessionRef::Latest => match o.server_sessions.last() {
                Some(s) => (format!("the latest session ({})", s.id), Some(s)),
                None => ("the latest session".to_string(), None),
            },
            SessionRef::Id(id) => (
                format!("session {id}"),
                o.server_sessions.iter().find(|s| &s.id == id),
            ),
        };
        let Some(s) = found else {
            f.push(Failure::expect(key, format!("the fake SaaS has no {what}")));
            continue;
        };
        let state = s.state();
        let summary = format!(
            "it is {state} (reason: {}, reuse detections: {})",
            s.revoked_reason.as_deref().unwrap_or("none"),
            s.reuse_detections
        );
        if let Some(want) = exp.state {
            let ok = match want {
                ServerState::Revoked => s.revoked,
                other => state == other,
            };
            if !ok {
                f.push(Failure::expect(
                    key,
                    format!("{what} is not {want}: {summary}"),
                ));
            }
        }
        if let Some(reason) = &exp.reason {
            if s.revoked_reason.as_deref() != Some(reason.as_str()) {
                f.push(Failure::expect(
                    key,
                    format!("{what} was not revoked for {reason:?}: {summary}"),
                ));
            }
        }
        if let Some(n) = exp.reuse_detections {
            if s.reuse_detections != n {
                f.push(Failure::expect(
                    key,
                    format!(
                        "{what} saw {} reuse detection(s), expected {n}: {summary}",
                        s.reuse_detections
                    ),
                ));
            }
        }
    }
}
