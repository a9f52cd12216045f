//! The fake SaaS's configuration from anyone's editor: any TOML or JSON text (the README sample
//! with lines deleted, duplicated, replaced or bytes damaged, or garbage) is a configuration or
//! a [`ConfigError`] that says where: a parse error carries a 1-based line and column inside the
//! text, a range error names its key. Never a panic.
//!
//! `PROPTEST_CASES=<n>` runs `n` cases (docs/fuzzing.md).

use fake_saas::{ConfigError, SaasConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::time::Instant;

const SAMPLE: &str = r#"rotation = true
reuse = "grace"
grace_s = 5
grace_uses = 1
access_ttl_s = 60
refresh_lifetime_s = 86400
seed = 7

[device]
approve_after_polls = 2
outcome = "approve"
interval_s = 0
expires_in_s = 300

[user]
user_id = "user_1"
email = "dev@example.com"
name = "Dev User"
teams = [
  { id = "team_private_1", name = "Dev User's Teamspace", role = "owner", is_private_teamspace = true, slug = "dev-user-teamspace" },
]

[[fault]]
name = "token-503-twice"
endpoint = "/oauth/token"
grant = "refresh_token"
status = 503
first_n = 2

[[fault]]
endpoint = "/api/v1/me"
action = "delay_only"
delay_ms = 200
jitter_ms = 50
probability = 0.25
"#;

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[device]".to_string()),
        Just("[[fault]]".to_string()),
        Just("[user]".to_string()),
        Just("reuse = \"sometimes\"".to_string()),
        Just("probability = 1.5".to_string()),
        Just("status = 99999999999999999999".to_string()),
        Just("access_ttl_s = -1".to_string()),
        Just("\"grace_s\": \"5\",".to_string()),
        Just("}".to_string()),
        "[a-z_]{1,14} = [0-9]{1,20}",
        "[a-z_]{1,14} = \"[ -~]{0,12}\"",
        any::<String>(),
    ]
}

/// `text` with `edits` applied: `(line index, what)`, where what is delete (None) or replace.
fn edited(text: String, edits: Vec<(prop::sample::Index, Option<String>, bool)>) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (i, replacement, insert) in edits {
        let n = lines.len();
        match (replacement, insert) {
            (Some(l), true) => lines.insert(i.index(n + 1), l),
            (Some(l), false) if n > 0 => lines[i.index(n)] = l,
            (None, _) if n > 0 => {
                lines.remove(i.index(n));
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn text(sample: String) -> impl Strategy<Value = String> {
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::option::weighted(0.7, line()),
            any::<bool>(),
        ),
        1..4,
    );
    let truncated = (Just(sample.clone()), any::<prop::sample::Index>()).prop_map(|(s, i)| {
        let mut at = i.index(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s[..at].to_string()
    });
    prop_oneof![
        8 => (Just(sample), edits).prop_map(|(s, e)| edited(s, e)),
        2 => truncated,
        1 => any::<String>(),
    ]
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The error says where: a position inside the text, or the key of a range error.
fn check(text: &str, result: Result<SaasConfig, ConfigError>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => {}
        Err(ConfigError::Parse { position, .. }) => {
            let p =
                position.ok_or_else(|| TestCaseError::fail("parse error without a position"))?;
            let lines = text.split('\n').count();
            prop_assert!(p.line >= 1 && p.column >= 1 && p.line <= lines, "{:?}", p);
        }
        Err(ConfigError::Invalid { key, .. }) => prop_assert!(!key.is_empty()),
    }
    Ok(())
}

fn run(
    name: &str,
    default: u32,
    strategy: impl Strategy<Value = String>,
    parse: fn(&str) -> Result<SaasConfig, ConfigError>,
) {
    let n = cases(default);
    let config = Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    };
    let started = Instant::now();
    TestRunner::new(config)
        .run(&strategy, |text| check(&text, parse(&text)))
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "property {name}: {n} cases in {secs:.2} s ({:.0} cases/s)",
        n as f64 / secs
    );
}

#[test]
fn any_toml_config_is_read_or_refused_with_a_position() {
    SaasConfig::from_toml_str(SAMPLE).unwrap();
    run(
        "saas_config_toml",
        1_000,
        text(SAMPLE.to_string()),
        SaasConfig::from_toml_str,
    );
}

#[test]
fn any_json_config_is_read_or_refused_with_a_position() {
    let sample = SaasConfig::from_toml_str(SAMPLE).unwrap();
    let json = serde_json::to_string_pretty(&sample).unwrap();
    SaasConfig::from_json_str(&json).unwrap();
    run(
        "saas_config_json",
        1_000,
        text(json),
        SaasConfig::from_json_str,
    );
}
