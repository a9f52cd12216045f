//! Files another program or a crash may have left: the refresh-lock holder record, the daemon
//! state file, and the sync queue's stored rows (any SQLite value in any column). Each is read
//! as a typed result or a typed error, never a panic, and what reads well writes back the same.

use crate::check::property;
use crate::gen::{self, field_value, object};
use proptest::prelude::*;
use rusqlite::types::Value as Sql;
use spec_kitty::daemon::state_file::DaemonRecord;
use spec_kitty::lock::LockRecord;
use spec_kitty::sync::{batch_body, EventQueue};

fn lock_record() -> impl Strategy<Value = Vec<u8>> {
    let s = || field_value(gen::string());
    let n = || field_value(gen::number());
    let record = object(vec![
        ("host", s()),
        ("pid", n()),
        ("schema_version", n()),
        ("started_at", field_value(gen::time_text())),
        ("version", s()),
    ]);
    gen::damaged(prop_oneof![
        record.clone(),
        record.prop_map(|r| format!("  \n{r}\n\n")),
    ])
}

#[test]
fn any_lock_record_is_read_or_refused() {
    property("lock_record", 500, lock_record(), |bytes| {
        if let Ok(record) = LockRecord::parse(&bytes) {
            // The age is a diagnostic computed from any text: never a panic.
            let _ = record.age(spec_kitty::now());
            prop_assert_eq!(
                LockRecord::parse(record.to_json().as_bytes()).unwrap(),
                record
            );
        }
        Ok(())
    });
}

/// State files: four plausible lines, each maybe replaced by something else, maybe with blank,
/// extra or missing lines and odd line endings.
fn state_text() -> impl Strategy<Value = Vec<u8>> {
    let port = prop_oneof![
        (1u16..=u16::MAX).prop_map(|p| p.to_string()),
        gen::number(),
        Just("0".to_string()),
    ];
    let line = |plausible: BoxedStrategy<String>| {
        prop_oneof![4 => plausible, 1 => "[ -~]{0,20}", 1 => any::<String>()].boxed()
    };
    (
        port,
        line("[A-Za-z0-9_-]{10,70}".boxed()),
        line(prop_oneof![(0u32..=u32::MAX).prop_map(|p| p.to_string()), gen::number()].boxed()),
        line(Just(String::new()).boxed()),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n")],
        0usize..7,
        any::<bool>(),
    )
        .prop_map(|(port, token, pid, junk, eol, keep, url_ok)| {
            let url = if url_ok {
                format!("http://127.0.0.1:{port}")
            } else {
                format!("http://localhost:{port}")
            };
            let lines = [url, port, token, pid, junk.clone(), junk];
            lines[..keep.min(lines.len())].join(eol)
        })
        .prop_flat_map(|text| gen::damaged(Just(text)))
}

#[test]
fn any_daemon_state_file_is_read_or_refused() {
    property("daemon_state_file", 1_000, state_text(), |bytes| {
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(()); // `state_file::read` refuses non-UTF-8 before parsing.
        };
        if let Ok(record) = DaemonRecord::parse(&text) {
            prop_assert!(record.port != 0 && record.pid > 1);
            prop_assert_eq!(DaemonRecord::parse(&record.to_text()).unwrap(), record);
        }
        Ok(())
    });
}

/// Any value SQLite may hold in a column of an untyped (non-STRICT) table.
fn sql_value(text: impl Strategy<Value = String> + 'static) -> BoxedStrategy<Sql> {
    prop_oneof![
        6 => text.prop_map(Sql::Text),
        1 => any::<i64>().prop_map(Sql::Integer),
        1 => any::<f64>().prop_map(Sql::Real),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(Sql::Blob),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct Row {
    event_id: Sql,
    event_type: Sql,
    payload: Sql,
    created_at: Sql,
    attempts: Sql,
    last_error: Option<Sql>,
}

fn row() -> impl Strategy<Value = Row> {
    let payload = prop_oneof![gen::value(), any::<String>()];
    let created = prop_oneof![
        Just("2026-05-01T10:00:00.000000+00:00".to_string()),
        gen::time_text().prop_map(|t| serde_json::from_str::<String>(&t).unwrap()),
    ];
    (
        sql_value("[0-9a-f]{32}"),
        sql_value("[a-z_.]{1,12}"),
        sql_value(payload),
        sql_value(created),
        sql_value((0u32..5).prop_map(|n| n.to_string())),
        prop::option::of(sql_value(any::<String>())),
    )
        .prop_map(
            |(event_id, event_type, payload, created_at, attempts, last_error)| Row {
                event_id,
                event_type,
                payload,
                created_at,
                attempts,
                last_error,
            },
        )
}

#[test]
fn any_stored_queue_row_is_read_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync/queue.db");
    let queue = EventQueue::open(&path).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let rows = prop::collection::vec(row(), 0..4);
    property("sync_queue_rows", 100, rows, |rows| {
        raw.execute_batch("DELETE FROM events; DELETE FROM meta;")
            .unwrap();
        for r in &rows {
            // A duplicate event id is refused by the schema itself: nothing to read.
            let _ = raw.execute(
                "INSERT INTO events (event_id, event_type, payload, created_at, attempts, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    r.event_id,
                    r.event_type,
                    r.payload,
                    r.created_at,
                    r.attempts,
                    r.last_error.clone().unwrap_or(Sql::Null)
                ],
            );
        }
        let _ = queue.ids();
        let _ = queue.stats();
        if let Ok(events) = queue.peek(10) {
            match batch_body("team", &events) {
                Ok(body) => {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    prop_assert_eq!(v["events"].as_array().unwrap().len(), events.len());
                }
                Err(message) => {
                    prop_assert!(message.contains("not JSON"), "{}", message);
                    prop_assert!(events
                        .iter()
                        .any(|e| serde_json::from_str::<serde_json::Value>(&e.payload).is_err()));
                }
            }
        }
        Ok(())
    });
}
