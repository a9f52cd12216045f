//! Helpers shared by the integration tests: a blocking HTTP client with a deadline on every
//! request, one-line wrappers for the public calls the tests make again and again, and typed
//! admin calls (bodies are `fake_saas::admin_api` types, never hand-built JSON).

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_saas::admin_api::AdminError;
use fake_saas::{FakeSaas, SaasConfig, SeedRequest, SeededSession};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Every request has a deadline: a hung server fails the test instead of hanging it.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn client() -> Client {
    Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("reqwest client")
}

pub fn start(config: SaasConfig) -> FakeSaas {
    FakeSaas::start(config).expect("fake SaaS starts")
}

pub fn start_toml(toml: &str) -> FakeSaas {
    start(SaasConfig::from_toml_str(toml).expect("valid config"))
}

pub fn seed(saas: &FakeSaas) -> SeededSession {
    saas.seed_session(SeedRequest::default())
}

/// Status and JSON body of a public endpoint (Null when the body is not JSON).
pub type Answer = (u16, Value);

fn answer(response: reqwest::blocking::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn post_form(c: &Client, url: &str, form: &[(&str, &str)]) -> Answer {
    answer(c.post(url).form(form).send().expect("request"))
}

pub fn try_post_form(
    c: &Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Result<reqwest::blocking::Response> {
    c.post(url).form(form).send()
}

pub fn refresh(c: &Client, saas: &FakeSaas, refresh_token: &str) -> Answer {
    post_form(
        c,
        &format!("{}/oauth/token", saas.url()),
        &refresh_form(refresh_token),
    )
}

pub fn refresh_form(refresh_token: &str) -> [(&str, &str); 3] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "cli_native"),
    ]
}

pub fn get_bearer(c: &Client, url: &str, token: &str) -> Answer {
    answer(c.get(url).bearer_auth(token).send().expect("request"))
}

pub fn me(c: &Client, saas: &FakeSaas, token: &str) -> Answer {
    get_bearer(c, &format!("{}/api/v1/me", saas.url()), token)
}

pub fn get(c: &Client, url: &str) -> Answer {
    answer(c.get(url).send().expect("request"))
}

/// The `refresh_token` of a token answer.
pub fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

/// The `access_token` of a token answer.
pub fn at(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// An RFC 3339 time the fake sent, in UTC.
pub fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .with_timezone(&Utc)
}

pub fn error_of(answer: &Answer) -> &str {
    answer.1["error"].as_str().unwrap_or("")
}

pub fn reason_of(answer: &Answer) -> &str {
    answer.1["error_reason"].as_str().unwrap_or("")
}

/// What an admin call answered: the typed body, or the status and the typed error.
pub type AdminResult<T> = Result<T, (u16, AdminError)>;

fn admin_answer<T: DeserializeOwned>(request: RequestBuilder) -> AdminResult<T> {
    let response = request.send().expect("admin request");
    let status = response.status().as_u16();
    let text = response.text().expect("admin body");
    if status == 200 {
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
    } else {
        let error = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        Err((status, error))
    }
}

fn admin_request(c: &Client, method: Method, base: &str, route: &str) -> RequestBuilder {
    c.request(method, format!("{base}/__admin{route}"))
}

/// `GET /__admin<route>`, which must succeed.
pub fn admin_get<T: DeserializeOwned>(c: &Client, base: &str, route: &str) -> T {
    admin_answer(admin_request(c, Method::GET, base, route)).expect("admin GET succeeds")
}

/// An admin call with a typed JSON body (or none).
pub fn admin_send<T: DeserializeOwned>(
    c: &Client,
    method: Method,
    base: &str,
    route: &str,
    body: Option<&impl Serialize>,
) -> AdminResult<T> {
    let mut request = admin_request(c, method, base, route);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(serde_json::to_string(body).expect("serializable body"));
    }
    admin_answer(request)
}

/// An admin call with a raw body: for bodies the types cannot express (typos, bad values).
pub fn admin_send_raw<T: DeserializeOwned>(
    c: &Client,
    method: Method,
    base: &str,
    route: &str,
    body: &str,
) -> AdminResult<T> {
    let request = admin_request(c, method, base, route)
        .header("content-type", "application/json")
        .body(body.to_string());
    admin_answer(request)
}

/// `POST /__admin<route>` without a body.
pub fn admin_post<T: DeserializeOwned>(c: &Client, base: &str, route: &str) -> AdminResult<T> {
    admin_send(c, Method::POST, base, route, None::<&()>)
}
