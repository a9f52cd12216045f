//! The sync-point protocol between a child process and the runner: the one definition both
//! ends use (the runner's [`super::server`] and the child's `crate::child_hooks`).
//!
//! A child writes one [`PointMessage`] per point as a JSON line on the runner's Unix socket and
//! blocks for one [`Reply`] line. A reply the child cannot parse (an unknown action, say) is a
//! protocol error, never a silent "continue". A kill is not a message: the runner SIGKILLs the
//! pid while it waits for its reply.

use crate::schema::IoOpName;
use serde::{Deserialize, Serialize};

/// One point a process reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointMessage {
    /// The process's name in the scenario.
    pub process: String,
    pub pid: u32,
    /// The point's name (`refresh.lock_acquired`, `legacy.loaded`, ...).
    pub point: String,
    /// Shown on the timeline (e.g. a transaction's outcome).
    pub detail: Option<String>,
}

/// The runner's word to a process waiting at a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    Continue,
    Sleep {
        ms: u64,
    },
    Fail {
        message: String,
    },
    /// Go on; the next `op` of the process fails with `errno`.
    IoFault {
        op: IoOpName,
        errno: i32,
    },
}

/// `value` as one newline-terminated JSON line.
pub fn to_line<T: Serialize>(value: &T) -> String {
    let mut line = serde_json::to_string(value).expect("protocol messages always serialise");
    line.push('\n');
    line
}

/// Parses one line a child wrote.
pub fn decode_point(line: &str) -> Result<PointMessage, String> {
    serde_json::from_str(line.trim()).map_err(|e| e.to_string())
}

impl Reply {
    /// The reply line, newline-terminated.
    pub fn to_line(&self) -> String {
        to_line(self)
    }

    /// How the timeline shows the reply.
    pub fn label(&self) -> String {
        match self {
            Reply::Continue => "continue".into(),
            Reply::Sleep { ms } => format!("sleep {ms} ms"),
            Reply::Fail { message } => format!("fail: {message}"),
            Reply::IoFault { op, errno } => format!(
                "continue; the next {} fails with {}",
                op.as_str(),
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_replies_match_the_protocol() {
        let msg = PointMessage {
            process: "A".into(),
            pid: 7,
            point: "refresh.outcome".into(),
            detail: Some("refreshed".into()),
        };
        let back: PointMessage = serde_json::from_str(to_line(&msg).trim()).unwrap();
        assert_eq!(back, msg);
        for (reply, line) in [
            (Reply::Continue, "{\"action\":\"continue\"}\n"),
            (Reply::Sleep { ms: 5 }, "{\"action\":\"sleep\",\"ms\":5}\n"),
            (
                Reply::Fail {
                    message: "x".into(),
                },
                "{\"action\":\"fail\",\"message\":\"x\"}\n",
            ),
        ] {
            assert_eq!(to_line(&reply), line);
            assert_eq!(serde_json::from_str::<Reply>(line.trim()).unwrap(), reply);
        }
    }

    #[test]
    fn an_unknown_action_is_an_error_not_a_continue() {
        assert!(serde_json::from_str::<Reply>(r#"{"action":"teleport"}"#).is_err());
    }
}
