//! The token store: sessions, their refresh-token families, and every token ever issued.
//!
//! Why it exists: minting, indexing and looking up tokens is the one thing every grant and every
//! bearer endpoint needs, and it must be impossible to issue a token without recording it (the
//! harness checks that no issued token leaks). What it guarantees: token strings are unique and
//! readable (`rt.sess_1.g3.1a2b3c4d`: kind, session, generation, 32 random bits), every issued
//! token is indexed and listed in issue order, and a session's `current_*` tokens are always the
//! last ones issued for it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::reply::TokenAnswer;
use crate::admin_api::{AuthMethod, RevokedReason, SessionInfo};

/// The scope every token carries.
pub const DEFAULT_SCOPE: &str = "openid offline_access";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub kind: TokenKind,
    /// Index into `Store::sessions`.
    pub session: usize,
    /// Access tokens only.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One session and its refresh-token family.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub generation: i64,
    pub scope: String,
    pub auth_method: AuthMethod,
    pub current_refresh: String,
    /// The access token issued with the current refresh token (what a grace replay returns).
    pub current_access: String,
    /// The token the last rotation replaced, and when/how often it was replayed.
    pub previous_refresh: Option<String>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub grace_uses: u32,
    pub refresh_expires_at: DateTime<Utc>,
    pub revoked: Option<RevokedReason>,
    pub refreshes: u64,
    pub reuse_detections: u64,
}

impl Session {
    /// Not revoked and the family not past its absolute expiry.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.revoked.is_none() && now < self.refresh_expires_at
    }

    /// Revoke, keeping the first reason.
    pub fn revoke(&mut self, reason: RevokedReason) {
        self.revoked.get_or_insert(reason);
    }

    pub fn info(&self, now: DateTime<Utc>) -> SessionInfo {
        SessionInfo {
            session_id: self.id.clone(),
            user_id: self.user_id.clone(),
            active: self.active(now),
            revoked: self.revoked.is_some(),
            revoked_reason: self.revoked,
            generation: self.generation,
            current_refresh_token: self.current_refresh.clone(),
            current_access_token: self.current_access.clone(),
            created_at: self.created_at,
            refresh_token_expires_at: self.refresh_expires_at,
            auth_method: self.auth_method,
            refreshes: self.refreshes,
            reuse_detections: self.reuse_detections,
        }
    }
}

/// What a new session starts with.
pub(crate) struct NewSession {
    pub user_id: String,
    pub generation: i64,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub scope: String,
    pub auth_method: AuthMethod,
    pub created_at: DateTime<Utc>,
}

/// Sessions and tokens.
pub(crate) struct Store {
    pub sessions: Vec<Session>,
    pub tokens: HashMap<String, TokenRecord>,
    issued: Vec<String>,
    rng: StdRng,
}

impl Store {
    pub fn new() -> Store {
        Store {
            sessions: Vec::new(),
            tokens: HashMap::new(),
            issued: Vec::new(),
            // Token randomness is deliberately not seeded: tokens are secrets, and their readable
            // prefix already makes them reproducible enough to debug.
            rng: StdRng::from_entropy(),
        }
    }

    /// The (unseeded) generator behind tokens and device codes.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
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

    fn record(
        &mut self,
        token: &str,
        kind: TokenKind,
        idx: usize,
        expires_at: Option<DateTime<Utc>>,
    ) {
        self.tokens.insert(
            token.to_string(),
            TokenRecord {
                kind,
                session: idx,
                expires_at,
            },
        );
        self.issued.push(token.to_string());
    }

    /// A new access token of the session's current generation; it becomes `current_access`.
    pub fn issue_access(&mut self, idx: usize, expires_at: DateTime<Utc>) -> String {
        let (sid, generation) = (self.sessions[idx].id.clone(), self.sessions[idx].generation);
        let token = self.mint("at", &sid, generation);
        self.record(&token, TokenKind::Access, idx, Some(expires_at));
        self.sessions[idx].current_access = token.clone();
        token
    }

    /// A new refresh token of the session's current generation; it becomes `current_refresh`.
    pub fn issue_refresh(&mut self, idx: usize) -> String {
        let (sid, generation) = (self.sessions[idx].id.clone(), self.sessions[idx].generation);
        let token = self.mint("rt", &sid, generation);
        self.record(&token, TokenKind::Refresh, idx, None);
        self.sessions[idx].current_refresh = token.clone();
        token
    }

    /// Create a session (`sess_<n>`) with a fresh pair; returns its index.
    pub fn create_session(&mut self, new: NewSession) -> usize {
        let idx = self.sessions.len();
        self.sessions.push(Session {
            id: format!("sess_{}", idx + 1),
            user_id: new.user_id,
            created_at: new.created_at,
            generation: new.generation,
            scope: new.scope,
            auth_method: new.auth_method,
            current_refresh: String::new(),
            current_access: String::new(),
            previous_refresh: None,
            rotated_at: None,
            grace_uses: 0,
            refresh_expires_at: new.refresh_expires_at,
            revoked: None,
            refreshes: 0,
            reuse_detections: 0,
        });
        self.issue_access(idx, new.access_expires_at);
        self.issue_refresh(idx);
        idx
    }

    pub fn find_session(&self, session_id: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.id == session_id)
    }

    /// The session (id, generation) a token string belongs to.
    pub fn session_of(&self, token: &str) -> Option<(String, i64)> {
        self.tokens.get(token).map(|rec| {
            let s = &self.sessions[rec.session];
            (s.id.clone(), s.generation)
        })
    }

    /// The token answer for the session's current pair.
    pub fn token_answer(
        &self,
        idx: usize,
        include_refresh: bool,
        now: DateTime<Utc>,
    ) -> TokenAnswer {
        let s = &self.sessions[idx];
        let expires_in = self.tokens[&s.current_access]
            .expires_at
            // Rounded up, so a token issued just now reports exactly `access_ttl_s`.
            .map(|at| ((at - now).num_milliseconds().max(0) + 999) / 1000)
            .unwrap_or(0);
        TokenAnswer {
            access_token: s.current_access.clone(),
            refresh_token: include_refresh.then(|| s.current_refresh.clone()),
            token_type: "Bearer",
            expires_in,
            refresh_token_expires_at: s.refresh_expires_at,
            scope: s.scope.clone(),
            generation: s.generation,
            session_id: s.id.clone(),
        }
    }

    /// Every token ever issued, in issue order.
    pub fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }
}
