//! Configuration errors, and where in the text they point.
//!
//! Why a module of its own: the fake's config and the scenario files that embed it report errors
//! the same way, one line naming the key or the line and column. The position is structured data
//! ([`TextPosition`]) taken from the parser's own error span, so a caller that prints
//! `file:line:col` reuses it instead of computing it again.

use std::fmt;

/// A 1-based line and column (in characters) of a configuration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TextPosition {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub column: usize,
}

impl TextPosition {
    /// The position of the byte `offset` of `text` (clamped to the text, and back to a character
    /// boundary), e.g. the start of `toml::de::Error::span()`.
    pub fn at_offset(text: &str, offset: usize) -> TextPosition {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        TextPosition {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The trimmed source line this position is on, when the text has it.
    fn source_line(self, text: &str) -> Option<String> {
        text.lines()
            .nth(self.line.checked_sub(1)?)
            .map(|l| l.trim().to_string())
    }
}

impl fmt::Display for TextPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A configuration error. `Display` is one line that names the key (and the position, when
/// parsing).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The text did not parse into the schema (syntax, unknown key, wrong type, missing key).
    #[error("{}", parse_message(.position, .message, .source_line))]
    Parse {
        /// Where the offending text starts, when the parser knows.
        position: Option<TextPosition>,
        /// The parser's message, which names the unknown/missing key or the bad value.
        message: String,
        /// The offending source line, trimmed.
        source_line: Option<String>,
    },
    /// The schema parsed but a value is out of range.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted path of the key, e.g. `fault[1].probability`.
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// A parse error at `position` of `text`.
    pub(crate) fn parse(text: &str, position: Option<TextPosition>, message: &str) -> ConfigError {
        ConfigError::Parse {
            position,
            message: message.trim().replace('\n', " "),
            source_line: position.and_then(|p| p.source_line(text)),
        }
    }

    /// An out-of-range value of `key`.
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Where a parse error points; `None` for range errors (they name a key instead).
    pub fn position(&self) -> Option<TextPosition> {
        match self {
            ConfigError::Parse { position, .. } => *position,
            ConfigError::Invalid { .. } => None,
        }
    }
}

fn parse_message(
    position: &Option<TextPosition>,
    message: &str,
    source_line: &Option<String>,
) -> String {
    match (position, source_line) {
        (Some(at), Some(src)) if !src.is_empty() => format!("{at}: {message} (at `{src}`)"),
        (Some(at), _) => format!("{at}: {message}"),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_from_one_in_characters() {
        let at = |text, offset| TextPosition::at_offset(text, offset);
        assert_eq!(at("ab\ncd", 0), TextPosition { line: 1, column: 1 });
        assert_eq!(at("ab\ncd", 4), TextPosition { line: 2, column: 2 });
        // "é" is two bytes: offset 3 is the character after it.
        assert_eq!(at("é\néx", 5), TextPosition { line: 2, column: 2 });
        // Inside a character: back to its start; past the end: the end.
        assert_eq!(at("é", 1), TextPosition { line: 1, column: 1 });
        assert_eq!(at("ab", 99), TextPosition { line: 1, column: 3 });
    }

    #[test]
    fn message_is_one_line_with_the_position() {
        let text = "a = 1\n  rotaton = false\n";
        let err = ConfigError::parse(
            text,
            Some(TextPosition { line: 2, column: 3 }),
            "unknown field\n`rotaton`",
        );
        assert_eq!(
            err.to_string(),
            "line 2, column 3: unknown field `rotaton` (at `rotaton = false`)"
        );
        assert_eq!(err.position(), Some(TextPosition { line: 2, column: 3 }));
    }
}
