//! The SQLite event queue under pressure: many writers at once, a damaged file, a database held
//! by another writer. Each failure is a typed one-line error, and no event already recorded is
//! ever lost or rewritten.

use chrono::Utc;
use spec_kitty::sync::{EventQueue, QueueError};
use std::collections::HashSet;
use std::time::Duration;

fn queue_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("sync").join("queue.db")
}

#[test]
fn concurrent_writers_each_record_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = queue_path(&dir);
    let writers = 8;
    let per_writer = 50;
    let ids: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let path = path.clone();
                s.spawn(move || {
                    // Each writer has its own connection, opened concurrently with the others.
                    let q = EventQueue::open(&path).unwrap();
                    (0..per_writer)
                        .map(|i| {
                            q.enqueue("t", &format!("{{\"w\":{w},\"i\":{i}}}"), Utc::now())
                                .unwrap()
                                .event_id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let written: HashSet<String> = ids.into_iter().flatten().collect();
    assert_eq!(written.len(), writers * per_writer);
    let q = EventQueue::open(&path).unwrap();
    let stored: HashSet<String> = q.ids().unwrap().into_iter().collect();
    assert_eq!(stored, written);
    assert_eq!(q.stats().unwrap().depth, (writers * per_writer) as u64);
}

#[test]
fn a_damaged_database_is_a_clear_error_and_is_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = queue_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    for garbage in [
        b"this is not a database at all, just text".to_vec(),
        // A valid SQLite header followed by garbage pages.
        [b"SQLite format 3\0".as_slice(), &[0xAB; 8192]].concat(),
    ] {
        std::fs::write(&path, &garbage).unwrap();
        let err = match EventQueue::open(&path) {
            Err(e) => e,
            Ok(q) => q.enqueue("t", "{}", Utc::now()).unwrap_err(),
        };
        assert!(matches!(err, QueueError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("left in place"), "{msg}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage, "never rewritten");
    }
}

#[test]
fn a_locked_database_is_a_clear_error_that_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = queue_path(&dir);
    let q = EventQueue::open(&path).unwrap();
    let kept = q.enqueue("kept", "{}", Utc::now()).unwrap();
    // Another writer holds the write lock for as long as it likes.
    let holder = rusqlite_holder(&path);
    let waiting = EventQueue::open_with(&path, Duration::from_millis(150), false).unwrap();
    let err = waiting.enqueue("t", "{}", Utc::now()).unwrap_err();
    assert!(matches!(err, QueueError::Locked { .. }), "{err:?}");
    assert!(!err.to_string().contains('\n'));
    assert!(err.to_string().contains("try again"), "{err}");
    // Readers are never blocked by the writer (WAL).
    assert_eq!(waiting.stats().unwrap().depth, 1);
    drop(holder);
    let added = waiting.enqueue("after", "{}", Utc::now()).unwrap();
    assert_eq!(q.ids().unwrap(), vec![kept.event_id, added.event_id]);
}

/// A raw connection holding `BEGIN IMMEDIATE` (the write lock) until dropped.
fn rusqlite_holder(path: &std::path::Path) -> HeldWrite {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('held', '1');")
        .unwrap();
    HeldWrite(Some(conn))
}

struct HeldWrite(Option<rusqlite::Connection>);

impl Drop for HeldWrite {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}
