//! Generators of outside input: raw JSON text (numbers no `serde_json::Value` can hold, strings
//! with control and non-ASCII characters, deep nesting), objects whose known keys carry values
//! of every type, times in every spelling (and out of range), and byte-level damage (truncation,
//! non-UTF-8, flipped bytes) applied to any of them.
//!
//! Why raw text: the bugs live in what a typed value cannot express (`1e400`, `-0`,
//! `9223372036854775808`, a lone surrogate escape), so generators write text, not values.
#![allow(dead_code)]

use proptest::prelude::*;

/// Numbers as JSON text: ordinary, at and past the i64/u64 bounds, floats, exponents.
pub fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f:?}")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        Just("9223372036854775807".to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("-0".to_string()),
        Just("0.0".to_string()),
        Just("3600.0".to_string()),
        Just("1E2".to_string()),
        Just("99999999999999999999999999999999999999".to_string()),
    ]
}

/// A Rust string as a JSON string literal (escaped as `serde_json` does).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Strings as JSON text: printable, control characters, non-ASCII, escapes, numeric text.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,12}".prop_map(|s| quoted(&s)),
        any::<String>().prop_map(|s| quoted(&s)),
        Just(r#""\ud800""#.to_string()),
        Just(r#""\u0000""#.to_string()),
        Just(r#"" +300 ""#.to_string()),
        Just(r#""-5""#.to_string()),
        Just(r#""300.0""#.to_string()),
        Just(r#""99999999999999999999999""#.to_string()),
        Just(r#""""#.to_string()),
    ]
}

/// Times as JSON string literals: every accepted spelling, and what must be refused.
pub fn time_text() -> impl Strategy<Value = String> {
    let year = prop_oneof![
        1970i32..2200,
        Just(1),
        Just(9999),
        Just(0),
        Just(10000),
        Just(262143)
    ];
    let spelled = (
        year,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        prop_oneof![20 => 0u32..60, 1 => Just(60u32)],
        prop_oneof![Just(String::new()), "\\.[0-9]{1,9}".prop_map(|s| s)],
        prop_oneof![
            Just("+00:00"),
            Just("Z"),
            Just(""),
            Just("-05:00"),
            Just("+14:00"),
            Just("-23:59"),
        ],
        prop_oneof![Just('T'), Just(' ')],
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, off, sep)| {
            let year = if (0..=9999).contains(&y) {
                format!("{y:04}")
            } else {
                format!("+{y}")
            };
            quoted(&format!(
                "{year}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{off}"
            ))
        });
    prop_oneof![
        4 => spelled,
        1 => Just(quoted("9999-12-31T23:59:59-00:01")),
        1 => Just(quoted("0001-01-01T00:00:00+00:01")),
        1 => Just(quoted("+10000-01-01T00:00:00")),
        1 => Just(quoted("2026-02-30T00:00:00+00:00")),
        1 => Just(quoted("not a time")),
        1 => Just(quoted("")),
    ]
}

/// Any JSON value as text, nested a few levels (and occasionally past the parser's depth limit).
pub fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number(),
        string(),
    ];
    prop_oneof![
        8 => leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec(("[a-z_]{0,8}", inner), 0..4).prop_map(|kv| {
                    let body: Vec<String> =
                        kv.iter().map(|(k, v)| format!("{}: {v}", quoted(k))).collect();
                    format!("{{{}}}", body.join(", "))
                }),
            ]
        }),
        1 => (100usize..300).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
    ]
}

/// A value for a key the parser knows: usually of a plausible type, often not.
pub fn field_value(plausible: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    prop_oneof![
        4 => plausible,
        2 => value(),
    ]
    .boxed()
}

/// A JSON object with some of `keys` (each with a value from its strategy, in any order, maybe
/// duplicated) and some unknown keys.
pub fn object(keys: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
    let entries: Vec<BoxedStrategy<Option<(String, String)>>> = keys
        .into_iter()
        .map(|(k, v)| prop::option::weighted(0.8, v.prop_map(move |v| (k.to_string(), v))).boxed())
        .collect();
    (
        entries,
        prop::collection::vec(("[a-z_]{1,10}", value()), 0..3),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(known, extra, shift, dup)| {
            let mut all: Vec<(String, String)> = known.into_iter().flatten().collect();
            all.extend(extra);
            if !all.is_empty() {
                let n = shift.index(all.len());
                all.rotate_left(n);
                if dup {
                    let first = all[0].clone();
                    all.push(first);
                }
            }
            let body: Vec<String> = all
                .iter()
                .map(|(k, v)| format!("{}: {v}", quoted(k)))
                .collect();
            format!("{{{}}}", body.join(", "))
        })
        .boxed()
}

/// Damage done to bytes on the way: none (most often), truncation, a flipped byte, an invalid
/// UTF-8 sequence, or unrelated bytes.
#[derive(Debug, Clone)]
pub enum Damage {
    None,
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    NonUtf8(prop::sample::Index),
    Replace(Vec<u8>),
}

pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => any::<prop::sample::Index>().prop_map(Damage::Truncate),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Flip(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Damage::NonUtf8),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Damage::Replace),
    ]
}

impl Damage {
    pub fn apply(&self, text: String) -> Vec<u8> {
        let mut bytes = text.into_bytes();
        match self {
            Damage::None => {}
            Damage::Truncate(i) => bytes.truncate(i.index(bytes.len() + 1)),
            Damage::Flip(i, b) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] ^= b | 1;
            }
            Damage::Flip(..) => {}
            Damage::NonUtf8(i) => {
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, [0xff, 0xc3, 0x28]);
            }
            Damage::Replace(b) => bytes = b.clone(),
        }
        bytes
    }
}

/// Bytes as they come from outside: a generated text, maybe damaged.
pub fn damaged(text: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (text, damage()).prop_map(|(t, d)| d.apply(t))
}

/// An answer as a failing case prints it: with its body (the production `Debug` hides bodies,
/// as they may hold tokens; generated tokens are fake, and a shrunk case must be readable).
#[derive(Clone)]
pub struct Shown(pub spec_kitty::oauth::HttpAnswer);

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} location={:?} body={:?}",
            self.0.status,
            self.0.location,
            String::from_utf8_lossy(&self.0.body)
        )
    }
}
