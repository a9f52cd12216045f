//! The sync-point server: one Unix socket per scenario, one connection per child process.
//!
//! Protocol: [`crate::wire`] (one JSON line per point, one reply line; a kill is a SIGKILL
//! while the child waits for its reply).
//!
//! The server answers every point at once with `continue` (or the process's declared fault at
//! that point) unless the current step holds that process at that point: then the reply waits
//! until a later step releases it (or kills it). Every point is recorded with its time.

use crate::schema::{PointAction, PointFault};
use crate::wire::to_line;
pub use crate::wire::{PointMessage, Reply};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

/// Where a process stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    NotStarted,
    Running,
    /// Waiting at `point` for the runner's word.
    Held {
        point: String,
    },
    Exited,
}

/// A hold the current step asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub point: String,
    pub nth: u32,
    pub seen: u32,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub t_ms: f64,
}

impl ExitInfo {
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(9)) => "killed (SIGKILL)".to_string(),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended (unknown status)".to_string(),
        }
    }
}

/// A kill the runner performed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillInfo {
    /// The point the process was held at, if any.
    pub at: Option<String>,
    pub t_ms: f64,
    /// Killed by teardown (budget overrun or leftover), not by a step.
    pub teardown: bool,
}

/// One point a process reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub t_ms: f64,
    pub point: String,
    pub detail: Option<String>,
    pub held: bool,
    pub reply: String,
}

/// Everything the runner knows about one process.
#[derive(Debug, Clone)]
pub struct Proc {
    pub name: String,
    pub pid: Option<u32>,
    pub phase: Phase,
    pub target: Option<Target>,
    pub release: Option<Reply>,
    /// Times each point was reached.
    pub counts: BTreeMap<String, u32>,
    pub hits: Vec<Hit>,
    pub faults: Vec<PointFault>,
    /// How often each declared fault fired (same index as `faults`).
    pub faults_fired: Vec<u32>,
    /// `refresh.outcome` details, in order.
    pub outcomes: Vec<String>,
    pub kill: Option<KillInfo>,
    pub exit: Option<ExitInfo>,
    pub started_ms: Option<f64>,
}

impl Proc {
    pub fn new(name: &str, faults: Vec<PointFault>) -> Proc {
        let n = faults.len();
        Proc {
            name: name.to_string(),
            pid: None,
            phase: Phase::NotStarted,
            target: None,
            release: None,
            counts: BTreeMap::new(),
            hits: Vec::new(),
            faults,
            faults_fired: vec![0; n],
            outcomes: Vec::new(),
            kill: None,
            exit: None,
            started_ms: None,
        }
    }
}

/// A note in the timeline from the runner or the sync server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub t_ms: f64,
    /// A process name, or `runner`.
    pub lane: String,
    pub text: String,
    /// `step`, `spawn`, `release`, `kill`, `exit`, `anomaly`, `lock`, `saas`, `check`.
    pub kind: String,
}

/// State shared by the runner, the sync server and the process waiters.
pub struct State {
    pub procs: BTreeMap<String, Proc>,
    pub notes: Vec<Note>,
    /// Connections or messages that matched no process (a protocol problem worth showing).
    pub anomalies: Vec<String>,
    /// Teardown: every held process is let go without a reply.
    pub shutting_down: bool,
}

/// The state behind a mutex, a condition variable every change notifies, and the time origin.
pub struct Shared {
    pub start: Instant,
    state: Mutex<State>,
    pub cv: Condvar,
}

impl Shared {
    pub fn new(procs: impl IntoIterator<Item = Proc>) -> Arc<Shared> {
        Arc::new(Shared {
            start: Instant::now(),
            state: Mutex::new(State {
                procs: procs.into_iter().map(|p| (p.name.clone(), p)).collect(),
                notes: Vec::new(),
                anomalies: Vec::new(),
                shutting_down: false,
            }),
            cv: Condvar::new(),
        })
    }

    /// Milliseconds since the scenario started.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a note (caller holds the lock).
    pub fn note(&self, st: &mut State, lane: &str, kind: &str, text: impl Into<String>) {
        st.notes.push(Note {
            t_ms: self.now_ms(),
            lane: lane.to_string(),
            text: text.into(),
            kind: kind.to_string(),
        });
    }

    /// Decides the reply to one point message, blocking while the process is held. `None`
    /// means: send nothing (the process was killed or the scenario is shutting down).
    pub fn on_point(&self, msg: &PointMessage) -> Option<Reply> {
        let mut st = self.lock();
        let t_ms = self.now_ms();
        let Some(p) = st.procs.get_mut(&msg.process) else {
            let text = format!(
                "point {} from unknown process {:?} (pid {}): answered continue",
                msg.point, msg.process, msg.pid
            );
            st.anomalies.push(text.clone());
            self.note(&mut st, "runner", "anomaly", text);
            return Some(Reply::Continue);
        };
        if p.pid != Some(msg.pid) {
            let text = format!(
                "point {} from {:?} with pid {} (spawned pid {:?}): answered continue",
                msg.point, msg.process, msg.pid, p.pid
            );
            st.anomalies.push(text.clone());
            self.note(&mut st, "runner", "anomaly", text);
            return Some(Reply::Continue);
        }
        let count = {
            let c = p.counts.entry(msg.point.clone()).or_insert(0);
            *c += 1;
            *c
        };
        if msg.point == spec_kitty::syncpoint::Point::Outcome.as_str() {
            p.outcomes
                .push(msg.detail.clone().unwrap_or_else(|| "?".to_string()));
        }
        let mut fault_reply = None;
        for (i, f) in p.faults.iter().enumerate() {
            if f.point == msg.point && f.nth == count {
                p.faults_fired[i] += 1;
                fault_reply = Some(match f.action {
                    PointAction::Fail => Reply::Fail {
                        message: f.message.clone(),
                    },
                    PointAction::Sleep => Reply::Sleep { ms: f.ms },
                });
                break;
            }
        }
        let hold = match &mut p.target {
            Some(t) if t.point == msg.point => {
                t.seen += 1;
                t.seen >= t.nth
            }
            _ => false,
        };
        let immediate = fault_reply.clone().unwrap_or(Reply::Continue);
        p.hits.push(Hit {
            t_ms,
            point: msg.point.clone(),
            detail: msg.detail.clone(),
            held: hold,
            reply: if hold {
                "held".to_string()
            } else {
                immediate.label()
            },
        });
        if !hold {
            return Some(immediate);
        }
        p.target = None;
        p.phase = Phase::Held {
            point: msg.point.clone(),
        };
        p.release = None;
        self.cv.notify_all();
        let name = msg.process.clone();
        loop {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            let shutting_down = st.shutting_down;
            let p = st.procs.get_mut(&name).expect("process exists");
            if let Some(release) = p.release.take() {
                // A fault declared at this point still applies once the hold ends.
                return Some(match (release, &fault_reply) {
                    (Reply::Continue, Some(f)) => f.clone(),
                    (r, _) => r,
                });
            }
            if p.phase == Phase::Exited || p.kill.is_some() || shutting_down {
                return None;
            }
        }
    }
}

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

    /// The socket path (what children get in `SPEC_KITTY_SYNC_SOCKET`).
    pub fn path(&self) -> &Path {
        &self.path
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
        let msg: PointMessage = match serde_json::from_str(line.trim()) {
            Ok(m) => m,
            Err(e) => {
                let mut st = shared.lock();
                let text = format!("malformed sync message {:?}: {e}", line.trim());
                st.anomalies.push(text.clone());
                shared.note(&mut st, "runner", "anomaly", text);
                drop(st);
                if writer
                    .write_all(to_line(&Reply::Continue).as_bytes())
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        match shared.on_point(&msg) {
            Some(reply) => {
                if writer.write_all(to_line(&reply).as_bytes()).is_err() {
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
    use std::time::Duration;

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

    #[test]
    fn nth_hit_and_outcome_detail() {
        let shared = shared_with("B", 9, vec![]);
        shared.lock().procs.get_mut("B").unwrap().target = Some(Target {
            point: "storage.temp_written".into(),
            nth: 2,
            seen: 0,
        });
        let m = |point: &str, detail: Option<&str>| PointMessage {
            process: "B".into(),
            pid: 9,
            point: point.into(),
            detail: detail.map(str::to_string),
        };
        assert_eq!(
            shared.on_point(&m("storage.temp_written", None)),
            Some(Reply::Continue)
        );
        assert_eq!(
            shared.on_point(&m("refresh.outcome", Some("refreshed"))),
            Some(Reply::Continue)
        );
        let s2 = shared.clone();
        let h = std::thread::spawn(move || s2.on_point(&m("storage.temp_written", None)));
        let mut st = shared.lock();
        while !matches!(st.procs["B"].phase, Phase::Held { .. }) {
            st = shared.cv.wait(st).unwrap();
        }
        // Killed while held: no reply.
        st.procs.get_mut("B").unwrap().kill = Some(KillInfo {
            at: None,
            t_ms: 0.0,
            teardown: false,
        });
        shared.cv.notify_all();
        drop(st);
        assert_eq!(h.join().unwrap(), None);
        assert_eq!(
            shared.lock().procs["B"].outcomes,
            vec!["refreshed".to_string()]
        );
    }
}
