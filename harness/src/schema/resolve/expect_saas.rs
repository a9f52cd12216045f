//! `expect.saas.*`: what the fake SaaS saw (requests, statuses, tokens presented and revoked)
//! and what it decided (`[[expect.saas.session]]`: active, revoked, family revoked, the reason,
//! reuse detections), plus the token references (`seed`, `saas:latest`) those keys use.
//!
//! Guarantees: endpoints and statuses exist; a reference to the seeded session has one; a
//! session expectation asserts something and does not contradict itself.

use super::expect_sync::resolve_events;
use super::processes::Names;
use super::steps::check_endpoint;
use crate::schema::diagnostics::{kp, Ctx};
use crate::schema::model::{Expect, Seed, ServerSessionExpect, SessionRef};
use crate::schema::raw::{RawExpectSaas, RawServerSession};
use crate::schema::values::ServerState;
use crate::schema::values::{TokenName, TokenRef};
use std::collections::BTreeMap;

/// The revocation reasons the fake SaaS records.
pub(crate) const REVOCATION_REASONS: &[&str] = &["admin", "reuse_detected", "client_revoke"];

/// The kind of token a key names (a label or a generation must be of that kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Refresh,
    Access,
}

/// `"seed"`, `"saas:latest"`, a timeline label of the key's kind (`"R1"`, `"A2"`),
/// `{ generation = N }` (that generation of the seeded session), or a literal token.
pub(crate) fn token_ref(
    ctx: &mut Ctx,
    path: &[String],
    name: &TokenName,
    kind: TokenKind,
    seed: &Seed,
) -> TokenRef {
    const FORMS: &str = "\"seed\", \"saas:latest\", a label (\"R1\", \"A2\"), { generation = N }, or a literal token";
    let s = match name {
        TokenName::Generation(g) => {
            if seed.session.is_none() {
                ctx.err(
                    path,
                    "{ generation = N } needs a seeded session",
                    Some("a [seed.session] table".into()),
                );
            } else if *g < 1 {
                ctx.err(
                    path,
                    format!("generation {g}: generations start at 1"),
                    Some(FORMS.into()),
                );
            }
            return TokenRef::Generation(*g);
        }
        TokenName::Word(s) => s.as_str(),
    };
    if let Some(label) = crate::redact::parse_label(s) {
        let (prefix, what) = match kind {
            TokenKind::Refresh => ('R', "a refresh token"),
            TokenKind::Access => ('A', "an access token"),
        };
        if label.0 != prefix {
            ctx.err(
                path,
                format!(
                    "{s:?} labels {}, but this key names {what}",
                    if label.0 == 'R' {
                        "a refresh token"
                    } else {
                        "an access token"
                    }
                ),
                Some(format!("a label starting with {prefix}")),
            );
        }
        return TokenRef::Label(s.to_string());
    }
    match s {
        "seed" | "saas:latest" if seed.session.is_none() => {
            ctx.err(
                path,
                format!("{s:?} needs a seeded session"),
                Some("a [seed.session] table".into()),
            );
            TokenRef::Seed
        }
        "seed" => TokenRef::Seed,
        "saas:latest" if kind == TokenKind::Access => {
            ctx.err(
                path,
                "\"saas:latest\" is the SaaS's latest refresh token: this key names an access token",
                Some(FORMS.into()),
            );
            TokenRef::SaasLatest
        }
        "saas:latest" => TokenRef::SaasLatest,
        "" => {
            ctx.err(path, "empty token", Some(FORMS.into()));
            TokenRef::Literal(String::new())
        }
        other => TokenRef::Literal(other.to_string()),
    }
}

/// Resolves `[expect.saas]` at `spath` into `x`.
pub(crate) fn resolve_saas_expect(
    ctx: &mut Ctx,
    spath: &[String],
    sr: &RawExpectSaas,
    seed: &Seed,
    names: &Names,
    x: &mut Expect,
) {
    if let Some(events) = &sr.events {
        x.saas_events = resolve_events(ctx, &kp(spath, &["events"]), events, names);
    }
    for (endpoint, n) in sr.requests.iter().flatten() {
        check_endpoint(ctx, &kp(spath, &["requests", endpoint]), endpoint);
        x.saas_requests.insert(endpoint.clone(), *n);
    }
    for (endpoint, codes) in sr.statuses.iter().flatten() {
        let epath = kp(spath, &["statuses", endpoint]);
        check_endpoint(ctx, &epath, endpoint);
        let mut m = BTreeMap::new();
        for (code, n) in codes {
            match code.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => {
                    m.insert(c, *n);
                }
                _ => ctx.err(
                    &kp(&epath, &[code]),
                    format!("{code:?} is not an HTTP status"),
                    Some("statuses = { \"/oauth/token\" = { \"200\" = 1, \"409\" = 1 } }".into()),
                ),
            }
        }
        x.saas_statuses.insert(endpoint.clone(), m);
    }
    if sr.seed_token_presented.is_some() && seed.session.is_none() {
        ctx.err(
            &kp(spath, &["seed_token_presented"]),
            "`seed_token_presented` needs a seeded session",
            None,
        );
    }
    x.seed_token_presented = sr.seed_token_presented;
    x.max_token_presented = sr.max_token_presented;
    if let Some(t) = &sr.revoked_token {
        x.revoked_token = Some(token_ref(
            ctx,
            &kp(spath, &["revoked_token"]),
            t,
            TokenKind::Refresh,
            seed,
        ));
    }
    for (i, s) in sr.session.iter().enumerate() {
        let path = kp(spath, &["session", &i.to_string()]);
        x.saas_sessions.push(server_session(ctx, &path, s, seed));
    }
}

fn server_session(
    ctx: &mut Ctx,
    path: &[String],
    r: &RawServerSession,
    seed: &Seed,
) -> ServerSessionExpect {
    let session = match r.session.as_deref() {
        None | Some("seed") => {
            if seed.session.is_none() {
                ctx.err(
                    path,
                    "the seeded session is the default, but nothing is seeded",
                    Some("a [seed.session] table, or session = \"latest\" (the last session the SaaS created)".into()),
                );
            }
            SessionRef::Seed
        }
        Some("latest") => SessionRef::Latest,
        Some("") => {
            ctx.err(
                &kp(path, &["session"]),
                "empty session id",
                Some("\"seed\" (default), \"latest\" or a session id".into()),
            );
            SessionRef::Seed
        }
        Some(id) => SessionRef::Id(id.to_string()),
    };
    if let Some(reason) = &r.reason {
        if !REVOCATION_REASONS.contains(&reason.as_str()) {
            ctx.err(
                &kp(path, &["reason"]),
                format!("unknown revocation reason {reason:?}"),
                Some(format!("one of {}", REVOCATION_REASONS.join(", "))),
            );
        }
        let contradiction = match r.state {
            Some(ServerState::Active | ServerState::Expired) => true,
            Some(ServerState::FamilyRevoked) => reason != "reuse_detected",
            _ => false,
        };
        if contradiction {
            ctx.err(
                &kp(path, &["reason"]),
                format!(
                    "reason {reason:?} contradicts state = \"{}\"",
                    r.state.map(|s| s.to_string()).unwrap_or_default()
                ),
                Some("a reason only with state = \"revoked\" (family_revoked implies reuse_detected)".into()),
            );
        }
    }
    if r.state.is_none() && r.reason.is_none() && r.reuse_detections.is_none() {
        ctx.err(
            path,
            "a session expectation asserts nothing",
            Some(
                "state = \"family_revoked\", reason = \"reuse_detected\", reuse_detections = 1"
                    .into(),
            ),
        );
    }
    ServerSessionExpect {
        session,
        state: r.state,
        reason: r.reason.clone(),
        reuse_detections: r.reuse_detections,
    }
}
