//! fnmatch-style globs, case-sensitive, as Python's `fnmatch.fnmatchcase` reads them
//! (0.1 filters DMs and wire traffic with it, and clients already hold such patterns):
//! `*` any run of characters (`/` included), `?` one character, `[abc]`, `[a-z]`,
//! `[!abc]` one character in or not in a set; a `[` without a closing `]` is a
//! literal; there is no escape character and no `{a,b}`.
//!
//! Hand-written rather than taken from `glob`/`globset`, because those treat `**`,
//! `{}`, `\` or `/` specially and so would match differently from 0.1.
//! Matching is iterative with single-star backtracking: O(len(pattern) × len(text))
//! at worst, so a hostile pattern cannot make the router spin.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles one fnmatch-style pattern.
    pub fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        // A `[` with no `]` anywhere after it is a literal without looking further:
        // otherwise each of n unclosed `[` would scan to the end, O(n²).
        let last_close = chars.iter().rposition(|&c| c == ']');
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // Consecutive stars mean the same as one.
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::AnyChar);
                    i += 1;
                }
                '[' => match last_close
                    .filter(|&end| end > i)
                    .and_then(|_| parse_class(&chars, i + 1))
                {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => {
                        tokens.push(Token::Literal('['));
                        i += 1;
                    }
                },
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        Glob { tokens }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        // `t` is a byte offset on a char boundary: the text is walked in place
        // (this runs for every delivery a DM filter or watcher checks).
        let (mut p, mut t) = (0usize, 0usize);
        // Where to resume after the most recent `*`: (token after it, text position).
        let mut backtrack: Option<(usize, usize)> = None;
        while let Some(c) = text[t..].chars().next() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    backtrack = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                Some(tok) if tok.matches_char(c) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bp, bt)) => {
                    // The `*` takes one more char (bt < t, so there is one).
                    let taken = text[bt..].chars().next().map_or(1, char::len_utf8);
                    p = bp;
                    t = bt + taken;
                    backtrack = Some((bp, t));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::AnyRun)
    }
}

impl Glob {
    /// Whether some text matches both `self` and `other` (path leases use this
    /// to judge two leases' patterns as overlapping).
    ///
    /// Exact, not a heuristic: it searches the product of the two patterns'
    /// token sequences. A state is a pair of positions `(i, j)`; a `*` may be
    /// left without taking a character (the same text position in both), and a
    /// step takes one character that both current tokens accept (a `*` stays
    /// where it is). Whether such a character exists is decided on the union
    /// of the two tokens' range boundaries, since membership is constant
    /// between them. The patterns overlap when `(len a, len b)` is reachable.
    /// At most `(len a + 1) × (len b + 1)` states, each visited once.
    pub fn overlaps(&self, other: &Glob) -> bool {
        let (a, b) = (&self.tokens, &other.tokens);
        let width = b.len() + 1;
        let mut seen = vec![false; (a.len() + 1) * width];
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, j)) = stack.pop() {
            if std::mem::replace(&mut seen[i * width + j], true) {
                continue;
            }
            if i == a.len() && j == b.len() {
                return true;
            }
            let (ta, tb) = (a.get(i), b.get(j));
            if ta == Some(&Token::AnyRun) {
                stack.push((i + 1, j));
            }
            if tb == Some(&Token::AnyRun) {
                stack.push((i, j + 1));
            }
            if let (Some(ta), Some(tb)) = (ta, tb) {
                if ta.shares_a_char(tb) {
                    let ni = if *ta == Token::AnyRun { i } else { i + 1 };
                    let nj = if *tb == Token::AnyRun { j } else { j + 1 };
                    stack.push((ni, nj));
                }
            }
        }
        false
    }
}

impl Token {
    /// Whether some character matches both tokens. Membership of a token
    /// changes only at the edges of its ranges, so the candidates are `\0`
    /// and every range's first character and the one after its last.
    fn shares_a_char(&self, other: &Token) -> bool {
        let edges = |t: &Token| -> Vec<u32> {
            match t {
                Token::Literal(c) => vec![*c as u32, *c as u32 + 1],
                Token::Class { ranges, .. } => ranges
                    .iter()
                    .flat_map(|&(lo, hi)| [lo as u32, hi as u32 + 1])
                    .collect(),
                Token::AnyChar | Token::AnyRun => Vec::new(),
            }
        };
        let mut candidates = edges(self);
        candidates.extend(edges(other));
        candidates.push(0);
        candidates
            .into_iter()
            // Past the surrogate gap, the next character is U+E000.
            .filter_map(|n| char::from_u32(n).or(char::from_u32(0xE000).filter(|_| n < 0xE000)))
            .any(|c| self.takes(c) && other.takes(c))
    }

    /// Whether this token can consume `c` (a `*` takes any character).
    fn takes(&self, c: char) -> bool {
        *self == Token::AnyRun || self.matches_char(c)
    }

    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Parses a set starting just after `[`. Returns the token and the index after the
/// closing `]`, or None when there is no closing `]` (then `[` is a literal).
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'!');
    if negated {
        i += 1;
    }
    // A `]` right at the start is a member, not the end of the set.
    let body_start = i;
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while chars.get(i)? != &']' {
        i += 1;
    }
    let (negated, body) = match &chars[body_start..i] {
        // Python drops a reversed range by splicing the text around it, so a `!`
        // right after a reversed first range lands first in the set and negates
        // it: `[z-a!x]` means `[!x]` (and `[z-a!]` any character).
        [lo, '-', hi, '!', rest @ ..] if !negated && lo > hi => (true, rest),
        body => (negated, body),
    };
    let mut ranges = Vec::new();
    let mut k = 0;
    while k < body.len() {
        if k + 2 < body.len() && body[k + 1] == '-' {
            // A reversed range such as `z-a` matches nothing, as in Python.
            if body[k] <= body[k + 2] {
                ranges.push((body[k], body[k + 2]));
            }
            k += 3;
        } else {
            ranges.push((body[k], body[k]));
            k += 1;
        }
    }
    Some((Token::Class { negated, ranges }, i + 1))
}

/// A list of globs that matches when any one of them does; empty matches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobSet {
    patterns: Vec<String>,
    globs: Vec<Glob>,
}

impl GlobSet {
    /// A set of patterns; matches when any does.
    pub fn new(patterns: Vec<String>) -> Self {
        let globs = patterns.iter().map(|p| Glob::new(p)).collect();
        GlobSet { patterns, globs }
    }

    /// `["*"]`: the default DM filter and watch filter.
    pub fn everything() -> Self {
        Self::new(vec!["*".to_owned()])
    }

    /// Whether any pattern matches `text`.
    pub fn matches(&self, text: &str) -> bool {
        self.globs.iter().any(|g| g.matches(text))
    }

    /// Whether some text matches both a pattern of `self` and one of `other`.
    pub fn overlaps(&self, other: &GlobSet) -> bool {
        self.globs
            .iter()
            .any(|a| other.globs.iter().any(|b| a.overlaps(b)))
    }

    /// The patterns as given, for echoing back to the client.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).matches(t)
    }

    #[test]
    fn stars_and_questions() {
        assert!(m("*", ""));
        assert!(m("*", "home:~/a#sess_x"));
        assert!(m("home:~/*", "home:~/a/b#sess_x"));
        assert!(m(
            "*#sess_????????????????",
            "home:/t#sess_abcdefghijklmnop"
        ));
        assert!(!m("*#sess_????????????????", "home:/t#sess_abc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("**a", "xa"));
        assert!(!m("", "x"));
        assert!(m("", ""));
        assert!(!m("abc", "ABC"));
    }

    #[test]
    fn classes() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[a-c]x", "bx"));
        assert!(m("[!a-c]", "d"));
        assert!(!m("[!a-c]", "a"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(m("[a-]", "-"));
        assert!(!m("[z-a]", "m"));
        // Found by the glob fuzzer against Python's fnmatch: a `!` after a
        // reversed first range negates the set.
        assert!(m("[[-!!?acx[]", "\0"));
        assert!(!m("[[-!!?acx[]", "a"));
        assert!(m("[z-a!]", "q"));
        assert!(m("[z-a!x-y]", "a") && !m("[z-a!x-y]", "y"));
        // Already negated: the `!` is a member.
        assert!(!m("[!z-a!x]", "!") && m("[!z-a!x]", "a"));
        // Unclosed: a literal `[`.
        assert!(m("[ab", "[ab"));
        assert!(!m("[ab", "a"));
    }

    #[test]
    fn no_escapes_or_braces() {
        assert!(m("\\*", "\\x"));
        assert!(m("{a,b}", "{a,b}"));
        assert!(!m("{a,b}", "a"));
    }

    #[test]
    fn hostile_pattern_is_fast() {
        let p = "*a".repeat(50) + "b";
        let t = "a".repeat(5000);
        assert!(!m(&p, &t));
    }

    #[test]
    fn many_unclosed_brackets_compile_in_linear_time() {
        // Quadratic before: 10⁶ `[` meant ~5·10¹¹ steps, a frozen router.
        let p = "[".repeat(1_000_000);
        assert!(m(&p, &p));
        // With a `]` at the end, the first `[` opens a set of all the others.
        assert!(m(&format!("{p}]"), "["));
    }

    fn o(a: &str, b: &str) -> bool {
        let (a, b) = (Glob::new(a), Glob::new(b));
        let there = a.overlaps(&b);
        assert_eq!(there, b.overlaps(&a), "overlap is symmetric");
        there
    }

    #[test]
    fn overlaps() {
        assert!(o("src/*", "src/lib.rs"));
        assert!(o("src/*", "*.rs"));
        assert!(o("src/*", "src/a/*"));
        assert!(o("*", ""));
        assert!(o("src/lib.rs", "src/lib.rs"));
        assert!(!o("src/lib.rs", "src/main.rs"));
        assert!(!o("src/*", "docs/*"));
        assert!(!o("*.rs", "*.md"));
        assert!(o("src/[a-c]*", "src/b?"));
        assert!(!o("src/[a-c]*", "src/[!a-c]*"));
        assert!(o("src/[!a]x", "src/[a-b]x"));
        assert!(!o("src/[!a]x", "src/ax"));
        assert!(o("a*b*c", "*bc"));
        assert!(!o("a?", "a"));
        assert!(o("[!\0-\u{10FFFF}]", "?") == m("[!\0-\u{10FFFF}]", "x"));
        // Whatever a brute-force search finds, the product search finds too.
        let pats = [
            "*", "a*", "*b", "a?b", "[ab]*", "[!a]*", "ab", "b", "", "?", "a*b*",
        ];
        let texts = ["", "a", "b", "ab", "ba", "aab", "abb", "axb", "ca", "abab"];
        for p in pats {
            for q in pats {
                let brute = texts.iter().any(|t| m(p, t) && m(q, t));
                if brute {
                    assert!(o(p, q), "{p} {q}");
                }
            }
        }
    }

    #[test]
    fn sets() {
        assert!(!GlobSet::new(vec![]).matches("x"));
        assert!(GlobSet::everything().matches("x"));
        let s = GlobSet::new(vec!["a*".into(), "b?".into()]);
        assert!(s.matches("bz") && s.matches("a") && !s.matches("c"));
        assert_eq!(s.patterns(), &["a*".to_string(), "b?".to_string()]);
    }
}
