//! The session file: its state (`present`, `absent`, `unchanged`) at the end (`expect.session`)
//! or in the middle of a run (a `check` step), and the tokens it holds at the end
//! (`session_refresh_token`, `session_access_token`).
//!
//! Guarantee: "present" means readable through `spec_kitty::storage`, the way production reads
//! it; "unchanged" means byte-equal to what seeding left.

use super::observed::Observed;
use crate::report::model::Failure;
use crate::schema::SessionState;
use spec_kitty::paths::RuntimeRoot;
use spec_kitty::session::StoredSession;
use spec_kitty::storage::SessionStore;

/// Whether the session file of `root` is in `state` now.
pub fn session_state(
    root: &RuntimeRoot,
    state: SessionState,
    seeded: Option<&[u8]>,
) -> Result<(), String> {
    let bytes = std::fs::read(root.session_file()).ok();
    let read = SessionStore::for_root(root)
        .and_then(|s| s.read())
        .map_err(|e| e.to_string());
    check_session_state(state, bytes.as_deref(), &read, seeded)
}

fn check_session_state(
    state: SessionState,
    bytes: Option<&[u8]>,
    read: &Result<Option<StoredSession>, String>,
    seeded: Option<&[u8]>,
) -> Result<(), String> {
    match state {
        SessionState::Present => match read {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("session is absent, expected present".into()),
            Err(e) => Err(format!("session is unreadable ({e}), expected present")),
        },
        SessionState::Absent => match bytes {
            None => Ok(()),
            Some(b) => Err(format!(
                "session file exists ({} bytes), expected absent",
                b.len()
            )),
        },
        SessionState::Unchanged => {
            if bytes == seeded {
                Ok(())
            } else {
                Err(format!(
                    "session file changed: {} bytes at the start, {} at the end",
                    seeded.map_or("no file".to_string(), |b| b.len().to_string()),
                    bytes.map_or("no file".to_string(), |b| b.len().to_string())
                ))
            }
        }
    }
}

/// Every failed expectation on the final session file.
pub fn check(o: &Observed) -> Vec<Failure> {
    let mut f = Vec::new();
    let x = &o.sc.expect;
    if x.session_writes_only_on_rotation {
        // Versions the processes wrote (not the runner's seed or corruptions), against the
        // rotations the server granted.
        let writes = o
            .versions
            .iter()
            .filter(|v| !v.injected && v.bytes.is_some())
            .count();
        let rotations = o
            .journal
            .iter()
            .filter(|j| j.endpoint == "/oauth/token" && j.status == Some(200))
            .count();
        if writes > rotations {
            f.push(Failure::expect(
                "session_writes_only_on_rotation",
                format!("the session file changed {writes} times, but the server granted only {rotations} refreshes"),
            ));
        }
    }
    if let Some(state) = x.session {
        if let Err(e) = check_session_state(state, o.final_bytes, o.final_session, o.seeded_bytes) {
            f.push(Failure::expect("session", e));
        }
    }
    for (refresh, exp) in [
        (true, &x.session_refresh_token),
        (false, &x.session_access_token),
    ] {
        let Some(exp) = exp else { continue };
        let what = if refresh { "refresh" } else { "access" };
        let want = o.token(exp, refresh);
        let key = format!("session_{what}_token");
        match (o.final_session, want) {
            (_, None) => f.push(Failure::expect(&key, format!("cannot resolve {exp:?}"))),
            (Ok(Some(s)), Some(want)) => {
                let got = if refresh {
                    &s.refresh_token
                } else {
                    &s.access_token
                };
                if *got != want {
                    f.push(Failure::expect(
                        &key,
                        format!(
                            "the session holds {}, expected {} ({exp:?})",
                            o.tokens.label_or_redact(got),
                            o.tokens.label_or_redact(&want)
                        ),
                    ));
                }
            }
            (Ok(None), _) => f.push(Failure::expect(&key, "there is no session")),
            (Err(e), _) => f.push(Failure::expect(
                &key,
                format!("the session is unreadable: {e}"),
            )),
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_states() {
        let none: Result<Option<StoredSession>, String> = Ok(None);
        assert!(check_session_state(SessionState::Absent, None, &none, None).is_ok());
        assert!(check_session_state(SessionState::Present, None, &none, None).is_err());
        assert!(
            check_session_state(SessionState::Unchanged, Some(b"ab"), &none, Some(b"ab")).is_ok()
        );
        assert!(
            check_session_state(SessionState::Unchanged, Some(b"ab"), &none, Some(b"a")).is_err()
        );
    }
}
