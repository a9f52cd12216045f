//! What a fault that fired answers instead of (or on top of) the real answer.
//!
//! Why it exists: each action is one kind of misbehaving server (an error page, a hang-up, a
//! truncated or huge body, a body that never finishes, a redirect elsewhere), and a scenario
//! must get exactly that and nothing else. What it guarantees: `respond`, `malformed`,
//! `oversized` and `redirect` answer at once; `trickle` sends its headers at once and its body
//! byte by byte (the real answer in phase `after`); `close` answers nothing at all; `delay_only`
//! answers the real answer.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderValue};
use axum::response::Response;

use crate::answer::Answer;
use crate::config::{
    FaultAction, FaultPhase, FaultSpec, REDIRECT_DEFAULT_STATUS, TRICKLE_DEFAULT_INTERVAL_MS,
};
use crate::model::{ErrorBody, ErrorCode};

/// Default body size of an `oversized` fault.
pub const OVERSIZED_DEFAULT_BYTES: u64 = 5 * 1024 * 1024;

/// The response the fault `name` with `spec` sends, or `None` for "close the connection".
/// `real` is the model's answer when the model ran (phase `after`, or `delay_only`).
pub(crate) fn fault_response(
    name: &str,
    spec: &FaultSpec,
    base_url: &str,
    real: Option<Answer>,
) -> Option<Response> {
    let status_or = |default: u16| spec.status.unwrap_or(default);
    match spec.action {
        FaultAction::Close => None,
        // The model always runs for `delay_only`; an empty 500 would mean a bug in the caller.
        FaultAction::DelayOnly => Some(real.unwrap_or_else(|| Answer::empty(500)).into_response()),
        FaultAction::Respond => Some(respond(name, spec).into_response()),
        FaultAction::Malformed => Some(
            Answer::new(
                status_or(200),
                "application/json",
                "{\"access_token\": \"at.truncated<html>502 Bad Gateway",
            )
            .into_response(),
        ),
        FaultAction::Oversized => {
            let size = spec.size_bytes.unwrap_or(OVERSIZED_DEFAULT_BYTES);
            Some(
                Answer::new(status_or(200), "application/json", oversized_body(size))
                    .into_response(),
            )
        }
        FaultAction::Trickle => {
            let interval = spec.interval_ms.unwrap_or(TRICKLE_DEFAULT_INTERVAL_MS);
            let answer = match (spec.phase, real) {
                (FaultPhase::After, Some(real)) => real,
                _ => respond(name, spec),
            };
            Some(answer.trickled(Duration::from_millis(interval)))
        }
        FaultAction::Redirect => Some(redirect(spec, base_url)),
    }
}

/// `status` (default 500) with `body` (JSON when it parses as JSON, else text), or the default
/// error body.
fn respond(name: &str, spec: &FaultSpec) -> Answer {
    let status = spec.status.unwrap_or(500);
    match &spec.body {
        Some(body) if serde_json::from_str::<serde_json::Value>(body).is_ok() => {
            Answer::new(status, "application/json", body.clone())
        }
        Some(body) => Answer::new(status, "text/plain; charset=utf-8", body.clone()),
        None => {
            let error = match status {
                503 => ErrorCode::TemporarilyUnavailable,
                500..=599 => ErrorCode::ServerError,
                _ => ErrorCode::InjectedFault,
            };
            let body = ErrorBody {
                error,
                error_description: Some(format!("injected fault {name}")),
                error_reason: None,
                retry_after: None,
            };
            let text = serde_json::to_string(&body).unwrap_or_default();
            Answer::new(status, "application/json", text)
        }
    }
}

/// A 3xx with `Location`: a path on this fake becomes an absolute URL under `base_url`.
fn redirect(spec: &FaultSpec, base_url: &str) -> Response {
    let location = spec.redirect_location();
    let location = if location.starts_with('/') {
        format!("{base_url}{location}")
    } else {
        location
    };
    let mut answer = Answer::empty(spec.status.unwrap_or(REDIRECT_DEFAULT_STATUS));
    // Validation guarantees printable ASCII, so the header value is always valid.
    if let Ok(value) = HeaderValue::from_str(&location) {
        answer.headers.insert(header::LOCATION, value);
    }
    answer.into_response()
}

/// A JSON object `{"padding":"xxx…"}` of exactly `size` bytes (at least the 14-byte frame).
fn oversized_body(size: u64) -> Bytes {
    static DEFAULT: OnceLock<Bytes> = OnceLock::new();
    let make = |size: u64| {
        let frame = "{\"padding\":\"\"}".len() as u64;
        let pad = size.saturating_sub(frame) as usize;
        let mut text = String::with_capacity(pad + frame as usize);
        text.push_str("{\"padding\":\"");
        text.extend(std::iter::repeat_n('x', pad));
        text.push_str("\"}");
        Bytes::from(text)
    };
    if size == OVERSIZED_DEFAULT_BYTES {
        DEFAULT.get_or_init(|| make(size)).clone()
    } else {
        make(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_is_exact() {
        assert_eq!(oversized_body(100).len(), 100);
        assert_eq!(
            oversized_body(OVERSIZED_DEFAULT_BYTES).len() as u64,
            OVERSIZED_DEFAULT_BYTES
        );
    }

    #[test]
    fn redirect_location_is_absolute() {
        let spec = FaultSpec::action("/oauth/token", FaultAction::Redirect);
        let response = fault_response("r", &spec, "http://127.0.0.1:9", None).unwrap();
        assert_eq!(response.status().as_u16(), 307);
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://127.0.0.1:9/redirected/oauth/token"
        );
    }
}
