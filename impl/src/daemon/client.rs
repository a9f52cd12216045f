//! Talking to a daemon's control plane on loopback: the health probe, the authenticated
//! shutdown, the trigger. Tight timeouts everywhere: a listener that does not answer quickly is
//! treated as "not a healthy daemon", never waited on.

use super::protocol::{
    ControlRequest, Health, HEALTH_PATH, MAX_HEALTH_BYTES, SHUTDOWN_PATH, TRIGGER_PATH,
};
use super::state_file::ControlToken;
use std::time::Duration;

/// How long a health probe may take (connect plus answer).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A blocking client for loopback control planes.
pub struct ControlClient {
    http: reqwest::blocking::Client,
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the daemon on port {port} did not answer ({reason})")]
    Unreachable { port: u16, reason: String },
    #[error("the daemon on port {port} refused the request (HTTP {status})")]
    Refused { port: u16, status: u16 },
}

impl ControlClient {
    pub fn new() -> Self {
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(PROBE_TIMEOUT)
            .timeout(PROBE_TIMEOUT)
            .build()
            .expect("a client without TLS settings always builds");
        ControlClient { http }
    }

    /// The health answer on `port`, or `None` when nothing (or nothing that speaks the
    /// protocol) answers there.
    pub fn health(&self, port: u16) -> Option<Health> {
        let response = self
            .http
            .get(format!("http://127.0.0.1:{port}{HEALTH_PATH}"))
            .send()
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        // A health answer is small; anything large is not ours. Read at most one byte past the
        // bound, whatever the listener sends (the timeout alone would allow gigabytes).
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(response, MAX_HEALTH_BYTES as u64 + 1),
            &mut bytes,
        )
        .ok()?;
        Health::parse(&bytes).ok()
    }

    /// Asks the daemon on `port` to shut down cleanly.
    pub fn shutdown(&self, port: u16, token: &ControlToken) -> Result<(), ControlError> {
        self.post(port, SHUTDOWN_PATH, token)
    }

    /// Asks the daemon on `port` to refresh and drain now.
    pub fn trigger(&self, port: u16, token: &ControlToken) -> Result<(), ControlError> {
        self.post(port, TRIGGER_PATH, token)
    }

    fn post(&self, port: u16, path: &str, token: &ControlToken) -> Result<(), ControlError> {
        let body = ControlRequest {
            token: token.expose().to_string(),
        };
        let response = self
            .http
            .post(format!("http://127.0.0.1:{port}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).expect("a control request always serialises"))
            .send()
            .map_err(|e| ControlError::Unreachable {
                port,
                reason: if e.is_timeout() {
                    "timed out".into()
                } else {
                    "connection failed".into()
                },
            })?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(ControlError::Refused { port, status }),
        }
    }
}

impl Default for ControlClient {
    fn default() -> Self {
        Self::new()
    }
}
