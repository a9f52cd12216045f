//! The lock-file watcher: stats `refresh.lock` and `session.lock` every few milliseconds during
//! the run and records every change of their inode (or their disappearance), for
//! `[expect.lock_file] inode_unchanged`.
//!
//! Why: a lock file must never be unlinked or replaced (a contender would lock a fresh inode
//! while the holder still holds the old one, and both would run), and only a view across every
//! process of the run can prove that no one did it. Its own thread, apart from the session
//! watcher, because it is another concept and only runs when a scenario asks for it. An unlink
//! and re-create faster than one poll that the file system gives the same inode number is not
//! seen.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the files are looked at.
const POLL: Duration = Duration::from_millis(2);

/// One observed state of one lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeChange {
    pub t_ms: u64,
    /// `refresh.lock` or `session.lock`.
    pub file: String,
    /// `(device, inode)`; `None`: the file did not exist.
    pub inode: Option<(u64, u64)>,
}

/// The running watcher.
pub struct LockWatcher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<InodeChange>>>,
}

impl LockWatcher {
    /// Starts watching `files` (name, path); `start` is the time origin.
    pub fn start(files: Vec<(String, PathBuf)>, start: Instant) -> LockWatcher {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("lock-watch".into())
                .spawn(move || {
                    let mut changes = Vec::new();
                    let mut last: Vec<Option<Option<(u64, u64)>>> = vec![None; files.len()];
                    loop {
                        let stopping = stop.load(Ordering::SeqCst);
                        for (i, (name, path)) in files.iter().enumerate() {
                            let inode = std::fs::symlink_metadata(path)
                                .ok()
                                .map(|m| (m.dev(), m.ino()));
                            if last[i] != Some(inode) {
                                last[i] = Some(inode);
                                changes.push(InodeChange {
                                    t_ms: start.elapsed().as_millis() as u64,
                                    file: name.clone(),
                                    inode,
                                });
                            }
                        }
                        if stopping {
                            return changes;
                        }
                        std::thread::sleep(POLL);
                    }
                })
                .expect("spawn the lock watcher")
        };
        LockWatcher {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the watcher and returns every change it saw (the first state of each file first).
    pub fn finish(&mut self) -> Vec<InodeChange> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for LockWatcher {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Why the lock files' history breaks the rule, one message per break: once a file exists, its
/// inode never changes and it never disappears.
pub fn violations(changes: &[InodeChange]) -> Vec<String> {
    let mut out = Vec::new();
    let mut first: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for c in changes {
        match (first.get(c.file.as_str()), c.inode) {
            (None, Some(inode)) => {
                first.insert(&c.file, inode);
            }
            (None, None) => {}
            (Some(_), None) => out.push(format!("{} was unlinked at {} ms", c.file, c.t_ms)),
            (Some(was), Some(now)) if *was != now => out.push(format!(
                "{} was replaced at {} ms (inode {} became {})",
                c.file, c.t_ms, was.1, now.1
            )),
            (Some(_), Some(_)) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlink_or_a_replacement_is_a_violation_and_a_late_creation_is_not() {
        let c = |t, inode| InodeChange {
            t_ms: t,
            file: "refresh.lock".into(),
            inode,
        };
        assert!(violations(&[c(0, None), c(5, Some((1, 7)))]).is_empty());
        assert_eq!(
            violations(&[c(0, Some((1, 7))), c(5, Some((1, 8)))]),
            ["refresh.lock was replaced at 5 ms (inode 7 became 8)"]
        );
        assert_eq!(
            violations(&[c(0, Some((1, 7))), c(5, None)]),
            ["refresh.lock was unlinked at 5 ms"]
        );
    }

    #[test]
    fn the_watcher_sees_a_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refresh.lock");
        std::fs::write(&path, b"").unwrap();
        let mut w = LockWatcher::start(vec![("refresh.lock".into(), path.clone())], Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let other = dir.path().join("new");
        std::fs::write(&other, b"").unwrap();
        std::fs::rename(&other, &path).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let v = violations(&w.finish());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("replaced"), "{v:?}");
    }
}
