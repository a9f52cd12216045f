//! The TOML schema: a full sample parses, and every kind of mistake is an error that names the
//! key (and the line, when the parser can tell).

use fake_saas::{
    ConfigError, DeviceOutcome, FaultAction, FaultPhase, GrantFilter, ReusePolicy, SaasConfig,
    TextPosition,
};

/// The sample from the README.
const SAMPLE: &str = r#"
rotation = true
reuse = "grace"          # reject | revoke_family | grace | replay_409
grace_s = 5
grace_uses = 1
access_ttl_s = 60
refresh_lifetime_s = 86400
seed = 7

[device]
approve_after_polls = 2
outcome = "approve"      # approve | deny | expire
interval_s = 0
expires_in_s = 300

[user]
user_id = "user_1"
email = "dev@example.com"
name = "Dev User"
teams = [
  { id = "team_private_1", name = "Dev User's Teamspace", role = "owner", is_private_teamspace = true, slug = "dev-user-teamspace" },
  { id = "team_shared_1", name = "Shared Team", role = "member", is_private_teamspace = false, slug = "shared-team" },
]

[[fault]]
name = "token-503-twice"
endpoint = "/oauth/token"
grant = "refresh_token"
status = 503
first_n = 2

[[fault]]
name = "rotate-then-hang-up"
endpoint = "/oauth/token"
action = "close"
phase = "after"
start_at = 3
first_n = 1

[[fault]]
endpoint = "/api/v1/me"
action = "delay_only"
delay_ms = 200
jitter_ms = 50
probability = 0.25
"#;

#[test]
fn sample_parses() {
    let c = SaasConfig::from_toml_str(SAMPLE).unwrap();
    assert_eq!(c.reuse, ReusePolicy::Grace);
    assert_eq!((c.grace_s, c.grace_uses), (Some(5), Some(1)));
    assert_eq!(c.device.approve_after_polls, 2);
    assert_eq!(c.device.outcome, DeviceOutcome::Approve);
    assert_eq!(c.user.teams.len(), 2);
    assert_eq!(c.faults.len(), 3);
    assert_eq!(c.faults[1].action, FaultAction::Close);
    assert_eq!(c.faults[1].phase, FaultPhase::After);
    assert_eq!(c.faults[2].probability, Some(0.25));
    assert_eq!(c.faults[2].name, None);
    // Same schema in JSON.
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(SaasConfig::from_json_str(&json).unwrap(), c);
}

#[test]
fn readme_sample_parses() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```toml\n")
        .expect("a toml block in the README")
        + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let c = SaasConfig::from_toml_str(&readme[start..end]).unwrap();
    assert_eq!(c.faults.len(), 5);
    assert_eq!(c.reuse, ReusePolicy::Grace);
}

#[test]
fn defaults() {
    let c = SaasConfig::default();
    assert!(c.rotation);
    assert_eq!(c.reuse, ReusePolicy::Reject);
    assert_eq!(c.access_ttl_s, 3600);
    assert_eq!(c.refresh_lifetime_s, 2_592_000);
    assert_eq!(c.seed, 0);
    assert_eq!(c.port, None);
    assert_eq!(c.device.approve_after_polls, 1);
    assert_eq!(c.device.interval_s, 5);
    assert_eq!(c.user.user_id, "user_1");
    assert!(c.faults.is_empty());
}

/// Parse, expect an error, and check the one-line message mentions every `needle`.
fn error(toml: &str, needles: &[&str]) -> ConfigError {
    let err = SaasConfig::from_toml_str(toml).expect_err(toml);
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    for needle in needles {
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    }
    err
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    error("rotation = true\nrotaton = false\n", &["rotaton", "line 2"]);
    error("[device]\ninterval = 0\n", &["interval", "line 2"]);
    error("[user]\nmail = \"x\"\n", &["mail", "line 2"]);
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\nstatuss = 500\n",
        &["statuss", "line 3"],
    );
    error("[sass]\nrotation = true\n", &["sass", "line 1"]);
}

#[test]
fn bad_values_are_named() {
    error("reuse = \"sometimes\"\n", &["sometimes", "reuse", "line 1"]);
    error("rotation = \"yes\"\n", &["rotation", "line 1"]);
    error("[device]\noutcome = \"maybe\"\n", &["maybe", "outcome"]);
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\naction = \"explode\"\n",
        &["explode", "line 3"],
    );
    error("[[fault]]\nstatus = 500\n", &["endpoint", "missing"]);
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\nstatus = 70000\n",
        &["status", "line 3"],
    );
}

#[test]
fn out_of_range_values_name_the_key() {
    let err = error(
        "[[fault]]\nendpoint = \"/oauth/token\"\nprobability = 1.5\n",
        &["fault[0].probability", "1.5"],
    );
    assert!(matches!(err, ConfigError::Invalid { ref key, .. } if key == "fault[0].probability"));
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\nstatus = 42\n",
        &["fault[0].status"],
    );
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\n[[fault]]\nendpoint = \"/oauth/tokens\"\n",
        &["fault[1].endpoint", "/oauth/tokens"],
    );
    error(
        "[[fault]]\nendpoint = \"/api/v1/me\"\ngrant = \"refresh_token\"\n",
        &["fault[0].grant"],
    );
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\ngrant = \"password\"\n",
        &["grant", "password", "line 3"],
    );
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\naction = \"close\"\nstatus = 500\n",
        &["fault[0].status", "close"],
    );
    error(
        "[[fault]]\nendpoint = \"/oauth/token\"\nstart_at = 0\n",
        &["fault[0].start_at"],
    );
    error(
        "[[fault]]\nname = \"a\"\nendpoint = \"/oauth/token\"\n[[fault]]\nname = \"a\"\nendpoint = \"/api/v1/me\"\n",
        &["fault[1].name", "duplicate"],
    );
    error("access_ttl_s = 0\n", &["access_ttl_s"]);
    error("port = 0\n", &["port"]);
    error(
        "[user]\ndefault_team_id = \"nope\"\n",
        &["user.default_team_id"],
    );
}

#[test]
fn syntax_errors_have_a_line() {
    error("rotation = true\nreuse = \n", &["line 2"]);
}

#[test]
fn parse_errors_carry_their_position_as_data() {
    let err = error(
        "rotation = true\n\n[device]\n  intervall_s = 0\n",
        &["intervall_s"],
    );
    assert_eq!(err.position(), Some(TextPosition { line: 4, column: 3 }));
    assert!(err.to_string().starts_with("line 4, column 3: "), "{err}");
    let ConfigError::Parse { source_line, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(source_line.as_deref(), Some("intervall_s = 0"));
    // Range errors name a key instead.
    let err = error("access_ttl_s = 0\n", &["access_ttl_s"]);
    assert_eq!(err.position(), None);
}

#[test]
fn grant_filters_parse() {
    let c = SaasConfig::from_toml_str(
        "[[fault]]\nendpoint = \"/oauth/token\"\ngrant = \"refresh_token\"\n\
         [[fault]]\nendpoint = \"/oauth/token\"\ngrant = \"urn:ietf:params:oauth:grant-type:device_code\"\n",
    )
    .unwrap();
    assert_eq!(c.faults[0].grant, Some(GrantFilter::RefreshToken));
    assert_eq!(c.faults[1].grant, Some(GrantFilter::DeviceCode));
}

#[test]
fn trickle_and_redirect_keys() {
    let c = SaasConfig::from_toml_str(
        r#"
[[fault]]
endpoint = "/oauth/token"
action = "trickle"
phase = "after"
interval_ms = 200

[[fault]]
endpoint = "/oauth/token"
action = "redirect"
status = 308
location = "/elsewhere/token"

[[fault]]
endpoint = "/oauth/revoke"
action = "redirect"
location = "https://example.org/revoke"
"#,
    )
    .unwrap();
    assert_eq!(c.faults[0].action, FaultAction::Trickle);
    assert_eq!(c.faults[0].interval_ms, Some(200));
    assert_eq!(c.faults[1].redirect_location(), "/elsewhere/token");
    assert_eq!(
        c.faults[2].redirect_location(),
        "https://example.org/revoke"
    );
    let defaults = SaasConfig::from_toml_str(
        "[[fault]]\nendpoint = \"/oauth/token\"\naction = \"redirect\"\n",
    )
    .unwrap();
    assert_eq!(
        defaults.faults[0].redirect_location(),
        "/redirected/oauth/token"
    );

    let fault = |lines: &str| format!("[[fault]]\nendpoint = \"/oauth/token\"\n{lines}\n");
    error(
        &fault("interval_ms = 5"),
        &["fault[0].interval_ms", "trickle", "respond"],
    );
    error(
        &fault("action = \"trickle\"\ninterval_ms = 0"),
        &["fault[0].interval_ms", "at least 1"],
    );
    error(
        &fault("action = \"trickle\"\nphase = \"after\"\nstatus = 200"),
        &["fault[0].status", "phase after"],
    );
    error(
        &fault("action = \"trickle\"\nphase = \"after\"\nbody = \"x\""),
        &["fault[0].body", "real answer"],
    );
    error(
        &fault("location = \"/x\""),
        &["fault[0].location", "redirect"],
    );
    error(
        &fault("action = \"redirect\"\nstatus = 200"),
        &["fault[0].status", "3xx"],
    );
    for location in [
        "elsewhere",
        "/__admin/reset",
        "//evil.example/",
        "/a b",
        "ftp://x/y",
    ] {
        error(
            &fault(&format!("action = \"redirect\"\nlocation = {location:?}")),
            &["fault[0].location"],
        );
    }
    error(
        &fault("action = \"redirect\"\nbody = \"x\""),
        &["fault[0].body"],
    );
}
