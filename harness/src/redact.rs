//! Token labels and redaction: every token the fake SaaS issued (and the seeded pair) gets a
//! short label (`R0, R1, ...` refresh, `A0, A1, ...` access, in issue order, 0 = seeded), and
//! every text that leaves the runner (timeline, failures, process output in reports) shows
//! tokens only as `‹label›`.
//!
//! Why its own module: redaction is not a check; the checks, the timeline collection and the
//! report all use it. Guarantee: [`Tokens::redact`] replaces every known token, longest first,
//! so no issued token appears in a report.

/// Shortest string treated as a secret token (shorter ones would match by accident).
pub const MIN_TOKEN_LEN: usize = 8;

/// One known token.
#[derive(Debug, Clone)]
struct Known {
    token: String,
    label: String,
    refresh: bool,
}

/// Every token the SaaS issued (and the seeded pair), with their labels.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    list: Vec<Known>,
}

/// The generation a token of the fake SaaS was minted at: its tokens read
/// `<kind>.<session>.g<generation>.<nonce>` (the same format the `rt.` prefix of refresh tokens
/// is read from).
pub fn token_generation(token: &str) -> Option<i64> {
    let mut parts = token.rsplit('.');
    let _nonce = parts.next()?;
    parts.next()?.strip_prefix('g')?.parse().ok()
}

/// `("R", 1)` for `"R1"`: the shape of a label ([`Tokens`] gives them), or `None`.
pub fn parse_label(s: &str) -> Option<(char, u32)> {
    let mut chars = s.chars();
    let kind = chars.next().filter(|c| *c == 'R' || *c == 'A')?;
    let digits = chars.as_str();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((kind, digits.parse().ok()?))
}

impl Tokens {
    /// Labels `issued` in order; the seeded tokens come first.
    pub fn new(issued: &[String], seeded: Option<(&str, &str)>) -> Tokens {
        let mut t = Tokens::default();
        let (mut a, mut r) = (0, 0);
        let mut push = |tok: &str, refresh: Option<bool>, list: &mut Vec<Known>| {
            if tok.len() < MIN_TOKEN_LEN || list.iter().any(|k| k.token == tok) {
                return;
            }
            let refresh = refresh.unwrap_or_else(|| tok.starts_with("rt."));
            let label = if refresh {
                r += 1;
                format!("R{}", r - 1)
            } else {
                a += 1;
                format!("A{}", a - 1)
            };
            list.push(Known {
                token: tok.to_string(),
                label,
                refresh,
            });
        };
        if let Some((refresh, access)) = seeded {
            push(refresh, Some(true), &mut t.list);
            push(access, Some(false), &mut t.list);
        }
        for tok in issued {
            push(tok, None, &mut t.list);
        }
        t
    }

    /// All known tokens: (token, label, is a refresh token).
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.list
            .iter()
            .map(|k| (k.token.as_str(), k.label.as_str(), k.refresh))
    }

    /// The label of `token`, if known.
    pub fn label(&self, token: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|k| k.token == token)
            .map(|k| k.label.as_str())
    }

    /// The token labelled `label`, if one was issued.
    pub fn by_label(&self, label: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|k| k.label == label)
            .map(|k| k.token.as_str())
    }

    /// The first known token of the kind (`refresh` or access) minted at `generation` of
    /// `session` (the fake SaaS's tokens read `<kind>.<session>.g<generation>.<nonce>`).
    pub fn of_generation(&self, refresh: bool, generation: i64, session: &str) -> Option<&str> {
        self.list
            .iter()
            .filter(|k| k.refresh == refresh)
            .find(|k| {
                token_generation(&k.token) == Some(generation)
                    && k.token.split('.').nth(1) == Some(session)
            })
            .map(|k| k.token.as_str())
    }

    /// The labels of the known tokens that occur in `text`.
    pub fn labels_in(&self, text: &str) -> Vec<&str> {
        self.list
            .iter()
            .filter(|k| text.contains(k.token.as_str()))
            .map(|k| k.label.as_str())
            .collect()
    }

    /// The label, or the redacted form of an unknown token.
    pub fn label_or_redact(&self, token: &str) -> String {
        match self.label(token) {
            Some(l) => l.to_string(),
            None if token.len() >= MIN_TOKEN_LEN => {
                let tail: String = token
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("unknown…{tail}")
            }
            None => token.to_string(),
        }
    }

    /// `text` with every known token replaced by `‹label›`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut sorted: Vec<&Known> = self.list.iter().collect();
        sorted.sort_by_key(|k| std::cmp::Reverse(k.token.len()));
        for k in sorted {
            if out.contains(k.token.as_str()) {
                out = out.replace(k.token.as_str(), &format!("‹{}›", k.label));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_labels_and_redaction() {
        let issued = vec![
            "at.s1.g1.aaaa0001".to_string(),
            "rt.s1.g1.bbbb0001".to_string(),
            "at.s1.g2.aaaa0002".to_string(),
            "rt.s1.g2.bbbb0002".to_string(),
        ];
        let t = Tokens::new(&issued, None);
        assert_eq!(t.label("rt.s1.g1.bbbb0001"), Some("R0"));
        assert_eq!(t.label("rt.s1.g2.bbbb0002"), Some("R1"));
        assert_eq!(t.label("at.s1.g2.aaaa0002"), Some("A1"));
        assert_eq!(t.by_label("A1"), Some("at.s1.g2.aaaa0002"));
        assert_eq!(t.redact("token=rt.s1.g2.bbbb0002!"), "token=‹R1›!");
        assert_eq!(t.labels_in("x at.s1.g1.aaaa0001 y"), ["A0"]);
        assert_eq!(t.label_or_redact("zzzzzzzzzz1234"), "unknown…1234");
        assert_eq!(token_generation("at.sess_1.g2.0badf00d"), Some(2));
        assert_eq!(token_generation("garbage"), None);
        assert_eq!(t.of_generation(true, 2, "s1"), Some("rt.s1.g2.bbbb0002"));
        assert_eq!(t.of_generation(false, 1, "s1"), Some("at.s1.g1.aaaa0001"));
        assert_eq!(t.of_generation(true, 3, "s1"), None);
        assert_eq!(parse_label("R12"), Some(('R', 12)));
        assert_eq!(parse_label("A"), None);
        assert_eq!(parse_label("seed"), None);
    }
}
