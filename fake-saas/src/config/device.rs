//! The `[device]` table: how the RFC 8628 device authorization flow behaves.
//!
//! Why a module of its own: the device flow is configured by what the "user" does (approve,
//! deny, let it expire) and how patient the server is (interval, lifetime); none of it interacts
//! with the refresh-token settings, so it reads best on its own.

use serde::{Deserialize, Serialize};

/// What the device authorization flow does once the user "acts".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceOutcome {
    /// Tokens are issued and a new session is created.
    #[default]
    Approve,
    /// `access_denied`.
    Deny,
    /// `expired_token`.
    Expire,
}

/// The RFC 8628 device flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Polls answered `authorization_pending` before the outcome (0 = the first poll decides).
    pub approve_after_polls: u32,
    /// The outcome once the pending polls are used up.
    pub outcome: DeviceOutcome,
    /// Minimum seconds between polls (`slow_down` when polled faster); tests use 0.
    pub interval_s: u64,
    /// Lifetime of a device code.
    pub expires_in_s: u64,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            approve_after_polls: 1,
            outcome: DeviceOutcome::Approve,
            interval_s: 5,
            expires_in_s: 600,
        }
    }
}
