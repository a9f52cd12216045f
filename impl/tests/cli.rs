//! The `spec-kitty` binary end to end, against the fake SaaS on loopback.

mod common;

use common::{spec_kitty_cmd, Root, Seeded};
use fake_saas::SaasConfig;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(mut cmd: Command) -> Output {
    common::bounded_output(&mut cmd)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// No issued token may appear in `out`.
fn assert_no_tokens(seeded: &Seeded, out: &str) {
    for token in seeded.saas.issued_tokens() {
        assert!(!out.contains(&token), "token leaked: {out}");
    }
}

#[test]
fn version_comes_from_the_manifest() {
    let out = run(spec_kitty_cmd(&Root::new(), None).tap_arg("--version"));
    assert!(out.status.success());
    let version = text(&out.stdout);
    assert_eq!(
        version.trim(),
        format!("spec-kitty {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(!version.contains("unknown"));
}

#[test]
fn help_documents_exit_codes() {
    let out = run(spec_kitty_cmd(&Root::new(), None).tap_args(&["auth", "token", "--help"]));
    let help = text(&out.stdout);
    assert!(
        help.contains("Exit codes") && help.contains("retryable"),
        "{help}"
    );
}

#[test]
fn status_reports_a_seeded_session_without_network_or_tokens() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    let out = run(s.cmd().tap_args(&["auth", "status"]));
    assert_eq!(out.status.code(), Some(0));
    let human = text(&out.stdout);
    assert!(
        human.contains("Logged in as Dev User") && human.contains(&s.seeded.session_id),
        "{human}"
    );
    assert!(human.contains("Access token:   valid for"), "{human}");

    let out = run(s.cmd().tap_args(&["auth", "status", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["authenticated"], true);
    assert_eq!(json["state"], "present");
    assert_eq!(json["session_id"], s.seeded.session_id.as_str());
    assert_eq!(json["storage_backend"], "file");
    assert!(json["access_expires_in_s"].as_i64().unwrap() > 3500);
    assert!(json["refresh_expires_in_s"].as_i64().unwrap() > 86_000);
    assert_no_tokens(&s, &(text(&out.stdout) + &text(&out.stderr) + &human));
    assert_eq!(
        s.saas.counters().values().sum::<u64>(),
        0,
        "status makes no request"
    );
}

/// A refresh token past its lifetime with an access token still good: status says yes, you are
/// logged in, but also when that ends and that only a login helps then.
#[test]
fn status_with_only_the_access_token_left_says_when_the_session_ends() {
    let s = Seeded::new(SaasConfig::default(), 600, -60);
    let out = run(s.cmd().tap_args(&["auth", "status", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["ok"], true);
    assert_eq!(json["authenticated"], true);
    assert_eq!(json["refresh_expired"], true);
    assert_eq!(json["session_ends_at"], json["access_token_expires_at"]);
    assert!(json["session_ends_at"].is_string());

    let out = run(s.cmd().tap_args(&["auth", "status"]));
    assert_eq!(out.status.code(), Some(0));
    let human = text(&out.stdout);
    assert!(
        human.contains("refresh token has expired") && human.contains("spec-kitty auth login"),
        "{human}"
    );
    let ends = json["session_ends_at"].as_str().unwrap();
    assert!(
        human.contains(ends),
        "the text names the end time {ends}: {human}"
    );

    // With a refresh token still alive, the session ends when it does.
    let s = Seeded::new(SaasConfig::default(), 600, 86_400);
    let out = run(s.cmd().tap_args(&["auth", "status", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["refresh_expired"], false);
    assert_eq!(json["session_ends_at"], json["refresh_token_expires_at"]);
    assert!(!text(&out.stdout).contains("auth login"));
}

#[test]
fn status_reports_an_unreadable_file_and_never_deletes_it() {
    let root = Root::new();
    std::fs::create_dir_all(root.root.auth_dir()).unwrap();
    std::fs::write(root.root.session_file(), "{\"version\": 2, \"nonce\": \"00").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.root.session_file(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let before = std::fs::read(root.root.session_file()).unwrap();
    let out = run(spec_kitty_cmd(&root, None).tap_args(&["auth", "status", "--json"]));
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["state"], "unreadable");
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"]["code"], "session_unreadable");
    assert_eq!(json["error"]["exit_code"], 1);
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    let out = run(spec_kitty_cmd(&root, None).tap_args(&["auth", "status"]));
    assert!(text(&out.stderr).contains("unreadable"));
    let out = run(spec_kitty_cmd(&root, None).tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(root.root.session_file()).unwrap(),
        before,
        "left in place"
    );
}

#[test]
fn token_without_refresh_needs_no_network() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    // No SaaS URL at all: a usable token must still print.
    let out = run(spec_kitty_cmd(&s.root, None).tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), s.seeded.access_token);
    assert!(out.stderr.is_empty());
    assert_eq!(s.saas.count("/oauth/token"), 0);
}

#[test]
fn token_refreshes_an_expired_access_token() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let out = run(s.cmd().tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.saas.count("/oauth/token"), 1);
    let printed = text(&out.stdout).trim().to_string();
    assert_ne!(printed, s.seeded.access_token);
    let on_disk = s.root.store().read().unwrap().unwrap();
    assert_eq!(on_disk.access_token, printed);
    assert_eq!(
        Some(on_disk.refresh_token),
        s.saas.latest_refresh_token(&s.seeded.session_id)
    );
    // A second call reuses the refreshed token.
    let again = run(s.cmd().tap_args(&["auth", "token"]));
    assert_eq!(text(&again.stdout).trim(), printed);
    assert_eq!(s.saas.count("/oauth/token"), 1);
}

#[test]
fn token_logs_one_outcome_line_with_verbose() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let out = run(s.cmd().tap_args(&["-v", "auth", "token"]));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr
            .matches("refresh_transaction outcome=refreshed network_call=true")
            .count(),
        1,
        "{stderr}"
    );
    assert_no_tokens(&s, &stderr);
}

#[test]
fn token_without_session_names_the_fix() {
    let root = Root::new();
    let out = run(spec_kitty_cmd(&root, Some("http://127.0.0.1:9")).tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no session") && stderr.contains("spec-kitty auth login"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn token_with_saas_url_unset_is_a_clear_configuration_error() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let out = run(spec_kitty_cmd(&s.root, None).tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("SPEC_KITTY_SAAS_URL is not set"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert!(s.root.store().read().unwrap().is_some());
}

#[test]
fn revoked_session_names_server_revocation_and_is_cleared() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    s.saas.revoke_session(&s.seeded.session_id);
    let out = run(s.cmd().tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("revoked by the server") && stderr.contains("spec-kitty auth login"),
        "{stderr}"
    );
    assert!(s.root.store().read().unwrap().is_none());
}

#[test]
fn expired_refresh_token_names_the_lifetime_without_network_or_deletion() {
    let s = Seeded::new(SaasConfig::default(), -60, -1);
    let out = run(s.cmd().tap_args(&["auth", "token"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("absolute lifetime"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.saas.count("/oauth/token"), 0);
    assert!(s.root.store().read().unwrap().is_some());
}

#[test]
fn network_failure_is_retryable_and_keeps_the_session() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(
        spec_kitty_cmd(&s.root, Some(&format!("http://{closed}"))).tap_args(&["auth", "token"])
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nothing was deleted"));
    assert!(s.root.store().read().unwrap().is_some());
}

#[test]
fn logout_revokes_at_the_server_and_deletes() {
    let s = Seeded::new(SaasConfig::default(), 3600, 86_400);
    let out = run(s.cmd().tap_args(&["auth", "logout", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["removed"], true);
    assert_eq!(json["revocation"], "revoked");
    assert_eq!(s.saas.count("/oauth/revoke"), 1);
    assert!(s.root.store().read().unwrap().is_none());
    assert!(!s.saas.session(&s.seeded.session_id).unwrap().active);
    let out = run(s.cmd().tap_args(&["auth", "logout"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Not logged in"));
}

#[test]
fn headless_login_runs_the_device_flow_and_writes_a_full_session() {
    let mut config = SaasConfig::default();
    config.device.interval_s = 0;
    config.device.approve_after_polls = 2;
    let saas = fake_saas::FakeSaas::start(config).unwrap();
    let root = Root::new();
    let out = run(spec_kitty_cmd(&root, Some(&saas.url())).tap_args(&[
        "auth",
        "login",
        "--headless",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("enter the code"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["logged_in"], true);
    let session = root.store().read().unwrap().unwrap();
    assert_eq!(session.auth_method, "device_code");
    assert_eq!(session.user_id, "user_1");
    assert!(!session.teams.is_empty());
    assert_eq!(
        Some(session.refresh_token.clone()),
        saas.latest_refresh_token(&session.session_id)
    );
    let plaintext: serde_json::Value = serde_json::from_slice(&session.to_json()).unwrap();
    assert_eq!(
        plaintext.as_object().unwrap().len(),
        16,
        "every key present"
    );
    for token in saas.issued_tokens() {
        assert!(!stderr.contains(&token) && !text(&out.stdout).contains(&token));
    }
}

/// Without `--headless` the device flow still runs (the page is only opened when a graphical
/// session is visible and a person is at the terminal; neither holds here), and the human
/// result is on stdout.
#[test]
fn login_without_headless_runs_the_device_flow_too() {
    let mut config = SaasConfig::default();
    config.device.interval_s = 0;
    let saas = fake_saas::FakeSaas::start(config).unwrap();
    let root = Root::new();
    let mut cmd = spec_kitty_cmd(&root, Some(&saas.url()));
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    let out = run(cmd.tap_args(&["auth", "login"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("enter the code"));
    assert!(
        text(&out.stdout).starts_with("Logged in as"),
        "{}",
        text(&out.stdout)
    );
    assert!(root.store().read().unwrap().is_some());
}

#[test]
fn headless_login_denied_is_reported() {
    let mut config = SaasConfig::default();
    config.device.interval_s = 0;
    config.device.outcome = fake_saas::DeviceOutcome::Deny;
    let saas = fake_saas::FakeSaas::start(config).unwrap();
    let root = Root::new();
    let out =
        run(spec_kitty_cmd(&root, Some(&saas.url())).tap_args(&["auth", "login", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("denied"));
    assert!(root.store().read().unwrap().is_none());
}

/// The headline property: N processes on one expired session, one rotating server → one refresh.
#[test]
fn eight_processes_on_an_expired_session_make_exactly_one_token_request() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let started = Instant::now();
    let children: Vec<_> = (0..8)
        .map(|_| {
            s.cmd()
                .args(["auth", "token"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert!(started.elapsed() < Duration::from_secs(30));
    let tokens: Vec<String> = outputs
        .iter()
        .map(|o| {
            assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
            text(&o.stdout).trim().to_string()
        })
        .collect();
    assert_eq!(s.saas.count("/oauth/token"), 1, "exactly one refresh");
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
    assert_ne!(tokens[0], s.seeded.access_token);
    let on_disk = s.root.store().read().unwrap().unwrap();
    assert_eq!(on_disk.access_token, tokens[0]);
    assert_eq!(
        Some(on_disk.refresh_token),
        s.saas.latest_refresh_token(&s.seeded.session_id)
    );
}

/// Small builder sugar so each test reads as one line.
trait Tap {
    fn tap_arg(self, arg: &str) -> Self;
    fn tap_args(self, args: &[&str]) -> Self;
}

impl Tap for Command {
    fn tap_arg(mut self, arg: &str) -> Self {
        self.arg(arg);
        self
    }
    fn tap_args(mut self, args: &[&str]) -> Self {
        self.args(args);
        self
    }
}
