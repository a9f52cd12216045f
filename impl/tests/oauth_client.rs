//! Every branch of the token endpoint (and the other SaaS calls) against a real HTTP server.

mod common;

use common::MockSaas;
use spec_kitty::deadline::Deadline;
use spec_kitty::oauth::{
    DevicePoll, OAuthClient, RefreshExpiry, RefreshResponse, MAX_ACCESS_LIFETIME_S,
};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn token_answer(saas: &MockSaas, template: ResponseTemplate) -> RefreshResponse {
    saas.mount(
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(template),
    );
    OAuthClient::new(&saas.uri(), Duration::from_secs(2))
        .unwrap()
        .refresh("rt-1", soon())
}

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(2))
}

#[test]
fn granted_with_every_field() {
    let saas = MockSaas::start();
    saas.mount(
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains("refresh_token=rt-1"))
            .and(body_string_contains("client_id=cli_native"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(common::grant_body("at-2", "rt-2")),
            )
            .expect(1),
    );
    let client = OAuthClient::new(&saas.uri(), Duration::from_secs(2)).unwrap();
    let RefreshResponse::Granted(grant) = client.refresh("rt-1", soon()) else {
        panic!("expected a grant")
    };
    assert_eq!(grant.access_token, "at-2");
    assert_eq!(grant.refresh_token.as_deref(), Some("rt-2"));
    assert_eq!(grant.expires_in, 3600);
    assert_eq!(grant.generation, Some(2));
    let Some(RefreshExpiry::At(at)) = grant.refresh_expiry else {
        panic!("{grant:?}")
    };
    assert_eq!(at.to_rfc3339(), "2099-01-01T00:00:00+00:00");
    saas.verify();
}

#[test]
fn granted_minimal_body_uses_defaults() {
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "at-2"})),
    );
    let RefreshResponse::Granted(grant) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        grant.refresh_token, None,
        "no rotation: keep the old refresh token"
    );
    assert_eq!(grant.expires_in, 3600);
    assert_eq!(grant.refresh_expiry, None);
}

#[test]
fn granted_with_relative_refresh_expiry() {
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "a", "refresh_token_expires_in": 120, "expires_in": 60}),
        ),
    );
    let RefreshResponse::Granted(grant) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(grant.refresh_expiry, Some(RefreshExpiry::In(120)));
    assert_eq!(grant.expires_in, 60);
}

#[test]
fn invalid_grant_is_a_rejection() {
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"error": "invalid_grant", "error_description": "used"}),
        ),
    );
    assert_eq!(
        answer,
        RefreshResponse::Rejected {
            error: "invalid_grant".into(),
            reason: None
        }
    );
}

#[test]
fn session_invalid_401_is_a_rejection() {
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(401).set_body_json(serde_json::json!({"error": "session_invalid"})),
    );
    assert!(
        matches!(answer, RefreshResponse::Rejected { error, .. } if error == "session_invalid")
    );
}

#[test]
fn other_400_is_not_a_rejection() {
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_client"})),
    );
    assert!(
        matches!(answer, RefreshResponse::Transient(_)),
        "{answer:?}"
    );
}

#[test]
fn replay_409_is_typed() {
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(409).set_body_json(
            serde_json::json!({"error": "refresh_replay_benign_retry", "retry_after": 2}),
        ),
    );
    assert_eq!(
        answer,
        RefreshResponse::Replay {
            retry_after: Some(2)
        }
    );
}

#[test]
fn server_errors_and_malformed_bodies_are_transient() {
    for template in [
        ResponseTemplate::new(500),
        ResponseTemplate::new(503).set_body_string("down"),
        ResponseTemplate::new(200).set_body_string("{not json"),
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"token_type": "Bearer"})),
        ResponseTemplate::new(409).set_body_json(serde_json::json!({"error": "conflict"})),
        ResponseTemplate::new(200).set_body_string("x".repeat(2 << 20)),
    ] {
        let saas = MockSaas::start();
        let answer = token_answer(&saas, template);
        assert!(
            matches!(answer, RefreshResponse::Transient(_)),
            "{answer:?}"
        );
    }
}

#[test]
fn timeout_is_transient_and_bounded() {
    let saas = MockSaas::start();
    saas.mount(
        Mock::given(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))),
    );
    let client = OAuthClient::new(&saas.uri(), Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let answer = client.refresh("rt-1", Deadline::after(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(answer, RefreshResponse::Transient("timed out".into()));
}

#[test]
fn connection_refused_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client =
        OAuthClient::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap();
    assert!(matches!(
        client.refresh("rt", soon()),
        RefreshResponse::Transient(_)
    ));
}

#[test]
fn device_poll_branches() {
    let cases = [
        (400, "authorization_pending", DevicePoll::Pending),
        (400, "slow_down", DevicePoll::SlowDown),
        (400, "access_denied", DevicePoll::Denied),
        (400, "expired_token", DevicePoll::Expired),
    ];
    for (status, error, expected) in cases {
        let saas = MockSaas::start();
        saas.mount(
            Mock::given(path("/oauth/token"))
                .and(body_string_contains("device_code=dc-1"))
                .and(body_string_contains(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
                ))
                .respond_with(
                    ResponseTemplate::new(status)
                        .set_body_json(serde_json::json!({"error": error})),
                ),
        );
        let client = OAuthClient::new(&saas.uri(), Duration::from_secs(2)).unwrap();
        assert_eq!(client.poll_device("dc-1"), expected, "{error}");
    }
    let saas = MockSaas::start();
    saas.mount(
        Mock::given(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(common::grant_body("a", "r"))),
    );
    let client = OAuthClient::new(&saas.uri(), Duration::from_secs(2)).unwrap();
    assert!(matches!(client.poll_device("dc-1"), DevicePoll::Granted(_)));
}

#[test]
fn revoke_and_profile() {
    let saas = MockSaas::start();
    saas.mount(
        Mock::given(method("POST"))
            .and(path("/oauth/revoke"))
            .and(body_string_contains("token=rt-1"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1),
    );
    saas.mount(
        Mock::given(method("GET"))
            .and(path("/api/v1/me"))
            .and(header("authorization", "Bearer at-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "user_id": "u1", "email": "e@x", "name": "N",
                "teams": [{"id": "t", "name": "T", "role": "owner", "is_private_teamspace": true, "slug": "t-s"}],
                "default_team_id": "t"
            }))),
    );
    let client = OAuthClient::new(&saas.uri(), Duration::from_secs(2)).unwrap();
    client.revoke("rt-1", "refresh_token", soon()).unwrap();
    let me = client.me("at-1").unwrap();
    assert_eq!(me.teams[0].slug.as_deref(), Some("t-s"));
    assert!(client.me("wrong").is_err());
    saas.verify();
}

#[test]
fn expires_in_is_read_as_python_reads_it() {
    for (raw, want) in [
        (serde_json::json!("300"), 300),
        (serde_json::json!(300.0), 300),
        (serde_json::json!(300), 300),
        (serde_json::json!(i64::MAX), MAX_ACCESS_LIFETIME_S),
    ] {
        let saas = MockSaas::start();
        let answer = token_answer(
            &saas,
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"access_token": "a", "refresh_token": "r", "expires_in": raw}),
            ),
        );
        let RefreshResponse::Granted(grant) = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(grant.expires_in, want, "{raw}");
        assert_eq!(grant.problem, None, "{raw}");
    }
    // Anything else is a malformed answer, but the rotated tokens are still handed over.
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "a", "refresh_token": "r", "expires_in": "300.5s"}),
        ),
    );
    let RefreshResponse::Granted(grant) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(grant.refresh_token.as_deref(), Some("r"));
    assert!(grant.problem.unwrap().contains("expires_in"));
}

#[test]
fn a_redirect_is_never_followed_and_never_forwards_the_token() {
    let elsewhere = MockSaas::start();
    elsewhere.mount(Mock::given(path("/oauth/token")).respond_with(
        ResponseTemplate::new(200).set_body_json(common::grant_body("at-x", "rt-x")),
    ));
    let saas = MockSaas::start();
    let answer = token_answer(
        &saas,
        ResponseTemplate::new(307).insert_header(
            "location",
            format!("{}/oauth/token", elsewhere.uri()).as_str(),
        ),
    );
    let RefreshResponse::Transient(reason) = answer else {
        panic!("{answer:?}")
    };
    assert!(reason.contains("redirect"), "{reason}");
    assert!(
        elsewhere.bodies().is_empty(),
        "the refresh token was forwarded"
    );
}

/// Revoke and both device-flow calls refuse a redirect as the token refresh does: the other
/// address never receives the token or the device code, and the error names the redirect.
#[test]
fn revoke_and_the_device_flow_never_follow_a_redirect() {
    let elsewhere = MockSaas::start();
    elsewhere.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)));
    let saas = MockSaas::start();
    for from in ["/oauth/revoke", "/oauth/device/authorize", "/oauth/token"] {
        saas.mount(
            Mock::given(method("POST")).and(path(from)).respond_with(
                ResponseTemplate::new(308)
                    .insert_header("location", format!("{}{from}", elsewhere.uri()).as_str()),
            ),
        );
    }
    let client = OAuthClient::new(&saas.uri(), Duration::from_secs(2)).unwrap();

    let revoked = client.revoke("rt-secret", "refresh_token", soon());
    let message = revoked.unwrap_err().to_string();
    assert!(message.contains("never follow redirects"), "{message}");

    let authorized = client.device_authorize("offline_access");
    let message = authorized.unwrap_err().to_string();
    assert!(message.contains("never follow redirects"), "{message}");

    let DevicePoll::Failed(reason) = client.poll_device("dc-secret") else {
        panic!("a redirected poll is a failure")
    };
    assert!(reason.contains("never follow redirects"), "{reason}");

    assert_eq!(saas.bodies().len(), 3, "each call was sent once");
    assert!(
        elsewhere.bodies().is_empty(),
        "nothing was forwarded: {:?}",
        elsewhere.bodies()
    );
}

/// A server that sends its headers at once, then its body one byte every 50 ms: a client with
/// only per-operation timeouts would wait for it indefinitely.
fn trickling_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let body = br#"{"access_token": "a", "refresh_token": "r", "expires_in": 60}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        for byte in body {
            if stream.write_all(&[*byte]).is_err() {
                return; // the client gave up: what we want
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    (url, handle)
}

#[test]
fn a_trickled_body_is_cut_off_at_the_deadline() {
    let (url, server) = trickling_server();
    let client = OAuthClient::new(&url, Duration::from_secs(30)).unwrap();
    let started = Instant::now();
    let answer = client.refresh("rt-1", Deadline::after(Duration::from_millis(500)));
    let took = started.elapsed();
    assert!(
        matches!(answer, RefreshResponse::Transient(_)),
        "{answer:?}"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    server.join().unwrap();
}
