//! Helpers shared by the integration tests: a blocking HTTP client with a deadline on every
//! request, and one-line wrappers for the calls the tests make again and again.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use fake_saas::{FakeSaas, SaasConfig, SeedRequest, SeededSession};
use reqwest::blocking::Client;
use serde_json::Value;

/// Every request has a deadline: a hung server fails the test instead of hanging it.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
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

/// Status and JSON body (Null when the body is not JSON).
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

pub fn post_json(c: &Client, url: &str, body: &Value) -> Answer {
    answer(
        c.post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request"),
    )
}

pub fn put_json(c: &Client, url: &str, body: &Value) -> Answer {
    answer(
        c.put(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request"),
    )
}

pub fn get(c: &Client, url: &str) -> Answer {
    answer(c.get(url).send().expect("request"))
}

pub fn error_of(answer: &Answer) -> &str {
    answer.1["error"].as_str().unwrap_or("")
}
