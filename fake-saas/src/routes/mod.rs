//! The public endpoints, all through one pipeline: count → pick a fault → (delay) → handle in the
//! model → (fault) → journal.
//!
//! Why one dispatcher rather than one axum handler per route: every endpoint needs the same steps
//! in the same order, and the fault decision needs the parsed form (the `grant` filter). Keeping
//! them in one place guarantees that every request, faulted or not, is counted once on arrival
//! and journaled once with its answer, and that the model runs at most once per request, under
//! the state lock, with the fake's clock.

mod request;

use std::time::Instant;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Serialize;

use crate::answer::Answer;
use crate::config::{FaultAction, FaultPhase};
use crate::faults::{fault_response, FaultPlan};
use crate::journal::{JournalEntry, JournalOutcome};
use crate::model::{ErrorCode, Message, Reply, DEFAULT_SCOPE};
use crate::state::App;
use crate::time;
use crate::transport::Conn;
use request::{Endpoint, Incoming};

/// Request bodies larger than this are refused (413).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a redirect target answers: tokens this fake never issued, as another server would.
#[derive(Serialize)]
struct ForeignTokens {
    access_token: &'static str,
    refresh_token: &'static str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'static str,
}

/// The model's reply as an HTTP answer (JSON, `no-store`, a Bearer challenge when asked).
fn reply_answer(reply: &Reply) -> Answer {
    let mut answer = match &reply.body {
        Some(body) => Answer::new(reply.status, "application/json", body.to_string()),
        None => Answer::empty(reply.status),
    };
    answer
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if reply.bearer_challenge {
        answer.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    answer
}

/// Run the model for one request (under the lock; no await inside).
fn handle(app: &App, incoming: &Incoming, body: &[u8]) -> Reply {
    let mut shared = app.lock();
    let now = shared.now();
    let model = &mut shared.model;
    let bearer = incoming.bearer.as_deref();
    let form = &incoming.form;
    match incoming.endpoint {
        Endpoint::Token => model.token(form, now),
        Endpoint::DeviceAuthorize => model.device_authorize(form, now),
        Endpoint::Revoke => model.revoke(form),
        Endpoint::Me => model.me(bearer, now),
        Endpoint::SessionStatus => model.session_status(bearer, now),
        Endpoint::EventsBatch => model.events_batch(bearer, body, now),
        Endpoint::DevicePage => Reply::ok(
            &Message {
                message: "fake SaaS device verification: the device flow is approved by configuration ([device] outcome)",
            },
            JournalOutcome::Ok,
        ),
        Endpoint::RedirectTarget => Reply::ok(
            &ForeignTokens {
                access_token: "at.elsewhere.00000000",
                refresh_token: "rt.elsewhere.00000000",
                token_type: "Bearer",
                expires_in: 3600,
                scope: DEFAULT_SCOPE,
            },
            JournalOutcome::RedirectTarget,
        ),
        Endpoint::NotFound => Reply::bare(404, ErrorCode::NotFound, JournalOutcome::NotFound),
        Endpoint::MethodNotAllowed => Reply::bare(
            405,
            ErrorCode::MethodNotAllowed,
            JournalOutcome::MethodNotAllowed,
        ),
    }
}

/// The fallback handler serving every non-admin path.
pub(crate) async fn dispatch(
    State(app): State<App>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let body = to_bytes(body, MAX_BODY).await;
    let too_large = body.is_err();
    let body = body.unwrap_or_default();

    let (arrived, base_url, incoming, plan) = {
        let mut shared = app.lock();
        shared.journal.count(&path);
        let target = shared.faults.is_redirect_target(&path);
        let incoming = Incoming::read(
            Endpoint::resolve(&parts.method, &path, target),
            &parts.headers,
            &body,
        );
        let plan: Option<FaultPlan> = if incoming.endpoint.faultable() && !too_large {
            shared.faults.select(&path, incoming.grant_type())
        } else {
            None
        };
        (shared.now(), shared.base_url.clone(), incoming, plan)
    };
    app.notify();

    let run_model = || {
        if too_large {
            Reply::bare(
                413,
                ErrorCode::PayloadTooLarge,
                JournalOutcome::PayloadTooLarge,
            )
        } else {
            handle(&app, &incoming, &body)
        }
    };

    // `None` as the response: close the connection without answering.
    let (reply, response) = match &plan {
        None => {
            let reply = run_model();
            let response = reply_answer(&reply).into_response();
            (Some(reply), Some(response))
        }
        Some(plan) => {
            let substitute =
                |real: Option<Answer>| fault_response(&plan.name, &plan.spec, &base_url, real);
            let model_first = plan.spec.phase == FaultPhase::After;
            let reply = model_first.then(run_model);
            tokio::time::sleep(plan.delay).await;
            let reply = match reply {
                None if plan.spec.action == FaultAction::DelayOnly => Some(run_model()),
                reply => reply,
            };
            let response = substitute(reply.as_ref().map(reply_answer));
            (reply, response)
        }
    };

    let entry = JournalEntry {
        seq: 0,
        time: time::format(&arrived),
        method: parts.method.to_string(),
        endpoint: path,
        grant_type: incoming.grant_type().map(str::to_string),
        token: incoming.token.clone(),
        client_id: incoming.client_id().map(str::to_string),
        session_id: reply.as_ref().and_then(|r| r.session_id.clone()),
        generation: reply.as_ref().and_then(|r| r.generation),
        status: response.as_ref().map(|r| r.status().as_u16()),
        closed: response.is_none(),
        latency_ms: started.elapsed().as_millis() as u64,
        fault: plan.as_ref().map(|p| p.name.clone()),
        outcome: reply.as_ref().map_or(JournalOutcome::Fault, |r| r.outcome),
        user_agent: incoming.user_agent.clone(),
    };
    let entry = journal(&app, entry);
    if app.log_requests {
        eprintln!("{}", entry.log_line());
    }

    response.unwrap_or_else(|| {
        // Make every further write on this connection fail: hyper cannot send the response
        // below, drops the connection, and the client sees a transport error.
        conn.kill();
        Answer::empty(500).into_response()
    })
}

/// Journal the entry, filling in the session from the presented token when the model did not
/// run (a `before` fault), and wake waiters.
fn journal(app: &App, mut entry: JournalEntry) -> JournalEntry {
    let entry = {
        let mut shared = app.lock();
        if entry.session_id.is_none() {
            if let Some((sid, generation)) = entry
                .token
                .as_deref()
                .and_then(|t| shared.model.session_of(t))
            {
                entry.session_id = Some(sid);
                entry.generation = Some(generation);
            }
        }
        shared.journal.push(entry)
    };
    app.notify();
    entry
}
