//! The sync-point wire messages and their encoding, in this one small place: what a child
//! writes ([`PointMessage`], one JSON line per point) and what the runner answers ([`Reply`], one
//! JSON line). Nothing else in the harness parses or builds these lines, so the protocol can be
//! swapped for a shared typed definition without touching the server or the state.
//!
//! Protocol (see `spec_kitty::syncpoint`): the child writes
//! `{"process", "pid", "point", "detail"}` per point and blocks for one reply line:
//! `{"action": "continue"}`, `{"action": "sleep", "ms": N}` or `{"action": "fail", "message"}`.
//! A kill is not a message: the runner SIGKILLs the pid while it waits for its reply.

use serde::Serialize;

/// The runner's word to a process waiting at a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Reply {
    Continue,
    Sleep { ms: u64 },
    Fail { message: String },
}

impl Reply {
    /// The reply line, newline-terminated.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("serializable");
        line.push('\n');
        line
    }
}

/// One message from a process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PointMessage {
    #[serde(default)]
    pub process: String,
    #[serde(default)]
    pub pid: u32,
    pub point: String,
    #[serde(default)]
    pub detail: Option<String>,
}

/// Parses one line a child wrote.
pub fn decode_point(line: &str) -> Result<PointMessage, String> {
    serde_json::from_str(line.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_match_the_protocol() {
        assert_eq!(Reply::Continue.to_line(), "{\"action\":\"continue\"}\n");
        assert_eq!(
            Reply::Sleep { ms: 5 }.to_line(),
            "{\"action\":\"sleep\",\"ms\":5}\n"
        );
        assert_eq!(
            Reply::Fail {
                message: "x".into()
            }
            .to_line(),
            "{\"action\":\"fail\",\"message\":\"x\"}\n"
        );
    }

    #[test]
    fn point_lines_decode() {
        let m = decode_point(
            "{\"process\": \"A\", \"pid\": 7, \"point\": \"refresh.outcome\", \"detail\": \"refreshed\"}\n",
        )
        .unwrap();
        assert_eq!(m.process, "A");
        assert_eq!(m.detail.as_deref(), Some("refreshed"));
        assert!(decode_point("{\"pid\": 1}").is_err());
    }
}
