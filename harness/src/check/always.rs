//! `[expect_always]`: what must hold at the end of every ordering, checked by `scenario run` and
//! after every schedule `scenario explore` tries: at most N requests per endpoint, the session
//! present (unless the server revoked it), the server's latest refresh token in a present
//! session, per-process outcome sets, outcome ceilings, exit sets.
//!
//! Guarantee: a process a kill ended is judged on what it did before: its exit is not checked,
//! and it may have reported no outcome.

use super::observed::Observed;
use super::server::ServerSession;
use crate::report::model::Failure;
use crate::schema::{AlwaysSession, ExitExpect, ServerState, TokenRef, NO_OUTCOME};
use crate::sync::state::Proc;
use std::collections::BTreeMap;

/// Every failed `[expect_always]` key.
pub fn check(o: &Observed) -> Vec<Failure> {
    let x = &o.sc.expect_always;
    let mut f = Vec::new();
    for (endpoint, max) in &x.max_requests {
        let got = o.counters.get(endpoint).copied().unwrap_or(0);
        if got > *max {
            f.push(Failure::always(
                "max_requests",
                format!("{got} request(s) to {endpoint}, at most {max} allowed"),
            ));
        }
    }
    if let Some(want) = x.session {
        session(o, want, &mut f);
    }
    if let Some(t) = &x.session_refresh_token {
        refresh_token(o, t, &mut f);
    }
    for (name, allowed) in &x.outcomes {
        let p = &o.procs[name];
        if p.outcomes.is_empty() && !allowed.iter().any(|a| a == NO_OUTCOME) && !killed(p) {
            f.push(Failure::always(
                "outcomes",
                format!(
                    "{name} ran no refresh transaction, expected one of {}",
                    allowed.join(", ")
                ),
            ));
        }
        for got in p.outcomes.iter().filter(|g| !allowed.contains(g)) {
            f.push(Failure::always(
                "outcomes",
                format!(
                    "{name} reported {got}, expected one of {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for p in o.procs.values() {
        for out in &p.outcomes {
            *counts.entry(out.as_str()).or_default() += 1;
        }
    }
    for (outcome, max) in &x.max_outcomes {
        let got = counts.get(outcome.as_str()).copied().unwrap_or(0);
        if got > *max {
            f.push(Failure::always(
                "max_outcomes",
                format!("{outcome} reported {got} time(s), at most {max} allowed"),
            ));
        }
    }
    for (name, set) in &x.exit {
        let p = &o.procs[name];
        if killed(p) {
            continue;
        }
        let ok = p.exit.as_ref().is_some_and(|e| {
            set.0.iter().any(|exp| match exp {
                ExitExpect::Code(c) => e.code == Some(*c),
                ExitExpect::Signal(n) => e.signal == Some(*n),
                ExitExpect::Killed => false,
            })
        });
        if !ok {
            let got = p
                .exit
                .as_ref()
                .map_or("never started".to_string(), |e| e.describe());
            f.push(Failure::always(
                "exit",
                format!("{name} {got}, expected {set}"),
            ));
        }
    }
    f
}

/// Whether a kill (a step's or the explorer's, not teardown's) ended `p`.
fn killed(p: &Proc) -> bool {
    p.kill.as_ref().is_some_and(|k| !k.teardown)
}

/// The seeded session as the fake SaaS sees it at the end.
pub fn seeded_on_server<'a>(o: &'a Observed) -> Option<&'a ServerSession> {
    let id = &o.seeded?.session_id;
    o.server_sessions.iter().find(|s| &s.id == id)
}

fn session(o: &Observed, want: AlwaysSession, f: &mut Vec<Failure>) {
    let state = match o.final_session {
        Ok(Some(_)) => return,
        Ok(None) => "absent".to_string(),
        Err(e) => format!("unreadable ({e})"),
    };
    if want == AlwaysSession::PresentUnlessRevoked {
        if let Some(server) = seeded_on_server(o) {
            if server.state() != ServerState::Active {
                return;
            }
        }
    }
    let why = match want {
        AlwaysSession::Present => String::new(),
        AlwaysSession::PresentUnlessRevoked => {
            " and the fake SaaS still holds the seeded session active".to_string()
        }
    };
    f.push(Failure::always(
        "session",
        format!("the session is {state} at the end{why}"),
    ));
}

fn refresh_token(o: &Observed, t: &TokenRef, f: &mut Vec<Failure>) {
    let Ok(Some(session)) = o.final_session else {
        return;
    };
    let want = o.token(t, true);
    match want {
        Some(w) if w == session.refresh_token => {}
        Some(w) => f.push(Failure::always(
            "session_refresh_token",
            format!(
                "the session holds {}, expected {}",
                o.tokens.label_or_redact(&session.refresh_token),
                o.tokens.label_or_redact(&w)
            ),
        )),
        None => f.push(Failure::always(
            "session_refresh_token",
            format!("cannot resolve {t:?}"),
        )),
    }
}
