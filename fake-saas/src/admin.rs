//! The admin API under `/__admin/`: the same controls as the [`crate::FakeSaas`] handle, over
//! HTTP, for the standalone binary and for people poking at a running fake with curl.
//!
//! Why it exists: a fake that runs as its own process (or in another language's test suite) can
//! only be inspected and steered over HTTP. What it guarantees: every body is one of the types in
//! [`crate::admin_api`], so the handle and the HTTP API answer the same values; invalid input is a
//! 400 [`AdminError`] whose message names the key; admin requests are neither journaled nor
//! counted, so inspecting the fake never changes the request counts a scenario asserts on.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::admin_api::{AdminError, AdminErrorCode, ClockAdvance, ResetDone, SeedRequest};
use crate::config::FaultSpec;
use crate::state::{App, Shared};

pub(crate) fn router() -> Router<App> {
    Router::new()
        .route("/journal", get(journal))
        .route("/counters", get(counters))
        .route(
            "/faults",
            get(faults_get)
                .put(faults_put)
                .post(faults_post)
                .delete(faults_delete),
        )
        .route("/faults/fired", get(faults_fired))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}/revoke", post(session_revoke))
        .route("/sessions/{id}/expire", post(session_expire))
        .route("/seed", post(seed))
        .route("/clock", get(clock_get).post(clock_advance))
        .route("/reset", post(reset))
        .route("/events", get(events))
        .route("/events/stats", get(event_stats))
        .route("/issued", get(issued))
        .route("/config", get(config))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                AdminErrorCode::NotFound,
                "no such admin route",
            )
        })
}

fn error(status: StatusCode, error: AdminErrorCode, message: &str) -> Response {
    let body = AdminError {
        error,
        message: message.to_string(),
    };
    (status, Json(body)).into_response()
}

/// Parse a JSON body; an empty body (or `null`) is `T::default()`.
fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() || text.trim() == "null" {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

async fn journal(State(app): State<App>) -> Response {
    Json(app.lock().journal.entries()).into_response()
}

async fn counters(State(app): State<App>) -> Response {
    Json(app.lock().journal.counters()).into_response()
}

async fn faults_get(State(app): State<App>) -> Response {
    Json(app.lock().faults.status()).into_response()
}

async fn faults_fired(State(app): State<App>) -> Response {
    Json(app.lock().faults.fired()).into_response()
}

/// Parse and validate fault specs; errors name the key (`fault[1].probability`).
fn parse_faults(body: &[u8], many: bool) -> Result<Vec<FaultSpec>, String> {
    let specs: Vec<FaultSpec> = if many {
        serde_json::from_slice(body).map_err(|e| e.to_string())?
    } else {
        vec![serde_json::from_slice(body).map_err(|e| e.to_string())?]
    };
    for (i, spec) in specs.iter().enumerate() {
        spec.validate(&format!("fault[{i}]"))
            .map_err(|e| e.to_string())?;
    }
    Ok(specs)
}

fn invalid_fault(message: String) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        AdminErrorCode::InvalidFault,
        &message,
    )
}

async fn faults_put(State(app): State<App>, body: Bytes) -> Response {
    match parse_faults(&body, true) {
        Ok(specs) => {
            let mut shared = app.lock();
            shared.faults.replace(specs);
            Json(shared.faults.status()).into_response()
        }
        Err(message) => invalid_fault(message),
    }
}

async fn faults_post(State(app): State<App>, body: Bytes) -> Response {
    match parse_faults(&body, false) {
        Ok(specs) => {
            let mut shared = app.lock();
            for spec in specs {
                shared.faults.add(spec);
            }
            Json(shared.faults.status()).into_response()
        }
        Err(message) => invalid_fault(message),
    }
}

async fn faults_delete(State(app): State<App>) -> Response {
    let mut shared = app.lock();
    shared.faults.clear();
    Json(shared.faults.status()).into_response()
}

async fn sessions(State(app): State<App>) -> Response {
    let shared = app.lock();
    Json(shared.model.sessions(shared.now())).into_response()
}

/// The session after `change`, or 404 when `change` reports an unknown id.
fn session_after(app: &App, id: &str, change: impl FnOnce(&mut Shared) -> bool) -> Response {
    let mut shared = app.lock();
    if !change(&mut shared) {
        return error(StatusCode::NOT_FOUND, AdminErrorCode::UnknownSession, id);
    }
    let now = shared.now();
    Json(shared.model.session_info(id, now)).into_response()
}

async fn session_revoke(State(app): State<App>, Path(id): Path<String>) -> Response {
    session_after(&app, &id, |shared| shared.model.revoke_session(&id))
}

async fn session_expire(State(app): State<App>, Path(id): Path<String>) -> Response {
    session_after(&app, &id, |shared| {
        let now = shared.now();
        shared.model.expire_refresh(&id, now)
    })
}

/// `POST /__admin/seed` with a [`SeedRequest`] (an empty body or `null` means the defaults).
async fn seed(State(app): State<App>, body: Bytes) -> Response {
    match parse_or_default::<SeedRequest>(&body) {
        Ok(req) => {
            let mut shared = app.lock();
            let now = shared.now();
            Json(shared.model.seed(&req, now)).into_response()
        }
        Err(message) => error(
            StatusCode::BAD_REQUEST,
            AdminErrorCode::InvalidSeed,
            &message,
        ),
    }
}

async fn clock_get(State(app): State<App>) -> Response {
    Json(app.lock().clock_state()).into_response()
}

/// `POST /__admin/clock` with a [`ClockAdvance`].
async fn clock_advance(State(app): State<App>, body: Bytes) -> Response {
    match parse_or_default::<ClockAdvance>(&body) {
        Ok(advance) => {
            let mut shared = app.lock();
            shared.clock.advance(advance.duration());
            Json(shared.clock_state()).into_response()
        }
        Err(message) => error(
            StatusCode::BAD_REQUEST,
            AdminErrorCode::InvalidClock,
            &message,
        ),
    }
}

async fn reset(State(app): State<App>) -> Response {
    app.lock().reset();
    Json(ResetDone { reset: true }).into_response()
}

async fn events(State(app): State<App>) -> Response {
    Json(app.lock().model.events()).into_response()
}

async fn event_stats(State(app): State<App>) -> Response {
    Json(app.lock().model.event_stats()).into_response()
}

async fn issued(State(app): State<App>) -> Response {
    Json(app.lock().model.issued_tokens()).into_response()
}

async fn config(State(app): State<App>) -> Response {
    Json(app.lock().config.clone()).into_response()
}
