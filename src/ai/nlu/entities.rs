//! The facts in a message besides its intent: the stay (see `dates`), the party (adults and
//! children), and the emails, phone numbers and numbers written in it.

use super::dates::{self, Stay};
use super::lexicon::Lexicon;
use super::tokens::{Token, TokenKind};
use crate::journey::input;
use serde::Serialize;

/// Words that count people, so the typo corrector knows them.
pub(super) const UNIT_WORDS: &[&str] = &[
    "adults",
    "adult",
    "people",
    "persons",
    "person",
    "guests",
    "guest",
    "grown-ups",
    "grownups",
    "children",
    "child",
    "kids",
    "babies",
    "infant",
    "infants",
    "toddler",
    "toddlers",
    "teenagers",
    "teenager",
    "couple",
    "myself",
    "alone",
];

const ADULT_UNITS: &[&str] = &[
    "adults",
    "adult",
    "people",
    "persons",
    "person",
    "guests",
    "guest",
    "grown-ups",
    "grownups",
    "pax",
    "ppl",
    "grown",
    "adultes",
];
const CHILD_UNITS: &[&str] = &[
    "children",
    "child",
    "kids",
    "kid",
    "baby",
    "babies",
    "infant",
    "infants",
    "toddler",
    "toddlers",
    "teenagers",
    "teenager",
    "teens",
    "teen",
    "kiddos",
    "little",
];
/// Children named by who they are ("our son").
const OFFSPRING: &[&str] = &[
    "son", "daughter", "baby", "kid", "child", "toddler", "boy", "girl", "little", "infant",
];
const TRAVELLERS: &[&str] = &[
    "traveller",
    "traveler",
    "person",
    "guest",
    "adult",
    "room",
    "occupancy",
];

/// Words after "for N" that make N something other than people.
const NOT_PEOPLE: &[&str] = &[
    "night",
    "nights",
    "week",
    "weeks",
    "day",
    "days",
    "fortnight",
    "hours",
    "hour",
    "minutes",
    "min",
    "mins",
    "euros",
    "euro",
    "dollars",
    "pounds",
    "eur",
    "usd",
    "gbp",
    "am",
    "pm",
    "rooms",
    "room",
    "beds",
    "bed",
    "months",
    "month",
    "years",
    "year",
    "of",
    "nts",
    "x",
    "th",
    "st",
    "nd",
    "rd",
];
const PARTNERS: &[&str] = &[
    "wife",
    "husband",
    "partner",
    "girlfriend",
    "boyfriend",
    "fiance",
    "fiancee",
    "fiancé",
    "fiancée",
    "friend",
    "mom",
    "mum",
    "dad",
    "mother",
    "father",
    "sister",
    "brother",
    "colleague",
    "spouse",
];

/// What a message says besides its intent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Entities {
    /// The stay: arrival and departure, either possibly unknown.
    pub stay: Option<Stay>,
    /// Nights stated, or spanned by a full stay.
    pub nights: Option<u32>,
    pub adults: Option<u32>,
    pub children: Option<u32>,
    pub emails: Vec<String>,
    /// Phone numbers, normalised to digits with a leading `+` when written.
    pub phones: Vec<String>,
    /// Every number written in digits, in order.
    pub numbers: Vec<f64>,
}

pub(super) fn extract(
    text: &str,
    tokens: &[Token],
    today: chrono::NaiveDate,
    lexicon: &'static Lexicon,
) -> Entities {
    let found = dates::find(tokens, today, lexicon);
    let (adults, children) = party(tokens, lexicon);
    Entities {
        stay: found.stay,
        nights: found.nights,
        adults,
        children,
        emails: emails(text),
        phones: phones(text, today),
        numbers: numbers(tokens),
    }
}

fn count_at(tokens: &[Token], index: usize, lexicon: &Lexicon) -> Option<u32> {
    let token = tokens.get(index)?;
    match token.kind {
        TokenKind::Number {
            value,
            ordinal: false,
            ..
        } => Some(value),
        TokenKind::Word => lexicon
            .numbers
            .iter()
            .find(|(name, _)| *name == token.text)
            .map(|(_, value)| *value),
        _ => None,
    }
}

fn word_at(tokens: &[Token], index: usize) -> Option<&str> {
    tokens
        .get(index)
        .filter(|token| token.kind == TokenKind::Word)
        .map(|token| token.text.as_str())
}

fn is_at(tokens: &[Token], index: usize, words: &[&str]) -> bool {
    word_at(tokens, index).is_some_and(|word| words.contains(&word))
}

/// Adults and children: "2 adults and a child", "adults: 2", "for 4", "me and my wife",
/// "a couple", "just me", "no kids".
fn party(tokens: &[Token], lexicon: &Lexicon) -> (Option<u32>, Option<u32>) {
    let mut adults: Option<u32> = None;
    let mut children: Option<u32> = None;
    for index in 0..tokens.len() {
        let word = word_at(tokens, index);
        if let Some(count) = count_at(tokens, index, lexicon) {
            // "2 adults", "two of us", "two small kids".
            let unit_at = if is_at(
                tokens,
                index + 1,
                &["of", "small", "little", "young", "more", "extra"],
            ) {
                index + 2
            } else {
                index + 1
            };
            if is_at(tokens, unit_at, ADULT_UNITS) || is_at(tokens, unit_at, &["us"]) {
                if is_at(tokens, index, &["a", "an"])
                    && !is_at(tokens, unit_at, &["adult", "person", "guest"])
                {
                    continue;
                }
                adults = adults.or(Some(count));
                continue;
            }
            if is_at(tokens, unit_at, CHILD_UNITS) {
                children = children.or(Some(count));
                continue;
            }
            if is_at(tokens, index, &["couple"]) && !is_at(tokens, index + 1, &["of"]) {
                adults = adults.or(Some(2));
                continue;
            }
            // "for 4", "room for two" — unless a unit follows.
            if index > 0
                && is_at(tokens, index - 1, &["for"])
                && !is_at(tokens, index, &["a", "an"])
                && !is_at(tokens, index + 1, NOT_PEOPLE)
                && !is_at(tokens, index + 1, CHILD_UNITS)
                && tokens.get(index + 1).is_none_or(|next| {
                    !(next.glued
                        && next.kind == TokenKind::Symbol
                        && next.text != ","
                        && next.text != "!"
                        && next.text != "?"
                        && next.text != ".")
                })
                && !glued_date_part(tokens, index)
                && (1..=30).contains(&count)
            {
                adults = adults.or(Some(count));
            }
            continue;
        }
        match word {
            // "adults: 2", "kids 1".
            Some(unit) if ADULT_UNITS.contains(&unit) || CHILD_UNITS.contains(&unit) => {
                let next = if tokens.get(index + 1).is_some_and(|t| t.is(":")) {
                    index + 2
                } else {
                    index + 1
                };
                if let Some(TokenKind::Number {
                    value,
                    ordinal: false,
                    ..
                }) = tokens.get(next).map(|token| token.kind)
                {
                    if ADULT_UNITS.contains(&unit) {
                        adults = adults.or(Some(value));
                    } else {
                        children = children.or(Some(value));
                    }
                }
                if CHILD_UNITS.contains(&unit) && index > 0 && is_at(tokens, index - 1, &["no"]) {
                    children = children.or(Some(0));
                }
            }
            // "me and my wife", "me, my partner and our son".
            Some("me" | "i")
                if (1..=2).any(|gap| {
                    is_at(tokens, index + gap, &["my"]) && is_at(tokens, index + gap + 1, PARTNERS)
                }) =>
            {
                adults = adults.or(Some(2));
            }
            Some("our" | "my") if is_at(tokens, index + 1, OFFSPRING) => {
                children = Some(children.unwrap_or(0) + 1);
            }
            Some("single" | "solo" | "lone") if is_at(tokens, index + 1, TRAVELLERS) => {
                adults = adults.or(Some(1));
            }
            Some("my")
                if is_at(tokens, index + 1, PARTNERS)
                    && is_at(tokens, index + 2, &["and"])
                    && is_at(tokens, index + 3, &["i", "me", "myself"]) =>
            {
                adults = adults.or(Some(2));
            }
            Some("just" | "only")
                if is_at(tokens, index + 1, &["me", "myself", "one"])
                    || (is_at(tokens, index + 1, &["for"])
                        && is_at(tokens, index + 2, &["me", "myself"])) =>
            {
                adults = adults.or(Some(1));
            }
            Some("myself" | "solo" | "alone") => adults = adults.or(Some(1)),
            Some("on")
                if is_at(tokens, index + 1, &["my"]) && is_at(tokens, index + 2, &["own"]) =>
            {
                adults = adults.or(Some(1));
            }
            _ => {}
        }
    }
    (adults, children)
}

/// Whether the number at `index` is part of a written date (`15/03`, `2027-03-15`).
fn glued_date_part(tokens: &[Token], index: usize) -> bool {
    let next = tokens.get(index + 1);
    next.is_some_and(|token| {
        token.glued
            && token.kind == TokenKind::Symbol
            && ["/", "-", "."].contains(&token.text.as_str())
    })
}

fn emails(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|word| word.contains('@'))
        .filter_map(|word| {
            let trimmed = word
                .trim_matches(|c: char| "()<>[]\"',;:!?".contains(c))
                .trim_end_matches('.');
            input::email(trimmed)
        })
        .collect()
}

/// Runs of digits, spaces and phone punctuation with 7 to 15 digits that are not a date.
fn phones(text: &str, today: chrono::NaiveDate) -> Vec<String> {
    let mut found = Vec::new();
    let mut run = String::new();
    let mut flush = |run: &mut String| {
        let candidate = run
            .trim()
            .trim_end_matches(['-', '.', '('])
            .trim()
            .to_owned();
        run.clear();
        let digits = candidate.chars().filter(char::is_ascii_digit).count();
        if digits < 7
            || input::parse_date(
                &candidate,
                crate::journey::model::DateFormat::Lenient,
                today,
            )
            .is_some()
        {
            return;
        }
        if let Some(phone) = input::phone(&candidate) {
            found.push(phone);
        }
    };
    for c in text.chars() {
        let continues = c.is_ascii_digit()
            || (c == '+' && run.trim().is_empty())
            || (!run.is_empty() && matches!(c, ' ' | '-' | '.' | '(' | ')'));
        if continues {
            run.push(c);
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    found
}

fn numbers(tokens: &[Token]) -> Vec<f64> {
    let mut numbers = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        if let TokenKind::Number { value, .. } = tokens[index].kind {
            // "12.50" is one number.
            let decimal = tokens.get(index + 1).is_some_and(|t| t.is(".") && t.glued)
                && tokens
                    .get(index + 2)
                    .is_some_and(|t| t.glued && t.number().is_some());
            if decimal {
                let text = format!("{}.{}", tokens[index].text, tokens[index + 2].text);
                if let Ok(number) = text.parse::<f64>() {
                    numbers.push(number);
                }
                index += 3;
                continue;
            }
            numbers.push(f64::from(value));
        }
        index += 1;
    }
    numbers
}
