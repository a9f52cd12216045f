//! What a public request is: which endpoint, and what it presents (form, bearer, token).
//!
//! Why it exists: the fault decision, the model and the journal all need the same reading of a
//! request (the `grant` filter needs the form's `grant_type`, the journal needs "the token as
//! presented"), so it is read once, here. What it guarantees: a path that is neither a public
//! endpoint nor a redirect target resolves to `NotFound`, a known path with the wrong method to
//! `MethodNotAllowed`, and the presented token is the one the endpoint actually reads.

use axum::http::{header, HeaderMap, Method};

use crate::config::DEVICE_CODE_GRANT;
use crate::model::Form;

/// The public paths, plus the two catch-alls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    DeviceAuthorize,
    Revoke,
    Me,
    SessionStatus,
    EventsBatch,
    DevicePage,
    /// Where a `redirect` fault points: any method, journaled with what it presents.
    RedirectTarget,
    NotFound,
    MethodNotAllowed,
}

impl Endpoint {
    /// `is_redirect_target` says whether an otherwise unknown path is a redirect target.
    pub fn resolve(method: &Method, path: &str, is_redirect_target: bool) -> Endpoint {
        let (expected, endpoint) = match path {
            "/oauth/token" => (Method::POST, Endpoint::Token),
            "/oauth/device/authorize" => (Method::POST, Endpoint::DeviceAuthorize),
            "/oauth/revoke" => (Method::POST, Endpoint::Revoke),
            "/api/v1/me" => (Method::GET, Endpoint::Me),
            "/api/v1/session-status" => (Method::GET, Endpoint::SessionStatus),
            "/api/v1/events/batch/" => (Method::POST, Endpoint::EventsBatch),
            "/device" => (Method::GET, Endpoint::DevicePage),
            _ if is_redirect_target => return Endpoint::RedirectTarget,
            _ => return Endpoint::NotFound,
        };
        if *method == expected {
            endpoint
        } else {
            Endpoint::MethodNotAllowed
        }
    }

    fn is_form(self) -> bool {
        matches!(
            self,
            Endpoint::Token
                | Endpoint::DeviceAuthorize
                | Endpoint::Revoke
                | Endpoint::RedirectTarget
        )
    }

    /// Endpoints a fault may target (the ones listed in `config::ENDPOINTS`).
    pub fn faultable(self) -> bool {
        matches!(
            self,
            Endpoint::Token
                | Endpoint::DeviceAuthorize
                | Endpoint::Revoke
                | Endpoint::Me
                | Endpoint::SessionStatus
                | Endpoint::EventsBatch
        )
    }
}

/// One request as the pipeline reads it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub endpoint: Endpoint,
    pub form: Form,
    pub bearer: Option<String>,
    /// The token as presented (see [`crate::JournalEntry::token`]).
    pub token: Option<String>,
    pub user_agent: Option<String>,
}

impl Incoming {
    pub fn read(endpoint: Endpoint, headers: &HeaderMap, body: &[u8]) -> Incoming {
        let form = if endpoint.is_form() {
            parse_form(body)
        } else {
            Form::new()
        };
        let bearer = bearer_token(headers);
        let from_form = |key: &str| form.get(key).cloned();
        let token = match endpoint {
            Endpoint::Token => match form.get("grant_type").map(String::as_str) {
                Some(DEVICE_CODE_GRANT) => from_form("device_code"),
                _ => from_form("refresh_token"),
            },
            Endpoint::Revoke => from_form("token"),
            Endpoint::Me | Endpoint::SessionStatus | Endpoint::EventsBatch => bearer.clone(),
            Endpoint::RedirectTarget => from_form("refresh_token")
                .or_else(|| from_form("device_code"))
                .or_else(|| from_form("token"))
                .or_else(|| bearer.clone()),
            _ => None,
        };
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Incoming {
            endpoint,
            form,
            bearer,
            token,
            user_agent,
        }
    }

    pub fn grant_type(&self) -> Option<&str> {
        self.form.get("grant_type").map(String::as_str)
    }

    pub fn client_id(&self) -> Option<&str> {
        self.form.get("client_id").map(String::as_str)
    }
}

fn parse_form(body: &[u8]) -> Form {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve() {
        let r = |m: Method, p: &str, target: bool| Endpoint::resolve(&m, p, target);
        assert_eq!(r(Method::POST, "/oauth/token", false), Endpoint::Token);
        assert_eq!(
            r(Method::GET, "/oauth/token", true),
            Endpoint::MethodNotAllowed
        );
        assert_eq!(r(Method::GET, "/elsewhere", true), Endpoint::RedirectTarget);
        assert_eq!(r(Method::GET, "/elsewhere", false), Endpoint::NotFound);
    }

    #[test]
    fn faultable_endpoints_are_exactly_the_configurable_ones() {
        use crate::config::ENDPOINTS;
        let all = [
            "/oauth/token",
            "/oauth/device/authorize",
            "/oauth/revoke",
            "/api/v1/me",
        ];
        let all = all.iter().chain(ENDPOINTS).chain(&["/device", "/nope"]);
        for path in all {
            let faultable = [Method::GET, Method::POST]
                .iter()
                .map(|m| Endpoint::resolve(m, path, false))
                .any(Endpoint::faultable);
            assert_eq!(faultable, ENDPOINTS.contains(path), "{path}");
        }
    }

    #[test]
    fn the_presented_token_is_what_the_endpoint_reads() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer at.x".parse().unwrap());
        let token =
            |endpoint, body: &str| Incoming::read(endpoint, &headers, body.as_bytes()).token;
        assert_eq!(
            token(
                Endpoint::Token,
                "grant_type=refresh_token&refresh_token=rt.a"
            ),
            Some("rt.a".into())
        );
        assert_eq!(
            token(
                Endpoint::Token,
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc"
            ),
            Some("dc".into())
        );
        assert_eq!(token(Endpoint::Me, ""), Some("at.x".into()));
        assert_eq!(
            token(Endpoint::RedirectTarget, "refresh_token=rt.b"),
            Some("rt.b".into())
        );
        assert_eq!(token(Endpoint::RedirectTarget, ""), Some("at.x".into()));
        assert_eq!(token(Endpoint::NotFound, "refresh_token=rt.b"), None);
    }
}
