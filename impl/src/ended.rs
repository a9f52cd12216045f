//! Why the last session ended: a small record (`<root>/auth/session.ended`) written when this CLI
//! deletes a session — the server refused it, or the user logged out — and removed by the next
//! login.
//!
//! Why: when a user reports "I was logged out", the first question is why, and the session file
//! that could say is gone by then. The record names a cause code, a one-line message and a time;
//! never a token. `auth doctor` reports it with the "no session" finding. Writing it is best effort:
//! a failure never changes what the deleting command does.

use crate::fsutil;
use crate::paths::RuntimeRoot;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// No record is larger.
const MAX_BYTES: u64 = 4096;

/// What ended the last session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// A stable code (`session_revoked`, `refresh_token_expired`, `logout`, ...).
    pub reason: String,
    /// The one line the user was told.
    pub message: String,
    /// When (RFC 3339).
    pub at: String,
}

/// Records why the session of `root` ended (best effort).
pub fn record(root: &RuntimeRoot, reason: &str, message: &str) {
    let ended = Ended {
        reason: reason.to_string(),
        message: message.chars().take(500).collect(),
        at: crate::session::format_report_time(crate::now()),
    };
    let path = root.session_ended_file();
    let tmp = path.with_extension("ended.tmp");
    let written = serde_json::to_vec(&ended)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        });
    if let Err(e) = written {
        tracing::debug!("could not record why the session ended: {e}");
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The record, if there is a readable one.
pub fn read(root: &RuntimeRoot) -> Option<Ended> {
    let file = fsutil::read_regular(&root.session_ended_file(), MAX_BYTES).ok()?;
    serde_json::from_slice(&file.bytes).ok()
}

/// Forgets the record (a new session exists).
pub fn clear(root: &RuntimeRoot) {
    let _ = std::fs::remove_file(root.session_ended_file());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_reads_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let root = RuntimeRoot::new(dir.path());
        root.ensure_auth_dir().unwrap();
        assert_eq!(read(&root), None);
        record(
            &root,
            "session_revoked",
            "the session was revoked by the server",
        );
        let e = read(&root).unwrap();
        assert_eq!(e.reason, "session_revoked");
        clear(&root);
        assert_eq!(read(&root), None);
    }
}
