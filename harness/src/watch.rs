//! The session-file watcher: reads `session.json` every few milliseconds during the run and
//! records every distinct version it sees. Any version that is not a complete v2 envelope
//! (`{"version": 2, "nonce": <24 hex>, "ciphertext": <hex>}`) is an invariant violation, unless
//! the scenario itself put it there (a declared corruption).

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the file is read.
pub const POLL: Duration = Duration::from_millis(2);

/// One distinct state of the file.
#[derive(Debug, Clone)]
pub struct Version {
    pub t_ms: f64,
    /// `None`: the file did not exist.
    pub bytes: Option<Vec<u8>>,
    /// The salt file read right after (for decrypting the version in the timeline).
    pub salt: Option<Vec<u8>>,
    /// Why the envelope is invalid, if it is.
    pub invalid: Option<String>,
    /// The scenario wrote these bytes itself (seed or step corruption).
    pub injected: bool,
}

/// The running watcher.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    /// How many versions the watcher has recorded so far (tests wait on it).
    #[cfg_attr(not(test), allow(dead_code))]
    seen: Arc<AtomicUsize>,
    handle: Option<JoinHandle<Vec<Version>>>,
    injected: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Checks the on-disk envelope shape of a session file.
pub fn check_envelope(bytes: &[u8]) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not complete JSON ({} bytes): {e}", bytes.len()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "not a JSON object".to_string())?;
    if obj.get("version").and_then(|v| v.as_i64()) != Some(2) {
        return Err(format!("`version` is {:?}, not 2", obj.get("version")));
    }
    let is_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match obj.get("nonce").and_then(|v| v.as_str()) {
        Some(n) if n.len() == 24 && is_hex(n) => {}
        other => return Err(format!("`nonce` is {other:?}, not 24 lowercase hex digits")),
    }
    match obj.get("ciphertext").and_then(|v| v.as_str()) {
        Some(c) if c.len() >= 32 && c.len() % 2 == 0 && is_hex(c) => {}
        Some(c) => {
            return Err(format!(
                "`ciphertext` is not lowercase hex of at least the 16-byte tag ({} chars)",
                c.len()
            ))
        }
        None => return Err("`ciphertext` is missing".to_string()),
    }
    if obj.len() != 3 {
        let keys: Vec<&String> = obj.keys().collect();
        return Err(format!("unexpected keys {keys:?}"));
    }
    Ok(())
}

impl Watcher {
    /// Starts watching `session` (and reading `salt` on each change). `start` is the time origin.
    pub fn start(
        session: PathBuf,
        salt: PathBuf,
        start: Instant,
        injected: Vec<Vec<u8>>,
    ) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let injected = Arc::new(Mutex::new(injected));
        let handle = {
            let stop = stop.clone();
            let seen = seen.clone();
            let injected = injected.clone();
            std::thread::Builder::new()
                .name("session-watch".into())
                .spawn(move || {
                    let mut versions: Vec<Version> = Vec::new();
                    let mut last: Option<Option<Vec<u8>>> = None;
                    loop {
                        let stopping = stop.load(Ordering::SeqCst);
                        let current = match std::fs::read(&session) {
                            Ok(b) => Some(b),
                            Err(e) if e.kind() == ErrorKind::NotFound => None,
                            // Permission changes (a declared corruption) or races: skip a beat.
                            Err(_) => last.clone().flatten(),
                        };
                        if last.as_ref() != Some(&current) {
                            let t_ms = start.elapsed().as_secs_f64() * 1000.0;
                            let salt_bytes =
                                current.as_ref().and_then(|_| std::fs::read(&salt).ok());
                            let is_injected = current.as_ref().is_some_and(|b| {
                                injected
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .iter()
                                    .any(|i| i == b)
                            });
                            let invalid = current.as_ref().and_then(|b| check_envelope(b).err());
                            versions.push(Version {
                                t_ms,
                                bytes: current.clone(),
                                salt: salt_bytes,
                                invalid,
                                injected: is_injected,
                            });
                            last = Some(current);
                            seen.store(versions.len(), Ordering::SeqCst);
                        }
                        if stopping {
                            break;
                        }
                        std::thread::sleep(POLL);
                    }
                    versions
                })
                .expect("spawn the session watcher")
        };
        Watcher {
            stop,
            seen,
            handle: Some(handle),
            injected,
        }
    }

    /// How many distinct versions have been recorded so far.
    #[cfg(test)]
    pub fn versions_seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }

    /// Declares bytes the scenario itself is about to write (a corruption step).
    pub fn allow(&self, bytes: Vec<u8>) {
        self.injected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(bytes);
    }

    /// Stops and returns every version seen (after one last read).
    pub fn finish(&mut self) -> Vec<Version> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shapes() {
        let good = format!(
            "{{\"version\": 2, \"nonce\": \"{}\", \"ciphertext\": \"{}\"}}",
            "ab".repeat(12),
            "0f".repeat(20)
        );
        assert_eq!(check_envelope(good.as_bytes()), Ok(()));
        assert!(check_envelope(&good.as_bytes()[..good.len() - 5])
            .unwrap_err()
            .contains("not complete JSON"));
        assert!(check_envelope(b"{\"version\": 1}").is_err());
        let upper = good.replace("ab", "AB");
        assert!(check_envelope(upper.as_bytes())
            .unwrap_err()
            .contains("nonce"));
    }

    #[test]
    fn watcher_sees_changes_and_flags_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("session.json");
        let salt = dir.path().join("session.salt");
        let mut w = Watcher::start(
            session.clone(),
            salt,
            Instant::now(),
            vec![b"injected".to_vec()],
        );
        // Each change is written atomically and waited for, so the test does not depend on
        // scheduling: the watcher must record exactly these four versions.
        let wait_for = |w: &Watcher, n: usize| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while w.versions_seen() < n {
                assert!(
                    Instant::now() < deadline,
                    "watcher saw {} of {n}",
                    w.versions_seen()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        let replace = |bytes: &[u8]| {
            let tmp = dir.path().join("tmp");
            std::fs::write(&tmp, bytes).unwrap();
            std::fs::rename(&tmp, &session).unwrap();
        };
        wait_for(&w, 1);
        replace(b"{\"version\": 2, \"nonce\"");
        wait_for(&w, 2);
        replace(b"injected");
        wait_for(&w, 3);
        std::fs::remove_file(&session).unwrap();
        wait_for(&w, 4);
        let v = w.finish();
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[0].bytes.is_none());
        assert!(v[1].invalid.is_some() && !v[1].injected);
        assert!(v[2].invalid.is_some() && v[2].injected);
        assert!(v[3].bytes.is_none());
    }
}
