//! The public endpoints, all through one pipeline: count → pick a fault → (delay) → handle in the
//! model → (fault) → journal.
//!
//! One dispatcher rather than one axum handler per route, because every endpoint needs the same
//! steps in the same order, and the fault decision needs the parsed form (the `grant` filter):
//! keeping them in one place guarantees that every request, faulted or not, is counted and
//! journaled exactly once.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

use crate::config::{FaultAction, FaultPhase, DEVICE_CODE_GRANT};
use crate::faults::{fault_response, FaultPlan};
use crate::journal::JournalEntry;
use crate::model::{Form, Reply};
use crate::server::{App, Conn};
use crate::time::{iso, now};

/// Request bodies larger than this are refused (413).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Token,
    DeviceAuthorize,
    Revoke,
    Me,
    SessionStatus,
    EventsBatch,
    DevicePage,
    NotFound,
    MethodNotAllowed,
}

impl Endpoint {
    fn resolve(method: &Method, path: &str) -> Endpoint {
        let (expected, endpoint) = match path {
            "/oauth/token" => (Method::POST, Endpoint::Token),
            "/oauth/device/authorize" => (Method::POST, Endpoint::DeviceAuthorize),
            "/oauth/revoke" => (Method::POST, Endpoint::Revoke),
            "/api/v1/me" => (Method::GET, Endpoint::Me),
            "/api/v1/session-status" => (Method::GET, Endpoint::SessionStatus),
            "/api/v1/events/batch/" => (Method::POST, Endpoint::EventsBatch),
            "/device" => (Method::GET, Endpoint::DevicePage),
            _ => return Endpoint::NotFound,
        };
        if *method == expected {
            endpoint
        } else {
            Endpoint::MethodNotAllowed
        }
    }

    fn is_form(self) -> bool {
        matches!(
            self,
            Endpoint::Token | Endpoint::DeviceAuthorize | Endpoint::Revoke
        )
    }

    /// Endpoints a fault may target (the ones listed in `config::ENDPOINTS`).
    fn faultable(self) -> bool {
        !matches!(
            self,
            Endpoint::DevicePage | Endpoint::NotFound | Endpoint::MethodNotAllowed
        )
    }
}

fn parse_form(body: &[u8]) -> Form {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(|pairs| pairs.into_iter().collect::<HashMap<_, _>>())
        .unwrap_or_default()
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn reply_response(reply: &Reply) -> Response {
    let mut response = match &reply.body {
        Some(body) => {
            let mut r = Response::new(Body::from(body.to_string()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if reply.bearer_challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

fn simple(status: u16, error: &'static str, outcome: &'static str) -> Reply {
    Reply {
        status,
        body: Some(serde_json::json!({ "error": error })),
        outcome,
        session_id: None,
        generation: None,
        bearer_challenge: false,
    }
}

/// Run the model for one request (under the lock; no await inside).
fn handle(app: &App, endpoint: Endpoint, form: &Form, bearer: Option<&str>, body: &[u8]) -> Reply {
    let mut shared = app.lock();
    let model = &mut shared.model;
    match endpoint {
        Endpoint::Token => model.token(form),
        Endpoint::DeviceAuthorize => model.device_authorize(form),
        Endpoint::Revoke => model.revoke(form),
        Endpoint::Me => model.me(bearer),
        Endpoint::SessionStatus => model.session_status(bearer),
        Endpoint::EventsBatch => model.events_batch(bearer, body),
        Endpoint::DevicePage => Reply {
            status: 200,
            body: Some(serde_json::json!({
                "message": "fake SaaS device verification: the device flow is approved by configuration ([device] outcome)"
            })),
            outcome: "ok",
            session_id: None,
            generation: None,
            bearer_challenge: false,
        },
        Endpoint::NotFound => simple(404, "not_found", "not_found"),
        Endpoint::MethodNotAllowed => simple(405, "method_not_allowed", "method_not_allowed"),
    }
}

/// What finally happens to the request.
enum Outcome {
    Respond(Response),
    Close,
}

/// The fallback handler serving every non-admin path.
pub(crate) async fn dispatch(
    State(app): State<App>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let arrived = now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let endpoint = Endpoint::resolve(&parts.method, &path);
    let bearer = bearer_token(&parts.headers);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = to_bytes(body, MAX_BODY).await;
    let too_large = body.is_err();
    let body = body.unwrap_or_default();
    let form = if endpoint.is_form() {
        parse_form(&body)
    } else {
        Form::new()
    };
    let grant = form.get("grant_type").cloned();
    let token = match endpoint {
        Endpoint::Token => match grant.as_deref() {
            Some(DEVICE_CODE_GRANT) => form.get("device_code").cloned(),
            _ => form.get("refresh_token").cloned(),
        },
        Endpoint::Revoke => form.get("token").cloned(),
        Endpoint::Me | Endpoint::SessionStatus | Endpoint::EventsBatch => bearer.clone(),
        _ => None,
    };

    let plan: Option<FaultPlan> = {
        let mut shared = app.lock();
        shared.journal.count(&path);
        if endpoint.faultable() && !too_large {
            shared.faults.select(&path, grant.as_deref())
        } else {
            None
        }
    };

    let run_model = || {
        if too_large {
            simple(413, "payload_too_large", "payload_too_large")
        } else {
            handle(&app, endpoint, &form, bearer.as_deref(), &body)
        }
    };
    let substitute = |plan: &FaultPlan| match fault_response(plan) {
        Some(response) => Outcome::Respond(response),
        None => Outcome::Close,
    };

    let (reply, outcome) = match &plan {
        None => {
            let reply = run_model();
            let response = reply_response(&reply);
            (Some(reply), Outcome::Respond(response))
        }
        Some(plan) if plan.phase == FaultPhase::Before => {
            tokio::time::sleep(plan.delay).await;
            if plan.action == FaultAction::DelayOnly {
                let reply = run_model();
                let response = reply_response(&reply);
                (Some(reply), Outcome::Respond(response))
            } else {
                (None, substitute(plan))
            }
        }
        Some(plan) => {
            let reply = run_model();
            tokio::time::sleep(plan.delay).await;
            let outcome = if plan.action == FaultAction::DelayOnly {
                Outcome::Respond(reply_response(&reply))
            } else {
                substitute(plan)
            };
            (Some(reply), outcome)
        }
    };

    let (status, closed) = match &outcome {
        Outcome::Respond(response) => (Some(response.status().as_u16()), false),
        Outcome::Close => (None, true),
    };
    let mut entry = JournalEntry {
        seq: 0,
        time: iso(&arrived),
        method: parts.method.to_string(),
        endpoint: path,
        grant_type: grant,
        token: token.clone(),
        client_id: form.get("client_id").cloned(),
        session_id: reply.as_ref().and_then(|r| r.session_id.clone()),
        generation: reply.as_ref().and_then(|r| r.generation),
        status,
        closed,
        latency_ms: started.elapsed().as_millis() as u64,
        fault: plan.as_ref().map(|p| p.name.clone()),
        outcome: reply
            .as_ref()
            .map(|r| r.outcome.to_string())
            .unwrap_or_else(|| "fault".to_string()),
        user_agent,
    };
    let entry = {
        let mut shared = app.lock();
        if entry.session_id.is_none() {
            if let Some((sid, generation)) =
                token.as_deref().and_then(|t| shared.model.session_of(t))
            {
                entry.session_id = Some(sid);
                entry.generation = Some(generation);
            }
        }
        shared.journal.push(entry)
    };
    if app.log_requests {
        eprintln!("{}", log_line(&entry));
    }

    match outcome {
        Outcome::Respond(response) => response,
        Outcome::Close => {
            // Make every further write on this connection fail: hyper cannot send the response
            // below, drops the connection, and the client sees a transport error.
            conn.kill();
            Response::new(Body::empty())
        }
    }
}

/// Token strings in logs lose their random part (`rt.sess_1.g3.…`).
fn redact(token: &str) -> String {
    match token.rfind('.') {
        Some(i) if i + 1 < token.len() => format!("{}…", &token[..=i]),
        _ => "…".to_string(),
    }
}

/// One stderr line per request (standalone binary).
pub(crate) fn log_line(entry: &JournalEntry) -> String {
    let mut line = format!(
        "fake-saas: #{} {} {}",
        entry.seq, entry.method, entry.endpoint
    );
    if let Some(grant) = &entry.grant_type {
        line.push_str(&format!(" grant={grant}"));
    }
    if let Some(token) = &entry.token {
        line.push_str(&format!(" token={}", redact(token)));
    }
    line.push_str(&format!(
        " -> {} {} ({} ms)",
        entry.status_label(),
        entry.outcome,
        entry.latency_ms
    ));
    if let Some(fault) = &entry.fault {
        line.push_str(&format!(" fault={fault}"));
    }
    line
}
