//! Fault injection: which fault fires on a call, and what it answers instead.
//!
//! Decisions are made under the state lock when the request arrives, from per-fault counters and
//! a per-fault seeded generator, so a given seed and request sequence always fire the same
//! faults (a flaky scenario can be replayed). The delay itself is awaited outside the lock
//! (`tokio::time::sleep`), so a slow fault never blocks other requests.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{FaultAction, FaultPhase, FaultSpec, DEVICE_CODE_GRANT};

/// Default body size of an `oversized` fault.
pub const OVERSIZED_DEFAULT_BYTES: u64 = 5 * 1024 * 1024;

/// A fault as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultStatus {
    /// The resolved name (`fault-<index>` when the spec has none).
    pub name: String,
    /// Calls that matched endpoint and grant, whether or not the fault fired.
    pub matched: u64,
    pub fired: u64,
    pub spec: FaultSpec,
}

struct ActiveFault {
    name: String,
    spec: FaultSpec,
    matched: u64,
    fired: u64,
    rng: StdRng,
}

/// What to do to one call, decided when it arrives.
#[derive(Debug, Clone)]
pub(crate) struct FaultPlan {
    pub name: String,
    pub action: FaultAction,
    pub phase: FaultPhase,
    pub delay: Duration,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub size_bytes: Option<u64>,
}

/// The installed faults and the history of what fired.
pub(crate) struct FaultTable {
    seed: u64,
    active: Vec<ActiveFault>,
    /// Fired counts by name for every fault installed since start/reset (survives clearing, so a
    /// scenario can prove a fault fired after it was removed).
    fired: BTreeMap<String, u64>,
}

impl FaultTable {
    pub fn new(seed: u64) -> FaultTable {
        FaultTable {
            seed,
            active: Vec::new(),
            fired: BTreeMap::new(),
        }
    }

    /// Install a validated fault at the end of the list.
    pub fn add(&mut self, spec: FaultSpec) {
        let index = self.active.len();
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("fault-{index}"));
        // Each fault draws from its own generator, so adding a fault does not change the
        // decisions of the others.
        let rng = StdRng::seed_from_u64(
            self.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        self.fired.entry(name.clone()).or_insert(0);
        self.active.push(ActiveFault {
            name,
            spec,
            matched: 0,
            fired: 0,
            rng,
        });
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn replace(&mut self, specs: Vec<FaultSpec>) {
        self.clear();
        for spec in specs {
            self.add(spec);
        }
    }

    pub fn fired(&self) -> BTreeMap<String, u64> {
        self.fired.clone()
    }

    pub fn status(&self) -> Vec<FaultStatus> {
        self.active
            .iter()
            .map(|f| FaultStatus {
                name: f.name.clone(),
                matched: f.matched,
                fired: f.fired,
                spec: f.spec.clone(),
            })
            .collect()
    }

    /// Count the call against every matching fault and pick the first one that fires.
    pub fn select(&mut self, endpoint: &str, grant: Option<&str>) -> Option<FaultPlan> {
        let mut chosen = None;
        for fault in &mut self.active {
            if fault.spec.endpoint != endpoint || !grant_matches(fault.spec.grant.as_deref(), grant)
            {
                continue;
            }
            fault.matched += 1;
            if chosen.is_some() {
                continue;
            }
            let k = fault.matched;
            let start = fault.spec.start_at.unwrap_or(1);
            let in_scope = k >= start
                && fault
                    .spec
                    .first_n
                    .is_none_or(|n| k < start.saturating_add(n));
            if !in_scope {
                continue;
            }
            if let Some(p) = fault.spec.probability {
                if fault.rng.gen::<f64>() >= p {
                    continue;
                }
            }
            let jitter = if fault.spec.jitter_ms > 0 {
                fault.rng.gen_range(0..=fault.spec.jitter_ms)
            } else {
                0
            };
            fault.fired += 1;
            *self.fired.entry(fault.name.clone()).or_insert(0) += 1;
            chosen = Some(FaultPlan {
                name: fault.name.clone(),
                action: fault.spec.action,
                phase: fault.spec.phase,
                delay: Duration::from_millis(fault.spec.delay_ms.saturating_add(jitter)),
                status: fault.spec.status,
                body: fault.spec.body.clone(),
                size_bytes: fault.spec.size_bytes,
            });
        }
        chosen
    }
}

fn grant_matches(filter: Option<&str>, grant: Option<&str>) -> bool {
    match filter {
        None => true,
        Some("device_code") => grant == Some(DEVICE_CODE_GRANT),
        Some(f) => grant == Some(f),
    }
}

/// The response a fault substitutes, or `None` for "close the connection".
pub(crate) fn fault_response(plan: &FaultPlan) -> Option<Response> {
    let status_or = |default: u16| plan.status.unwrap_or(default);
    match plan.action {
        FaultAction::Close | FaultAction::DelayOnly => None,
        FaultAction::Respond => {
            let status = status_or(500);
            let (body, content_type) = match &plan.body {
                Some(body) if serde_json::from_str::<serde_json::Value>(body).is_ok() => {
                    (body.clone(), "application/json")
                }
                Some(body) => (body.clone(), "text/plain; charset=utf-8"),
                None => {
                    let error = match status {
                        503 => "temporarily_unavailable",
                        500..=599 => "server_error",
                        _ => "injected_fault",
                    };
                    let body = json!({
                        "error": error,
                        "error_description": format!("injected fault {}", plan.name),
                    });
                    (body.to_string(), "application/json")
                }
            };
            Some(build(status, content_type, Body::from(body)))
        }
        FaultAction::Malformed => Some(build(
            status_or(200),
            "application/json",
            Body::from("{\"access_token\": \"at.truncated<html>502 Bad Gateway"),
        )),
        FaultAction::Oversized => {
            let size = plan.size_bytes.unwrap_or(OVERSIZED_DEFAULT_BYTES);
            Some(build(
                status_or(200),
                "application/json",
                Body::from(oversized_body(size)),
            ))
        }
    }
}

fn build(status: u16, content_type: &str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A JSON object `{"padding":"xxx…"}` of exactly `size` bytes (at least the 15-byte frame).
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
    fn scope_window() {
        let mut t = FaultTable::new(0);
        t.add(FaultSpec {
            start_at: Some(2),
            first_n: Some(2),
            ..FaultSpec::respond("/api/v1/me", 500)
        });
        let fired: Vec<bool> = (0..5)
            .map(|_| t.select("/api/v1/me", None).is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert_eq!(t.fired()["fault-0"], 2);
    }
}
