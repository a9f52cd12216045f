//! The `spec-kitty` binary against bad configuration, bad local state, a full disk and test-hook
//! variables a user's environment might hold: each gets a clear, immediate answer and loses
//! nothing.

mod common;

use common::{spec_kitty_cmd, MockSaas, Root, Seeded};
use fake_saas::SaasConfig;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn run(cmd: &mut Command) -> Output {
    common::bounded_output(cmd)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Variable names test executables use, or once used, to steer a child: the names the scenario
/// runner owns today (`harness::CHILD_HOOK_VARIABLES`, so a name added there is checked here too) and
/// the ones an earlier design read in production code. None may reach the binary.
fn hook_variables() -> Vec<&'static str> {
    let earlier = [
        "SPEC_KITTY_SYNC_SOCKET",
        "SPEC_KITTY_SYNC_PROCESS",
        "SPEC_KITTY_TEST_LOCK_WAIT_MS",
        "SPEC_KITTY_TEST_REFRESH_CEILING_MS",
        "SPEC_KITTY_TEST_CLOCK_OFFSET_S",
    ];
    let mut names: Vec<&str> = earlier
        .into_iter()
        .chain(harness::CHILD_HOOK_VARIABLES)
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 12, "{names:?}");
    names
}

#[test]
fn the_binary_contains_no_test_hook_variable_names() {
    // What `strings | grep` would show, with grep's fast search over the whole binary.
    let found = |names: &[&str]| {
        let mut grep = Command::new("grep");
        grep.args(["-a", "-o", "-F"]);
        for name in names {
            grep.args(["-e", name]);
        }
        let out = grep.arg(env!("CARGO_BIN_EXE_spec-kitty")).output().unwrap();
        text(&out.stdout)
    };
    assert!(
        found(&["SPEC_KITTY_SAAS_URL"]).contains("SPEC_KITTY_SAAS_URL"),
        "the scan sees real names"
    );
    assert_eq!(
        found(&hook_variables()),
        "",
        "test-hook variable names in the binary"
    );
}

#[test]
fn the_binary_ignores_test_hook_variables() {
    // A valid session for 10 more minutes; a shifted clock would call it expired and refresh.
    let s = Seeded::new(SaasConfig::default(), 600, 86_400);
    // A socket that accepts but never answers: a binary that reported points would hang on it.
    let socket_dir = tempfile::tempdir().unwrap();
    let socket = socket_dir.path().join("points.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut cmd = s.cmd();
    for name in hook_variables() {
        let value = if name.ends_with("SOCKET") {
            socket.display().to_string()
        } else {
            "100000".to_string()
        };
        cmd.env(name, value);
    }
    let started = Instant::now();
    let out = run(cmd.args(["auth", "token"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(text(&out.stdout).trim(), s.seeded.access_token);
    assert_eq!(s.saas.count("/oauth/token"), 0, "the clock was not shifted");
}

#[test]
fn a_malformed_saas_url_is_a_configuration_error_naming_the_variable() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    for bad in [
        "garbage",
        "127.0.0.1:8080",
        "http://127.0.0.1:99999",
        "ftp://example.com",
        "file:///tmp",
    ] {
        let out = run(s
            .cmd()
            .env("SPEC_KITTY_SAAS_URL", bad)
            .args(["auth", "token"]));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("SPEC_KITTY_SAAS_URL"), "{stderr}");
        assert!(stderr.contains("http(s)://"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let out = run(s.cmd().env("SPEC_KITTY_SAAS_URL", bad).args([
            "auth",
            "login",
            "--headless",
            "--json",
        ]));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["error"]["code"], "config");
    }
    assert!(s.root.store().read().unwrap().is_some());
    assert_eq!(s.saas.count("/oauth/token"), 0);
}

#[test]
fn a_fifo_directory_or_huge_file_at_session_json_is_refused_at_once() {
    let root = Root::new();
    let file = root.root.session_file();
    std::fs::create_dir_all(root.root.auth_dir()).unwrap();
    let fifo =
        || rustix::fs::mkfifoat(rustix::fs::CWD, &file, rustix::fs::Mode::from(0o600)).unwrap();
    let dir = || std::fs::create_dir(&file).unwrap();
    let huge = || {
        let f = std::fs::File::create(&file).unwrap();
        f.set_len(100 << 20).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let cases: [(&str, &dyn Fn()); 3] = [("FIFO", &fifo), ("directory", &dir), ("bytes", &huge)];
    for (what, make) in cases {
        make();
        for args in [&["auth", "status", "--json"][..], &["auth", "token"][..]] {
            let started = Instant::now();
            let out = run(spec_kitty_cmd(&root, None).args(args));
            assert!(started.elapsed() < Duration::from_secs(5), "{what} hangs");
            assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
            assert!(text(&out.stderr).contains(what), "{}", text(&out.stderr));
        }
        let out = run(spec_kitty_cmd(&root, None).args(["auth", "status", "--json"]));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["state"], "unreadable");
        if file.is_dir() {
            std::fs::remove_dir(&file).unwrap();
        } else {
            std::fs::remove_file(&file).unwrap();
        }
    }
}

#[test]
fn logs_carry_no_colour_when_stderr_is_not_a_terminal() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let out = run(s.cmd().args(["-v", "auth", "token"]));
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refresh_transaction outcome=refreshed"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn logs_are_coloured_on_a_terminal_and_never_with_no_color() {
    // What the terminal shows of a log line: stdout (the token) is on it too, so only the line
    // that carries the outcome is looked at, and nothing of the output is ever printed.
    let log_line = |no_color: bool| {
        let s = Seeded::new(SaasConfig::default(), -60, 86_400);
        let mut cmd = s.cmd();
        cmd.env("TERM", "xterm").args(["-v", "auth", "token"]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let (status, shown) = common::on_terminal(cmd);
        assert_eq!(status.code(), Some(0));
        let shown = text(&shown);
        let line = shown
            .lines()
            .find(|l| l.contains("refresh_transaction"))
            .map(str::to_owned);
        assert!(
            line.is_some(),
            "no refresh_transaction line on the terminal"
        );
        line.unwrap()
    };
    assert!(log_line(false).contains('\u{1b}'), "a terminal gets colour");
    let plain = log_line(true);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}

#[test]
fn a_directory_at_session_lock_spends_no_token_and_the_login_survives_it() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let lock = s.root.root.session_lock_file();
    let _ = std::fs::remove_file(&lock);
    std::fs::create_dir(&lock).unwrap();
    let before = std::fs::read(s.root.root.session_file()).unwrap();
    let out = run(s.cmd().args(["auth", "token"]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(
        s.saas.count("/oauth/token"),
        0,
        "the refresh token was not spent"
    );
    assert_eq!(std::fs::read(s.root.root.session_file()).unwrap(), before);
    // The obstacle goes away: the same refresh token still works.
    std::fs::remove_dir(&lock).unwrap();
    let out = run(s.cmd().args(["auth", "token"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.saas.count("/oauth/token"), 1);
}

/// `ulimit -f` makes every write beyond its size fail (EFBIG), as a full disk would; the
/// signal the kernel sends with it is ignored, as a file-size error must be an error.
fn with_file_size_limit(cmd: &Command, blocks: u32) -> Command {
    common::under_shell(cmd, &format!("trap '' XFSZ; ulimit -f {blocks}"))
}

#[test]
fn no_room_to_save_means_the_token_is_never_spent_and_the_login_survives() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let mut token = s.cmd();
    token.args(["auth", "token"]);
    let out = run(&mut with_file_size_limit(&token, 1));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no room") && stderr.contains("not spent"),
        "{stderr}"
    );
    assert_eq!(s.saas.count("/oauth/token"), 0, "nothing was spent");
    // Room again: the same refresh token works, the user never had to log in.
    let out = run(&mut token);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.saas.count("/oauth/token"), 1);
    let saved = s.root.store().read().unwrap().unwrap();
    assert_eq!(
        Some(saved.refresh_token),
        s.saas.latest_refresh_token(&s.seeded.session_id)
    );
}

/// A SaaS whose device flow approves at once and whose `/me` answers `me`.
/// `auth login --headless --json` against a SaaS whose device code lives 60 s.
fn login_against(me: serde_json::Value, token_extra: serde_json::Value) -> (Root, Output) {
    login_with_code_lifetime(me, token_extra, serde_json::json!(60))
}

/// The same, with the device code's `expires_in` as given.
fn login_with_code_lifetime(
    me: serde_json::Value,
    token_extra: serde_json::Value,
    code_lifetime: serde_json::Value,
) -> (Root, Output) {
    let saas = MockSaas::start();
    saas.mount(
        Mock::given(method("POST"))
            .and(path("/oauth/device/authorize"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "device_code": "dc", "user_code": "UC", "verification_uri": "http://v",
                "expires_in": code_lifetime, "interval": 0,
            }))),
    );
    let mut grant = serde_json::json!({
        "access_token": "at-login", "refresh_token": "rt-login", "expires_in": 600,
        "session_id": "sess-login", "generation": 1,
    });
    grant
        .as_object_mut()
        .unwrap()
        .extend(token_extra.as_object().unwrap().clone());
    saas.mount(
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(grant)),
    );
    saas.mount(
        Mock::given(method("GET"))
            .and(path("/api/v1/me"))
            .respond_with(ResponseTemplate::new(200).set_body_json(me)),
    );
    let root = Root::new();
    let out = run(spec_kitty_cmd(&root, Some(&saas.uri())).args([
        "auth",
        "login",
        "--headless",
        "--json",
    ]));
    (root, out)
}

#[test]
fn login_builds_a_complete_session_as_the_original_does() {
    let me = serde_json::json!({
        "user_id": "u1", "email": "dev@example.com",
        "teams": [
            {"id": "t-shared", "name": "Shared", "role": "member"},
            {"id": "t-private", "name": "Mine", "role": "owner", "is_private_teamspace": true, "slug": "mine"},
        ],
        "refresh_token_expires_at": "2099-01-01T00:00:00+00:00",
    });
    let (root, out) = login_against(me, serde_json::json!({}));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let session = root.store().read().unwrap().unwrap();
    assert_eq!(session.default_team_id.as_deref(), Some("t-private"));
    assert!(
        !session.teams[0].is_private_teamspace,
        "absent flag reads false"
    );
    assert_eq!(
        session.teams[0].slug.as_deref(),
        Some("t-shared"),
        "slug falls back to the id"
    );
    assert_eq!(session.teams[1].slug.as_deref(), Some("mine"));
    assert_eq!(
        session.name, "dev@example.com",
        "name falls back to the email"
    );
    assert_eq!(
        session.refresh_token_expires_at.map(|t| t.to_rfc3339()),
        Some("2099-01-01T00:00:00+00:00".into()),
        "the refresh expiry comes from /me when the token answer has none"
    );
    let plaintext: serde_json::Value = serde_json::from_slice(&session.to_json()).unwrap();
    assert_eq!(
        plaintext.as_object().unwrap().len(),
        16,
        "every key present"
    );
    assert!(plaintext["teams"][0]["slug"].is_string());
}

#[test]
fn login_picks_the_first_team_without_a_private_one_and_survives_a_huge_lifetime() {
    let me = serde_json::json!({
        "user_id": "u1", "email": "dev@example.com", "name": "Dev",
        "teams": [{"id": "t-a", "name": "A", "role": "member"}, {"id": "t-b", "name": "B", "role": "member"}],
    });
    let (root, out) = login_against(me.clone(), serde_json::json!({"expires_in": i64::MAX}));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let session = root.store().read().unwrap().unwrap();
    assert_eq!(session.default_team_id.as_deref(), Some("t-a"));
    assert!(session.access_usable(spec_kitty::now()));

    // A device code that claims to live for ever: clamped before any clock arithmetic.
    let (root, out) =
        login_with_code_lifetime(me, serde_json::json!({}), serde_json::json!(u64::MAX));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(root.store().read().unwrap().is_some());
}

#[test]
fn a_lifetime_the_server_reports_is_named_even_when_the_local_expiry_is_unknown() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    let mut unknown_expiry = s.root.store().read().unwrap().unwrap();
    unknown_expiry.refresh_token_expires_at = None;
    s.root.store().write(&unknown_expiry).unwrap();
    s.saas.expire_refresh(&s.seeded.session_id);
    let out = run(s.cmd().args(["auth", "token"]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("absolute lifetime"), "{stderr}");
    assert!(!stderr.contains("revoked"), "{stderr}");
}

#[test]
fn a_redirect_from_the_token_endpoint_is_refused_and_forwards_nothing() {
    let s = Seeded::new(SaasConfig::default(), -60, 86_400);
    s.saas.add_fault(fake_saas::FaultSpec::action(
        "/oauth/token",
        fake_saas::FaultAction::Redirect,
    ));
    let out = run(s.cmd().args(["auth", "token"]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("never follow redirects"), "{stderr}");
    assert!(out.stdout.is_empty(), "no token from elsewhere is printed");
    let forwarded = s
        .saas
        .journal()
        .iter()
        .filter(|e| e.outcome.as_str() == "redirect_target")
        .count();
    assert_eq!(
        forwarded, 0,
        "the refresh token was not sent to the redirect target"
    );
    assert!(s.root.store().read().unwrap().is_some());
}
