//! The `trickle` and `redirect` faults over real HTTP: a body that outlasts a per-read timeout
//! but not a deadline, the real answer trickled after the model acted, and a redirect whose
//! target journals what was forwarded to it (on this fake or on another one).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use fake_saas::{FaultAction, FaultPhase, FaultSpec, JournalOutcome, SaasConfig};
use reqwest::blocking::Client;

const TOKEN: &str = "/oauth/token";

/// What a raw HTTP/1.1 exchange looked like from a client that bounds each read only.
struct RawExchange {
    head: String,
    body: Vec<u8>,
    /// From the request to the end of the headers, and to the end of the body.
    head_after: Duration,
    done_after: Duration,
}

/// POST a refresh over a plain socket whose every read times out after `read_timeout`; panics
/// if any single read times out.
fn raw_refresh(url: &str, refresh_token: &str, read_timeout: Duration) -> RawExchange {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    let form =
        format!("grant_type=refresh_token&refresh_token={refresh_token}&client_id=cli_native");
    let request = format!(
        "POST {TOKEN} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let started = Instant::now();
    stream.write_all(request.as_bytes()).unwrap();
    let (mut received, mut head_after) = (Vec::new(), None);
    let mut buf = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("a single read timed out or failed: {e}"));
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        if head_after.is_none() && received.windows(4).any(|w| w == b"\r\n\r\n") {
            head_after = Some(started.elapsed());
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the exchange outlived the test deadline"
        );
    }
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    RawExchange {
        head: String::from_utf8_lossy(&received[..split]).to_lowercase(),
        body: received[split..].to_vec(),
        head_after: head_after.expect("headers"),
        done_after: started.elapsed(),
    }
}

#[test]
fn trickle_before_holds_a_client_that_bounds_each_read() {
    let saas = start(SaasConfig::default());
    let seeded = seed(&saas);
    let body = r#"{"pending":true}"#; // 16 bytes
    saas.add_fault(FaultSpec {
        name: Some("slow".into()),
        status: Some(200),
        body: Some(body.into()),
        interval_ms: Some(50),
        ..FaultSpec::action(TOKEN, FaultAction::Trickle)
    });
    let exchange = raw_refresh(
        &saas.url(),
        &seeded.refresh_token,
        Duration::from_millis(300),
    );
    assert!(
        exchange.head.starts_with("http/1.1 200"),
        "{}",
        exchange.head
    );
    assert!(
        exchange.head.contains("content-length: 16"),
        "{}",
        exchange.head
    );
    assert_eq!(exchange.body, body.as_bytes());
    // Every read returned within 300 ms, yet the answer took 16 intervals: longer than any read.
    assert!(
        exchange.done_after >= Duration::from_millis(750),
        "{:?}",
        exchange.done_after
    );
    // The headers came at once, long before the body was complete.
    assert!(
        exchange.head_after + Duration::from_millis(500) <= exchange.done_after,
        "headers after {:?}, body after {:?}",
        exchange.head_after,
        exchange.done_after
    );
    // Phase before: the model did nothing.
    assert_eq!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
    let entry = saas.journal().pop().unwrap();
    assert_eq!(
        (entry.outcome, entry.status, entry.fault.as_deref()),
        (JournalOutcome::Fault, Some(200), Some("slow"))
    );
}

#[test]
fn trickle_is_cut_short_by_a_deadline() {
    let saas = start(SaasConfig::default());
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec::action(TOKEN, FaultAction::Trickle)); // 1 s a byte
    let deadline = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = deadline
        .post(format!("{}{TOKEN}", saas.url()))
        .form(&refresh_form(&seeded.refresh_token))
        .send()
        .and_then(|r| r.text());
    let err = response.expect_err("the body cannot arrive within 300 ms");
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn trickle_after_sends_the_real_answer_slowly() {
    let saas = start(SaasConfig::default());
    let c = client();
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        phase: FaultPhase::After,
        interval_ms: Some(2),
        first_n: Some(1),
        ..FaultSpec::action(TOKEN, FaultAction::Trickle)
    });
    let started = Instant::now();
    let (status, body) = refresh(&c, &saas, &seeded.refresh_token);
    let elapsed = started.elapsed();
    // The real answer: the rotation happened, and its pair arrived intact, slowly.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["generation"], 2);
    assert_eq!(saas.latest_refresh_token("sess_1"), Some(rt(&body)));
    let length = body.to_string().len() as u32;
    assert!(
        elapsed >= Duration::from_millis(2) * length,
        "{elapsed:?} for {length} bytes"
    );
    let entry = saas.journal().pop().unwrap();
    assert_eq!(
        (entry.outcome, entry.fault.as_deref()),
        (JournalOutcome::Rotated, Some("fault-0"))
    );
}

fn no_redirects() -> Client {
    Client::builder()
        .timeout(DEADLINE)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn redirect_points_elsewhere_and_the_target_journals_what_arrived() {
    let saas = start(SaasConfig::default());
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec::action(TOKEN, FaultAction::Redirect));
    let url = format!("{}{TOKEN}", saas.url());

    // A client that does not follow sees the redirect, and nothing changed.
    let response =
        try_post_form(&no_redirects(), &url, &refresh_form(&seeded.refresh_token)).unwrap();
    assert_eq!(response.status().as_u16(), 307);
    let target = format!("{}/redirected{TOKEN}", saas.url());
    assert_eq!(response.headers()["location"], target.as_str());
    assert_eq!(
        saas.latest_refresh_token("sess_1").unwrap(),
        seeded.refresh_token
    );
    assert_eq!(saas.count("/redirected/oauth/token"), 0);

    // A client that follows forwards the refresh token there, and gets foreign tokens.
    let (status, body) = refresh(&client(), &saas, &seeded.refresh_token);
    assert_eq!(status, 200, "{body}");
    assert!(!saas.issued_tokens().contains(&rt(&body)), "{body}");
    assert_eq!(saas.count("/redirected/oauth/token"), 1);
    let arrived = saas.journal().pop().unwrap();
    assert_eq!(arrived.endpoint, "/redirected/oauth/token");
    assert_eq!(arrived.outcome, JournalOutcome::RedirectTarget);
    assert_eq!(
        arrived.token.as_deref(),
        Some(seeded.refresh_token.as_str())
    );
    assert_eq!(arrived.grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(arrived.session_id.as_deref(), Some("sess_1"));
    let redirected = &saas.journal()[1];
    assert_eq!(
        (redirected.outcome, redirected.status),
        (JournalOutcome::Fault, Some(307))
    );
}

#[test]
fn redirect_after_rotates_then_points_at_another_server() {
    let saas = start(SaasConfig::default());
    let other = start(SaasConfig::default());
    let seeded = seed(&saas);
    saas.add_fault(FaultSpec {
        phase: FaultPhase::After,
        status: Some(308),
        location: Some(format!("{}{TOKEN}", other.url())),
        ..FaultSpec::action(TOKEN, FaultAction::Redirect)
    });
    let url = format!("{}{TOKEN}", saas.url());
    let response =
        try_post_form(&no_redirects(), &url, &refresh_form(&seeded.refresh_token)).unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("{}{TOKEN}", other.url()).as_str()
    );
    // Phase after: the server rotated, and the client never got the new pair.
    let latest = saas.latest_refresh_token("sess_1").unwrap();
    assert!(latest.starts_with("rt.sess_1.g2."), "{latest}");
    assert_eq!(
        saas.journal().pop().unwrap().outcome,
        JournalOutcome::Rotated
    );

    // Followed, the spent token reaches the other server, which journals it.
    let (status, _) = refresh(&client(), &saas, &seeded.refresh_token);
    assert_eq!(status, 400);
    let there = other.journal();
    assert_eq!(there.len(), 1);
    assert_eq!(
        there[0].token.as_deref(),
        Some(seeded.refresh_token.as_str())
    );
    assert_eq!(there[0].outcome, JournalOutcome::UnknownToken);
}
