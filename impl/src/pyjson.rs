//! JSON written the way Python's `json.dumps` writes it by default: `", "` and `": "` separators
//! and every non-ASCII character escaped as `\uXXXX` (UTF-16 units, lowercase hex).
//!
//! Why: the session plaintext and the lock record must be byte-identical to what the Python CLI
//! writes, so a Rust and a Python CLI can share one runtime root and the test vectors hold.

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use std::io::{self, Write};

/// Serialises `value` with Python's default `json.dumps` formatting.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter);
    value
        .serialize(&mut ser)
        .expect("serialising JSON values into a Vec cannot fail");
    out
}

/// Like [`to_vec`], as a `String`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    String::from_utf8(to_vec(value)).expect("ASCII-escaped JSON is UTF-8")
}

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps() {
        // python3 -c 'import json; print(json.dumps({"a": [1, "é", None], "b": {"c": True}, "d": "\n\"x"}))'
        let v = json!({"a": [1, "é", null], "b": {"c": true}, "d": "\n\"x"});
        assert_eq!(
            super::to_string(&v),
            r#"{"a": [1, "\u00e9", null], "b": {"c": true}, "d": "\n\"x"}"#
        );
        assert_eq!(super::to_string(&json!([])), "[]");
        assert_eq!(super::to_string(&json!({})), "{}");
    }
}
