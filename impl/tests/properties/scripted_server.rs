//! A real loopback HTTP server that answers each request from a generated script: any status,
//! headers and body, sent whole, cut short, stalled mid-answer, delayed, or not at all (the
//! connection dropped), or bytes that are not HTTP. It records what each request carried and
//! which reply it got, so a property can judge the client by what the server actually said.
//!
//! Why not a mock: the client must meet real sockets (truncation, resets, stalls) to show that
//! what it does depends only on what the server said.

use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One scripted reply. Its `Debug` shows the body as text, so a shrunk case reads.
#[derive(Clone)]
pub enum Reply {
    /// An HTTP answer, after `delay_ms`; `cut` closes the connection after that many bytes of
    /// the whole answer; `stall` pauses `(after_bytes, ms)` mid-answer.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay_ms: u64,
        cut: Option<prop::sample::Index>,
        stall: Option<(prop::sample::Index, u64)>,
    },
    /// The connection is closed after `delay_ms` without an answer.
    Drop { delay_ms: u64 },
    /// Bytes that are not an HTTP answer, then close.
    Garbage(Vec<u8>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Answer {
                status,
                headers,
                body,
                delay_ms,
                cut,
                stall,
            } => write!(
                f,
                "Answer {status} {headers:?} body={:?} delay={delay_ms}ms cut={cut:?} stall={stall:?}",
                String::from_utf8_lossy(body)
            ),
            Reply::Drop { delay_ms } => write!(f, "Drop after {delay_ms}ms"),
            Reply::Garbage(b) => write!(f, "Garbage {:?}", String::from_utf8_lossy(b)),
        }
    }
}

impl Reply {
    /// The answer the client would see if it read all of it in time, as `(status, body)`.
    pub fn whole(&self) -> Option<(u16, &[u8])> {
        match self {
            Reply::Answer {
                status,
                body,
                cut: None,
                ..
            } => Some((*status, body)),
            _ => None,
        }
    }
}

/// What one request carried and which script entry answered it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub refresh_token: Option<String>,
    pub reply: usize,
}

pub struct ScriptedServer {
    pub url: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Serves `script` (entry `i` answers the `i`-th request; later requests are dropped).
    pub fn start(script: Vec<Reply>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let reply = script.get(served).cloned();
                            if serve(conn, served, reply, &seen, &stop) {
                                served += 1;
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        ScriptedServer {
            url,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sleeps `ms`, waking early when the server stops.
fn pause(ms: u64, stop: &AtomicBool) {
    let until = std::time::Instant::now() + Duration::from_millis(ms);
    while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Answers one connection; whether it consumed the script entry (a request for another path,
/// such as another test's daemon scan probing loopback ports, gets a 404 and does not).
fn serve(
    mut conn: TcpStream,
    index: usize,
    reply: Option<Reply>,
    seen: &Mutex<Vec<Seen>>,
    stop: &AtomicBool,
) -> bool {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    let Some((path, body)) = read_request(&mut conn) else {
        return false;
    };
    if path != "/oauth/token" {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return false;
    }
    let refresh_token = form_value(&body, "refresh_token");
    seen.lock().unwrap().push(Seen {
        path,
        refresh_token,
        reply: index,
    });
    match reply.unwrap_or(Reply::Drop { delay_ms: 0 }) {
        Reply::Drop { delay_ms } => pause(delay_ms, stop),
        Reply::Garbage(bytes) => {
            let _ = conn.write_all(&bytes);
        }
        Reply::Answer {
            status,
            headers,
            body,
            delay_ms,
            cut,
            stall,
        } => {
            pause(delay_ms, stop);
            let mut out = format!("HTTP/1.1 {status} Scripted\r\nconnection: close\r\n");
            let mut has_length = false;
            for (k, v) in &headers {
                has_length |= k.eq_ignore_ascii_case("content-length");
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            if !has_length {
                out.push_str(&format!("content-length: {}\r\n", body.len()));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            let (first, rest) = match stall {
                Some((at, _)) => bytes.split_at(at.index(bytes.len() + 1)),
                None => (&bytes[..], &[][..]),
            };
            let _ = conn.write_all(first);
            if let Some((_, ms)) = stall {
                let _ = conn.flush();
                pause(ms, stop);
            }
            let _ = conn.write_all(rest);
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
    true
}

/// The request's path and body (by `Content-Length`), or `None` if it never arrived whole.
fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + length].to_vec()))
}

/// A value of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(v))
    })
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Headers a server may add: odd content types, a redirect target, a wrong or huge length.
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let header = prop_oneof![
        Just(("content-type".to_string(), "application/json".to_string())),
        Just((
            "content-type".to_string(),
            "text/html; charset=latin1".to_string()
        )),
        "[ -~]{0,40}".prop_map(|l| ("location".to_string(), l)),
        (0u64..100_000).prop_map(|n| ("content-length".to_string(), n.to_string())),
        Just((
            "content-length".to_string(),
            "18446744073709551616".to_string()
        )),
        Just(("transfer-encoding".to_string(), "chunked".to_string())),
        Just(("retry-after".to_string(), "1".to_string())),
    ];
    prop::collection::vec(header, 0..2)
}

/// Delays: mostly none, sometimes short, rarely past any ceiling the tests use.
fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![8 => Just(0u64), 3 => 1u64..200, 1 => Just(1_500u64)]
}

/// One scripted reply whose answer (if it is one) has a `(status, body)` from `answer`.
pub fn reply(answer: impl Strategy<Value = (u16, Vec<u8>)>) -> impl Strategy<Value = Reply> {
    let answer = (
        answer,
        headers(),
        delay(),
        prop::option::weighted(0.1, any::<prop::sample::Index>()),
        prop::option::weighted(0.1, (any::<prop::sample::Index>(), delay())),
    )
        .prop_map(
            |((status, body), headers, delay_ms, cut, stall)| Reply::Answer {
                status,
                headers,
                body,
                delay_ms,
                cut,
                stall,
            },
        );
    prop_oneof![
        12 => answer,
        1 => delay().prop_map(|delay_ms| Reply::Drop { delay_ms }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Reply::Garbage),
    ]
}
