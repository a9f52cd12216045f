//! The bearer-token endpoints: `/api/v1/me`, `/api/v1/session-status`, `/api/v1/events/batch/`.
//!
//! The batch endpoint is idempotent per `event_id`, as the real ingress is: an id it already
//! accepted is answered `duplicate` and not stored again, so a client that re-sends after losing
//! an answer delivers each event exactly once; [`Ingress`] keeps what it took and counts re-sends.
//!
//! Why it exists: these are the calls a CLI makes with an access token, and they share one rule
//! for accepting it (RFC 6750): a known access token, not expired, of a live session, else 401
//! `invalid_token` with a `WWW-Authenticate` challenge. The one exception is session-status,
//! which reports a revoked session as `active: false` instead of refusing its token.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::reply::{ErrorCode, EventResult, EventsAccepted, EventsBatch, Me, Reply, SessionStatus};
use super::store::{Store, TokenKind};
use crate::admin_api::EventStats;
use crate::config::SaasConfig;
use crate::journal::JournalOutcome;

/// Resolve a bearer access token to its session index. `allow_inactive` lets a revoked
/// session's token through.
fn resolve(
    store: &Store,
    token: Option<&str>,
    allow_inactive: bool,
    now: DateTime<Utc>,
) -> Result<usize, Box<Reply>> {
    let challenge = |description: &str, outcome| {
        Reply::error(401, ErrorCode::InvalidToken, description, outcome).challenge()
    };
    let Some(token) = token else {
        return Err(Box::new(challenge(
            "a bearer access token is required",
            JournalOutcome::MissingToken,
        )));
    };
    let rec = match store.tokens.get(token) {
        Some(rec) if rec.kind == TokenKind::Access => rec,
        _ => {
            return Err(Box::new(challenge(
                "unknown access token",
                JournalOutcome::UnknownToken,
            )))
        }
    };
    let s = &store.sessions[rec.session];
    if rec.expires_at.is_some_and(|at| now >= at) {
        return Err(Box::new(
            challenge("access token expired", JournalOutcome::Expired)
                .with_session(&s.id, s.generation),
        ));
    }
    if s.revoked.is_some() && !allow_inactive {
        return Err(Box::new(
            challenge("session revoked", JournalOutcome::SessionInvalid)
                .with_session(&s.id, s.generation),
        ));
    }
    Ok(rec.session)
}

/// `GET /api/v1/me`.
pub(crate) fn me(
    store: &Store,
    config: &SaasConfig,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Reply {
    let idx = match resolve(store, token, false, now) {
        Ok(idx) => idx,
        Err(reply) => return *reply,
    };
    let user = &config.user;
    let answer = Me {
        user_id: user.user_id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        teams: user.teams(),
        default_team_id: user.default_team(),
    };
    let s = &store.sessions[idx];
    Reply::ok(&answer, JournalOutcome::Ok).with_session(&s.id, s.generation)
}

/// `GET /api/v1/session-status`.
pub(crate) fn session_status(store: &Store, token: Option<&str>, now: DateTime<Utc>) -> Reply {
    let idx = match resolve(store, token, true, now) {
        Ok(idx) => idx,
        Err(reply) => return *reply,
    };
    let s = &store.sessions[idx];
    let active = s.active(now);
    let answer = SessionStatus {
        session_id: s.id.clone(),
        active,
        generation: s.generation,
        refresh_token_expires_at: s.refresh_expires_at,
    };
    let outcome = if active {
        JournalOutcome::Active
    } else {
        JournalOutcome::Inactive
    };
    Reply::ok(&answer, outcome).with_session(&s.id, s.generation)
}

/// What the batch endpoint took: the accepted events (each id once) and the counts.
#[derive(Debug, Default)]
pub(crate) struct Ingress {
    pub events: Vec<Value>,
    ids: HashSet<String>,
    pub stats: EventStats,
}

/// `POST /api/v1/events/batch/`: stores each event not seen before (by `event_id`), addressed
/// to the user's private teamspace.
pub(crate) fn events_batch(
    store: &Store,
    config: &SaasConfig,
    ingress: &mut Ingress,
    token: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    let idx = match resolve(store, token, false, now) {
        Ok(idx) => idx,
        Err(reply) => return *reply,
    };
    let s = &store.sessions[idx];
    let batch = match serde_json::from_slice::<EventsBatch>(body) {
        Ok(batch) => batch,
        Err(e) => {
            return Reply::error(
                400,
                ErrorCode::InvalidRequest,
                &format!("body must be a JSON object {{\"team_id\": ..., \"events\": [...]}}: {e}"),
                JournalOutcome::InvalidRequest,
            )
            .with_session(&s.id, s.generation)
        }
    };
    let private = config
        .user
        .teams()
        .into_iter()
        .find(|t| t.is_private_teamspace)
        .map(|t| t.id);
    let team_id = match (batch.team_id, private) {
        (Some(team), Some(private)) if team == private => team,
        (team, _) => {
            let description = match team {
                None => {
                    "team_id is required: direct ingress goes to your private teamspace".to_string()
                }
                Some(t) => format!(
                    "team {t:?} is not your private teamspace: direct ingress goes there only"
                ),
            };
            return Reply::error(
                403,
                ErrorCode::Forbidden,
                &description,
                JournalOutcome::Forbidden,
            )
            .with_session(&s.id, s.generation);
        }
    };
    let mut answer = EventsAccepted {
        accepted: 0,
        duplicates: 0,
        results: Vec::new(),
    };
    for mut event in batch.events {
        ingress.stats.received += 1;
        let id = event
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(id) = &id {
            if !ingress.ids.insert(id.clone()) {
                ingress.stats.duplicates += 1;
                answer.duplicates += 1;
                answer.results.push(EventResult {
                    event_id: id.clone(),
                    status: "duplicate",
                });
                continue;
            }
            answer.results.push(EventResult {
                event_id: id.clone(),
                status: "accepted",
            });
        }
        if let Some(obj) = event.as_object_mut() {
            obj.entry("team_id")
                .or_insert(Value::String(team_id.clone()));
        }
        ingress.events.push(event);
        ingress.stats.accepted += 1;
        answer.accepted += 1;
    }
    Reply::ok(&answer, JournalOutcome::Accepted).with_session(&s.id, s.generation)
}
