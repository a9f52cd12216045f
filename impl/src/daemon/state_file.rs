//! The daemon state file `<root>/sync-daemon`: four lines, the original's shape —
//! `http://127.0.0.1:<port>`, the port, the control token, the pid — written atomically with
//! mode 0600 and read without trusting a byte of it.
//!
//! Why strict reading: anything may be in that file (a crash mid-write of an older version, a
//! user's edit, another program's garbage). A bad file is a clear, typed error that names what is
//! wrong; it never leads to signalling a process, and nothing else is lost because of it.

use crate::fsutil::{self, ReadError};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// No valid state file is larger (four short lines).
const MAX_STATE_BYTES: u64 = 4096;

/// The secret that authorises shutdown and trigger requests. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(String);

impl ControlToken {
    /// A fresh random token (32 bytes, hex).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut aes_gcm::aead::OsRng, &mut bytes);
        ControlToken(hex::encode(bytes))
    }

    /// The token as sent to the daemon.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == presented.len() && bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlToken(<redacted>)")
    }
}

/// What the state file says: which daemon is the recorded singleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRecord {
    pub port: u16,
    pub token: ControlToken,
    pub pid: u32,
}

impl DaemonRecord {
    /// The control-plane URL (always loopback).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The file's contents.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n",
            self.url(),
            self.port,
            self.token.expose(),
            self.pid
        )
    }

    /// Parses the file's contents. Blank lines are skipped, as the original does.
    pub fn parse(text: &str) -> Result<Self, StateFileError> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        match lines.len() {
            0 => return Err(StateFileError::Empty),
            1..=3 => return Err(StateFileError::Truncated { lines: lines.len() }),
            4 => {}
            n => return Err(StateFileError::ExtraLines { lines: n }),
        }
        let port: u16 = lines[1]
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| StateFileError::BadField("port", shorten(lines[1])))?;
        if lines[0] != format!("http://127.0.0.1:{port}") {
            return Err(StateFileError::BadField("URL", shorten(lines[0])));
        }
        let token = lines[2];
        if token.len() < 16
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StateFileError::BadField(
                "control token",
                "(not shown)".into(),
            ));
        }
        let pid: u32 = lines[3]
            .parse()
            .ok()
            .filter(|p| *p > 1)
            .ok_or_else(|| StateFileError::BadField("pid", shorten(lines[3])))?;
        Ok(DaemonRecord {
            port,
            token: ControlToken(token.to_string()),
            pid,
        })
    }
}

fn shorten(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("is empty")]
    Empty,
    #[error("is truncated ({lines} of 4 lines)")]
    Truncated { lines: usize },
    #[error("has {lines} lines, expected 4")]
    ExtraLines { lines: usize },
    #[error("has a malformed {0} line: {1:?}")]
    BadField(&'static str, String),
    #[error("cannot be read: {0}")]
    Unreadable(String),
}

/// Reads the state file at `path`: `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<DaemonRecord>, StateFileError> {
    match fsutil::read_regular(path, MAX_STATE_BYTES) {
        Ok(file) => {
            let text = String::from_utf8(file.bytes)
                .map_err(|_| StateFileError::Unreadable("not UTF-8".into()))?;
            DaemonRecord::parse(&text).map(Some)
        }
        Err(ReadError::Missing) => Ok(None),
        Err(e) => Err(StateFileError::Unreadable(e.to_string())),
    }
}

/// Writes `record` to `path` atomically (temp file 0600, fsync, rename).
pub fn write(path: &Path, record: &DaemonRecord) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(record.to_text().as_bytes())
        .and_then(|_| file.sync_all())
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)))
        .and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes the state file if it still names `record` (a newer daemon's file is left alone).
pub fn remove_if_ours(path: &Path, record: &DaemonRecord) {
    if let Ok(Some(current)) = read(path) {
        if current.pid == record.pid && current.port == record.port {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> DaemonRecord {
        DaemonRecord {
            port: 9401,
            token: ControlToken("0123456789abcdef0123".into()),
            pid: 4242,
        }
    }

    #[test]
    fn round_trips_the_four_line_shape() {
        let text = record().to_text();
        assert_eq!(
            text,
            "http://127.0.0.1:9401\n9401\n0123456789abcdef0123\n4242\n"
        );
        assert_eq!(DaemonRecord::parse(&text).unwrap(), record());
        let padded = "\n  http://127.0.0.1:9401\n\n9401\n0123456789abcdef0123\n4242\n\n";
        assert_eq!(DaemonRecord::parse(padded).unwrap(), record());
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let bad = [
            ("", "is empty"),
            ("   \n\n", "is empty"),
            ("http://127.0.0.1:9401\n9401\n", "truncated (2 of 4"),
            ("http://127.0.0.1:9401\n9401\ntok\n1\nextra\n", "5 lines"),
            (
                "http://127.0.0.1:9401\nninety\n0123456789abcdef0123\n4242\n",
                "port",
            ),
            (
                "http://evil.example:9401\n9401\n0123456789abcdef0123\n4242\n",
                "URL",
            ),
            (
                "http://127.0.0.1:9402\n9401\n0123456789abcdef0123\n4242\n",
                "URL",
            ),
            (
                "http://127.0.0.1:9401\n9401\nshort\n4242\n",
                "control token",
            ),
            (
                "http://127.0.0.1:9401\n9401\n0123456789abcdef0123\n-7\n",
                "pid",
            ),
            (
                "http://127.0.0.1:9401\n9401\n0123456789abcdef0123\n1\n",
                "pid",
            ),
            ("\u{0}\u{1}garbage", "truncated"),
        ];
        for (text, want) in bad {
            let err = DaemonRecord::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_token_never_shows_and_compares_exactly() {
        let t = ControlToken::generate();
        assert_eq!(t.expose().len(), 64);
        assert!(!format!("{:?}", record()).contains("0123456789abcdef"));
        assert!(t.matches(t.expose()));
        assert!(!t.matches(&t.expose()[..63]));
        assert!(!t.matches(""));
    }

    #[test]
    fn written_atomically_with_mode_0600_and_removed_only_if_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync-daemon");
        write(&path, &record()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read(&path).unwrap(), Some(record()));
        let mut other = record();
        other.pid = 9999;
        remove_if_ours(&path, &other);
        assert!(path.exists(), "another daemon's file is left alone");
        remove_if_ours(&path, &record());
        assert!(!path.exists());
        assert_eq!(read(&path).unwrap(), None);
    }
}
