//! The admin API under `/__admin/`: the same controls as the [`crate::FakeSaas`] handle, over
//! HTTP, for the standalone binary and for people poking at a running fake with curl.
//!
//! Admin requests are neither journaled nor counted: the harness inspecting the fake must not
//! change the request counts a scenario asserts on.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::config::FaultSpec;
use crate::model::SeedRequest;
use crate::server::App;

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
        .route("/reset", post(reset))
        .route("/events", get(events))
        .route("/issued", get(issued))
        .route("/config", get(config))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such admin route") })
}

fn error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
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
    error(StatusCode::BAD_REQUEST, "invalid_fault", &message)
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
    app.lock().faults.clear();
    Json(json!([])).into_response()
}

async fn sessions(State(app): State<App>) -> Response {
    Json(app.lock().model.sessions()).into_response()
}

async fn session_revoke(State(app): State<App>, Path(id): Path<String>) -> Response {
    let mut shared = app.lock();
    if shared.model.revoke_session(&id) {
        Json(shared.model.session_info(&id)).into_response()
    } else {
        error(StatusCode::NOT_FOUND, "unknown_session", &id)
    }
}

async fn session_expire(State(app): State<App>, Path(id): Path<String>) -> Response {
    let mut shared = app.lock();
    if shared.model.expire_refresh(&id) {
        Json(shared.model.session_info(&id)).into_response()
    } else {
        error(StatusCode::NOT_FOUND, "unknown_session", &id)
    }
}

/// `POST /__admin/seed` with a JSON `SeedRequest` (an empty body or `null` means the defaults).
async fn seed(State(app): State<App>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let req = if text.trim().is_empty() || text.trim() == "null" {
        SeedRequest::default()
    } else {
        match serde_json::from_slice::<SeedRequest>(&body) {
            Ok(req) => req,
            Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_seed", &e.to_string()),
        }
    };
    Json(app.lock().model.seed(&req)).into_response()
}

async fn reset(State(app): State<App>) -> Response {
    app.lock().reset();
    Json(json!({"reset": true})).into_response()
}

async fn events(State(app): State<App>) -> Response {
    Json(app.lock().model.events()).into_response()
}

async fn issued(State(app): State<App>) -> Response {
    Json(app.lock().model.issued_tokens()).into_response()
}

async fn config(State(app): State<App>) -> Response {
    Json(app.lock().model.config().clone()).into_response()
}
