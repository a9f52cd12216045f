//! What is checked after a run: the always-on [`invariants`], the scenario's `[expect]`
//! (per process, the session file, the fake SaaS, event order and timing, [`sync`]) and
//! `[expect_always]` ([`always`]), each in its own module, all reading one
//! [`observed::Observed`]; for explore files, [`loss`] judges a lost session's cause.
//!
//! Guarantee: [`evaluate`] returns every failure (invariants first), never only the first;
//! checks read, they never act.

pub mod always;
pub mod daemons;
pub mod events;
pub mod invariants;
pub mod lock_file;
pub mod loss;
pub mod observed;
pub mod process;
pub mod saas;
pub mod server;
pub mod session;
pub mod sync;

use crate::report::model::Failure;
use observed::Observed;

/// Every failed invariant and expectation.
pub fn evaluate(o: &Observed) -> Vec<Failure> {
    let mut f = invariants::check(o);
    f.extend(process::check(o));
    f.extend(session::check(o));
    f.extend(saas::check(o));
    f.extend(events::check(o));
    f.extend(daemons::check(o));
    f.extend(sync::check(o));
    f.extend(always::check(o));
    f.extend(lock_file::check(o));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Tokens;
    use crate::sync::state::{ExitInfo, Proc};
    use crate::watch::Version;
    use std::collections::BTreeMap;

    #[test]
    fn json_paths() {
        let v = serde_json::json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(
            process::json_path(&v, "a.b.1.c"),
            Some(&serde_json::json!("x"))
        );
        assert_eq!(process::json_path(&v, "a.b.0"), Some(&serde_json::json!(1)));
        assert_eq!(process::json_path(&v, "a.z"), None);
    }

    #[test]
    fn invariants_catch_leaks_bad_json_partial_files_and_a_held_lock() {
        let sc = crate::schema::parse_str(
            std::path::Path::new("t.toml"),
            r#"
[scenario]
name = "t"
description = "d"
[seed.session]
[[process]]
name = "T"
args = ["auth", "token"]
[[process]]
name = "S"
args = ["auth", "status", "--json"]
[expect]
stdout_contains = { T = "at.s1.g1.aaaa0001", S = "‹A0›" }
"#,
        )
        .unwrap()
        .remove(0);
        let issued = vec![
            "rt.s1.g1.bbbb0001".to_string(),
            "at.s1.g1.aaaa0001".to_string(),
        ];
        let tokens = Tokens::new(&issued, None);
        let mut procs = BTreeMap::new();
        for name in ["T", "S"] {
            let mut p = Proc::new(name, vec![]);
            p.exit = Some(ExitInfo {
                code: Some(0),
                signal: None,
                t_ms: 1.0,
            });
            procs.insert(name.to_string(), p);
        }
        let mut outputs = BTreeMap::new();
        // `auth token` may print a token on stdout, never on stderr.
        outputs.insert(
            "T".to_string(),
            (
                "at.s1.g1.aaaa0001\n".to_string(),
                "log rt.s1.g1.bbbb0001\n".to_string(),
            ),
        );
        // Anything else may print none, and --json must be one JSON value.
        outputs.insert(
            "S".to_string(),
            (
                "{\"a\": 1}\n{\"t\": \"at.s1.g1.aaaa0001\"}\n".to_string(),
                String::new(),
            ),
        );
        let versions = vec![Version {
            t_ms: 3.0,
            bytes: Some(b"{\"version\": 2".to_vec()),
            salt: None,
            invalid: Some("not complete JSON".into()),
            injected: false,
        }];
        let final_session = Ok(None);
        let lock = Ok(true);
        let o = Observed {
            sc: &sc,
            procs: &procs,
            outputs: &outputs,
            journal: &[],
            counters: &BTreeMap::new(),
            faults_fired: &BTreeMap::new(),
            declared_saas_faults: &[],
            versions: &versions,
            opened_versions: &[None],
            final_bytes: None,
            final_session: &final_session,
            seeded_bytes: None,
            seeded: None,
            latest_refresh: None,
            lock_held_at_end: &lock,
            tokens: &tokens,
            anomalies: &[],
            server_sessions: &[],
            census: &Default::default(),
            decoys_lost: &[],
            queue: &Ok(Vec::new()),
            saas_event_ids: &[],
            saas_event_stats: Default::default(),
            lock_file_bytes: None,
            lock_inodes: &[],
        };
        let f: Vec<String> = evaluate(&o).iter().map(|f| f.to_string()).collect();
        let has = |needle: &str| {
            assert!(
                f.iter().any(|x| x.contains(needle)),
                "{needle:?} not in {f:#?}"
            )
        };
        has("stderr of T contains refresh token R0");
        has("stdout of S contains access token A0");
        has("stdout of S (--json) is not exactly one JSON value");
        has("session.json was seen half-written or malformed at 3.0 ms");
        has("the refresh lock is still held at the end");
        // A label in the expected text never matches raw output, and the message says why
        // instead of showing the same label on both sides.
        has("expect.stdout_contains: stdout of S does not contain the expected text \"‹A0›\", written with a token label");
        assert!(!f.iter().any(|x| x.contains("stdout of T")), "{f:#?}");
        assert_eq!(f.len(), 6, "{f:#?}");
    }
}
