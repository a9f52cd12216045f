//! Revocation: RFC 7009 `POST /oauth/revoke` (a logout) and the admin's revoke.
//!
//! Why it exists: a revoked session must answer every later use of any of its tokens with
//! `session_invalid` / `invalid_token`, whoever revoked it, and a scenario must be able to tell
//! who did ([`RevokedReason`]). What it guarantees: the endpoint answers 200 `{}` for any token,
//! known or not (RFC 7009 §2.2), revoking is idempotent, and the first reason is kept.

use super::reply::{Empty, Reply};
use super::request::{field, missing, Form};
use super::store::Store;
use crate::admin_api::RevokedReason;
use crate::journal::JournalOutcome;

/// `POST /oauth/revoke`: revokes the session owning an access or refresh token.
pub(crate) fn revoke_endpoint(store: &mut Store, form: &Form) -> Reply {
    let Some(token) = field(form, "token") else {
        return missing("token");
    };
    let Some(idx) = store.tokens.get(token).map(|rec| rec.session) else {
        return Reply::ok(&Empty {}, JournalOutcome::UnknownToken);
    };
    let s = &mut store.sessions[idx];
    s.revoke(RevokedReason::ClientRevoke);
    Reply::ok(&Empty {}, JournalOutcome::Revoked).with_session(&s.id, s.generation)
}

/// Revoke a session by id (admin). Returns false for an unknown session.
pub(crate) fn revoke_session(store: &mut Store, session_id: &str) -> bool {
    match store.find_session(session_id) {
        Some(idx) => {
            store.sessions[idx].revoke(RevokedReason::Admin);
            true
        }
        None => false,
    }
}
