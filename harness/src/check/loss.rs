//! The universal invariant of explore files: **no session is lost without a legitimate cause.**
//!
//! A session is lost when a `spec-kitty` process deleted it (it reached `refresh.delete_decided`
//! and reported `current_rejection_cleared`), a legacy client deleted it (`legacy.deleted`), or it
//! is gone, unreadable or *stranded* at the end (present, but holding a refresh token the server
//! rotated out, under a policy that will refuse it). Each loss is judged from the fake SaaS's own
//! state and what the processes did:
//!
//! - legitimate: the server revoked the seeded session (an admin revocation, a logout's
//!   revocation, or the whole family for a reuse) or its refresh family reached its absolute
//!   lifetime; the scenario's own fault made the server refuse a refresh; or an `auth logout`
//!   ran;
//! - a documented limit (`docs/refresh-transaction.md`, "What the locks cannot stop"): a process
//!   was killed after the server rotated and before the rotation reached the file, so the file
//!   kept a spent token (under `reuse = "reject"` the next refresh is refused and clears it); or
//!   a legacy client deleted it (the original bug, in the old client, which no lock stops);
//! - otherwise a violation: a bug of the implementation under test.
//!
//! The worst judgement of the run wins (violation, then limit, then legitimate).

use super::always::seeded_on_server;
use super::observed::Observed;
use crate::report::model::{LossVerdict, SessionLoss};
use crate::schema::ServerState;
use crate::sync::state::Proc;
use fake_saas::ReusePolicy;

/// Where a process stands after the server answered its refresh, before anything is saved.
const AFTER_ANSWER: [&str; 2] = ["refresh.network_after", "legacy.network_after"];
/// Points after which the answer was saved or acted on.
const ACTED: [&str; 5] = [
    "refresh.persisted",
    "refresh.delete_decided",
    "refresh.lock_released",
    "legacy.persisted",
    "legacy.deleted",
];

/// The judged loss of the seeded session, if it was lost.
pub fn judge(o: &Observed) -> Option<SessionLoss> {
    let seeded = o.seeded?;
    let mut losses: Vec<SessionLoss> = Vec::new();
    let legit = legitimate_cause(o);
    let killed_after = killed_after_rotation(o);
    let rotation_lost = o.latest_refresh.is_some_and(|latest| {
        !o.opened_versions
            .iter()
            .flatten()
            .any(|s| s.refresh_token == latest)
    });
    let limit = |deleted: &str| -> Option<SessionLoss> {
        let killed = killed_after.as_ref()?;
        rotation_lost.then(|| SessionLoss {
            verdict: LossVerdict::Limit,
            kind: "kill_after_rotation".into(),
            cause: format!(
                "documented limit: {killed} after the server rotated the refresh token and before the rotation reached the file, which kept the spent token; {deleted} (reuse = {:?}; docs/refresh-transaction.md, \"What the locks cannot stop\")",
                reuse_word(o.sc.saas.reuse)
            ),
        })
    };
    // `before`: the time of the deletion judged (a legacy rotation saved later did not count).
    let judged = |what: String, before: f64, legit: &Option<(String, String)>| -> SessionLoss {
        if let Some((kind, why)) = legit {
            return SessionLoss {
                verdict: LossVerdict::Legitimate,
                kind: kind.clone(),
                cause: format!("{what}: legitimate, {why}"),
            };
        }
        if let Some(l) = limit(&what) {
            return l;
        }
        if let Some(legacy) = legacy_rotation_unsaved(o, before) {
            return SessionLoss {
                verdict: LossVerdict::Limit,
                kind: "legacy_client".into(),
                cause: format!(
                    "documented limit: the legacy client {legacy} spent the persisted refresh token without the refresh lock and had not saved the rotation; {what}, as the server must refuse a spent token (docs/refresh-transaction.md, \"What the locks cannot stop\")"
                ),
            };
        }
        SessionLoss {
            verdict: LossVerdict::Violation,
            kind: "no_cause".into(),
            cause: format!(
                "{what} without a legitimate cause: {}",
                no_cause_facts(o, killed_after.as_deref())
            ),
        }
    };
    for spec in &o.sc.processes {
        let p = &o.procs[&spec.name];
        let decided = first_hit(p, "refresh.delete_decided");
        if let (Some(t), true) = (
            decided,
            p.outcomes.iter().any(|x| x == "current_rejection_cleared"),
        ) {
            let what = format!(
                "{} deleted the session (current_rejection_cleared after its refresh was refused)",
                spec.name
            );
            losses.push(judged(what, t, &legit));
        }
        if let Some(t) = first_hit(p, "legacy.deleted") {
            losses.push(match &legit {
                Some(_) => judged(format!("{} deleted the session", spec.name), t, &legit),
                None => SessionLoss {
                    verdict: LossVerdict::Limit,
                    kind: "legacy_client".into(),
                    cause: format!(
                        "documented limit: the legacy client {} deleted the session on a refused refresh (the original bug, in the old client; no lock of this implementation can stop it)",
                        spec.name
                    ),
                },
            });
        }
    }
    if losses.is_empty() {
        if let Some(state) = final_loss(o, &seeded.session_id) {
            losses.push(judged(state, f64::INFINITY, &legit));
        }
    }
    losses.into_iter().max_by_key(|l| match l.verdict {
        LossVerdict::Legitimate => 0,
        LossVerdict::Limit => 1,
        LossVerdict::Violation => 2,
    })
}

fn reuse_word(r: ReusePolicy) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{r:?}"))
}

fn reached(p: &Proc, point: &str) -> bool {
    p.hits.iter().any(|h| h.point == point)
}

/// When `p` first reached `point`.
fn first_hit(p: &Proc, point: &str) -> Option<f64> {
    p.hits.iter().find(|h| h.point == point).map(|h| h.t_ms)
}

/// A legacy client whose refresh the server granted before `before`, without the rotation
/// being saved by then: it spent the persisted token behind every lock's back.
fn legacy_rotation_unsaved(o: &Observed, before: f64) -> Option<String> {
    o.sc.processes.iter().find_map(|spec| {
        let p = &o.procs[&spec.name];
        let granted = p.hits.iter().any(|h| {
            h.point == "legacy.network_after"
                && h.detail.as_deref() == Some("granted")
                && h.t_ms < before
        });
        let saved = p
            .hits
            .iter()
            .any(|h| h.point == "legacy.persisted" && h.t_ms < before);
        (granted && !saved).then(|| spec.name.clone())
    })
}

/// `(kind, why)` when the server ended the session or a logout ran.
fn legitimate_cause(o: &Observed) -> Option<(String, String)> {
    if let Some(server) = seeded_on_server(o) {
        let reason = server.revoked_reason.as_deref().unwrap_or("unknown");
        match server.state() {
            ServerState::Revoked | ServerState::FamilyRevoked => {
                return Some((
                    "server_revoked".into(),
                    format!(
                        "the fake SaaS revoked session {} (reason: {reason})",
                        server.id
                    ),
                ))
            }
            ServerState::Expired => {
                return Some((
                    "server_expired".into(),
                    format!(
                        "session {}'s refresh family reached its absolute lifetime",
                        server.id
                    ),
                ))
            }
            ServerState::Active => {}
        }
    }
    if let Some(j) = o.journal.iter().find(|j| {
        j.endpoint == "/oauth/token" && j.fault.is_some() && matches!(j.status, Some(400 | 401))
    }) {
        return Some((
            "server_fault".into(),
            format!(
                "the fake SaaS refused a refresh ({}) through the scenario's declared fault {:?}",
                j.status_label(),
                j.fault.as_deref().unwrap_or("?")
            ),
        ));
    }
    o.sc.processes
        .iter()
        .filter(|s| s.logs_out())
        .find(|s| {
            let p = &o.procs[&s.name];
            reached(p, "logout.before_delete")
                && p.kill
                    .as_ref()
                    .is_none_or(|k| k.at.as_deref() != Some("logout.before_delete"))
        })
        .map(|s| ("logout".into(), format!("{} ran `auth logout`", s.name)))
}

/// "A was killed at refresh.network_after" for the first process killed after the server
/// answered its refresh and before it saved or acted on the answer.
fn killed_after_rotation(o: &Observed) -> Option<String> {
    o.sc.processes.iter().find_map(|spec| {
        let p = &o.procs[&spec.name];
        let kill = p.kill.as_ref().filter(|k| !k.teardown)?;
        let answered = p
            .hits
            .iter()
            .rposition(|h| AFTER_ANSWER.contains(&h.point.as_str()))?;
        let acted = p.hits[answered..]
            .iter()
            .any(|h| ACTED.contains(&h.point.as_str()));
        (!acted).then(|| {
            format!(
                "{} was killed at {}",
                spec.name,
                kill.at.as_deref().unwrap_or("a point after the answer")
            )
        })
    })
}

/// The session's state at the end when it counts as lost: gone, unreadable, or stranded.
fn final_loss(o: &Observed, seeded_id: &str) -> Option<String> {
    match o.final_session {
        Ok(None) => Some("the session is gone at the end".into()),
        Err(e) => Some(format!("the session is unreadable at the end ({e})")),
        Ok(Some(s)) => {
            let server = seeded_on_server(o)?;
            let latest = o.latest_refresh?;
            let refuses_stale = o.sc.saas.rotation
                && matches!(
                    o.sc.saas.reuse,
                    ReusePolicy::Reject | ReusePolicy::RevokeFamily | ReusePolicy::Replay409
                );
            (s.session_id == seeded_id
                && server.state() == ServerState::Active
                && refuses_stale
                && s.refresh_token != latest)
                .then(|| {
                    format!(
                        "the session is stranded at the end: the file holds {}, the server's current refresh token is {}, and reuse = {:?} refuses the old one",
                        o.tokens.label_or_redact(&s.refresh_token),
                        o.tokens.label_or_redact(latest),
                        reuse_word(o.sc.saas.reuse)
                    )
                })
        }
    }
}

/// The facts that rule out every legitimate cause, for a violation's message.
fn no_cause_facts(o: &Observed, killed_after: Option<&str>) -> String {
    let server = match seeded_on_server(o) {
        Some(s) => format!(
            "the fake SaaS holds session {} {} ({} reuse detection(s))",
            s.id,
            s.state(),
            s.reuse_detections
        ),
        None => "the fake SaaS has no record of the seeded session".into(),
    };
    let kill = match killed_after {
        Some(k) => format!("{k}, but the server's latest rotation reached the file"),
        None => "no process was killed between the server's answer and saving it".into(),
    };
    format!("{server}, no logout ran, and {kill}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_words_are_the_file_format() {
        assert_eq!(reuse_word(ReusePolicy::Reject), "reject");
        assert_eq!(reuse_word(ReusePolicy::Replay409), "replay_409");
    }
}
