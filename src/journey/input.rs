//! How a bot journey reads a customer's answer: which choice a tap or a typed reply picks
//! ([`match_choice`]), whether a Prompt's reply passes its validation ([`check_answer`]), and
//! which date a Prompt Date's reply names and whether that date is allowed ([`parse_date`],
//! [`check_date`]).
//!
//! Everything here is pure. Words such as "tomorrow" are read against a `today` the caller
//! passes in, because the journey never reads the clock; an AI criterion comes back as
//! [`Answer::NeedsAi`] for the caller to ask about.

use super::model::{Choice, DateFormat, DateRange, Validation, Weekday};
use crate::domain::MessageContent;
use chrono::{Datelike, Days, NaiveDate};
use serde_json::Value;
use std::ops::RangeInclusive;

/// The most memory a Regex validation's compiled pattern may take (1 MiB), so a partner's
/// pattern cannot exhaust the server.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How many digits a phone number may have: E.164 allows at most 15, and 7 is the shortest
/// subscriber number worth accepting.
const PHONE_DIGITS: RangeInclusive<usize> = 7..=15;

/// The choice a reply picks, or `None` when it picks none.
///
/// A tapped button or list row (`InteractiveReply`, `TemplateButton`) picks the choice whose
/// `id` equals its payload exactly. When no id matches (say, a button of an older message),
/// the tap's title is read like typed text.
///
/// Typed text (a text body, or a media caption) is compared after normalising both sides
/// (lowercase, inner whitespace collapsed, punctuation and emoji around it removed, so
/// "'Book now!' 👍" reads "book now"), in three tiers, each over every choice in order: the
/// titles, then the synonyms, then the 1-based number of the item in `choices` ("2", "2.",
/// "#2", "2)"). A title therefore beats a synonym of an earlier choice, and a choice titled "2"
/// beats the second item. Within a tier, the first choice wins.
pub fn match_choice<'c>(choices: &[&'c Choice], content: &MessageContent) -> Option<&'c Choice> {
    let payload = match content {
        MessageContent::InteractiveReply { reply_id, .. } => Some(reply_id),
        MessageContent::TemplateButton { payload, .. } => Some(payload),
        _ => None,
    };
    let tapped =
        payload.and_then(|payload| choices.iter().copied().find(|choice| choice.id == *payload));
    tapped.or_else(|| match_typed(choices, content.text_for_matching()?))
}

/// What a Prompt makes of a reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The reply passed; the value to store (a string, or a number in Number mode).
    Accepted(Value),
    Rejected(Rejection),
    /// Only an AI can tell whether the reply meets the criterion. The reply's text is the
    /// content's [`MessageContent::text_for_matching`], trimmed.
    NeedsAi {
        criterion: String,
    },
}

/// Why a Prompt refused a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the reply is empty")]
    Empty,
    #[error("the reply has no text")]
    NotText,
    /// The reply does not match a Regex validation (or, for callers of [`match_choice`],
    /// none of the choices).
    #[error("the reply does not match what was asked for")]
    NoMatch,
    /// The journey's pattern does not compile; a problem of the journey, not of the reply.
    #[error("the journey's pattern is not a valid regular expression: {reason}")]
    InvalidPattern { reason: String },
    #[error("the reply is not a phone number")]
    NotAPhone,
    #[error("the reply is not an email address")]
    NotAnEmail,
    #[error("the reply is not a number")]
    NotANumber,
}

impl Rejection {
    /// A stable snake_case code, e.g. `not_a_phone`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::NotText => "not_text",
            Rejection::NoMatch => "no_match",
            Rejection::InvalidPattern { .. } => "invalid_pattern",
            Rejection::NotAPhone => "not_a_phone",
            Rejection::NotAnEmail => "not_an_email",
            Rejection::NotANumber => "not_a_number",
        }
    }
}

/// Checks a Prompt's reply against its validation.
///
/// The reply's text is [`MessageContent::text_for_matching`] (a text body, a media caption, or
/// a tapped button's title), trimmed. Content without text (a location, an image without a
/// caption) is [`Rejection::NotText`] and blank text [`Rejection::Empty`] in every mode. Then:
///
/// - `None`: the text, as a JSON string.
/// - `Regex`: the text, if the pattern matches anywhere in it (anchor the pattern to match the
///   whole reply). A pattern that does not compile, or exceeds 1 MiB compiled, gives
///   [`Rejection::InvalidPattern`].
/// - `Phone`: an optional leading `+` and 7 to 15 digits, separated by spaces, dashes, dots
///   and one level of parentheses; the value keeps the `+` and drops the separators.
/// - `Email`: one `@`, a local part without spaces, and a domain of two or more valid labels;
///   the value has its domain lowercased.
/// - `Number`: an optional sign, digits grouped in threes by `,` or spaces, and an optional
///   `.` decimal part (`1,234.5`, `1 234`, `-3`). A comma is never a decimal separator, so
///   `1,5` and `1.234,5` are refused. The value is a JSON integer when integral.
/// - `Ai`: [`Answer::NeedsAi`].
pub fn check_answer(validation: &Validation, content: &MessageContent) -> Answer {
    let Some(text) = content.text_for_matching() else {
        return Answer::Rejected(Rejection::NotText);
    };
    let text = text.trim();
    if text.is_empty() {
        return Answer::Rejected(Rejection::Empty);
    }
    let checked = match validation {
        Validation::None => Ok(Value::from(text)),
        Validation::Regex { pattern } => matches_pattern(pattern, text).map(|()| Value::from(text)),
        Validation::Phone => phone(text).map(Value::from).ok_or(Rejection::NotAPhone),
        Validation::Email => email(text).map(Value::from).ok_or(Rejection::NotAnEmail),
        Validation::Number => number(text).ok_or(Rejection::NotANumber),
        Validation::Ai { criterion } => {
            return Answer::NeedsAi {
                criterion: criterion.clone(),
            }
        }
    };
    match checked {
        Ok(value) => Answer::Accepted(value),
        Err(rejection) => Answer::Rejected(rejection),
    }
}

/// The date a reply names, read in the step's format; `None` when it names none.
///
/// The strict formats take exactly their pattern, with surrounding whitespace: a 4-digit
/// year, a 1- or 2-digit day and month, and the separator of the format's name. Impossible
/// dates (31/02/2027) are refused.
///
/// `Lenient` ignores case and surrounding punctuation and takes:
/// - `yyyy-mm-dd` and `yyyy/mm/dd`, and day, month and year with `/`, `-` or `.`. Whether
///   `05/03/2027` is the 5th of March or May 3rd is guessed: the first number is the month
///   only when the second is over 12 (`03/15/2027`); otherwise the date is read as dd/mm/yyyy.
/// - a day and month without a year (`15/03`, `15.03`, same guess): the next such date on or
///   after `today`.
/// - English month names and abbreviations: `15 March 2027`, `March 15, 2027`, `Mar 15`,
///   `15th of March`; without a year, the next such date on or after `today`.
/// - `today`, `tomorrow`, `(the) day after tomorrow`, `yesterday`, `in 3 days`, `in 2 weeks`,
///   `in a week`.
/// - a weekday (`friday`, `fri`, `next friday`, `on friday`): the next one strictly after
///   `today`, so "friday" said on a Friday means a week later. `this friday` means today when
///   today is a Friday, else the same as `friday`.
pub fn parse_date(text: &str, format: DateFormat, today: NaiveDate) -> Option<NaiveDate> {
    let text = text.trim();
    match format {
        DateFormat::DayMonthYear => {
            let (year, day, month) = numeric_date(text, '/', false)?;
            NaiveDate::from_ymd_opt(year, month, day)
        }
        DateFormat::MonthDayYear => {
            let (year, month, day) = numeric_date(text, '/', false)?;
            NaiveDate::from_ymd_opt(year, month, day)
        }
        DateFormat::IsoDashes => {
            let (year, month, day) = numeric_date(text, '-', true)?;
            NaiveDate::from_ymd_opt(year, month, day)
        }
        DateFormat::IsoSlashes => {
            let (year, month, day) = numeric_date(text, '/', true)?;
            NaiveDate::from_ymd_opt(year, month, day)
        }
        DateFormat::Lenient => {
            let text = normalise(text);
            relative_date(&text, today)
                .or_else(|| lenient_numeric_date(&text, today))
                .or_else(|| named_month_date(&text, today))
        }
    }
}

/// Why a Prompt Date refused a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateRejection {
    #[error("the reply is not a date")]
    Unparseable,
    #[error("the date is outside the accepted range")]
    OutOfRange,
    #[error("dates on a {} are not accepted", weekday_name(.0))]
    ExcludedWeekday(Weekday),
}

impl DateRejection {
    /// A stable snake_case code, e.g. `date_out_of_range`.
    pub fn code(&self) -> &'static str {
        match self {
            DateRejection::Unparseable => "not_a_date",
            DateRejection::OutOfRange => "date_out_of_range",
            DateRejection::ExcludedWeekday(_) => "weekday_excluded",
        }
    }
}

/// Whether a Prompt Date accepts a date: inside the range (`Past` and `Future` both include
/// today; `Custom` includes both ends, and an absent end is open) and not on an excluded
/// weekday. The range is checked first.
pub fn check_date(
    date: NaiveDate,
    range: &DateRange,
    excluded: &[Weekday],
    today: NaiveDate,
) -> Result<(), DateRejection> {
    let in_range = match *range {
        DateRange::All => true,
        DateRange::Past => date <= today,
        DateRange::Future => date >= today,
        DateRange::Custom { from, to } => {
            from.is_none_or(|from| from <= date) && to.is_none_or(|to| date <= to)
        }
    };
    if !in_range {
        return Err(DateRejection::OutOfRange);
    }
    let weekday = Weekday::of(date);
    if excluded.contains(&weekday) {
        return Err(DateRejection::ExcludedWeekday(weekday));
    }
    Ok(())
}

fn match_typed<'c>(choices: &[&'c Choice], text: &str) -> Option<&'c Choice> {
    let typed = normalise(text);
    if typed.is_empty() {
        return None;
    }
    let same = |candidate: &str| normalise(candidate) == typed;
    let by_title = || choices.iter().copied().find(|choice| same(&choice.title));
    let by_synonym = || {
        choices
            .iter()
            .copied()
            .find(|choice| choice.synonyms.iter().any(|synonym| same(synonym)))
    };
    let by_number = || {
        if !typed.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let number: usize = typed.parse().ok()?;
        choices.get(number.checked_sub(1)?).copied()
    };
    by_title().or_else(by_synonym).or_else(by_number)
}

/// Text as a customer means it: lowercase, whitespace collapsed, and punctuation and emoji
/// around it removed ("'Book  NOW!' 👍" reads "book now"). Text that is nothing but
/// punctuation or emoji ("👍") is kept, lowercased and collapsed, so it can still match.
fn normalise(text: &str) -> String {
    let lowered = text.to_lowercase();
    let collapsed = lowered.split_whitespace().collect::<Vec<_>>().join(" ");
    let stripped = collapsed.trim_matches(|c: char| !is_word_char(c));
    if stripped.is_empty() {
        collapsed
    } else {
        stripped.to_owned()
    }
}

/// Letters, digits and the combining accents that belong to them (a decomposed "é" keeps its
/// accent). Variation selectors and keycap marks are not, so "2️⃣" reads "2".
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c,
            '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
            | '\u{FE20}'..='\u{FE2F}')
}

fn matches_pattern(pattern: &str, text: &str) -> Result<(), Rejection> {
    let regex = regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| Rejection::InvalidPattern {
            reason: error.to_string(),
        })?;
    if regex.is_match(text) {
        Ok(())
    } else {
        Err(Rejection::NoMatch)
    }
}

pub(crate) fn phone(text: &str) -> Option<String> {
    let (plus, rest) = match text.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", text),
    };
    let mut normalised = String::from(plus);
    let mut in_parentheses = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => normalised.push(c),
            '(' if !in_parentheses => in_parentheses = true,
            ')' if in_parentheses => in_parentheses = false,
            '-' | '.' => {}
            c if c.is_whitespace() => {}
            _ => return None,
        }
    }
    let digits = normalised.len() - plus.len();
    (!in_parentheses && PHONE_DIGITS.contains(&digits)).then_some(normalised)
}

pub(crate) fn email(text: &str) -> Option<String> {
    let (local, domain) = text.split_once('@')?;
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@<>()[]\\,;:\"".contains(c));
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let top_level = labels.last()?;
    let domain_ok = labels.len() >= 2
        && domain.chars().count() <= 253
        && labels.iter().all(|label| domain_label(label))
        && top_level.chars().count() >= 2
        && !top_level.chars().all(|c| c.is_ascii_digit());
    (local_ok && domain_ok).then(|| format!("{local}@{domain}"))
}

/// A DNS label: 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen.
/// Letters may be non-ASCII, for internationalised domains.
fn domain_label(label: &str) -> bool {
    (1..=63).contains(&label.chars().count())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
}

fn number(text: &str) -> Option<Value> {
    let (negative, unsigned) = match text.strip_prefix(['-', '\u{2212}']) {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let whole = ungroup(whole)?;
    if (whole.is_empty() && fraction.is_empty()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sign = if negative { "-" } else { "" };
    let whole = if whole.is_empty() { "0" } else { &whole };
    if fraction.bytes().all(|b| b == b'0') {
        if let Ok(integer) = format!("{sign}{whole}").parse::<i64>() {
            return Some(Value::from(integer));
        }
        if let (false, Ok(integer)) = (negative, whole.parse::<u64>()) {
            return Some(Value::from(integer));
        }
    }
    let decimal: f64 = format!("{sign}{whole}.{fraction}0").parse().ok()?;
    serde_json::Number::from_f64(decimal).map(Value::Number)
}

/// The digits of an integer part, without its thousands separators: one kind of separator
/// (`,` or a space), a first group of 1 to 3 digits and then groups of exactly 3.
fn ungroup(whole: &str) -> Option<String> {
    let mut separators = whole.chars().filter(|c| !c.is_ascii_digit());
    let Some(separator) = separators.next() else {
        return Some(whole.to_owned());
    };
    let groups_space =
        separator == ',' || matches!(separator, ' ' | '\u{A0}' | '\u{202F}' | '\u{2009}');
    if !groups_space || separators.any(|c| c != separator) {
        return None;
    }
    let mut groups = whole.split(separator);
    let first = groups.next()?;
    let grouped = (1..=3).contains(&first.len()) && groups.all(|group| group.len() == 3);
    grouped.then(|| whole.chars().filter(char::is_ascii_digit).collect())
}

/// Reads `a<sep>b<sep>c` where the year is 4 digits (first when `year_first`, else last) and
/// the two other fields 1 or 2 digits; gives the year and the two other fields in order.
fn numeric_date(text: &str, separator: char, year_first: bool) -> Option<(i32, u32, u32)> {
    let mut fields = text.split(separator);
    let (a, b, c) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() {
        return None;
    }
    let (year, first, second) = if year_first { (a, b, c) } else { (c, a, b) };
    let year = i32::try_from(digits(year, 4..=4)?).ok()?;
    Some((year, digits(first, 1..=2)?, digits(second, 1..=2)?))
}

fn digits(field: &str, lengths: RangeInclusive<usize>) -> Option<u32> {
    if !lengths.contains(&field.len()) || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// The (day, month) of two numbers that may be either way round: month first only when the
/// first could be a month and the second could not.
fn day_and_month(first: u32, second: u32) -> (u32, u32) {
    if first <= 12 && second > 12 {
        (second, first)
    } else {
        (first, second)
    }
}

/// The first date with this month and day on or after `today`. A leap day may be up to 8
/// years away (2096 to 2104 skips 2100).
fn next_occurrence(month: u32, day: u32, today: NaiveDate) -> Option<NaiveDate> {
    (today.year()..=today.year() + 8)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|date| *date >= today)
}

fn lenient_numeric_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    for separator in ['/', '-', '.'] {
        if let Some((year, month, day)) = numeric_date(text, separator, true) {
            return NaiveDate::from_ymd_opt(year, month, day);
        }
        if let Some((year, first, second)) = numeric_date(text, separator, false) {
            let (day, month) = day_and_month(first, second);
            return NaiveDate::from_ymd_opt(year, month, day);
        }
    }
    let (first, second) = text.split_once(['/', '.'])?;
    let (day, month) = day_and_month(digits(first, 1..=2)?, digits(second, 1..=2)?);
    next_occurrence(month, day, today)
}

fn named_month_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let words: Vec<&str> = text
        .split([' ', ','])
        .filter(|word| !matches!(*word, "" | "of" | "the"))
        .collect();
    let [first, second, rest @ ..] = words.as_slice() else {
        return None;
    };
    let (day, month) = match (ordinal_day(first), month_number(second)) {
        (Some(day), Some(month)) => (day, month),
        _ => (ordinal_day(second)?, month_number(first)?),
    };
    match rest {
        [] => next_occurrence(month, day, today),
        [year] => {
            let year = i32::try_from(digits(year, 4..=4)?).ok()?;
            NaiveDate::from_ymd_opt(year, month, day)
        }
        _ => None,
    }
}

/// `15`, `15th`, `1st`, `2nd`, `3rd`.
fn ordinal_day(word: &str) -> Option<u32> {
    let number = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|suffix| word.strip_suffix(suffix))
        .unwrap_or(word);
    digits(number, 1..=2)
}

fn month_number(word: &str) -> Option<u32> {
    let month = match word.trim_end_matches('.') {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sept" | "sep" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    };
    Some(month)
}

fn relative_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    match text {
        "today" => return Some(today),
        "tomorrow" => return today.succ_opt(),
        "yesterday" => return today.pred_opt(),
        "day after tomorrow" | "the day after tomorrow" => {
            return today.checked_add_days(Days::new(2))
        }
        _ => {}
    }
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        ["in", count, unit] => {
            let count: u64 = match *count {
                "a" | "an" | "one" => 1,
                digits => digits.parse().ok()?,
            };
            let days = match *unit {
                "day" | "days" => count,
                "week" | "weeks" => count.checked_mul(7)?,
                _ => return None,
            };
            today.checked_add_days(Days::new(days))
        }
        ["this", name] => weekday_from(weekday(name)?, today, 0),
        [name] | ["next" | "on", name] => weekday_from(weekday(name)?, today, 1),
        _ => None,
    }
}

/// The first `weekday` at least `min_days` after `today`.
fn weekday_from(weekday: chrono::Weekday, today: NaiveDate, min_days: u64) -> Option<NaiveDate> {
    let start = today.checked_add_days(Days::new(min_days))?;
    let ahead = (7 + weekday.num_days_from_monday() - start.weekday().num_days_from_monday()) % 7;
    start.checked_add_days(Days::new(u64::from(ahead)))
}

fn weekday(word: &str) -> Option<chrono::Weekday> {
    let weekday = match word.trim_end_matches('.') {
        "monday" | "mon" => chrono::Weekday::Mon,
        "tuesday" | "tue" | "tues" => chrono::Weekday::Tue,
        "wednesday" | "wed" => chrono::Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => chrono::Weekday::Thu,
        "friday" | "fri" => chrono::Weekday::Fri,
        "saturday" | "sat" => chrono::Weekday::Sat,
        "sunday" | "sun" => chrono::Weekday::Sun,
        _ => return None,
    };
    Some(weekday)
}

fn weekday_name(weekday: &Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MediaKind;
    use serde_json::json;

    fn choice(id: &str, title: &str, synonyms: &[&str]) -> Choice {
        Choice {
            id: id.into(),
            title: title.into(),
            description: None,
            synonyms: synonyms.iter().map(|synonym| (*synonym).into()).collect(),
        }
    }

    fn text(body: &str) -> MessageContent {
        MessageContent::Text { body: body.into() }
    }

    fn image(caption: Option<&str>) -> MessageContent {
        MessageContent::Media {
            media_kind: MediaKind::Image,
            media_id: Some("m1".into()),
            url: None,
            mime_type: None,
            caption: caption.map(str::to_owned),
            filename: None,
            voice: false,
        }
    }

    fn tap(reply_id: &str, title: &str) -> MessageContent {
        MessageContent::InteractiveReply {
            reply_id: reply_id.into(),
            title: title.into(),
            description: None,
        }
    }

    fn location() -> MessageContent {
        MessageContent::Location {
            latitude: 51.5,
            longitude: -0.1,
            name: None,
            address: None,
        }
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("test dates are yyyy-mm-dd")
    }

    #[track_caller]
    fn check_choice(choices: &[Choice], content: &MessageContent, expected: Option<&str>) {
        let choices: Vec<&Choice> = choices.iter().collect();
        let picked = match_choice(&choices, content).map(|choice| choice.id.as_str());
        assert_eq!(picked, expected, "{content:?}");
    }

    fn yes_no_book() -> Vec<Choice> {
        vec![
            choice("yes", "Yes", &["yep", "sure"]),
            choice("no", "No", &["nope"]),
            choice("book", "Book now", &[]),
        ]
    }

    #[test]
    fn typed_text_matches_titles_after_normalising_both_sides() {
        let cases = [
            ("Yes", Some("yes")),
            ("yes", Some("yes")),
            ("YES", Some("yes")),
            ("  yes  ", Some("yes")),
            ("Yes!", Some("yes")),
            ("👍 yes", Some("yes")),
            ("yes 👍🏽", Some("yes")),
            ("'Book now.'", Some("book")),
            ("book   NOW", Some("book")),
            ("book\tnow", Some("book")),
            ("booknow", None),
            ("book now please", None),
            ("maybe", None),
            ("", None),
            ("   ", None),
            ("!!!", None),
        ];
        for (typed, expected) in cases {
            check_choice(&yes_no_book(), &text(typed), expected);
        }
    }

    #[test]
    fn typed_text_matches_synonyms_after_titles() {
        let cases = [
            ("yep", Some("yes")),
            ("Sure!", Some("yes")),
            ("NOPE.", Some("no")),
        ];
        for (typed, expected) in cases {
            check_choice(&yes_no_book(), &text(typed), expected);
        }
        // A title beats an earlier choice's synonym.
        let choices = [choice("a", "Maybe", &["yes"]), choice("b", "Yes", &[])];
        check_choice(&choices, &text("yes"), Some("b"));
    }

    #[test]
    fn typed_numbers_pick_the_item_in_display_order() {
        let cases = [
            ("1", Some("yes")),
            ("2", Some("no")),
            ("2.", Some("no")),
            ("#2", Some("no")),
            ("2)", Some("no")),
            (" 2 ", Some("no")),
            ("(3)", Some("book")),
            ("3️⃣", Some("book")),
            ("03", Some("book")),
            ("0", None),
            ("4", None),
            ("-1", Some("yes")),
            ("2.5", None),
            ("1 2", None),
            ("99999999999999999999999999", None),
        ];
        for (typed, expected) in cases {
            check_choice(&yes_no_book(), &text(typed), expected);
        }
    }

    #[test]
    fn numbers_count_across_every_choice_given() {
        let sections = [
            vec![choice("r1", "Pizza", &[]), choice("r2", "Pasta", &[])],
            vec![choice("r3", "Wine", &[]), choice("r4", "Water", &[])],
        ];
        let rows: Vec<Choice> = sections.into_iter().flatten().collect();
        check_choice(&rows, &text("4"), Some("r4"));
        check_choice(&rows, &text("3"), Some("r3"));
        check_choice(&rows, &text("5"), None);
    }

    #[test]
    fn a_title_that_is_a_number_matches_by_title_first() {
        let choices = [
            choice("ten", "10", &[]),
            choice("two", "2", &[]),
            choice("other", "Other", &[]),
        ];
        let cases = [
            ("2", Some("two")),
            ("10", Some("ten")),
            ("1", Some("ten")),
            ("3", Some("other")),
            ("2.", Some("two")),
        ];
        for (typed, expected) in cases {
            check_choice(&choices, &text(typed), expected);
        }
    }

    #[test]
    fn the_first_choice_wins_when_two_match() {
        let choices = [
            choice("first", "Same", &["alias"]),
            choice("second", "same", &["alias"]),
        ];
        check_choice(&choices, &text("same"), Some("first"));
        check_choice(&choices, &text("alias"), Some("first"));
    }

    #[test]
    fn taps_match_the_id_exactly_then_the_title() {
        let template_button = |payload: &str, label: &str| MessageContent::TemplateButton {
            payload: payload.into(),
            text: label.into(),
        };
        let cases = [
            (tap("no", "Yes"), Some("no")),
            (tap("book", "whatever"), Some("book")),
            (tap("old-button", "Yes"), Some("yes")),
            (tap("old-button", "2"), Some("no")),
            (tap("old-button", "Sure"), Some("yes")),
            (tap("YES", "Later"), None),
            (tap(" yes", "Later"), None),
            (template_button("no", "Yes"), Some("no")),
            (template_button("other", "Book now"), Some("book")),
            (template_button("other", "Later"), None),
        ];
        for (content, expected) in cases {
            check_choice(&yes_no_book(), &content, expected);
        }
    }

    #[test]
    fn captions_are_typed_text_and_other_content_matches_nothing() {
        check_choice(&yes_no_book(), &image(Some("Yes!")), Some("yes"));
        check_choice(&yes_no_book(), &image(None), None);
        check_choice(&yes_no_book(), &location(), None);
        check_choice(&[], &text("yes"), None);
    }

    #[test]
    fn normalising_is_unicode_aware() {
        let choices = [
            choice("fine", "Ça va", &[]),
            choice("thumb", "👍", &[]),
            choice("greek", "ΝΑΙ", &[]),
            choice("cafe", "cafe\u{301}", &[]),
        ];
        let cases = [
            ("ÇA VA !", Some("fine")),
            ("«ça va»", Some("fine")),
            ("👍", Some("thumb")),
            ("👍👍", None),
            ("ναι", Some("greek")),
            ("CAFE\u{301}!", Some("cafe")),
        ];
        for (typed, expected) in cases {
            check_choice(&choices, &text(typed), expected);
        }
    }

    #[track_caller]
    fn check_answer_case(validation: &Validation, content: &MessageContent, expected: &Answer) {
        assert_eq!(&check_answer(validation, content), expected, "{content:?}");
    }

    #[track_caller]
    fn check_texts(validation: &Validation, cases: &[(&str, Result<Value, Rejection>)]) {
        for (reply, expected) in cases {
            let expected = match expected.clone() {
                Ok(value) => Answer::Accepted(value),
                Err(rejection) => Answer::Rejected(rejection),
            };
            check_answer_case(validation, &text(reply), &expected);
        }
    }

    #[test]
    fn without_validation_any_non_empty_text_is_accepted_trimmed() {
        check_texts(
            &Validation::None,
            &[
                ("hello", Ok(json!("hello"))),
                ("  two words \n", Ok(json!("two words"))),
                ("", Err(Rejection::Empty)),
                (" \t\n", Err(Rejection::Empty)),
            ],
        );
        let none = Validation::None;
        check_answer_case(&none, &image(Some(" hi ")), &Answer::Accepted(json!("hi")));
        let not_text = Answer::Rejected(Rejection::NotText);
        check_answer_case(&none, &image(None), &not_text);
        check_answer_case(&none, &location(), &not_text);
        check_answer_case(&none, &tap("x", "Yes"), &Answer::Accepted(json!("Yes")));
    }

    #[test]
    fn non_text_content_is_rejected_in_every_mode() {
        let validations = [
            Validation::None,
            Validation::Regex {
                pattern: ".*".into(),
            },
            Validation::Phone,
            Validation::Email,
            Validation::Number,
            Validation::Ai {
                criterion: "a name".into(),
            },
        ];
        for validation in &validations {
            let not_text = Answer::Rejected(Rejection::NotText);
            check_answer_case(validation, &location(), &not_text);
            check_answer_case(validation, &image(None), &not_text);
            check_answer_case(validation, &text("  "), &Answer::Rejected(Rejection::Empty));
        }
    }

    #[test]
    fn regex_validation_matches_the_trimmed_text() {
        let booking_code = Validation::Regex {
            pattern: r"^[A-Z]{2}\d{4}$".into(),
        };
        check_texts(
            &booking_code,
            &[
                ("AB1234", Ok(json!("AB1234"))),
                ("  AB1234 ", Ok(json!("AB1234"))),
                ("ab1234", Err(Rejection::NoMatch)),
                ("AB12345", Err(Rejection::NoMatch)),
            ],
        );
        let unanchored = Validation::Regex {
            pattern: r"\d".into(),
        };
        check_texts(&unanchored, &[("room 4", Ok(json!("room 4")))]);
    }

    #[test]
    fn a_pattern_that_does_not_compile_is_rejected_with_its_own_code() {
        let cases = [
            ("(", "unclosed group"),
            ("[a-", "unclosed character class"),
            (r"\w{50000}", "size limit"),
        ];
        for (pattern, reason) in cases {
            let validation = Validation::Regex {
                pattern: pattern.into(),
            };
            match check_answer(&validation, &text("anything")) {
                Answer::Rejected(rejection @ Rejection::InvalidPattern { .. }) => {
                    assert_eq!(rejection.code(), "invalid_pattern");
                    assert!(rejection.to_string().contains(reason), "{rejection}");
                }
                other => panic!("{pattern}: {other:?}"),
            }
        }
    }

    #[test]
    fn phone_validation_accepts_7_to_15_digits_with_separators() {
        let not_a_phone = || Err(Rejection::NotAPhone);
        check_texts(
            &Validation::Phone,
            &[
                ("+44 20 7946 0958", Ok(json!("+442079460958"))),
                ("(020) 7946-0958", Ok(json!("02079460958"))),
                ("555.123.4567", Ok(json!("5551234567"))),
                ("+1 (555) 123-4567", Ok(json!("+15551234567"))),
                (" 1234567 ", Ok(json!("1234567"))),
                ("123456789012345", Ok(json!("123456789012345"))),
                ("+123456789012345", Ok(json!("+123456789012345"))),
                ("123456", not_a_phone()),
                ("+123456", not_a_phone()),
                ("1234567890123456", not_a_phone()),
                ("+1 234 567 890 123 456", not_a_phone()),
                ("12a4567", not_a_phone()),
                ("++1234567", not_a_phone()),
                ("123+4567", not_a_phone()),
                ("(123 4567", not_a_phone()),
                ("123) 4567", not_a_phone()),
                ("((12)) 34567", not_a_phone()),
                ("1234567 ext 8", not_a_phone()),
                ("call me", not_a_phone()),
            ],
        );
    }

    #[test]
    fn email_validation_is_pragmatic_and_lowercases_the_domain() {
        let not_an_email = || Err(Rejection::NotAnEmail);
        check_texts(
            &Validation::Email,
            &[
                ("Ana@Example.COM", Ok(json!("Ana@example.com"))),
                (
                    " a.b+tag@sub.example.co.uk ",
                    Ok(json!("a.b+tag@sub.example.co.uk")),
                ),
                ("ana@my-shop.io", Ok(json!("ana@my-shop.io"))),
                ("ana@bücher.de", Ok(json!("ana@bücher.de"))),
                ("ana", not_an_email()),
                ("ana@", not_an_email()),
                ("@example.com", not_an_email()),
                ("ana@example", not_an_email()),
                ("a na@example.com", not_an_email()),
                ("ana@@example.com", not_an_email()),
                ("a@b@example.com", not_an_email()),
                ("ana@exa mple.com", not_an_email()),
                ("ana@-example.com", not_an_email()),
                ("ana@example-.com", not_an_email()),
                ("ana@example..com", not_an_email()),
                ("ana@.example.com", not_an_email()),
                ("ana@example.com.", not_an_email()),
                ("ana@example.c", not_an_email()),
                ("ana@10.0.0.1", not_an_email()),
                ("ana@exam_ple.com", not_an_email()),
                (".ana@example.com", not_an_email()),
                ("a..na@example.com", not_an_email()),
                ("<ana@example.com>", not_an_email()),
            ],
        );
    }

    #[test]
    fn number_validation_reads_dot_decimals_and_grouped_thousands() {
        let not_a_number = || Err(Rejection::NotANumber);
        check_texts(
            &Validation::Number,
            &[
                ("42", Ok(json!(42))),
                ("-3", Ok(json!(-3))),
                ("+7", Ok(json!(7))),
                ("2.5", Ok(json!(2.5))),
                ("-0.25", Ok(json!(-0.25))),
                ("1,234.5", Ok(json!(1234.5))),
                ("1 234", Ok(json!(1234))),
                ("1\u{A0}234", Ok(json!(1234))),
                ("1,234,567", Ok(json!(1_234_567))),
                ("2.0", Ok(json!(2))),
                ("5.", Ok(json!(5))),
                (".5", Ok(json!(0.5))),
                ("007", Ok(json!(7))),
                ("-0", Ok(json!(0))),
                (
                    "18446744073709551615",
                    Ok(json!(18_446_744_073_709_551_615_u64)),
                ),
                ("1.234,5", not_a_number()),
                ("1,5", not_a_number()),
                ("12,34", not_a_number()),
                ("1,2345", not_a_number()),
                ("1234,567", not_a_number()),
                ("1,234 567", not_a_number()),
                ("1  234", not_a_number()),
                ("1 2", not_a_number()),
                ("1.2.3", not_a_number()),
                ("1e5", not_a_number()),
                ("--3", not_a_number()),
                ("- 3", not_a_number()),
                ("-", not_a_number()),
                (".", not_a_number()),
                ("abc", not_a_number()),
                ("3 people", not_a_number()),
            ],
        );
    }

    #[test]
    fn ai_validation_leaves_the_decision_to_the_caller() {
        let validation = Validation::Ai {
            criterion: "a full name".into(),
        };
        let expected = Answer::NeedsAi {
            criterion: "a full name".into(),
        };
        check_answer_case(&validation, &text("Ana Lima"), &expected);
    }

    #[test]
    fn rejections_have_stable_codes_and_readable_messages() {
        let cases = [
            (Rejection::Empty, "empty"),
            (Rejection::NotText, "not_text"),
            (Rejection::NoMatch, "no_match"),
            (
                Rejection::InvalidPattern {
                    reason: "unclosed group".into(),
                },
                "invalid_pattern",
            ),
            (Rejection::NotAPhone, "not_a_phone"),
            (Rejection::NotAnEmail, "not_an_email"),
            (Rejection::NotANumber, "not_a_number"),
        ];
        for (rejection, code) in cases {
            assert_eq!(rejection.code(), code);
            assert!(rejection.to_string().starts_with("the "), "{rejection}");
        }
        let date_cases = [
            (
                DateRejection::Unparseable,
                "not_a_date",
                "the reply is not a date",
            ),
            (
                DateRejection::OutOfRange,
                "date_out_of_range",
                "the date is outside the accepted range",
            ),
            (
                DateRejection::ExcludedWeekday(Weekday::Sunday),
                "weekday_excluded",
                "dates on a Sunday are not accepted",
            ),
        ];
        for (rejection, code, message) in date_cases {
            assert_eq!(rejection.code(), code);
            assert_eq!(rejection.to_string(), message);
        }
    }

    /// A Wednesday.
    const TODAY: &str = "2027-03-10";

    #[track_caller]
    fn check_dates(format: DateFormat, today: &str, cases: &[(&str, Option<&str>)]) {
        for (reply, expected) in cases {
            let parsed = parse_date(reply, format, date(today));
            assert_eq!(
                parsed,
                expected.map(date),
                "{reply:?} as {format:?} on {today}"
            );
        }
    }

    #[test]
    fn strict_formats_accept_exactly_their_pattern() {
        let day_first = [
            ("15/03/2027", Some("2027-03-15")),
            ("5/3/2027", Some("2027-03-05")),
            (" 15/03/2027\n", Some("2027-03-15")),
            ("29/02/2028", Some("2028-02-29")),
            ("29/02/2027", None),
            ("31/02/2027", None),
            ("31/04/2027", None),
            ("03/15/2027", None),
            ("15-03-2027", None),
            ("15.03.2027", None),
            ("15/03/27", None),
            ("15/03", None),
            ("015/03/2027", None),
            ("15/03/2027/1", None),
            ("15/03/2027.", None),
            ("2027/03/15", None),
            ("15 March 2027", None),
            ("tomorrow", None),
        ];
        check_dates(DateFormat::DayMonthYear, TODAY, &day_first);
        let month_first = [
            ("03/15/2027", Some("2027-03-15")),
            ("3/5/2027", Some("2027-03-05")),
            ("02/29/2028", Some("2028-02-29")),
            ("02/29/2027", None),
            ("15/03/2027", None),
            ("03-15-2027", None),
        ];
        check_dates(DateFormat::MonthDayYear, TODAY, &month_first);
        let iso_dashes = [
            ("2027-03-15", Some("2027-03-15")),
            ("2027-3-5", Some("2027-03-05")),
            ("2028-02-29", Some("2028-02-29")),
            ("2027-02-29", None),
            ("2027/03/15", None),
            ("27-03-15", None),
            ("2027-03-15T10:00", None),
        ];
        check_dates(DateFormat::IsoDashes, TODAY, &iso_dashes);
        let iso_slashes = [
            ("2027/03/15", Some("2027-03-15")),
            ("2027/13/01", None),
            ("2027-03-15", None),
        ];
        check_dates(DateFormat::IsoSlashes, TODAY, &iso_slashes);
    }

    #[test]
    fn lenient_reads_numeric_dates_and_guesses_the_order() {
        let cases = [
            ("15/03/2027", Some("2027-03-15")),
            ("03/15/2027", Some("2027-03-15")),
            ("05/03/2027", Some("2027-03-05")),
            ("12/12/2027", Some("2027-12-12")),
            ("13/13/2027", None),
            ("31/02/2027", None),
            ("02/31/2027", None),
            ("29/02/2028", Some("2028-02-29")),
            ("29/02/2027", None),
            ("2027-03-15", Some("2027-03-15")),
            ("2027/03/15", Some("2027-03-15")),
            ("15.03.2027", Some("2027-03-15")),
            ("15-03-2027", Some("2027-03-15")),
            ("15/03-2027", None),
            (" 15/03/2027. ", Some("2027-03-15")),
        ];
        check_dates(DateFormat::Lenient, TODAY, &cases);
    }

    #[test]
    fn lenient_reads_a_day_and_month_as_the_next_such_date() {
        let cases = [
            ("15/03", Some("2027-03-15")),
            ("15.03", Some("2027-03-15")),
            ("03/15", Some("2027-03-15")),
            ("10/03", Some("2027-03-10")),
            ("09/03", Some("2028-03-09")),
            ("1/1", Some("2028-01-01")),
            ("29/02", Some("2028-02-29")),
            ("30/02", None),
            ("15/3/", Some("2027-03-15")),
            ("15/", None),
        ];
        check_dates(DateFormat::Lenient, TODAY, &cases);
        check_dates(
            DateFormat::Lenient,
            "2028-03-01",
            &[("29/02", Some("2032-02-29"))],
        );
    }

    #[test]
    fn lenient_reads_english_month_names() {
        let cases = [
            ("15 March 2027", Some("2027-03-15")),
            ("March 15, 2027", Some("2027-03-15")),
            ("march 15 2027", Some("2027-03-15")),
            ("15 march, 2027", Some("2027-03-15")),
            ("Mar 15", Some("2027-03-15")),
            ("15th of March", Some("2027-03-15")),
            ("the 15th of march", Some("2027-03-15")),
            ("March 15th", Some("2027-03-15")),
            ("1st April", Some("2027-04-01")),
            ("Sept. 3, 2027", Some("2027-09-03")),
            ("3 sep 2027", Some("2027-09-03")),
            ("9 March", Some("2028-03-09")),
            ("10 MARCH", Some("2027-03-10")),
            ("29 Feb 2028", Some("2028-02-29")),
            ("29 February 2027", None),
            ("32 March 2027", None),
            ("15 Marchember", None),
            ("March 2027", None),
            ("15 March 27", None),
            ("15 March 2027 10am", None),
            ("may", None),
        ];
        check_dates(DateFormat::Lenient, TODAY, &cases);
    }

    #[test]
    fn lenient_reads_relative_words() {
        let cases = [
            ("today", Some("2027-03-10")),
            ("Today!", Some("2027-03-10")),
            ("TOMORROW", Some("2027-03-11")),
            ("yesterday", Some("2027-03-09")),
            ("day after tomorrow", Some("2027-03-12")),
            ("The day after  tomorrow", Some("2027-03-12")),
            ("in 3 days", Some("2027-03-13")),
            ("in 1 day", Some("2027-03-11")),
            ("in 0 days", Some("2027-03-10")),
            ("in a day", Some("2027-03-11")),
            ("in 2 weeks", Some("2027-03-24")),
            ("in a week", Some("2027-03-17")),
            ("in three days", None),
            ("in -3 days", None),
            ("in 3 months", None),
            ("in 99999999999999 weeks", None),
            ("next month", None),
            ("someday", None),
        ];
        check_dates(DateFormat::Lenient, TODAY, &cases);
    }

    #[test]
    fn weekdays_mean_the_next_one_after_today_unless_this_is_said() {
        // TODAY is a Wednesday.
        let cases = [
            ("friday", Some("2027-03-12")),
            ("Friday", Some("2027-03-12")),
            ("fri", Some("2027-03-12")),
            ("next friday", Some("2027-03-12")),
            ("on Friday", Some("2027-03-12")),
            ("this friday", Some("2027-03-12")),
            ("monday", Some("2027-03-15")),
            ("tuesday", Some("2027-03-16")),
            ("thurs", Some("2027-03-11")),
            ("wednesday", Some("2027-03-17")),
            ("next wednesday", Some("2027-03-17")),
            ("this wednesday", Some("2027-03-10")),
            ("last friday", None),
            ("fridays", None),
        ];
        check_dates(DateFormat::Lenient, TODAY, &cases);
    }

    #[test]
    fn relative_dates_roll_over_month_and_year_ends() {
        let lenient = DateFormat::Lenient;
        check_dates(lenient, "2027-01-31", &[("tomorrow", Some("2027-02-01"))]);
        check_dates(lenient, "2027-12-31", &[("tomorrow", Some("2028-01-01"))]);
        check_dates(lenient, "2027-03-01", &[("yesterday", Some("2027-02-28"))]);
        check_dates(
            lenient,
            "2028-02-28",
            &[
                ("tomorrow", Some("2028-02-29")),
                ("day after tomorrow", Some("2028-03-01")),
            ],
        );
        check_dates(lenient, "2027-02-27", &[("in 2 days", Some("2027-03-01"))]);
        check_dates(lenient, "2027-12-28", &[("in 1 week", Some("2028-01-04"))]);
        // 2027-01-30 is a Saturday.
        check_dates(
            lenient,
            "2027-01-30",
            &[
                ("sunday", Some("2027-01-31")),
                ("monday", Some("2027-02-01")),
                ("saturday", Some("2027-02-06")),
                ("this saturday", Some("2027-01-30")),
            ],
        );
        check_dates(lenient, "2027-12-20", &[("15/03", Some("2028-03-15"))]);
    }

    #[track_caller]
    fn check_ranges(
        range: DateRange,
        excluded: &[Weekday],
        cases: &[(&str, Result<(), DateRejection>)],
    ) {
        for (day, expected) in cases {
            let checked = check_date(date(day), &range, excluded, date(TODAY));
            assert_eq!(
                &checked, expected,
                "{day} in {range:?} without {excluded:?}"
            );
        }
    }

    #[test]
    fn ranges_include_today_and_their_ends() {
        let out = || Err(DateRejection::OutOfRange);
        check_ranges(
            DateRange::All,
            &[],
            &[("1900-01-01", Ok(())), ("2999-12-31", Ok(()))],
        );
        check_ranges(
            DateRange::Past,
            &[],
            &[
                ("2027-03-10", Ok(())),
                ("2027-03-09", Ok(())),
                ("2027-03-11", out()),
            ],
        );
        check_ranges(
            DateRange::Future,
            &[],
            &[
                ("2027-03-10", Ok(())),
                ("2027-03-11", Ok(())),
                ("2027-03-09", out()),
            ],
        );
        let april = DateRange::Custom {
            from: Some(date("2027-04-01")),
            to: Some(date("2027-04-30")),
        };
        check_ranges(
            april,
            &[],
            &[
                ("2027-04-01", Ok(())),
                ("2027-04-30", Ok(())),
                ("2027-03-31", out()),
                ("2027-05-01", out()),
            ],
        );
        let from_april = DateRange::Custom {
            from: Some(date("2027-04-01")),
            to: None,
        };
        check_ranges(
            from_april,
            &[],
            &[("2027-03-31", out()), ("2999-01-01", Ok(()))],
        );
        let until_april = DateRange::Custom {
            from: None,
            to: Some(date("2027-04-30")),
        };
        check_ranges(
            until_april,
            &[],
            &[("1900-01-01", Ok(())), ("2027-05-01", out())],
        );
        let open = DateRange::Custom {
            from: None,
            to: None,
        };
        check_ranges(open, &[], &[("1900-01-01", Ok(()))]);
    }

    #[test]
    fn excluded_weekdays_are_refused_after_the_range_is_checked() {
        let weekend = [Weekday::Saturday, Weekday::Sunday];
        check_ranges(
            DateRange::Future,
            &weekend,
            &[
                ("2027-03-12", Ok(())),
                (
                    "2027-03-13",
                    Err(DateRejection::ExcludedWeekday(Weekday::Saturday)),
                ),
                (
                    "2027-03-14",
                    Err(DateRejection::ExcludedWeekday(Weekday::Sunday)),
                ),
                ("2027-03-07", Err(DateRejection::OutOfRange)),
            ],
        );
    }
}
