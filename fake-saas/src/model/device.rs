//! The RFC 8628 device authorization flow: authorize, then poll until the configured outcome.
//!
//! Why it exists: `spec-kitty auth login --headless` runs this flow, and the fake must answer it
//! the way the RFC says (pending, `slow_down` with a growing interval, expiry, single use) so the
//! CLI's polling loop is tested against the real rules. What it guarantees: the first
//! `approve_after_polls` polls are `authorization_pending`, the next one decides; a device code
//! is exchanged at most once; time is the fake's clock, so a test can expire a code by advancing
//! it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::reply::{DeviceAuthorization, ErrorCode, ErrorReason, Reply};
use super::request::{check_client, field, missing, Form};
use super::store::{NewSession, Store, DEFAULT_SCOPE};
use crate::admin_api::AuthMethod;
use crate::config::{DeviceOutcome, SaasConfig};
use crate::journal::JournalOutcome;
use crate::time::add_secs;

/// Letters of a user code (no vowels: no accidental words).
const USER_CODE_LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

#[derive(Debug, Clone)]
struct DeviceGrant {
    scope: String,
    expires_at: DateTime<Utc>,
    interval_s: u64,
    polls: u32,
    last_poll: Option<DateTime<Utc>>,
    consumed: bool,
}

/// Device codes handed out, by code.
#[derive(Default)]
pub(crate) struct DeviceFlow {
    grants: HashMap<String, DeviceGrant>,
    next: u64,
}

impl DeviceFlow {
    /// `POST /oauth/device/authorize`.
    pub fn authorize(
        &mut self,
        store: &mut Store,
        config: &SaasConfig,
        base_url: &str,
        form: &Form,
        now: DateTime<Utc>,
    ) -> Reply {
        if let Some(reply) = check_client(config, form) {
            return reply;
        }
        self.next += 1;
        let rng = store.rng();
        let device_code = format!("dc_{}_{:016x}", self.next, rng.gen::<u64>());
        let mut user_code = String::new();
        for i in 0..8 {
            if i == 4 {
                user_code.push('-');
            }
            user_code.push(USER_CODE_LETTERS[rng.gen_range(0..USER_CODE_LETTERS.len())] as char);
        }
        let dc = &config.device;
        let answer = DeviceAuthorization {
            device_code: device_code.clone(),
            verification_uri: format!("{base_url}/device"),
            verification_uri_complete: format!("{base_url}/device?user_code={user_code}"),
            user_code,
            expires_in: dc.expires_in_s,
            interval: dc.interval_s,
        };
        self.grants.insert(
            device_code,
            DeviceGrant {
                scope: field(form, "scope").unwrap_or(DEFAULT_SCOPE).to_string(),
                expires_at: add_secs(now, dc.expires_in_s as i64),
                interval_s: dc.interval_s,
                polls: 0,
                last_poll: None,
                consumed: false,
            },
        );
        Reply::ok(&answer, JournalOutcome::DeviceAuthorized)
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
    pub fn poll(
        &mut self,
        store: &mut Store,
        config: &SaasConfig,
        form: &Form,
        now: DateTime<Utc>,
    ) -> Reply {
        if let Some(reply) = check_client(config, form) {
            return reply;
        }
        let Some(code) = field(form, "device_code") else {
            return missing("device_code");
        };
        let Some(grant) = self.grants.get_mut(code) else {
            return Reply::rejected(
                400,
                ErrorCode::InvalidGrant,
                "unknown device code",
                ErrorReason::UnknownToken,
                JournalOutcome::UnknownToken,
            );
        };
        if grant.consumed {
            return Reply::rejected(
                400,
                ErrorCode::InvalidGrant,
                "device code already used",
                ErrorReason::DeviceCodeUsed,
                JournalOutcome::DeviceConsumed,
            );
        }
        let expired = || {
            Reply::error(
                400,
                ErrorCode::ExpiredToken,
                "device code expired",
                JournalOutcome::DeviceExpired,
            )
        };
        if now >= grant.expires_at {
            return expired();
        }
        let last = grant.last_poll.replace(now);
        if let Some(last) = last {
            let since_ms = (now - last).num_milliseconds();
            if grant.interval_s > 0 && since_ms < (grant.interval_s as i64).saturating_mul(1000) {
                // RFC 8628 §3.5: the interval grows by 5 s for this and later requests.
                grant.interval_s += 5;
                return Reply::error(
                    400,
                    ErrorCode::SlowDown,
                    &format!("poll at most every {} s", grant.interval_s),
                    JournalOutcome::DeviceSlowDown,
                );
            }
        }
        grant.polls += 1;
        if grant.polls <= config.device.approve_after_polls {
            return Reply::error(
                400,
                ErrorCode::AuthorizationPending,
                "the user has not approved yet",
                JournalOutcome::DevicePending,
            );
        }
        match config.device.outcome {
            DeviceOutcome::Deny => Reply::error(
                400,
                ErrorCode::AccessDenied,
                "the user denied the request",
                JournalOutcome::DeviceDenied,
            ),
            DeviceOutcome::Expire => expired(),
            DeviceOutcome::Approve => {
                grant.consumed = true;
                let idx = store.create_session(NewSession {
                    user_id: config.user.user_id.clone(),
                    generation: 1,
                    access_expires_at: add_secs(now, config.access_ttl_s as i64),
                    refresh_expires_at: add_secs(now, config.refresh_lifetime_s as i64),
                    scope: grant.scope.clone(),
                    auth_method: AuthMethod::DeviceCode,
                    created_at: now,
                });
                let s = &store.sessions[idx];
                Reply::ok(
                    &store.token_answer(idx, true, now),
                    JournalOutcome::DeviceApproved,
                )
                .with_session(&s.id, s.generation)
            }
        }
    }
}
