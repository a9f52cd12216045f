//! Small value types with friendly errors, shared by the raw (serde) structures and the resolved
//! model.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// A string or a list of strings (`run = "A"` or `run = ["A", "B"]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// An expected exit: a code or `"killed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitExpect {
    Code(i32),
    Killed,
}

impl fmt::Display for ExitExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitExpect::Code(c) => write!(f, "exit {c}"),
            ExitExpect::Killed => f.write_str("killed"),
        }
    }
}

impl<'de> Deserialize<'de> for ExitExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ExitExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an exit code 0..=255 or \"killed\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExitExpect, E> {
                if (0..=255).contains(&v) {
                    Ok(ExitExpect::Code(v as i32))
                } else {
                    Err(E::custom(format!(
                        "exit code {v} is out of range: expected an exit code 0..=255 or \"killed\""
                    )))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExitExpect, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExitExpect, E> {
                if v == "killed" {
                    Ok(ExitExpect::Killed)
                } else {
                    Err(E::custom(format!(
                        "unknown exit {v:?}: expected an exit code 0..=255 or \"killed\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// What a `[[process.fault]]` does at its point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointAction {
    /// The call site fails with an injected error.
    Fail,
    /// The process sleeps `ms`, then goes on.
    Sleep,
}

/// A step's action on the fake SaaS's session model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaasAction {
    /// Revoke the seeded session server-side.
    RevokeSession,
    /// Expire the seeded session's refresh token server-side.
    ExpireRefresh,
    /// Remove every fault.
    ClearFaults,
}

/// A step's action on the refresh lock (the runner itself holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockAction {
    Hold,
    Release,
}

/// Final (or mid-run) state of the session file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Readable and decryptable by the production library.
    Present,
    /// No session file.
    Absent,
    /// Byte-equal to what the seed (including any corruption) left.
    Unchanged,
}

/// Which file a corruption targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Session,
    Salt,
    RefreshLock,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Session => "session",
            FileKind::Salt => "salt",
            FileKind::RefreshLock => "refresh_lock",
        })
    }
}
