//! Dates in free text, read as a stay: when the guest arrives and when they leave.
//!
//! The rules, relative to the conversation's `today`:
//! - A range is a stay: "March 15 to 18" arrives on the 15th and leaves on the 18th. A range
//!   end without a month takes the start's ("the 28th to the 2nd" crosses into next month);
//!   a start without one takes the end's ("15-18 March").
//! - A duration counts nights from the arrival ("tomorrow for 3 nights", "a week", "a
//!   fortnight"); a full range gives the nights it spans.
//! - A day and month without a year is the next such date on or after today; a day alone is
//!   in this month when still to come, else in the next. Numeric dates are day first
//!   (`15/03`) unless the first number cannot be a day's month partner (`03/15`).
//! - A weekday is the next one strictly after today ("next friday" too); "this <weekday>"
//!   naming today is today. As a range end it is the next one after the arrival.
//! - "this weekend" (or "next weekend") is the coming Friday to Sunday; said on a Friday or
//!   Saturday it starts today, on a Sunday it is the following one.
//! - A date after "check out", "leaving", "until" and the like is the departure; after
//!   "check in", "arriving" or "from" the arrival; otherwise the first date is the arrival
//!   and the second the departure.
//! - Vague periods ("next week", "in August", "next month") are not dates.

use super::lexicon::Lexicon;
use super::tokens::{Token, TokenKind};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Serialize;

/// Words the date grammar reads, so the typo corrector knows them.
pub(super) const DATE_WORDS: &[&str] = &[
    "today",
    "tonight",
    "tomorrow",
    "weekend",
    "fortnight",
    "nights",
    "night",
    "weeks",
    "until",
    "through",
    "between",
    "arriving",
    "arrival",
    "leaving",
    "departure",
    "departing",
    "checkout",
    "checkin",
    "starting",
];

/// A stay's arrival and departure; either may be unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Stay {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// What the grammar found: the stay and its length in nights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) stay: Option<Stay>,
    pub(super) nights: Option<u32>,
}

/// A date as written, before it is placed on the calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Date(NaiveDate),
    DayMonth { day: u32, month: u32 },
    Day(u32),
    Weekday { weekday: Weekday, this: bool },
    Weekend,
}

impl When {
    fn has_month(self) -> bool {
        matches!(self, When::Date(_) | When::DayMonth { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Arrival,
    Departure,
}

#[derive(Clone, Copy, Debug)]
struct Mention {
    when: When,
    start: usize,
    end: usize,
    /// A bare number that is a day only when a range ties it to a date with a month.
    weak: bool,
    role: Option<Role>,
}

/// The longest stay anyone books through a chat; longer durations are not read as nights.
const MAX_NIGHTS: u32 = 365;

struct Reader<'t> {
    tokens: &'t [Token],
    today: NaiveDate,
    lexicon: &'static Lexicon,
}

pub(super) fn find(tokens: &[Token], today: NaiveDate, lexicon: &'static Lexicon) -> Found {
    let reader = Reader {
        tokens,
        today,
        lexicon,
    };
    reader.read()
}

impl Reader<'_> {
    fn word(&self, index: usize) -> Option<&str> {
        self.tokens
            .get(index)
            .filter(|token| token.kind == TokenKind::Word)
            .map(|token| token.text.as_str())
    }

    fn is_word(&self, index: usize, words: &[&str]) -> bool {
        self.word(index).is_some_and(|word| words.contains(&word))
    }

    fn symbol(&self, index: usize, symbols: &[&str]) -> bool {
        self.tokens.get(index).is_some_and(|token| {
            token.kind == TokenKind::Symbol && symbols.contains(&token.text.as_str())
        })
    }

    fn glued(&self, index: usize) -> bool {
        self.tokens.get(index).is_some_and(|token| token.glued)
    }

    fn number(&self, index: usize) -> Option<(u32, u8, bool)> {
        match self.tokens.get(index)?.kind {
            TokenKind::Number {
                value,
                digits,
                ordinal,
            } => Some((value, digits, ordinal)),
            _ => None,
        }
    }

    /// A number written in digits or as a word ("three", "a").
    fn count(&self, index: usize) -> Option<u32> {
        if let Some((value, _, false)) = self.number(index) {
            return Some(value);
        }
        let word = self.word(index)?;
        self.lexicon
            .numbers
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, value)| *value)
    }

    fn month(&self, index: usize) -> Option<u32> {
        let word = self.word(index)?;
        self.lexicon
            .months
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, month)| *month)
    }

    fn weekday(&self, index: usize) -> Option<Weekday> {
        let word = self.word(index)?;
        self.lexicon
            .weekdays
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, weekday)| *weekday)
    }

    /// A day of the month: `15`, `15th`, or an ordinal word (`third`).
    fn day(&self, index: usize) -> Option<(u32, bool)> {
        if let Some((value, digits, ordinal)) = self.number(index) {
            let is_time = self.is_word(index + 1, &["am", "pm", "h", "hrs"])
                && self.glued(index + 1)
                || self.symbol(index + 1, &[":"]);
            return ((1..=31).contains(&value) && digits <= 2 && !is_time)
                .then_some((value, ordinal));
        }
        let word = self.word(index)?;
        let position = self
            .lexicon
            .ordinals
            .iter()
            .position(|name| *name == word)?;
        Some((u32::try_from(position).ok()? + 1, true))
    }

    fn year(&self, index: usize) -> Option<i32> {
        let (value, digits, ordinal) = self.number(index)?;
        if ordinal {
            return None;
        }
        match digits {
            4 if (2000..=2100).contains(&value) => i32::try_from(value).ok(),
            2 => i32::try_from(2000 + value).ok(),
            _ => None,
        }
    }

    fn read(&self) -> Found {
        let mut mentions: Vec<Mention> = Vec::new();
        let mut nights: Option<u32> = None;
        let mut index = 0;
        while index < self.tokens.len() {
            if let Some((when, length)) = self.date_at(index) {
                mentions.push(Mention {
                    when,
                    start: index,
                    end: index + length,
                    weak: false,
                    role: None,
                });
                index += length;
            } else if let Some((count, length)) = self.duration_at(index) {
                nights = nights.or(Some(count));
                index += length;
            } else if let Some((day, _)) = self.day(index) {
                // A bare "15" or "fifteenth": a day only if a range ties it to a month.
                mentions.push(Mention {
                    when: When::Day(day),
                    start: index,
                    end: index + 1,
                    weak: true,
                    role: None,
                });
                index += 1;
            } else {
                index += 1;
            }
        }
        self.keep_tied_days(&mut mentions);
        for mention in &mut mentions {
            mention.role = self.role_before(mention.start);
        }
        self.place(&mentions, nights)
    }

    /// Bare numbers stay only when a range connector ties them to a date with a month
    /// ("15-18 March", "March 15 to 18").
    fn keep_tied_days(&self, mentions: &mut Vec<Mention>) {
        let tied: Vec<bool> = (0..mentions.len())
            .map(|at| {
                let mention = mentions[at];
                if !mention.weak {
                    return true;
                }
                let before = at.checked_sub(1).map(|i| mentions[i]);
                let after = mentions.get(at + 1).copied();
                let tied_to = |other: Option<Mention>, first: bool| {
                    other.is_some_and(|other| {
                        !other.weak
                            && (other.when.has_month() || matches!(other.when, When::Day(_)))
                            && if first {
                                self.connects(mention.end, other.start)
                            } else {
                                self.connects(other.end, mention.start)
                            }
                    })
                };
                tied_to(after, true) || tied_to(before, false)
            })
            .collect();
        let mut flags = tied.into_iter();
        mentions.retain(|_| flags.next().unwrap_or(false));
    }

    /// Whether the tokens between two dates make a range ("to", "-", "until", "and").
    fn connects(&self, from: usize, to: usize) -> bool {
        if to <= from || to - from > 4 {
            return false;
        }
        let mut linked = false;
        for index in from..to {
            if self.symbol(index, &["-"])
                || self.is_word(index, &["to", "till", "until", "through", "and", "thru"])
            {
                linked = true;
            } else if !self.is_word(index, &["the", "of"]) && self.weekday(index).is_none() {
                return false;
            }
        }
        linked
    }

    /// The role the words just before a date give it.
    fn role_before(&self, start: usize) -> Option<Role> {
        let mut index = start;
        for _ in 0..6 {
            index = index.checked_sub(1)?;
            let token = &self.tokens[index];
            // Times of day between the words and the date ("check out at 2pm on Sunday").
            let time =
                token.number().is_some() && self.is_word(index + 1, &["am", "pm", "h", "o'clock"]);
            if token.kind != TokenKind::Word || time {
                if token.is(",") || token.is(":") || time {
                    continue;
                }
                return None;
            }
            let previous = index.checked_sub(1).and_then(|i| self.word(i));
            let checking = previous.is_some_and(|word| matches!(word, "check" | "checking"));
            match token.text.as_str() {
                "in" if checking => return Some(Role::Arrival),
                "out" if checking => return Some(Role::Departure),
                "from" | "arriving" | "arrive" | "arrival" | "checkin" | "check-in"
                | "starting" | "start" | "beginning" => return Some(Role::Arrival),
                "leaving" | "leave" | "departure" | "depart" | "departing" | "checkout"
                | "check-out" | "until" | "till" | "through" | "thru" => {
                    return Some(Role::Departure)
                }
                "on" | "the" | "of" | "at" | "is" | "be" | "by" | "around" | "date" | "day"
                | "instead" | "am" | "pm" | "noon" | "midday" => continue,
                _ => return None,
            }
        }
        None
    }

    /// Places the mentions on the calendar as a stay.
    fn place(&self, mentions: &[Mention], nights: Option<u32>) -> Found {
        let mut arrival: Option<Mention> = None;
        let mut departure: Option<Mention> = None;
        // A written range ("22-25 March", "Monday to Wednesday") is the stay, whatever the
        // words around it say.
        if let Some(pair) = mentions
            .windows(2)
            .find(|pair| self.connects(pair[0].end, pair[1].start))
        {
            arrival = Some(pair[0]);
            departure = Some(pair[1]);
        }
        let ranged = arrival.is_some();
        for mention in mentions.iter().filter(|_| !ranged) {
            match mention.role {
                Some(Role::Arrival) if arrival.is_none() => arrival = Some(*mention),
                Some(Role::Departure) if departure.is_none() => departure = Some(*mention),
                None if arrival.is_none() && departure.is_none() => arrival = Some(*mention),
                None if departure.is_none() => departure = Some(*mention),
                _ => {}
            }
        }
        // A range written with the departure first cannot be; read it in order.
        if let (Some(first), Some(second)) = (arrival, departure) {
            if second.start < first.start {
                arrival = Some(second);
                departure = Some(first);
            }
        }
        if let (
            Some(Mention {
                when: When::Weekend,
                ..
            }),
            None,
        ) = (arrival, departure)
        {
            let (from, to) = self.weekend();
            return Found {
                stay: Some(Stay {
                    from: Some(from),
                    to: Some(to),
                }),
                nights: nights.or_else(|| nights_between(from, to)),
            };
        }
        let arrival_when = arrival.map(|mention| mention.when);
        let departure_when = departure.map(|mention| mention.when);
        let from = match (arrival_when, departure_when) {
            // "15-18 March": the start takes the end's month.
            (Some(When::Day(day)), Some(end)) if end.has_month() => self
                .resolve(end, self.today)
                .and_then(|end| day_before(day, end)),
            (Some(start), _) => self.resolve(start, self.today),
            (None, _) => None,
        };
        let to = match departure_when {
            Some(end) => self.resolve(end, from.unwrap_or(self.today)),
            None => None,
        };
        let (from, to) = match (from, to, nights) {
            (Some(from), None, Some(count)) => {
                (Some(from), from.checked_add_days(Days::new(count.into())))
            }
            (None, Some(to), Some(count)) if departure.is_some() => {
                (to.checked_sub_days(Days::new(count.into())), Some(to))
            }
            other => (other.0, other.1),
        };
        let nights = match (from, to) {
            (Some(from), Some(to)) => nights_between(from, to).or(nights),
            _ => nights,
        };
        let stay = (from.is_some() || to.is_some()).then_some(Stay { from, to });
        Found { stay, nights }
    }

    /// The first date `when` can mean on or after `anchor` (strictly after it, for a
    /// weekday that ends a range).
    fn resolve(&self, when: When, anchor: NaiveDate) -> Option<NaiveDate> {
        match when {
            When::Date(date) => Some(date),
            When::DayMonth { day, month } => next_occurrence(month, day, anchor),
            When::Day(day) => (0..12).find_map(|ahead| {
                let first = NaiveDate::from_ymd_opt(anchor.year(), anchor.month(), 1)?
                    .checked_add_months(chrono::Months::new(ahead))?;
                NaiveDate::from_ymd_opt(first.year(), first.month(), day)
                    .filter(|date| *date >= anchor)
            }),
            When::Weekday { weekday, this } => {
                if this && anchor == self.today && anchor.weekday() == weekday {
                    Some(anchor)
                } else {
                    weekday_after(weekday, anchor)
                }
            }
            When::Weekend => Some(self.weekend().0),
        }
    }

    /// The coming weekend stay, Friday to Sunday.
    fn weekend(&self) -> (NaiveDate, NaiveDate) {
        let today = self.today;
        let from = match today.weekday() {
            Weekday::Fri | Weekday::Sat => today,
            _ => weekday_after(Weekday::Fri, today).unwrap_or(today),
        };
        let to = weekday_after(Weekday::Sun, from).unwrap_or(from);
        (from, to)
    }

    /// A date expression starting at `index`, and how many tokens it takes.
    fn date_at(&self, index: usize) -> Option<(When, usize)> {
        self.numeric_date(index)
            .or_else(|| self.month_first(index))
            .or_else(|| self.day_first(index))
            .or_else(|| self.relative(index))
            .or_else(|| self.weekday_at(index))
            .or_else(|| self.weekend_at(index))
            .or_else(|| self.ordinal_day(index))
    }

    /// `15/03`, `15/03/2027`, `15.03.27`, `2027-03-15`, `15-03-2027`.
    fn numeric_date(&self, index: usize) -> Option<(When, usize)> {
        let (first, first_digits, false) = self.number(index)? else {
            return None;
        };
        let separator = ["/", ".", "-"]
            .into_iter()
            .find(|symbol| self.symbol(index + 1, &[symbol]) && self.glued(index + 1))?;
        let (second, second_digits, false) = self.number(index + 2)? else {
            return None;
        };
        if !self.glued(index + 2) {
            return None;
        }
        let third = (self.symbol(index + 3, &[separator])
            && self.glued(index + 3)
            && self.glued(index + 4))
        .then(|| self.number(index + 4))
        .flatten();
        if first_digits == 4 {
            let (day, _, false) = third? else {
                return None;
            };
            let date = NaiveDate::from_ymd_opt(i32::try_from(first).ok()?, second, day)?;
            return Some((When::Date(date), 5));
        }
        if first_digits > 2 || second_digits > 2 {
            return None;
        }
        let (day, month) = day_and_month(first, second);
        match third {
            Some(_) => {
                let year = self.year(index + 4)?;
                let date = NaiveDate::from_ymd_opt(year, month, day)?;
                Some((When::Date(date), 5))
            }
            // `15-18` is a range of days, and `1.5` a decimal.
            None if separator == "-" => None,
            None if separator == "." && second_digits != 2 => None,
            None => {
                NaiveDate::from_ymd_opt(2024, month, day)?;
                Some((When::DayMonth { day, month }, 3))
            }
        }
    }

    /// `March 15`, `Mar 15th`, `march the 15th`, `March 15, 2027`.
    fn month_first(&self, index: usize) -> Option<(When, usize)> {
        let month = self.month(index)?;
        let mut at = index + 1;
        if self.is_word(at, &["the"]) {
            at += 1;
        }
        let (day, _) = self.day(at)?;
        at += 1;
        let (when, end) = self.with_year(day, month, at)?;
        Some((when, end - index))
    }

    /// `15 March`, `15th of March`, `the third of April 2027`.
    fn day_first(&self, index: usize) -> Option<(When, usize)> {
        let mut at = index;
        if self.is_word(at, &["the"]) {
            at += 1;
        }
        let (day, _) = self.day(at)?;
        at += 1;
        if self.is_word(at, &["of"]) {
            at += 1;
        }
        let month = self.month(at)?;
        at += 1;
        let (when, end) = self.with_year(day, month, at)?;
        Some((when, end - index))
    }

    /// The date of `day` and `month`, with the year that follows at `at` when there is one,
    /// and the index just past what it read.
    fn with_year(&self, day: u32, month: u32, at: usize) -> Option<(When, usize)> {
        let comma = usize::from(self.symbol(at, &[","]));
        if let Some(year) = self.year(at + comma) {
            if self
                .number(at + comma)
                .is_some_and(|(_, digits, _)| digits == 4)
            {
                let date = NaiveDate::from_ymd_opt(year, month, day)?;
                return Some((When::Date(date), at + comma + 1));
            }
        }
        NaiveDate::from_ymd_opt(2024, month, day)?;
        Some((When::DayMonth { day, month }, at))
    }

    /// today, tonight, tomorrow, the day after tomorrow, in 3 days, in two weeks, a week
    /// from today.
    fn relative(&self, index: usize) -> Option<(When, usize)> {
        let today = self.today;
        let plus = |days: u64| today.checked_add_days(Days::new(days)).map(When::Date);
        match self.word(index)? {
            "today" | "tonight" => return Some((When::Date(today), 1)),
            "tomorrow" => {
                let night = usize::from(self.is_word(index + 1, &["night", "morning", "evening"]));
                return Some((plus(1)?, 1 + night));
            }
            "day"
                if self.is_word(index + 1, &["after"])
                    && self.is_word(index + 2, &["tomorrow"]) =>
            {
                return Some((plus(2)?, 3));
            }
            "the"
                if self.is_word(index + 1, &["day"])
                    && self.is_word(index + 2, &["after"])
                    && self.is_word(index + 3, &["tomorrow"]) =>
            {
                return Some((plus(2)?, 4));
            }
            "in" => {
                let (count, unit) = if self.is_word(index + 1, &["a", "one"])
                    && self.is_word(index + 2, &["fortnight"])
                {
                    (1, "fortnight")
                } else {
                    (self.count(index + 1)?, self.word(index + 2)?)
                };
                let days = u64::from(count) * unit_days(unit)?;
                return Some((plus(days)?, 3));
            }
            _ => {}
        }
        // "3 days from now", "a week from today".
        let count = self.count(index)?;
        let days = u64::from(count) * unit_days(self.word(index + 1)?)?;
        if self.is_word(index + 2, &["from"]) && self.is_word(index + 3, &["now", "today"]) {
            return Some((plus(days)?, 4));
        }
        None
    }

    /// `friday`, `this friday`, `next friday`, `on fri`.
    fn weekday_at(&self, index: usize) -> Option<(When, usize)> {
        let (prefix, at) = match self.word(index)? {
            "this" | "next" | "coming" => (self.word(index), index + 1),
            _ => (None, index),
        };
        let at = if self.is_word(at, &["coming"]) {
            at + 1
        } else {
            at
        };
        let weekday = self.weekday(at)?;
        let word = self.word(at)?;
        // "Mon 22 March": the day and month say it; the weekday only repeats it.
        if self.day(at + 1).is_some() {
            return None;
        }
        if word.len() <= 3 && prefix.is_none() {
            // "sun", "sat" and "wed" are words too: take them as days only beside a date
            // word.
            let before = at.checked_sub(1).is_some_and(|i| {
                self.is_word(
                    i,
                    &["on", "from", "to", "till", "until", "and", "through", "by"],
                ) || self.symbol(i, &["-"])
            });
            let after = self.is_word(at + 1, &["to", "till", "until", "night", "nights"])
                || self.symbol(at + 1, &["-"])
                || self.day(at + 1).is_some();
            if !before && !after {
                return None;
            }
        }
        Some((
            When::Weekday {
                weekday,
                this: prefix == Some("this"),
            },
            at + 1 - index,
        ))
    }

    /// `this weekend`, `next weekend`, `the weekend`.
    fn weekend_at(&self, index: usize) -> Option<(When, usize)> {
        // "for the weekend", "over weekend" — but not "Easter weekend".
        let bare = index == 0
            || self.is_word(index - 1, &["for", "on", "over", "at", "by"])
            || self.tokens[index - 1].kind == TokenKind::Symbol;
        if bare && self.is_word(index, &["weekend"]) {
            return Some((When::Weekend, 1));
        }
        (self.is_word(index, &["this", "next", "the", "coming"])
            && self.is_word(index + 1, &["weekend"]))
        .then_some((When::Weekend, 2))
    }

    /// `the 20th`, `on the 3rd`, `20th` beside a date word.
    fn ordinal_day(&self, index: usize) -> Option<(When, usize)> {
        let the = usize::from(self.is_word(index, &["the"]));
        let (day, ordinal) = self.day(index + the)?;
        // Ordinal words name a day only beside a month ("the third of April"): "the third
        // time" is no date.
        if !ordinal || self.number(index + the).is_none() {
            return None;
        }
        let before = index.checked_sub(1).is_some_and(|i| {
            self.is_word(
                i,
                &[
                    "on", "from", "to", "till", "until", "and", "through", "between", "by", "for",
                    "the", "in", "out",
                ],
            ) || self.symbol(i, &["-"])
        });
        let after_index = index + the + 1;
        let after = self.tokens.get(after_index).is_none_or(|token| {
            token.kind == TokenKind::Symbol
                || [
                    "to", "till", "until", "and", "through", "of", "for", "instead", "please",
                    "pls",
                ]
                .contains(&token.text.as_str())
        });
        (the == 1 || before || after).then_some((When::Day(day), the + 1))
    }

    /// `3 nights`, `for a week`, `two weeks`, `a fortnight`, `a couple of nights`.
    fn duration_at(&self, index: usize) -> Option<(u32, usize)> {
        if index
            .checked_sub(1)
            .is_some_and(|i| self.is_word(i, &["per", "every", "each", "in", "within"]))
        {
            return None;
        }
        let count = self.count(index)?;
        let of = usize::from(self.is_word(index + 1, &["of", "more", "extra", "additional"]));
        let unit = self.word(index + 1 + of)?;
        let nights = match unit {
            "night" | "nights" => count,
            "week" | "weeks" => count.checked_mul(7)?,
            "fortnight" | "fortnights" => count.checked_mul(14)?,
            _ => return None,
        };
        let after = index + 2 + of;
        if self.is_word(
            after,
            &[
                "before", "ago", "prior", "notice", "earlier", "advance", "later", "after",
            ],
        ) || self.is_word(index, &["next", "this"])
        {
            return None;
        }
        (1..=MAX_NIGHTS)
            .contains(&nights)
            .then_some((nights, 2 + of))
    }
}

fn unit_days(unit: &str) -> Option<u64> {
    match unit {
        "day" | "days" => Some(1),
        "week" | "weeks" => Some(7),
        "fortnight" => Some(14),
        _ => None,
    }
}

fn nights_between(from: NaiveDate, to: NaiveDate) -> Option<u32> {
    let nights = (to - from).num_days();
    u32::try_from(nights).ok().filter(|nights| *nights > 0)
}

/// The `day` of `end`'s month, or of the month before when that day is after `end`.
fn day_before(day: u32, end: NaiveDate) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(end.year(), end.month(), day)
        .filter(|start| *start <= end)
        .or_else(|| {
            let previous = end.checked_sub_months(chrono::Months::new(1))?;
            NaiveDate::from_ymd_opt(previous.year(), previous.month(), day)
        })
}

/// The (day, month) of two numbers written day first, unless only the other way is a date.
fn day_and_month(first: u32, second: u32) -> (u32, u32) {
    if first <= 12 && second > 12 {
        (second, first)
    } else {
        (first, second)
    }
}

/// The first date with this month and day on or after `anchor`.
fn next_occurrence(month: u32, day: u32, anchor: NaiveDate) -> Option<NaiveDate> {
    (anchor.year()..=anchor.year() + 8)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|date| *date >= anchor)
}

/// The first `weekday` strictly after `anchor`.
fn weekday_after(weekday: Weekday, anchor: NaiveDate) -> Option<NaiveDate> {
    let ahead = (7 + weekday.num_days_from_monday() - anchor.weekday().num_days_from_monday()) % 7;
    let ahead = if ahead == 0 { 7 } else { ahead };
    anchor.checked_add_days(Days::new(u64::from(ahead)))
}
