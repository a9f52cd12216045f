//! One fault: which calls it matches, what it does to them, and the checks serde cannot express.
//!
//! Why a module of its own: faults are the part of the schema people write most often, in TOML,
//! in JSON over the admin API and in scenario steps, so every key is checked here once and every
//! error names the key (`fault[2].probability: must be within 0..=1, got 1.5`). A validated
//! [`FaultSpec`] is guaranteed to be one the fault table can act on without further checks.

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// Every endpoint a fault may target (the public, journaled surface of the fake).
pub const ENDPOINTS: &[&str] = &[
    "/oauth/token",
    "/oauth/device/authorize",
    "/oauth/revoke",
    "/api/v1/me",
    "/api/v1/session-status",
    "/api/v1/events/batch/",
];

/// The grant type of the RFC 8628 device flow.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Default pause between two body bytes of a `trickle` fault.
pub const TRICKLE_DEFAULT_INTERVAL_MS: u64 = 1000;

/// Default status of a `redirect` fault.
pub const REDIRECT_DEFAULT_STATUS: u16 = 307;

/// Paths under this prefix are where a `redirect` fault points by default.
pub const REDIRECT_DEFAULT_PREFIX: &str = "/redirected";

/// What a fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with `status` (default 500) and `body` (default: a JSON error body).
    #[default]
    Respond,
    /// Drop the connection without any HTTP response (the client sees a transport error).
    Close,
    /// 200 (or `status`) with a body that is not JSON.
    Malformed,
    /// 200 (or `status`) with a multi-MiB body (`size_bytes`, default 5 MiB).
    Oversized,
    /// Only the delay; the request is then handled normally.
    DelayOnly,
    /// Status line and headers at once, then the body one byte every `interval_ms`: in phase
    /// `before` what `respond` would send, in phase `after` the real answer.
    Trickle,
    /// A 3xx (`status`, default 307) with a `Location` header pointing at `location`.
    Redirect,
}

impl FaultAction {
    /// The name used in the schema and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultAction::Respond => "respond",
            FaultAction::Close => "close",
            FaultAction::Malformed => "malformed",
            FaultAction::Oversized => "oversized",
            FaultAction::DelayOnly => "delay_only",
            FaultAction::Trickle => "trickle",
            FaultAction::Redirect => "redirect",
        }
    }
}

/// Whether a fault replaces the handling or only the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPhase {
    /// The fault replaces normal handling: nothing in the model changes.
    #[default]
    Before,
    /// Normal handling happens (e.g. the token IS rotated), then the fault replaces or delays
    /// the response: the "server did it but the client never heard" case.
    After,
}

/// Which token requests a fault on `/oauth/token` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantFilter {
    /// `grant_type=refresh_token`.
    RefreshToken,
    /// The RFC 8628 device-code grant (also accepted as its URN).
    #[serde(alias = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantFilter {
    /// Whether a request with this `grant_type` matches.
    pub fn matches(self, grant_type: Option<&str>) -> bool {
        match self {
            GrantFilter::RefreshToken => grant_type == Some("refresh_token"),
            GrantFilter::DeviceCode => grant_type == Some(DEVICE_CODE_GRANT),
        }
    }
}

/// One fault. `endpoint` is required; everything else has a default.
///
/// Scope: a fault counts the calls matching `endpoint` (and `grant`), 1-based. It fires on call
/// `k` when `k >= start_at` (default 1) and `k < start_at + first_n` (default: no end), and then
/// only with `probability` (default 1, drawn from the seeded generator). When several faults fire
/// on one call, the first in the list wins; every matching fault still counts the call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Name used in the journal and in `faults_fired`; default `fault-<index in the list>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The request path, one of [`ENDPOINTS`].
    pub endpoint: String,
    /// Only for `/oauth/token`: which grant the fault matches (default: every grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantFilter>,
    #[serde(default)]
    pub action: FaultAction,
    /// Status for `respond` (default 500), `malformed` and `oversized` (default 200), `trickle`
    /// in phase `before` (default 500) and `redirect` (a 3xx, default 307).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body for `respond` and `trickle` in phase `before`; sent as JSON when it parses as JSON,
    /// else as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Fixed delay before the fault acts (or before the normal response, for `delay_only`).
    #[serde(default)]
    pub delay_ms: u64,
    /// Extra random delay in `0..=jitter_ms`, from the seeded generator.
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default)]
    pub phase: FaultPhase,
    /// Fire on at most this many matching calls (counted from `start_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_n: Option<u64>,
    /// Fire from the K-th matching call on (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<u64>,
    /// Chance of firing on an in-scope call, 0..=1 (seeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Body size for `oversized` (default 5 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `trickle`: milliseconds between two body bytes (default 1000, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// `redirect`: where the `Location` header points, a path on this fake (`/elsewhere/token`)
    /// or an absolute `http(s)://` URL. Default `/redirected<endpoint>`, e.g.
    /// `/redirected/oauth/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl FaultSpec {
    /// A `respond`/`before` fault on `endpoint` with `status` (the most common case).
    pub fn respond(endpoint: &str, status: u16) -> FaultSpec {
        FaultSpec {
            endpoint: endpoint.to_string(),
            status: Some(status),
            ..FaultSpec::default()
        }
    }

    /// A fault on `endpoint` with `action` and every other setting at its default.
    pub fn action(endpoint: &str, action: FaultAction) -> FaultSpec {
        FaultSpec {
            endpoint: endpoint.to_string(),
            action,
            ..FaultSpec::default()
        }
    }

    /// The `Location` of a `redirect` fault as configured: a path on this fake or a URL.
    pub fn redirect_location(&self) -> String {
        self.location
            .clone()
            .unwrap_or_else(|| format!("{REDIRECT_DEFAULT_PREFIX}{}", self.endpoint))
    }

    /// The path on this fake a `redirect` fault points at (`None` for an absolute URL, or for
    /// another action).
    pub(crate) fn redirect_target_path(&self) -> Option<String> {
        if self.action != FaultAction::Redirect {
            return None;
        }
        let location = self.redirect_location();
        location.starts_with('/').then(|| {
            let end = location.find(['?', '#']).unwrap_or(location.len());
            location[..end].to_string()
        })
    }

    /// Check one fault; `key` is how errors name it (e.g. `fault[2]`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| {
            Err(ConfigError::invalid(format!("{key}.{field}"), message))
        };
        let action = self.action.as_str();
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return bad("name", "must not be empty".to_string());
            }
        }
        if !ENDPOINTS.contains(&self.endpoint.as_str()) {
            return bad(
                "endpoint",
                format!(
                    "unknown endpoint {:?}, expected one of {}",
                    self.endpoint,
                    ENDPOINTS.join(", ")
                ),
            );
        }
        if self.grant.is_some() && self.endpoint != "/oauth/token" {
            return bad(
                "grant",
                "only applies to endpoint \"/oauth/token\"".to_string(),
            );
        }
        let after = self.phase == FaultPhase::After;
        if let Some(status) = self.status {
            if !(100..=599).contains(&status) {
                return bad("status", format!("must be within 100..=599, got {status}"));
            }
            let unused = match self.action {
                FaultAction::Close | FaultAction::DelayOnly => true,
                FaultAction::Trickle => after,
                _ => false,
            };
            if unused {
                let why = if after { " in phase after" } else { "" };
                return bad("status", format!("is not used by action {action}{why}"));
            }
            if self.action == FaultAction::Redirect && !(300..=399).contains(&status) {
                return bad(
                    "status",
                    format!("a redirect needs a 3xx status, got {status}"),
                );
            }
        }
        let body_used = match self.action {
            FaultAction::Respond => true,
            FaultAction::Trickle => !after,
            _ => false,
        };
        if self.body.is_some() && !body_used {
            let why = if after {
                " in phase after (it sends the real answer)"
            } else {
                ""
            };
            return bad(
                "body",
                format!("is only used by actions respond and trickle, not {action}{why}"),
            );
        }
        if self.size_bytes.is_some() && self.action != FaultAction::Oversized {
            return bad(
                "size_bytes",
                format!("is only used by action oversized, not {action}"),
            );
        }
        if let Some(interval) = self.interval_ms {
            if self.action != FaultAction::Trickle {
                return bad(
                    "interval_ms",
                    format!("is only used by action trickle, not {action}"),
                );
            }
            if interval == 0 {
                return bad("interval_ms", "must be at least 1".to_string());
            }
        }
        if let Some(location) = &self.location {
            if self.action != FaultAction::Redirect {
                return bad(
                    "location",
                    format!("is only used by action redirect, not {action}"),
                );
            }
            if let Err(message) = check_location(location) {
                return bad("location", message);
            }
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return bad("probability", format!("must be within 0..=1, got {p}"));
            }
        }
        if self.start_at == Some(0) {
            return bad("start_at", "is 1-based: must be at least 1".to_string());
        }
        if self.first_n == Some(0) {
            return bad(
                "first_n",
                "must be at least 1 (remove the fault instead)".to_string(),
            );
        }
        Ok(())
    }
}

/// A `Location` must be a path on this fake or an absolute http(s) URL, and a valid header value.
fn check_location(location: &str) -> Result<(), String> {
    if !location.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "{location:?} must be printable ASCII without spaces (percent-encode the rest)"
        ));
    }
    if location.starts_with("//") || location.starts_with("/__admin") {
        return Err(format!(
            "{location:?}: a path must not start with // or /__admin"
        ));
    }
    let is_url = ["http://", "https://"]
        .iter()
        .any(|scheme| location.len() > scheme.len() && location.starts_with(scheme));
    if !location.starts_with('/') && !is_url {
        return Err(format!(
            "{location:?} is neither a path on this fake (\"/...\") nor an http(s):// URL"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets() {
        let fault = FaultSpec::action("/oauth/token", FaultAction::Redirect);
        assert_eq!(fault.redirect_location(), "/redirected/oauth/token");
        assert_eq!(
            fault.redirect_target_path().as_deref(),
            Some("/redirected/oauth/token")
        );
        let fault = FaultSpec {
            location: Some("/elsewhere?x=1".into()),
            ..fault
        };
        assert_eq!(fault.redirect_target_path().as_deref(), Some("/elsewhere"));
        let fault = FaultSpec {
            location: Some("http://127.0.0.1:9/oauth/token".into()),
            ..fault
        };
        assert_eq!(fault.redirect_target_path(), None);
        assert!(fault.validate("f").is_ok());
    }

    #[test]
    fn locations_are_checked() {
        for bad in [
            "",
            "elsewhere",
            "//evil.example/x",
            "/__admin/reset",
            "/a b",
            "http://",
        ] {
            assert!(check_location(bad).is_err(), "{bad:?}");
        }
        for good in ["/x", "/redirected/oauth/token?a=b", "https://example.org/t"] {
            assert!(check_location(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn grant_filter_accepts_the_urn() {
        let filter: GrantFilter =
            serde_json::from_str(&format!("\"{DEVICE_CODE_GRANT}\"")).unwrap();
        assert_eq!(filter, GrantFilter::DeviceCode);
        assert!(filter.matches(Some(DEVICE_CODE_GRANT)));
        assert!(!filter.matches(Some("refresh_token")));
        assert_eq!(serde_json::to_string(&filter).unwrap(), "\"device_code\"");
    }
}
