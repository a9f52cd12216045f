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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Serves `body` once on a loopback port (as whatever listens in the range might), and
    /// reports how many bytes of it were written before the client hung up.
    fn serve_once(body: Vec<u8>) -> (u16, std::thread::JoinHandle<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let mut written = 0;
            for chunk in body.chunks(4096) {
                match s.write(chunk) {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
            written
        });
        (port, server)
    }

    fn health_json() -> String {
        serde_json::json!({
            "status": "ok", "daemon_family": "sync", "protocol_version": 1,
            "package_version": "0.1.0", "pid": 1, "port": 0, "runtime_root": "/r",
        })
        .to_string()
    }

    #[test]
    fn a_health_answer_over_the_bound_is_not_ours_and_is_never_read_whole() {
        // The same valid answer: small, it is health; padded past the bound, it is nothing.
        let (port, server) = serve_once(health_json().into_bytes());
        assert!(ControlClient::new().health(port).is_some());
        server.join().unwrap();

        let mut padded = health_json().into_bytes();
        // 16 MiB: more than loopback socket buffers hold, so an unbounded read would be seen.
        padded.resize(MAX_HEALTH_BYTES * 256, b' ');
        let (port, server) = serve_once(padded.clone());
        assert!(ControlClient::new().health(port).is_none());
        let written = server.join().unwrap();
        assert!(
            written < padded.len(),
            "the client must stop reading at the bound, yet {written} of {} bytes were taken",
            padded.len()
        );
    }
}
