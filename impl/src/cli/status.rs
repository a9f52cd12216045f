//! `spec-kitty auth status`: who is logged in and for how long, read from disk, no network.
//!
//! The `state` field is one of:
//! * `present` — a session was read (`authenticated` says whether it can still be used);
//! * `absent` — no session file;
//! * `unreadable` — a file is there but is not a usable session (damaged, wrong key, unsafe mode,
//!   not a regular file); it was left in place and the error names the fix;
//! * `error` — the file could not be accessed for a passing reason (e.g. permissions of a parent
//!   directory); trying again after fixing that may succeed (exit 3).

use super::output::{exit, Failure, Output};
use crate::paths::RuntimeRoot;
use crate::session::{format_report_time, StoredSession};
use crate::storage::SessionStore;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Present,
    Absent,
    Unreadable,
    Error,
}

#[derive(Serialize)]
struct StatusReport {
    authenticated: bool,
    state: State,
    session_file: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    session: Option<SessionFacts>,
}

#[derive(Serialize)]
struct User {
    user_id: String,
    email: String,
    name: String,
}

#[derive(Serialize)]
struct TeamFacts {
    id: String,
    name: String,
    role: String,
    is_private_teamspace: bool,
    slug: String,
}

#[derive(Serialize)]
struct SessionFacts {
    user: User,
    teams: Vec<TeamFacts>,
    default_team_id: Option<String>,
    session_id: String,
    auth_method: String,
    storage_backend: String,
    generation: Option<i64>,
    scope: String,
    access_token_expires_at: String,
    access_expires_in_s: i64,
    access_token_usable: bool,
    refresh_token_expires_at: Option<String>,
    refresh_expires_in_s: Option<i64>,
    /// The refresh token is past its lifetime: the session ends when the access token expires.
    refresh_expired: bool,
    /// The latest time this session can be used without a new login, when known.
    session_ends_at: Option<String>,
}

impl SessionFacts {
    fn of(s: &StoredSession, now: DateTime<Utc>) -> Self {
        let refresh_expired = s.refresh_expired(now);
        let ends = if refresh_expired {
            Some(s.access_token_expires_at)
        } else {
            s.refresh_token_expires_at
        };
        SessionFacts {
            user: User {
                user_id: s.user_id.clone(),
                email: s.email.clone(),
                name: s.name.clone(),
            },
            teams: s
                .teams
                .iter()
                .map(|t| TeamFacts {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    role: t.role.clone(),
                    is_private_teamspace: t.is_private_teamspace,
                    slug: t.slug().to_string(),
                })
                .collect(),
            default_team_id: s.default_team_id.clone(),
            session_id: s.session_id.clone(),
            auth_method: s.auth_method.clone(),
            storage_backend: s.storage_backend.clone(),
            generation: s.generation,
            scope: s.scope.clone(),
            access_token_expires_at: format_report_time(s.access_token_expires_at),
            access_expires_in_s: seconds_until(s.access_token_expires_at, now),
            access_token_usable: s.access_usable(now),
            refresh_token_expires_at: s.refresh_token_expires_at.map(format_report_time),
            refresh_expires_in_s: s.refresh_token_expires_at.map(|t| seconds_until(t, now)),
            refresh_expired,
            session_ends_at: ends.map(format_report_time),
        }
    }
}

/// Runs `auth status`.
pub fn run(root: &RuntimeRoot, out: Output) -> i32 {
    let file = root.session_file().display().to_string();
    let report = |authenticated, state, session| StatusReport {
        authenticated,
        state,
        session_file: file.clone(),
        session,
    };
    let store = match SessionStore::for_root(root) {
        Ok(store) => store,
        Err(e) => {
            return out.failure(
                &report(false, State::Error, None),
                &Failure::new(exit::USAGE, "storage", e),
            )
        }
    };
    let now = crate::now();
    match store.read() {
        Ok(Some(session)) => {
            let authenticated = session.access_usable(now) || !session.refresh_expired(now);
            let body = report(
                authenticated,
                State::Present,
                Some(SessionFacts::of(&session, now)),
            );
            if authenticated {
                out.success(&body, || print_status(&session, now))
            } else {
                if !out.json {
                    print_status(&session, now);
                }
                let failure = Failure::new(
                    exit::RELOGIN,
                    "refresh_token_expired",
                    "the session has ended: the refresh token has expired: run `spec-kitty auth login`",
                );
                out.failure(&body, &failure)
            }
        }
        Ok(None) => {
            let failure = Failure::new(
                exit::RELOGIN,
                "not_logged_in",
                format!("not logged in (no session at {file}): run `spec-kitty auth login`"),
            );
            out.failure(&report(false, State::Absent, None), &failure)
        }
        Err(e) => {
            let (state, code, exit_code) = if e.is_unreadable_session() {
                (State::Unreadable, "session_unreadable", exit::RELOGIN)
            } else {
                (State::Error, "storage", exit::RETRYABLE)
            };
            out.failure(
                &report(false, state, None),
                &Failure::new(exit_code, code, e),
            )
        }
    }
}

fn seconds_until(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (t - now).num_seconds()
}

fn print_status(s: &StoredSession, now: DateTime<Utc>) {
    let who = if s.name.is_empty() {
        &s.user_id
    } else {
        &s.name
    };
    println!("Logged in as {who} <{}> ({})", s.email, s.user_id);
    let or = |v: &str, default: &'static str| {
        if v.is_empty() {
            default.to_string()
        } else {
            v.to_string()
        }
    };
    println!(
        "  Session:        {} ({}, storage: {})",
        s.session_id,
        or(&s.auth_method, "unknown method"),
        or(&s.storage_backend, "file"),
    );
    println!(
        "  Access token:   {}",
        lifetime(Some(s.access_token_expires_at), now)
    );
    println!(
        "  Refresh token:  {}",
        lifetime(s.refresh_token_expires_at, now)
    );
    if s.refresh_expired(now) && s.access_usable(now) {
        println!(
            "  The refresh token has expired: this session ends when the access token expires ({}); run `spec-kitty auth login` to keep working after that.",
            format_report_time(s.access_token_expires_at)
        );
    }
    if !s.teams.is_empty() {
        let teams: Vec<String> = s
            .teams
            .iter()
            .map(|t| {
                let private = if t.is_private_teamspace {
                    ", private"
                } else {
                    ""
                };
                format!("{} ({}{private})", t.name, t.role)
            })
            .collect();
        println!("  Teams:          {}", teams.join(", "));
    }
}

/// "valid for 59m 58s" / "expired 3m 2s ago" / "lifetime unknown".
fn lifetime(expiry: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(expiry) = expiry else {
        return "lifetime unknown (the server did not say)".into();
    };
    let secs = seconds_until(expiry, now);
    if secs > 0 {
        format!("valid for {}", human_duration(secs as u64))
    } else {
        format!("expired {} ago", human_duration(secs.unsigned_abs()))
    }
}

/// A duration the way people say it: `42s`, `3m 2s`, `5h 10m`, `12d 3h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}
