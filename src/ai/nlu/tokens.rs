//! Splitting a message into words, numbers and the symbols dates are written with, the way a
//! guest means them: lowercased, typographic apostrophes straightened, typos corrected.

use super::Engine;

/// Words shorter than this are never corrected: too many short words are a typo apart.
pub(super) const CORRECTABLE_LENGTH: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Word,
    /// Digits, with an ordinal suffix (`15th`) when `ordinal`.
    Number {
        value: u32,
        digits: u8,
        ordinal: bool,
    },
    /// One punctuation character (`-`, `/`, `.`, `:`, `+`, `,`, `?`, `!`).
    Symbol,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) kind: TokenKind,
    /// Written right after the previous token, with no space between (`15/03`, `3pm`).
    pub(crate) glued: bool,
}

impl Token {
    pub(crate) fn number(&self) -> Option<u32> {
        match self.kind {
            TokenKind::Number { value, .. } => Some(value),
            _ => None,
        }
    }

    pub(crate) fn is(&self, text: &str) -> bool {
        self.text == text
    }
}

/// Currency signs read as words, so cues can name them.
const CURRENCY: [char; 4] = ['€', '$', '£', '¥'];

pub(super) fn tokenize(text: &str, engine: &Engine) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let chars: Vec<char> = text
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{00B4}' => '\'',
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            c => c,
        })
        .collect();
    let mut index = 0;
    let mut glued = false;
    while index < chars.len() {
        let c = chars[index];
        if c.is_alphabetic() {
            let start = index;
            while index < chars.len() {
                let here = chars[index];
                let joins = (here == '\'' || here == '-')
                    && chars
                        .get(index + 1)
                        .is_some_and(|next| next.is_alphabetic());
                if here.is_alphabetic() || (joins && index > start) {
                    index += 1;
                } else {
                    break;
                }
            }
            let word: String = chars[start..index]
                .iter()
                .collect::<String>()
                .to_lowercase();
            let word = engine.correct(&word).into_owned();
            tokens.push(Token {
                text: word,
                kind: TokenKind::Word,
                glued,
            });
            glued = true;
        } else if c.is_ascii_digit() {
            let start = index;
            while index < chars.len() && chars[index].is_ascii_digit() {
                index += 1;
            }
            let digits: String = chars[start..index].iter().collect();
            let suffix: String = chars[index..chars.len().min(index + 2)]
                .iter()
                .collect::<String>()
                .to_lowercase();
            let after_suffix = chars.get(index + 2);
            let ordinal = matches!(suffix.as_str(), "st" | "nd" | "rd" | "th")
                && after_suffix.is_none_or(|c| !c.is_alphabetic());
            if ordinal {
                index += 2;
            }
            let value = digits.parse::<u32>().unwrap_or(u32::MAX);
            tokens.push(Token {
                text: digits.clone(),
                kind: TokenKind::Number {
                    value,
                    digits: u8::try_from(digits.len()).unwrap_or(u8::MAX),
                    ordinal,
                },
                glued,
            });
            glued = true;
        } else if CURRENCY.contains(&c) {
            tokens.push(Token {
                text: c.to_string(),
                kind: TokenKind::Word,
                glued,
            });
            index += 1;
            glued = true;
        } else if matches!(c, '-' | '/' | '.' | ':' | '+' | ',' | '?' | '!' | '@' | '&') {
            tokens.push(Token {
                text: c.to_string(),
                kind: TokenKind::Symbol,
                glued,
            });
            index += 1;
            glued = true;
        } else {
            // Spaces, emoji and other marks separate tokens.
            index += 1;
            glued = false;
        }
    }
    tokens
}

/// The Damerau–Levenshtein (optimal string alignment) distance between two words, or
/// anything above `limit` once it is sure to exceed it.
pub(super) fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut rows = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in rows.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i * width] = i;
        let mut row_minimum = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
            row_minimum = row_minimum.min(best);
        }
        if row_minimum > limit {
            return limit + 1;
        }
    }
    rows[a.len() * width + b.len()]
}
