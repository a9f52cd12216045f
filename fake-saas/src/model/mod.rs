//! The SaaS's state machine: users, sessions, refresh-token families and the device flow.
//!
//! Why it exists: the fake must behave like the real server, decision for decision, so a client
//! tested against it meets the same answers in production. Everything here is synchronous, takes
//! "now" from the caller (the fake's settable clock) and runs under the one state lock, so a
//! request's check and its update ("is this the family's current token? then rotate") are
//! atomic: 100 concurrent refreshes with the same token see exactly one winner, as on a real
//! server with a database transaction.
//!
//! [`Model`] routes each operation to the module that owns it: `refresh` (the refresh grant and
//! the reuse policy), `device` (RFC 8628), `bearer` (the access-token endpoints), `revoke`
//! (revocation); they all work on the token `store` and answer with the shapes in `reply`.

mod bearer;
mod device;
mod refresh;
mod reply;
mod request;
mod revoke;
mod store;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::admin_api::{AuthMethod, SeedRequest, SeededSession, SessionInfo};
use crate::config::{SaasConfig, DEVICE_CODE_GRANT};
use crate::journal::JournalOutcome;
use crate::time::add_secs;

pub use reply::ErrorReason;
pub(crate) use reply::{ErrorBody, ErrorCode, Message, Reply};
pub(crate) use request::Form;

use device::DeviceFlow;
use request::{field, missing};
pub use store::DEFAULT_SCOPE;
use store::{NewSession, Store};

/// All model state. Reset by replacing it with a fresh one.
pub(crate) struct Model {
    config: SaasConfig,
    base_url: String,
    store: Store,
    devices: DeviceFlow,
    ingress: bearer::Ingress,
}

impl Model {
    pub fn new(config: SaasConfig, base_url: String) -> Model {
        Model {
            config,
            base_url,
            store: Store::new(),
            devices: DeviceFlow::default(),
            ingress: bearer::Ingress::default(),
        }
    }

    /// `POST /oauth/token`, any grant.
    pub fn token(&mut self, form: &Form, now: DateTime<Utc>) -> Reply {
        match field(form, "grant_type") {
            Some("refresh_token") => refresh::refresh(&mut self.store, &self.config, form, now),
            Some(DEVICE_CODE_GRANT) => self.devices.poll(&mut self.store, &self.config, form, now),
            Some(other) => Reply::error(
                400,
                ErrorCode::UnsupportedGrantType,
                &format!("grant_type {other:?} is not supported"),
                JournalOutcome::UnsupportedGrant,
            ),
            None => missing("grant_type"),
        }
    }

    /// `POST /oauth/device/authorize`.
    pub fn device_authorize(&mut self, form: &Form, now: DateTime<Utc>) -> Reply {
        self.devices
            .authorize(&mut self.store, &self.config, &self.base_url, form, now)
    }

    /// `POST /oauth/revoke`.
    pub fn revoke(&mut self, form: &Form) -> Reply {
        revoke::revoke_endpoint(&mut self.store, form)
    }

    /// `GET /api/v1/me`.
    pub fn me(&self, token: Option<&str>, now: DateTime<Utc>) -> Reply {
        bearer::me(&self.store, &self.config, token, now)
    }

    /// `GET /api/v1/session-status`.
    pub fn session_status(&self, token: Option<&str>, now: DateTime<Utc>) -> Reply {
        bearer::session_status(&self.store, token, now)
    }

    /// `POST /api/v1/events/batch/`.
    pub fn events_batch(&mut self, token: Option<&str>, body: &[u8], now: DateTime<Utc>) -> Reply {
        bearer::events_batch(
            &self.store,
            &self.config,
            &mut self.ingress,
            token,
            body,
            now,
        )
    }

    /// Create a session directly (admin seed).
    pub fn seed(&mut self, req: &SeedRequest, now: DateTime<Utc>) -> SeededSession {
        let idx = self.store.create_session(NewSession {
            user_id: self.config.user.user_id.clone(),
            generation: req.generation.unwrap_or(1),
            access_expires_at: add_secs(now, req.access_expires_in_s),
            refresh_expires_at: add_secs(now, req.refresh_expires_in_s),
            scope: DEFAULT_SCOPE.to_string(),
            auth_method: AuthMethod::Seeded,
            created_at: now,
        });
        let s = &self.store.sessions[idx];
        let user = &self.config.user;
        SeededSession {
            session_id: s.id.clone(),
            user_id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            teams: user.teams(),
            default_team_id: user.default_team(),
            access_token: s.current_access.clone(),
            refresh_token: s.current_refresh.clone(),
            access_expires_at: add_secs(now, req.access_expires_in_s),
            refresh_expires_at: s.refresh_expires_at,
            generation: s.generation,
            scope: s.scope.clone(),
        }
    }

    /// The session (id, generation) a token string belongs to (for journaling requests a
    /// fault answered).
    pub fn session_of(&self, token: &str) -> Option<(String, i64)> {
        self.store.session_of(token)
    }

    pub fn sessions(&self, now: DateTime<Utc>) -> Vec<SessionInfo> {
        self.store.sessions.iter().map(|s| s.info(now)).collect()
    }

    pub fn session_info(&self, session_id: &str, now: DateTime<Utc>) -> Option<SessionInfo> {
        let idx = self.store.find_session(session_id)?;
        Some(self.store.sessions[idx].info(now))
    }

    /// Revoke (admin). Returns false for an unknown session.
    pub fn revoke_session(&mut self, session_id: &str) -> bool {
        revoke::revoke_session(&mut self.store, session_id)
    }

    /// Set the refresh family's absolute expiry to `now` (admin). False for an unknown session.
    pub fn expire_refresh(&mut self, session_id: &str, now: DateTime<Utc>) -> bool {
        match self.store.find_session(session_id) {
            Some(idx) => {
                self.store.sessions[idx].refresh_expires_at = now;
                true
            }
            None => false,
        }
    }

    pub fn latest_refresh_token(&self, session_id: &str) -> Option<String> {
        let idx = self.store.find_session(session_id)?;
        Some(self.store.sessions[idx].current_refresh.clone())
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.store.issued()
    }

    pub fn events(&self) -> Vec<Value> {
        self.ingress.events.clone()
    }

    pub fn event_stats(&self) -> crate::admin_api::EventStats {
        self.ingress.stats
    }
}
