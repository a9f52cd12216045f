//! The sync-point socket server: one Unix socket per scenario, one thread per child connection.
//! Each line a child writes is decoded (`wire`), decided on (`state`), and answered.
//!
//! Guarantee: [`SyncServer::stop`] closes every connection and joins every thread it started;
//! a malformed line is recorded as an anomaly and answered `continue`, never ignored.

use super::state::Shared;
use super::wire::{decode_point, Reply};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Open connections (a handle to shut each down) and their threads.
type Connections = Arc<Mutex<Vec<(UnixStream, JoinHandle<()>)>>>;

/// The listening socket and its threads.
pub struct SyncServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Connections,
}

impl SyncServer {
    /// Binds `path` and serves points into `shared`.
    pub fn start(path: &Path, shared: Arc<Shared>) -> std::io::Result<SyncServer> {
        let listener = UnixListener::bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Connections = Arc::default();
        let accept = {
            let stop = stop.clone();
            let conns = conns.clone();
            std::thread::Builder::new()
                .name("sync-accept".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let Ok(keep) = stream.try_clone() else {
                            continue;
                        };
                        let shared = shared.clone();
                        let handle = std::thread::Builder::new()
                            .name("sync-conn".into())
                            .spawn(move || serve_connection(stream, &shared));
                        if let Ok(handle) = handle {
                            conns
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push((keep, handle));
                        }
                    }
                })?
        };
        Ok(SyncServer {
            path: path.to_path_buf(),
            stop,
            accept: Some(accept),
            conns,
        })
    }

    /// Stops accepting, closes every connection and joins every thread. Call after every
    /// child is dead and `shutting_down` is set.
    pub fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = UnixStream::connect(&self.path);
            let _ = accept.join();
        }
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|p| p.into_inner()));
        for (stream, handle) in conns {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = handle.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection(stream: UnixStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let msg = match decode_point(&line) {
            Ok(m) => m,
            Err(e) => {
                let mut st = shared.lock();
                shared.anomaly(
                    &mut st,
                    format!("malformed sync message {:?}: {e}", line.trim()),
                );
                drop(st);
                if writer
                    .write_all(Reply::Continue.to_line().as_bytes())
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        match shared.on_point(&msg) {
            Some(reply) => {
                if writer.write_all(reply.to_line().as_bytes()).is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{PointAction, PointFault};
    use crate::sync::state::{Phase, Proc, Target};
    use std::time::{Duration, Instant};

    fn shared_with(name: &str, pid: u32, faults: Vec<PointFault>) -> Arc<Shared> {
        let mut p = Proc::new(name, faults);
        p.pid = Some(pid);
        p.phase = Phase::Running;
        Shared::new([p])
    }

    fn send(
        stream: &mut UnixStream,
        reader: &mut BufReader<UnixStream>,
        name: &str,
        pid: u32,
        point: &str,
    ) -> serde_json::Value {
        let msg = serde_json::json!({"process": name, "pid": pid, "point": point, "detail": null});
        stream.write_all(format!("{msg}\n").as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn replies_continue_and_records_points() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let shared = shared_with("A", 42, vec![]);
        let mut server = SyncServer::start(&path, shared.clone()).unwrap();
        let mut stream = UnixStream::connect(&path).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let r = send(&mut stream, &mut reader, "A", 42, "session.loaded");
        assert_eq!(r, serde_json::json!({"action": "continue"}));
        // Unknown process: still answered, recorded as an anomaly.
        let r = send(&mut stream, &mut reader, "Z", 1, "session.loaded");
        assert_eq!(r["action"], "continue");
        drop(stream);
        server.stop();
        let st = shared.lock();
        assert_eq!(st.procs["A"].hits.len(), 1);
        assert_eq!(st.procs["A"].counts["session.loaded"], 1);
        assert_eq!(st.anomalies.len(), 1);
    }

    #[test]
    fn holds_at_target_until_released_then_applies_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let fault = PointFault {
            point: "refresh.network_before".into(),
            nth: 1,
            action: PointAction::Fail,
            message: "boom".into(),
            ms: 0,
            io: None,
        };
        let shared = shared_with("A", 7, vec![fault]);
        shared.lock().procs.get_mut("A").unwrap().target = Some(Target {
            point: "refresh.network_before".into(),
            nth: 1,
            seen: 0,
        });
        let mut server = SyncServer::start(&path, shared.clone()).unwrap();
        let mut stream = UnixStream::connect(&path).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let r = send(&mut stream, &mut reader, "A", 7, "refresh.network_before");
            tx.send(r).unwrap();
        });
        // Held: no reply yet.
        {
            let mut st = shared.lock();
            let deadline = Instant::now() + Duration::from_secs(5);
            while st.procs["A"].phase == Phase::Running {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "never held");
                st = shared.cv.wait_timeout(st, left).unwrap().0;
            }
            assert_eq!(
                st.procs["A"].phase,
                Phase::Held {
                    point: "refresh.network_before".into()
                }
            );
        }
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        {
            let mut st = shared.lock();
            let p = st.procs.get_mut("A").unwrap();
            p.release = Some(Reply::Continue);
            p.phase = Phase::Running;
            shared.cv.notify_all();
        }
        let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(r, serde_json::json!({"action": "fail", "message": "boom"}));
        t.join().unwrap();
        server.stop();
        let st = shared.lock();
        assert_eq!(st.procs["A"].faults_fired, vec![1]);
        assert!(st.procs["A"].hits[0].held);
    }
}
