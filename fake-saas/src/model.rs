//! The SaaS's state: users, sessions, refresh-token families and the device flow.
//!
//! Everything here is synchronous and runs under the one state lock, so a request's check and
//! its update (e.g. "is this the family's current token? then rotate") are atomic: 100 concurrent
//! refreshes with the same token see exactly one winner, as on a real server with a database
//! transaction. Token strings are readable (`rt.sess_1.g3.1a2b3c4d`): a person reading a journal
//! or a failing scenario can tell which session and generation a token belongs to.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{DeviceOutcome, ReusePolicy, SaasConfig, Team, DEVICE_CODE_GRANT};
use crate::time::{add_secs, iso, iso_serde, now};

/// The scope every token carries.
pub const DEFAULT_SCOPE: &str = "openid offline_access";

/// A session to create directly in the fake's state, as a scenario seeds one into the CLI's
/// session file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeedRequest {
    /// Access-token expiry relative to now; negative = already expired.
    pub access_expires_in_s: i64,
    /// Refresh-family absolute expiry relative to now; negative = already expired.
    pub refresh_expires_in_s: i64,
    /// Generation of the seeded pair (default 1).
    pub generation: Option<i64>,
}

impl Default for SeedRequest {
    fn default() -> Self {
        SeedRequest {
            access_expires_in_s: 3600,
            refresh_expires_in_s: 2_592_000,
            generation: None,
        }
    }
}

/// What [`crate::FakeSaas::seed_session`] created: everything the CLI's session file needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededSession {
    pub session_id: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub teams: Vec<Team>,
    pub default_team_id: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    #[serde(with = "iso_serde")]
    pub access_expires_at: DateTime<Utc>,
    #[serde(with = "iso_serde")]
    pub refresh_expires_at: DateTime<Utc>,
    pub generation: i64,
    pub scope: String,
}

/// A session as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub user_id: String,
    /// Not revoked and the refresh family not past its absolute expiry.
    pub active: bool,
    pub revoked: bool,
    /// Why it was revoked: `client_revoke`, `reuse_detected` or `admin`.
    pub revoked_reason: Option<String>,
    pub generation: i64,
    pub current_refresh_token: String,
    pub current_access_token: String,
    pub created_at: String,
    pub refresh_token_expires_at: String,
    /// `seeded` or `device_code`.
    pub auth_method: String,
    /// Refreshes answered for this family (rotations, non-rotating refreshes, grace replays).
    pub refreshes: u64,
}

/// The answer of one model operation, before any fault and before HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    /// `None` = empty body.
    pub body: Option<Value>,
    pub outcome: &'static str,
    pub session_id: Option<String>,
    pub generation: Option<i64>,
    /// Add `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
    pub bearer_challenge: bool,
}

impl Reply {
    fn ok(body: Value, outcome: &'static str) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
            outcome,
            session_id: None,
            generation: None,
            bearer_challenge: false,
        }
    }

    fn error(status: u16, error: &str, description: &str, outcome: &'static str) -> Reply {
        Reply {
            status,
            body: Some(json!({"error": error, "error_description": description})),
            outcome,
            session_id: None,
            generation: None,
            bearer_challenge: false,
        }
    }

    fn session(mut self, s: &Session) -> Reply {
        self.session_id = Some(s.id.clone());
        self.generation = Some(s.generation);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone)]
struct TokenRecord {
    kind: TokenKind,
    /// Index into `Model::sessions`.
    session: usize,
    /// Access tokens only.
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Session {
    id: String,
    user_id: String,
    created_at: DateTime<Utc>,
    generation: i64,
    scope: String,
    auth_method: &'static str,
    current_refresh: String,
    /// The access token issued with the current refresh token (what a grace replay returns).
    current_access: String,
    /// The token the last rotation replaced, and when/how often it was replayed.
    previous_refresh: Option<String>,
    rotated_at: Option<Instant>,
    grace_uses: u32,
    refresh_expires_at: DateTime<Utc>,
    revoked: Option<&'static str>,
    refreshes: u64,
}

#[derive(Debug, Clone)]
struct DeviceGrant {
    user_code: String,
    scope: String,
    expires_at: DateTime<Utc>,
    interval_s: u64,
    polls: u32,
    last_poll: Option<Instant>,
    consumed: bool,
}

/// All model state. Reset by replacing it with a fresh one.
pub(crate) struct Model {
    config: SaasConfig,
    base_url: String,
    sessions: Vec<Session>,
    tokens: HashMap<String, TokenRecord>,
    issued: Vec<String>,
    devices: HashMap<String, DeviceGrant>,
    next_device: u64,
    events: Vec<Value>,
    rng: StdRng,
}

/// A form body as key → value (the last occurrence wins).
pub(crate) type Form = HashMap<String, String>;

fn field<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

impl Model {
    pub fn new(config: SaasConfig, base_url: String) -> Model {
        Model {
            config,
            base_url,
            sessions: Vec::new(),
            tokens: HashMap::new(),
            issued: Vec::new(),
            devices: HashMap::new(),
            next_device: 1,
            events: Vec::new(),
            // Token randomness is deliberately not seeded: tokens are secrets, and their readable
            // prefix already makes them reproducible enough to debug.
            rng: StdRng::from_entropy(),
        }
    }

    pub fn config(&self) -> &SaasConfig {
        &self.config
    }

    fn mint(&mut self, prefix: &str, session_id: &str, generation: i64) -> String {
        loop {
            let token = format!(
                "{prefix}.{session_id}.g{generation}.{:08x}",
                self.rng.gen::<u32>()
            );
            if !self.tokens.contains_key(&token) {
                return token;
            }
        }
    }

    fn issue_access(&mut self, idx: usize, expires_at: DateTime<Utc>) -> String {
        let (sid, generation) = (self.sessions[idx].id.clone(), self.sessions[idx].generation);
        let token = self.mint("at", &sid, generation);
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                kind: TokenKind::Access,
                session: idx,
                expires_at: Some(expires_at),
            },
        );
        self.issued.push(token.clone());
        self.sessions[idx].current_access = token.clone();
        token
    }

    fn issue_refresh(&mut self, idx: usize) -> String {
        let (sid, generation) = (self.sessions[idx].id.clone(), self.sessions[idx].generation);
        let token = self.mint("rt", &sid, generation);
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                kind: TokenKind::Refresh,
                session: idx,
                expires_at: None,
            },
        );
        self.issued.push(token.clone());
        self.sessions[idx].current_refresh = token.clone();
        token
    }

    fn create_session(
        &mut self,
        generation: i64,
        access_expires_at: DateTime<Utc>,
        refresh_expires_at: DateTime<Utc>,
        scope: String,
        auth_method: &'static str,
        created_at: DateTime<Utc>,
    ) -> usize {
        let idx = self.sessions.len();
        self.sessions.push(Session {
            id: format!("sess_{}", idx + 1),
            user_id: self.config.user.user_id.clone(),
            created_at,
            generation,
            scope,
            auth_method,
            current_refresh: String::new(),
            current_access: String::new(),
            previous_refresh: None,
            rotated_at: None,
            grace_uses: 0,
            refresh_expires_at,
            revoked: None,
            refreshes: 0,
        });
        self.issue_access(idx, access_expires_at);
        self.issue_refresh(idx);
        idx
    }

    fn find_session(&self, session_id: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.id == session_id)
    }

    /// Create a session directly (admin seed).
    pub fn seed(&mut self, req: &SeedRequest) -> SeededSession {
        let at = now();
        let idx = self.create_session(
            req.generation.unwrap_or(1),
            add_secs(at, req.access_expires_in_s),
            add_secs(at, req.refresh_expires_in_s),
            DEFAULT_SCOPE.to_string(),
            "seeded",
            at,
        );
        let s = &self.sessions[idx];
        let access_expires_at = self.tokens[&s.current_access].expires_at.unwrap_or(at);
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
            access_expires_at,
            refresh_expires_at: s.refresh_expires_at,
            generation: s.generation,
            scope: s.scope.clone(),
        }
    }

    /// The token response for the session's current pair.
    fn token_body(&self, idx: usize, include_refresh: bool) -> Value {
        let s = &self.sessions[idx];
        let expires_in = self.tokens[&s.current_access]
            .expires_at
            // Rounded up, so a token issued just now reports exactly `access_ttl_s`.
            .map(|at| ((at - now()).num_milliseconds().max(0) + 999) / 1000)
            .unwrap_or(0);
        let mut body = serde_json::Map::new();
        body.insert("access_token".into(), json!(s.current_access));
        if include_refresh {
            body.insert("refresh_token".into(), json!(s.current_refresh));
        }
        body.insert("token_type".into(), json!("Bearer"));
        body.insert("expires_in".into(), json!(expires_in));
        body.insert(
            "refresh_token_expires_at".into(),
            json!(iso(&s.refresh_expires_at)),
        );
        body.insert("scope".into(), json!(s.scope));
        body.insert("generation".into(), json!(s.generation));
        body.insert("session_id".into(), json!(s.id));
        Value::Object(body)
    }

    fn check_client(&self, form: &Form) -> Option<Reply> {
        match field(form, "client_id") {
            Some(id) if id == self.config.client_id => None,
            Some(id) => Some(Reply::error(
                401,
                "invalid_client",
                &format!("unknown client_id {id:?}"),
                "invalid_client",
            )),
            None => Some(Reply::error(
                401,
                "invalid_client",
                "client_id is required",
                "invalid_client",
            )),
        }
    }

    /// `POST /oauth/token`, any grant.
    pub fn token(&mut self, form: &Form) -> Reply {
        match field(form, "grant_type") {
            Some("refresh_token") => self.refresh(form),
            Some(DEVICE_CODE_GRANT) => self.device_poll(form),
            Some(other) => Reply::error(
                400,
                "unsupported_grant_type",
                &format!("grant_type {other:?} is not supported"),
                "unsupported_grant",
            ),
            None => Reply::error(
                400,
                "invalid_request",
                "grant_type is required",
                "invalid_request",
            ),
        }
    }

    fn refresh(&mut self, form: &Form) -> Reply {
        if let Some(reply) = self.check_client(form) {
            return reply;
        }
        let Some(presented) = field(form, "refresh_token") else {
            return Reply::error(
                400,
                "invalid_request",
                "refresh_token is required",
                "invalid_request",
            );
        };
        let idx = match self.tokens.get(presented) {
            Some(rec) if rec.kind == TokenKind::Refresh => rec.session,
            _ => {
                return Reply::error(
                    400,
                    "invalid_grant",
                    "unknown refresh token",
                    "unknown_token",
                )
            }
        };
        let at = now();
        let s = &self.sessions[idx];
        if s.revoked.is_some() {
            return Reply::error(
                401,
                "session_invalid",
                &format!("session {} has been revoked", s.id),
                "session_invalid",
            )
            .session(s);
        }
        if at >= s.refresh_expires_at {
            return Reply::error(
                400,
                "invalid_grant",
                &format!(
                    "refresh token expired at {} (absolute lifetime reached)",
                    iso(&s.refresh_expires_at)
                ),
                "expired",
            )
            .session(s);
        }
        if s.current_refresh == presented {
            let ttl = self.config.access_ttl_s as i64;
            if self.config.rotation {
                let s = &mut self.sessions[idx];
                s.generation += 1;
                s.previous_refresh = Some(s.current_refresh.clone());
                s.rotated_at = Some(Instant::now());
                s.grace_uses = 0;
                s.refreshes += 1;
                self.issue_access(idx, add_secs(at, ttl));
                self.issue_refresh(idx);
                return Reply::ok(self.token_body(idx, true), "rotated")
                    .session(&self.sessions[idx]);
            }
            self.sessions[idx].refreshes += 1;
            self.issue_access(idx, add_secs(at, ttl));
            return Reply::ok(self.token_body(idx, false), "refreshed")
                .session(&self.sessions[idx]);
        }
        // A refresh token of this family that is no longer current: rotated out.
        match self.config.reuse {
            ReusePolicy::Reject => Reply::error(
                400,
                "invalid_grant",
                "refresh token has been rotated out",
                "reuse_rejected",
            )
            .session(s),
            ReusePolicy::RevokeFamily => {
                let s = &mut self.sessions[idx];
                s.revoked = Some("reuse_detected");
                Reply::error(
                    400,
                    "invalid_grant",
                    "refresh token reuse detected: the session has been revoked",
                    "family_revoked",
                )
                .session(s)
            }
            ReusePolicy::Replay409 => Reply {
                status: 409,
                body: Some(json!({
                    "error": "refresh_replay_benign_retry",
                    "error_description": "refresh token already rotated; retry with the current token",
                    "retry_after": 1
                })),
                outcome: "replay_409",
                session_id: None,
                generation: None,
                bearer_challenge: false,
            }
            .session(s),
            ReusePolicy::Grace => {
                let in_window = s.previous_refresh.as_deref() == Some(presented) && {
                    let elapsed = s.rotated_at.map(|t| t.elapsed()).unwrap_or_default();
                    let time_limit = match (self.config.grace_s, self.config.grace_uses) {
                        (Some(secs), _) => Some(secs),
                        (None, None) => Some(60),
                        (None, Some(_)) => None,
                    };
                    let time_ok =
                        time_limit.is_none_or(|secs| elapsed.as_secs_f64() < secs as f64);
                    let uses_ok = self.config.grace_uses.is_none_or(|max| s.grace_uses < max);
                    time_ok && uses_ok
                };
                if in_window {
                    let s = &mut self.sessions[idx];
                    s.grace_uses += 1;
                    s.refreshes += 1;
                    Reply::ok(self.token_body(idx, true), "grace_replay").session(&self.sessions[idx])
                } else {
                    Reply::error(
                        400,
                        "invalid_grant",
                        "refresh token has been rotated out (outside the grace window)",
                        "reuse_rejected",
                    )
                    .session(s)
                }
            }
        }
    }

    /// `POST /oauth/device/authorize`.
    pub fn device_authorize(&mut self, form: &Form) -> Reply {
        if let Some(reply) = self.check_client(form) {
            return reply;
        }
        let n = self.next_device;
        self.next_device += 1;
        let device_code = format!("dc_{n}_{:016x}", self.rng.gen::<u64>());
        const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
        let mut code = String::new();
        for i in 0..8 {
            if i == 4 {
                code.push('-');
            }
            code.push(LETTERS[self.rng.gen_range(0..LETTERS.len())] as char);
        }
        let scope = field(form, "scope").unwrap_or(DEFAULT_SCOPE).to_string();
        let dc = &self.config.device;
        let grant = DeviceGrant {
            user_code: code.clone(),
            scope,
            expires_at: add_secs(now(), dc.expires_in_s as i64),
            interval_s: dc.interval_s,
            polls: 0,
            last_poll: None,
            consumed: false,
        };
        let body = json!({
            "device_code": device_code,
            "user_code": code,
            "verification_uri": format!("{}/device", self.base_url),
            "verification_uri_complete": format!("{}/device?user_code={}", self.base_url, grant.user_code),
            "expires_in": dc.expires_in_s,
            "interval": dc.interval_s,
        });
        self.devices.insert(device_code, grant);
        Reply::ok(body, "device_authorized")
    }

    fn device_poll(&mut self, form: &Form) -> Reply {
        if let Some(reply) = self.check_client(form) {
            return reply;
        }
        let Some(code) = field(form, "device_code") else {
            return Reply::error(
                400,
                "invalid_request",
                "device_code is required",
                "invalid_request",
            );
        };
        let (approve_after, outcome) = (
            self.config.device.approve_after_polls,
            self.config.device.outcome,
        );
        let Some(grant) = self.devices.get_mut(code) else {
            return Reply::error(400, "invalid_grant", "unknown device code", "unknown_token");
        };
        if grant.consumed {
            return Reply::error(
                400,
                "invalid_grant",
                "device code already used",
                "device_consumed",
            );
        }
        if now() >= grant.expires_at {
            return Reply::error(
                400,
                "expired_token",
                "device code expired",
                "device_expired",
            );
        }
        let last = grant.last_poll.replace(Instant::now());
        if grant.interval_s > 0 {
            if let Some(last) = last {
                if last.elapsed().as_secs_f64() < grant.interval_s as f64 {
                    // RFC 8628 §3.5: the interval grows by 5 s for this and later requests.
                    grant.interval_s += 5;
                    return Reply::error(
                        400,
                        "slow_down",
                        &format!("poll at most every {} s", grant.interval_s),
                        "device_slow_down",
                    );
                }
            }
        }
        grant.polls += 1;
        if grant.polls <= approve_after {
            return Reply::error(
                400,
                "authorization_pending",
                "the user has not approved yet",
                "device_pending",
            );
        }
        match outcome {
            DeviceOutcome::Deny => Reply::error(
                400,
                "access_denied",
                "the user denied the request",
                "device_denied",
            ),
            DeviceOutcome::Expire => Reply::error(
                400,
                "expired_token",
                "device code expired",
                "device_expired",
            ),
            DeviceOutcome::Approve => {
                grant.consumed = true;
                let scope = grant.scope.clone();
                let at = now();
                let idx = self.create_session(
                    1,
                    add_secs(at, self.config.access_ttl_s as i64),
                    add_secs(at, self.config.refresh_lifetime_s as i64),
                    scope,
                    "device_code",
                    at,
                );
                Reply::ok(self.token_body(idx, true), "device_approved")
                    .session(&self.sessions[idx])
            }
        }
    }

    /// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token is known.
    pub fn revoke(&mut self, form: &Form) -> Reply {
        let Some(token) = field(form, "token") else {
            return Reply::error(
                400,
                "invalid_request",
                "token is required",
                "invalid_request",
            );
        };
        match self.tokens.get(token) {
            Some(rec) => {
                let s = &mut self.sessions[rec.session];
                if s.revoked.is_none() {
                    s.revoked = Some("client_revoke");
                }
                Reply::ok(json!({}), "revoked").session(s)
            }
            None => Reply::ok(json!({}), "unknown_token"),
        }
    }

    /// Resolve a bearer access token. `allow_inactive` lets a revoked session's token through
    /// (session-status reports `active: false` instead of 401).
    fn bearer(&self, token: Option<&str>, allow_inactive: bool) -> Result<usize, Box<Reply>> {
        let challenge = |description: &str, outcome: &'static str| {
            let mut reply = Reply::error(401, "invalid_token", description, outcome);
            reply.bearer_challenge = true;
            Box::new(reply)
        };
        let Some(token) = token else {
            return Err(challenge(
                "a bearer access token is required",
                "missing_token",
            ));
        };
        let rec = match self.tokens.get(token) {
            Some(rec) if rec.kind == TokenKind::Access => rec,
            _ => return Err(challenge("unknown access token", "unknown_token")),
        };
        let s = &self.sessions[rec.session];
        if rec.expires_at.is_some_and(|at| now() >= at) {
            return Err(Box::new(
                challenge("access token expired", "expired").session(s),
            ));
        }
        if s.revoked.is_some() && !allow_inactive {
            return Err(Box::new(
                challenge("session revoked", "session_invalid").session(s),
            ));
        }
        Ok(rec.session)
    }

    /// `GET /api/v1/me`.
    pub fn me(&self, token: Option<&str>) -> Reply {
        let idx = match self.bearer(token, false) {
            Ok(idx) => idx,
            Err(reply) => return *reply,
        };
        let user = &self.config.user;
        Reply::ok(
            json!({
                "user_id": user.user_id,
                "email": user.email,
                "name": user.name,
                "teams": user.teams(),
                "default_team_id": user.default_team(),
            }),
            "ok",
        )
        .session(&self.sessions[idx])
    }

    /// `GET /api/v1/session-status`.
    pub fn session_status(&self, token: Option<&str>) -> Reply {
        let idx = match self.bearer(token, true) {
            Ok(idx) => idx,
            Err(reply) => return *reply,
        };
        let s = &self.sessions[idx];
        let active = s.revoked.is_none() && now() < s.refresh_expires_at;
        Reply::ok(
            json!({
                "session_id": s.id,
                "active": active,
                "generation": s.generation,
                "refresh_token_expires_at": iso(&s.refresh_expires_at),
            }),
            if active { "active" } else { "inactive" },
        )
        .session(s)
    }

    /// `POST /api/v1/events/batch/`.
    pub fn events_batch(&mut self, token: Option<&str>, body: &[u8]) -> Reply {
        let idx = match self.bearer(token, false) {
            Ok(idx) => idx,
            Err(reply) => return *reply,
        };
        let events = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(mut map)) => match map.remove("events") {
                Some(Value::Array(events)) => events,
                _ => {
                    return Reply::error(
                        400,
                        "invalid_request",
                        "body must be {\"events\": [...]}",
                        "invalid_request",
                    )
                    .session(&self.sessions[idx])
                }
            },
            _ => {
                return Reply::error(
                    400,
                    "invalid_request",
                    "body must be a JSON object {\"events\": [...]}",
                    "invalid_request",
                )
                .session(&self.sessions[idx])
            }
        };
        let accepted = events.len();
        self.events.extend(events);
        Reply::ok(json!({ "accepted": accepted }), "accepted").session(&self.sessions[idx])
    }

    /// The session a token string belongs to (for journaling requests a fault answered).
    pub fn session_of(&self, token: &str) -> Option<(String, i64)> {
        self.tokens.get(token).map(|rec| {
            let s = &self.sessions[rec.session];
            (s.id.clone(), s.generation)
        })
    }

    pub fn sessions(&self) -> Vec<SessionInfo> {
        let at = now();
        self.sessions
            .iter()
            .map(|s| SessionInfo {
                session_id: s.id.clone(),
                user_id: s.user_id.clone(),
                active: s.revoked.is_none() && at < s.refresh_expires_at,
                revoked: s.revoked.is_some(),
                revoked_reason: s.revoked.map(str::to_string),
                generation: s.generation,
                current_refresh_token: s.current_refresh.clone(),
                current_access_token: s.current_access.clone(),
                created_at: iso(&s.created_at),
                refresh_token_expires_at: iso(&s.refresh_expires_at),
                auth_method: s.auth_method.to_string(),
                refreshes: s.refreshes,
            })
            .collect()
    }

    pub fn session_info(&self, session_id: &str) -> Option<SessionInfo> {
        self.sessions()
            .into_iter()
            .find(|s| s.session_id == session_id)
    }

    /// Revoke (admin). Returns false for an unknown session.
    pub fn revoke_session(&mut self, session_id: &str) -> bool {
        match self.find_session(session_id) {
            Some(idx) => {
                let s = &mut self.sessions[idx];
                if s.revoked.is_none() {
                    s.revoked = Some("admin");
                }
                true
            }
            None => false,
        }
    }

    /// Set the refresh family's absolute expiry to now (admin).
    pub fn expire_refresh(&mut self, session_id: &str) -> bool {
        match self.find_session(session_id) {
            Some(idx) => {
                self.sessions[idx].refresh_expires_at = now();
                true
            }
            None => false,
        }
    }

    pub fn latest_refresh_token(&self, session_id: &str) -> Option<String> {
        self.find_session(session_id)
            .map(|idx| self.sessions[idx].current_refresh.clone())
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued.clone()
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.clone()
    }
}
