//! The refresh grant: rotation, the absolute lifetime, and the reuse policy.
//!
//! Why it exists: this is the behaviour the whole project is about (a stale process presenting a
//! rotated-out refresh token), so it lives on its own, in the order the checks are made:
//! client, unknown token, revoked session, family past its lifetime, current token (rotate),
//! rotated-out token (the reuse policy). What it guarantees: it runs under the state lock, so of
//! N concurrent refreshes with the same token exactly one rotates; every `invalid_grant` and
//! `session_invalid` carries an [`ErrorReason`]; every rotated-out token that reaches the reuse
//! policy is counted in the session's `reuse_detections`.

use chrono::{DateTime, Utc};

use super::reply::{ErrorBody, ErrorCode, ErrorReason, Reply};
use super::request::{check_client, field, missing, Form};
use super::store::{Store, TokenKind};
use crate::admin_api::RevokedReason;
use crate::config::{ReusePolicy, SaasConfig};
use crate::journal::JournalOutcome;
use crate::time::{add_secs, format};

/// When neither `grace_s` nor `grace_uses` is set, the grace window is this long.
const DEFAULT_GRACE_S: u64 = 60;

/// `grant_type=refresh_token`.
pub(crate) fn refresh(
    store: &mut Store,
    config: &SaasConfig,
    form: &Form,
    now: DateTime<Utc>,
) -> Reply {
    if let Some(reply) = check_client(config, form) {
        return reply;
    }
    let Some(presented) = field(form, "refresh_token") else {
        return missing("refresh_token");
    };
    let idx = match store.tokens.get(presented) {
        Some(rec) if rec.kind == TokenKind::Refresh => rec.session,
        _ => {
            return Reply::rejected(
                400,
                ErrorCode::InvalidGrant,
                "unknown refresh token",
                ErrorReason::UnknownToken,
                JournalOutcome::UnknownToken,
            )
        }
    };
    let s = &store.sessions[idx];
    if let Some(revoked) = s.revoked {
        let reason = match revoked {
            RevokedReason::ReuseDetected => ErrorReason::FamilyRevoked,
            RevokedReason::ClientRevoke | RevokedReason::Admin => ErrorReason::Revoked,
        };
        return Reply::rejected(
            401,
            ErrorCode::SessionInvalid,
            &format!("session {} has been revoked", s.id),
            reason,
            JournalOutcome::SessionInvalid,
        )
        .with_session(&s.id, s.generation);
    }
    if now >= s.refresh_expires_at {
        return Reply::rejected(
            400,
            ErrorCode::InvalidGrant,
            &format!(
                "refresh token expired at {} (absolute lifetime reached)",
                format(&s.refresh_expires_at)
            ),
            ErrorReason::LifetimeExpired,
            JournalOutcome::Expired,
        )
        .with_session(&s.id, s.generation);
    }
    if s.current_refresh == presented {
        return exchange(store, config, idx, now);
    }
    let grace_ok = in_grace_window(config, store, idx, presented, now);
    rotated_out(store, config, idx, grace_ok, now)
}

/// The current token: a new access token, and a new refresh token when rotation is on.
fn exchange(store: &mut Store, config: &SaasConfig, idx: usize, now: DateTime<Utc>) -> Reply {
    let access_expires_at = add_secs(now, config.access_ttl_s as i64);
    let s = &mut store.sessions[idx];
    s.refreshes += 1;
    let outcome = if config.rotation {
        s.generation += 1;
        s.previous_refresh = Some(s.current_refresh.clone());
        s.rotated_at = Some(now);
        s.grace_uses = 0;
        store.issue_access(idx, access_expires_at);
        store.issue_refresh(idx);
        JournalOutcome::Rotated
    } else {
        store.issue_access(idx, access_expires_at);
        JournalOutcome::Refreshed
    };
    let s = &store.sessions[idx];
    Reply::ok(&store.token_answer(idx, config.rotation, now), outcome)
        .with_session(&s.id, s.generation)
}

/// Whether `presented` is the immediately previous token and the grace window still holds:
/// at most `grace_s` since the rotation and at most `grace_uses` replays, each only when set
/// ([`DEFAULT_GRACE_S`] when neither is).
fn in_grace_window(
    config: &SaasConfig,
    store: &Store,
    idx: usize,
    presented: &str,
    now: DateTime<Utc>,
) -> bool {
    let s = &store.sessions[idx];
    if s.previous_refresh.as_deref() != Some(presented) {
        return false;
    }
    let time_limit = match (config.grace_s, config.grace_uses) {
        (Some(secs), _) => Some(secs),
        (None, None) => Some(DEFAULT_GRACE_S),
        (None, Some(_)) => None,
    };
    let elapsed_ms = s
        .rotated_at
        .map_or(0, |at| (now - at).num_milliseconds().max(0));
    let time_ok = time_limit.is_none_or(|secs| (elapsed_ms as u128) < u128::from(secs) * 1000);
    let uses_ok = config.grace_uses.is_none_or(|max| s.grace_uses < max);
    time_ok && uses_ok
}

/// A refresh token of this family that is no longer current: the reuse policy decides.
fn rotated_out(
    store: &mut Store,
    config: &SaasConfig,
    idx: usize,
    grace_ok: bool,
    now: DateTime<Utc>,
) -> Reply {
    let s = &mut store.sessions[idx];
    s.reuse_detections += 1;
    let rejected = |description: &str| {
        Reply::rejected(
            400,
            ErrorCode::InvalidGrant,
            description,
            ErrorReason::RotatedOut,
            JournalOutcome::ReuseRejected,
        )
    };
    let reply = match config.reuse {
        ReusePolicy::Reject => rejected("refresh token has been rotated out"),
        ReusePolicy::RevokeFamily => {
            s.revoke(RevokedReason::ReuseDetected);
            Reply::rejected(
                400,
                ErrorCode::InvalidGrant,
                "refresh token reuse detected: the session has been revoked",
                ErrorReason::FamilyRevoked,
                JournalOutcome::FamilyRevoked,
            )
        }
        ReusePolicy::Replay409 => Reply::error_body(
            409,
            ErrorBody {
                error: ErrorCode::RefreshReplayBenignRetry,
                error_description: Some(
                    "refresh token already rotated; retry with the current token".to_string(),
                ),
                error_reason: None,
                retry_after: Some(1),
            },
            JournalOutcome::Replay409,
        ),
        ReusePolicy::Grace if grace_ok => {
            s.grace_uses += 1;
            s.refreshes += 1;
            Reply::ok(
                &store.token_answer(idx, true, now),
                JournalOutcome::GraceReplay,
            )
        }
        ReusePolicy::Grace => {
            rejected("refresh token has been rotated out (outside the grace window)")
        }
    };
    let s = &store.sessions[idx];
    reply.with_session(&s.id, s.generation)
}
