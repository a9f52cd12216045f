//! The machine-wide refresh lock: contention, deadlines, records, release in place, force-release.

mod common;

use chrono::Utc;
use common::points::{listen, wait_for};
use spec_kitty::lock::{
    force_release, is_held, read_record, ForceRelease, LockError, LockRecord, RefreshLock,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn lock_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth").join("refresh.lock");
    (dir, path)
}

fn old_record(age: Duration) -> LockRecord {
    let started = Utc::now() - chrono::Duration::from_std(age).unwrap();
    LockRecord {
        host: "elsewhere".into(),
        pid: 999_999,
        schema_version: 1,
        started_at: spec_kitty::session::format_time(started),
        version: "3.2.6".into(),
    }
}

#[test]
fn two_descriptors_in_one_process_contend() {
    let (_dir, path) = lock_path();
    let held = RefreshLock::try_acquire(&path).unwrap().expect("free lock");
    assert!(
        RefreshLock::try_acquire(&path).unwrap().is_none(),
        "second descriptor must wait"
    );
    assert!(is_held(&path).unwrap());
    drop(held);
    assert!(!is_held(&path).unwrap());
    assert!(RefreshLock::try_acquire(&path).unwrap().is_some());
}

#[test]
fn acquire_times_out_with_the_holder_named() {
    let (_dir, path) = lock_path();
    let _held = RefreshLock::try_acquire(&path).unwrap().unwrap();
    let started = Instant::now();
    let err = RefreshLock::acquire(&path, Duration::from_millis(250)).unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    match &err {
        LockError::Timeout {
            holder: Some(h), ..
        } => assert_eq!(h.pid, std::process::id()),
        other => panic!("expected a timeout naming the holder, got {other:?}"),
    }
    assert!(err.to_string().contains("busy"));
}

#[test]
fn acquire_succeeds_when_the_holder_releases_during_the_wait() {
    let (_dir, path) = lock_path();
    let held = RefreshLock::try_acquire(&path).unwrap().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter_path = path.clone();
    let waiter = std::thread::spawn(move || {
        tx.send(listen()).unwrap();
        RefreshLock::acquire(&waiter_path, Duration::from_secs(5)).map(drop)
    });
    let points = rx.recv().unwrap();
    assert!(wait_for(
        &points,
        "refresh.lock_busy",
        Duration::from_secs(5)
    ));
    drop(held);
    waiter.join().unwrap().expect("acquired after release");
}

#[test]
fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
    let (dir, path) = lock_path();
    let precious = dir.path().join("notes.txt");
    fs::write(&precious, "the user's file").unwrap();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&precious, &path).unwrap();
    let err = RefreshLock::acquire(&path, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, LockError::Io { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&precious).unwrap(), "the user's file");
}

#[test]
fn an_unreadable_record_without_a_holder_is_leftover_state_and_is_cleared() {
    for leftover in [
        "not a record at all".to_string(),
        r#"{"host": "h", "pid": 1, "schema_version": 1, "started_at": "yesterday-ish", "version": "x"}"#.to_string(),
    ] {
        let (_dir, path) = lock_path();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &leftover).unwrap();
        assert_eq!(
            force_release(&path, Duration::from_secs(60)).unwrap(),
            ForceRelease::ClearedUnreadable,
            "{leftover}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"");
    }
}

#[test]
fn holder_record_is_written_in_place_and_truncated_on_release() {
    let (_dir, path) = lock_path();
    let guard = RefreshLock::try_acquire(&path).unwrap().unwrap();
    let inode = fs::metadata(&path).unwrap().ino();
    let record = read_record(&path).expect("record while held");
    assert_eq!(record.pid, std::process::id());
    assert_eq!(record.schema_version, 1);
    assert_eq!(record.version, spec_kitty::VERSION);
    assert_ne!(record.version, "unknown");
    assert!(record.started_at().is_some());
    drop(guard);
    let meta = fs::metadata(&path).expect("never unlinked");
    assert_eq!(meta.len(), 0, "truncated on release");
    assert_eq!(meta.ino(), inode, "same inode: never replaced");
    assert!(read_record(&path).is_none());
    // Re-acquiring reuses the same inode too.
    let _again = RefreshLock::try_acquire(&path).unwrap().unwrap();
    assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
}

#[test]
fn live_holder_beats_an_old_looking_record() {
    let (_dir, path) = lock_path();
    let _held = RefreshLock::try_acquire(&path).unwrap().unwrap();
    // Make the record look a day old while the flock is live.
    fs::write(&path, old_record(Duration::from_secs(86_400)).to_json()).unwrap();
    assert!(RefreshLock::try_acquire(&path).unwrap().is_none());
    assert!(is_held(&path).unwrap());
    assert_eq!(
        force_release(&path, Duration::from_secs(60)).unwrap(),
        ForceRelease::Held
    );
    assert!(
        read_record(&path).is_some(),
        "a held lock's record is never touched"
    );
}

#[test]
fn force_release_clears_only_old_unheld_records() {
    let (_dir, path) = lock_path();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    assert_eq!(
        force_release(&path, Duration::from_secs(60)).unwrap(),
        ForceRelease::NothingToClear
    );

    fs::write(&path, old_record(Duration::from_secs(5)).to_json()).unwrap();
    assert!(matches!(
        force_release(&path, Duration::from_secs(60)).unwrap(),
        ForceRelease::TooRecent { .. }
    ));
    assert!(read_record(&path).is_some());

    let inode = fs::metadata(&path).unwrap().ino();
    fs::write(&path, old_record(Duration::from_secs(600)).to_json()).unwrap();
    match force_release(&path, Duration::from_secs(60)).unwrap() {
        ForceRelease::Cleared { record, age } => {
            assert_eq!(record.pid, 999_999);
            assert!(age >= Duration::from_secs(600));
        }
        other => panic!("expected Cleared, got {other:?}"),
    }
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.len(), meta.ino()),
        (0, inode),
        "emptied in place, never unlinked"
    );
}

#[test]
fn stale_record_without_a_holder_does_not_block_acquire() {
    let (_dir, path) = lock_path();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, old_record(Duration::from_secs(1)).to_json()).unwrap();
    let guard = RefreshLock::acquire(&path, Duration::from_millis(200)).unwrap();
    assert_eq!(read_record(&path).unwrap().pid, std::process::id());
    drop(guard);
}

#[test]
fn malformed_records_read_as_none() {
    let (_dir, path) = lock_path();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    for junk in [
        "",
        "{",
        "null",
        "[]",
        "{\"pid\": \"x\"}",
        "\u{0}\u{1}garbage",
    ] {
        fs::write(&path, junk).unwrap();
        assert!(read_record(&path).is_none(), "{junk:?}");
    }
    assert!(read_record(&path.with_extension("missing")).is_none());
}

#[test]
fn genuine_io_error_is_not_reported_as_busy() {
    let (_dir, path) = lock_path();
    // A directory where the lock file should be: opening it fails with EISDIR, a real error.
    fs::create_dir_all(&path).unwrap();
    let err = RefreshLock::acquire(&path, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, LockError::Io { .. }), "got {err:?}");
    assert!(!err.to_string().contains("busy"));
    let started = Instant::now();
    assert!(RefreshLock::try_acquire(&path).is_err());
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "errors fail fast, no polling"
    );
}

#[test]
fn is_held_never_creates_the_file() {
    let (_dir, path) = lock_path();
    assert!(!is_held(&path).unwrap());
    assert!(!path.exists());
}
