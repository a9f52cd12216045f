//! Validation errors and where they point: [`Diagnostic`], [`Invalid`], and the machinery that
//! turns a key path (`["step", "2", "until"]`) into a line and column of the source.
//!
//! Why key paths: resolution works on deserialised values, which have no positions; it records
//! each error with the path of the key it is about, and `Locator` finds that key (or the deepest
//! part of the path that exists) in the document the values were deserialised from (the file is
//! parsed once, by `toml_edit`, which keeps every key's span). Guarantee: every error carries the
//! file, and a 1-based line and column whenever the key exists in the file.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One validation error: where, what, and the expected form.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
    /// The form that would have been accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if let Some(expected) = &self.expected {
            write!(f, "\n    expected: {expected}")?;
        }
        Ok(())
    }
}

/// All the errors of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub Vec<Diagnostic>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// 1-based line and column of a byte offset (the fake SaaS's config errors count the same way,
/// so both use its one implementation).
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let p = fake_saas::TextPosition::at_offset(src, offset);
    (p.line, p.column)
}

/// Finds the span of a key path (`["step", "2", "until"]`) in the source, for messages.
pub(super) struct Locator {
    doc: toml_edit::ImDocument<String>,
}

enum Node<'a> {
    Table(&'a toml_edit::Table),
    Item(&'a toml_edit::Item),
    Value(&'a toml_edit::Value),
}

impl Locator {
    /// The locator of the parsed document `doc`.
    pub(super) fn new(doc: toml_edit::ImDocument<String>) -> Locator {
        Locator { doc }
    }

    /// The span of the deepest part of `path` that exists (key spans preferred).
    fn span(&self, path: &[String]) -> Option<Range<usize>> {
        let mut node = Node::Table(self.doc.as_table());
        let mut best: Option<Range<usize>> = None;
        for seg in path {
            let next: Option<(Option<Range<usize>>, Node)> = match node {
                Node::Table(t) => t
                    .get_key_value(seg)
                    .map(|(k, i)| (k.span().or_else(|| i.span()), Node::Item(i))),
                Node::Item(toml_edit::Item::Table(t)) => t
                    .get_key_value(seg)
                    .map(|(k, i)| (k.span().or_else(|| i.span()), Node::Item(i))),
                Node::Item(toml_edit::Item::ArrayOfTables(a)) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get(i))
                    .map(|t| (t.span(), Node::Table(t))),
                Node::Item(toml_edit::Item::Value(v)) | Node::Value(v) => match v {
                    toml_edit::Value::InlineTable(t) => t
                        .get_key_value(seg)
                        .map(|(k, i)| (k.span().or_else(|| i.span()), Node::Item(i))),
                    toml_edit::Value::Array(arr) => seg
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| arr.get(i))
                        .map(|v| (v.span(), Node::Value(v))),
                    _ => None,
                },
                Node::Item(toml_edit::Item::None) => None,
            };
            match next {
                Some((span, n)) => {
                    if span.is_some() {
                        best = span;
                    }
                    node = n;
                }
                None => break,
            }
        }
        best
    }
}

/// A key path under construction.
pub(super) type KeyPath = Vec<String>;

pub(super) fn kp(base: &[String], more: &[&str]) -> KeyPath {
    base.iter()
        .cloned()
        .chain(more.iter().map(|s| s.to_string()))
        .collect()
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) src: &'a str,
    pub(super) loc: Locator,
    pub(super) errors: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Records an error at the key `path` (as deep as it exists in the file).
    pub(super) fn err(
        &mut self,
        path: &[String],
        message: impl Into<String>,
        expected: Option<String>,
    ) {
        let (line, column) = match self.loc.span(path) {
            Some(span) => line_col(self.src, span.start),
            None => (0, 0),
        };
        self.errors.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
            expected,
        });
    }

    pub(super) fn line_of(&self, path: &[String]) -> usize {
        self.loc
            .span(path)
            .map_or(0, |s| line_col(self.src, s.start).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
