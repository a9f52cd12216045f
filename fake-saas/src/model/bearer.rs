//! The bearer-token endpoints: `/api/v1/me`, `/api/v1/session-status`, `/api/v1/events/batch/`.
//!
//! Why it exists: these are the calls a CLI makes with an access token, and they share one rule
//! for accepting it (RFC 6750): a known access token, not expired, of a live session, else 401
//! `invalid_token` with a `WWW-Authenticate` challenge. The one exception is session-status,
//! which reports a revoked session as `active: false` instead of refusing its token.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::reply::{ErrorCode, EventsAccepted, EventsBatch, Me, Reply, SessionStatus};
use super::store::{Store, TokenKind};
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

/// `POST /api/v1/events/batch/`: stores the events in `events`.
pub(crate) fn events_batch(
    store: &Store,
    events: &mut Vec<Value>,
    token: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    let idx = match resolve(store, token, false, now) {
        Ok(idx) => idx,
        Err(reply) => return *reply,
    };
    let s = &store.sessions[idx];
    let reply = match serde_json::from_slice::<EventsBatch>(body) {
        Ok(batch) => {
            let accepted = batch.events.len();
            events.extend(batch.events);
            Reply::ok(&EventsAccepted { accepted }, JournalOutcome::Accepted)
        }
        Err(e) => Reply::error(
            400,
            ErrorCode::InvalidRequest,
            &format!("body must be a JSON object {{\"events\": [...]}}: {e}"),
            JournalOutcome::InvalidRequest,
        ),
    };
    reply.with_session(&s.id, s.generation)
}
