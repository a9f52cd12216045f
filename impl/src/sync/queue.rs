//! The durable local event queue: one SQLite database at `<root>/sync/queue.db`.
//!
//! Why SQLite: many short-lived CLI processes (and the sync daemon) write the same queue at the
//! same time, and a recorded event must survive a crash of any of them. SQLite in WAL mode with
//! a busy timeout gives concurrent writers, readers that never block writers, and atomic commits
//! (`synchronous = FULL`: a commit that returned is on disk).
//!
//! What it guarantees: an event is recorded exactly once with a random 128-bit id (also its
//! idempotency key at the SaaS); events are read in the order they were recorded; an event leaves
//! the queue only when [`EventQueue::remove`] is told the server has it. A damaged database or one
//! locked past the busy timeout is a typed [`QueueError`] with one line naming the file and the
//! fix; nothing here ever deletes, truncates or recreates a database it cannot read, so no other
//! event is lost.

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another writer's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The schema this version writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";
const LAST_SUCCESS: &str = "last_successful_sync_at";

/// Why the queue could not be used. Each message is one line naming the file and the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// Another process held the database past the busy timeout.
    #[error("the sync queue {path} is locked by another process (busy timeout {waited_ms} ms); nothing was changed, try again")]
    Locked { path: PathBuf, waited_ms: u128 },
    /// The file is not a usable queue database. It is left in place.
    #[error("the sync queue {path} is damaged ({detail}); it was left in place: move it aside to start a new queue (its events are kept in the moved file)")]
    Corrupt { path: PathBuf, detail: String },
    /// The file or its directory could not be accessed.
    #[error("cannot use the sync queue {path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

impl QueueError {
    fn from_sqlite(path: &Path, busy: Duration, e: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        let detail = one_line(&e.to_string());
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => QueueError::Locked {
                path,
                waited_ms: busy.as_millis(),
            },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                QueueError::Corrupt { path, detail }
            }
            _ => QueueError::Io { path, detail },
        }
    }
}

/// Takes `<queue>.lock` (a BSD flock, never unlinked), waiting up to `wait`.
fn init_lock(path: &Path, wait: Duration) -> Result<std::fs::File, QueueError> {
    use rustix::fs::{flock, FlockOperation};
    let lock_path = path.with_extension("lock");
    let io = |detail: String| QueueError::Io {
        path: lock_path.clone(),
        detail,
    };
    let file = crate::fsutil::open_lock_file(&lock_path, true).map_err(|e| io(e.to_string()))?;
    let started = std::time::Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(e) if crate::lock::is_contention(e) => {}
            Err(e) => return Err(io(e.to_string())),
        }
        if started.elapsed() >= wait {
            return Err(QueueError::Locked {
                path: path.to_path_buf(),
                waited_ms: wait.as_millis(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    /// 32 lowercase hex digits: random, and the idempotency key the SaaS deduplicates on.
    pub event_id: String,
    pub event_type: String,
    /// The payload as compact JSON text.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// Send attempts so far.
    pub attempts: u32,
    /// Why the last attempt did not deliver it.
    pub last_error: Option<String>,
}

/// Depth and ages, for `sync status`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueStats {
    pub depth: u64,
    pub oldest_created_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// An open queue database.
pub struct EventQueue {
    conn: Connection,
    path: PathBuf,
    busy: Duration,
}

/// A fresh event id: 128 random bits as 32 hex digits.
pub fn new_event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl EventQueue {
    /// Opens (creating when missing) the queue at `path` with the default busy timeout.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        Self::open_with(path, BUSY_TIMEOUT, true)
    }

    /// Opens the queue only if its file exists (`sync status` never creates one).
    pub fn open_existing(path: &Path) -> Result<Option<Self>, QueueError> {
        if !path.exists() {
            return Ok(None);
        }
        Self::open_with(path, BUSY_TIMEOUT, false).map(Some)
    }

    /// Opens with an explicit busy timeout; `create` makes the file and its directory.
    pub fn open_with(path: &Path, busy: Duration, create: bool) -> Result<Self, QueueError> {
        let io = |detail: String| QueueError::Io {
            path: path.to_path_buf(),
            detail,
        };
        if create {
            if let Some(dir) = path.parent() {
                crate::fsutil::ensure_private_dir(dir).map_err(|e| io(e.to_string()))?;
            }
            // Created 0600 before SQLite sees it (an empty file is an empty database); SQLite
            // gives its `-wal` and `-shm` files the database file's mode.
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e.to_string())),
            }
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let sql = |e| QueueError::from_sqlite(path, busy, e);
        let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        conn.busy_timeout(busy).map_err(sql)?;
        let queue = EventQueue {
            conn,
            path: path.to_path_buf(),
            busy,
        };
        // Turning a new file into a WAL database with its schema is the one step SQLite's busy
        // handler does not cover when several processes race to create the queue (one can get
        // SQLITE_BUSY at once): openers take turns on a sibling lock file for it.
        let _init = init_lock(path, busy)?;
        queue.prepare()?;
        Ok(queue)
    }

    /// WAL, durable commits, the schema; refuses a database of a newer schema.
    fn prepare(&self) -> Result<(), QueueError> {
        let sql = |e| self.error(e);
        // Setting WAL needs a moment of exclusive access; the busy timeout covers racing openers.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(QueueError::Io {
                path: self.path.clone(),
                detail: format!("SQLite refused WAL mode (journal mode is {mode})"),
            });
        }
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(sql)?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(QueueError::Corrupt {
                path: self.path.clone(),
                detail: format!("schema version {version} is newer than this CLI's ({SCHEMA_VERSION}): upgrade spec-kitty"),
            });
        }
        if version < SCHEMA_VERSION {
            let tx = self.begin()?;
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        Ok(())
    }

    fn error(&self, e: rusqlite::Error) -> QueueError {
        QueueError::from_sqlite(&self.path, self.busy, e)
    }

    /// A write transaction taken at once (`BEGIN IMMEDIATE`), so the busy timeout applies to
    /// the wait for other writers instead of failing on an upgrade later.
    fn begin(&self) -> Result<rusqlite::Transaction<'_>, QueueError> {
        rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one event (`payload` must already be JSON text) and returns it.
    pub fn enqueue(
        &self,
        event_type: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<QueuedEvent, QueueError> {
        // Stored to the microsecond: the event returned is exactly the one a read gives back.
        let now = now.trunc_subsecs(6);
        let event = QueuedEvent {
            event_id: new_event_id(),
            event_type: event_type.to_string(),
            payload: payload.to_string(),
            created_at: now,
            attempts: 0,
            last_error: None,
        };
        let tx = self.begin()?;
        tx.execute(
            "INSERT INTO events (event_id, event_type, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                event.event_id,
                event.event_type,
                event.payload,
                time_text(now)
            ],
        )
        .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(event)
    }

    /// Up to `limit` events, oldest first.
    pub fn peek(&self, limit: usize) -> Result<Vec<QueuedEvent>, QueueError> {
        let sql = |e| self.error(e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT event_id, event_type, payload, created_at, attempts, last_error
                 FROM events ORDER BY seq LIMIT ?1",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                let created: String = r.get(3)?;
                Ok(QueuedEvent {
                    event_id: r.get(0)?,
                    event_type: r.get(1)?,
                    payload: r.get(2)?,
                    created_at: parse_time(&created).unwrap_or_default(),
                    attempts: r.get::<_, i64>(4)?.clamp(0, u32::MAX as i64) as u32,
                    last_error: r.get(5)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }

    /// Every queued event id, oldest first.
    pub fn ids(&self) -> Result<Vec<String>, QueueError> {
        Ok(self
            .peek(usize::MAX >> 1)?
            .into_iter()
            .map(|e| e.event_id)
            .collect())
    }

    /// Removes the events the server confirmed (accepted or already had); returns how many
    /// were still here.
    pub fn remove(&self, ids: &[String]) -> Result<usize, QueueError> {
        let tx = self.begin()?;
        let mut removed = 0;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM events WHERE event_id = ?1")
                .map_err(|e| self.error(e))?;
            for id in ids {
                removed += stmt.execute([id]).map_err(|e| self.error(e))?;
            }
        }
        tx.commit().map_err(|e| self.error(e))?;
        Ok(removed)
    }

    /// Counts one more attempt for each event and keeps `error` as its last error.
    pub fn record_attempt(&self, ids: &[String], error: Option<&str>) -> Result<(), QueueError> {
        let tx = self.begin()?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE events SET attempts = attempts + 1, last_error = ?2 WHERE event_id = ?1",
                )
                .map_err(|e| self.error(e))?;
            for id in ids {
                stmt.execute(params![id, error])
                    .map_err(|e| self.error(e))?;
            }
        }
        tx.commit().map_err(|e| self.error(e))
    }

    /// Remembers `at` as the time of the last batch the server accepted.
    pub fn mark_success(&self, at: DateTime<Utc>) -> Result<(), QueueError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![LAST_SUCCESS, time_text(at)],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Depth, the oldest event's time, the last successful sync.
    pub fn stats(&self) -> Result<QueueStats, QueueError> {
        let sql = |e| self.error(e);
        let (depth, oldest): (i64, Option<String>) = self
            .conn
            .query_row("SELECT COUNT(*), MIN(created_at) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sql)?;
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [LAST_SUCCESS],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        Ok(QueueStats {
            depth: depth.max(0) as u64,
            oldest_created_at: oldest.as_deref().and_then(parse_time),
            last_success_at: last.as_deref().and_then(parse_time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_128_bit_hex_and_distinct() {
        let a = new_event_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, new_event_id());
    }

    #[test]
    fn enqueue_peek_remove_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let q = EventQueue::open(&dir.path().join("sync/queue.db")).unwrap();
        let now = Utc::now();
        let a = q.enqueue("a", "{}", now).unwrap();
        let b = q.enqueue("b", "[1]", now).unwrap();
        let got = q.peek(10).unwrap();
        assert_eq!(got, vec![a.clone(), b.clone()]);
        q.record_attempt(std::slice::from_ref(&b.event_id), Some("503"))
            .unwrap();
        assert_eq!(q.remove(std::slice::from_ref(&a.event_id)).unwrap(), 1);
        assert_eq!(q.remove(std::slice::from_ref(&a.event_id)).unwrap(), 0);
        let left = q.peek(10).unwrap();
        assert_eq!(
            (left[0].attempts, left[0].last_error.as_deref()),
            (1, Some("503"))
        );
        let stats = q.stats().unwrap();
        assert_eq!(stats.depth, 1);
        assert!(stats.last_success_at.is_none());
        q.mark_success(now).unwrap();
        assert!(q.stats().unwrap().last_success_at.is_some());
    }
}
