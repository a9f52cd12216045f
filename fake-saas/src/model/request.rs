//! What the model reads from a request: form fields, and the client check every grant makes.
//!
//! Why a module of its own: the OAuth endpoints share the same form conventions (an empty value
//! is an absent value, the last occurrence of a key wins) and the same `client_id` check, and
//! they must not drift apart between the refresh and the device grants.

use std::collections::HashMap;

use super::reply::{ErrorCode, Reply};
use crate::config::SaasConfig;
use crate::journal::JournalOutcome;

/// A form body as key → value (the last occurrence wins).
pub(crate) type Form = HashMap<String, String>;

/// A non-empty form field.
pub(crate) fn field<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// `None` when the form names the configured client; else the 401 `invalid_client` reply.
pub(crate) fn check_client(config: &SaasConfig, form: &Form) -> Option<Reply> {
    let description = match field(form, "client_id") {
        Some(id) if id == config.client_id => return None,
        Some(id) => format!("unknown client_id {id:?}"),
        None => "client_id is required".to_string(),
    };
    Some(Reply::error(
        401,
        ErrorCode::InvalidClient,
        &description,
        JournalOutcome::InvalidClient,
    ))
}

/// The 400 `invalid_request` reply for a missing field.
pub(crate) fn missing(key: &str) -> Reply {
    Reply::error(
        400,
        ErrorCode::InvalidRequest,
        &format!("{key} is required"),
        JournalOutcome::InvalidRequest,
    )
}
