//! `parley ai eval`: how well the local engine reads a labelled set of guest messages —
//! intent accuracy with per-intent precision and recall, date exact-match, and the party and
//! nights it extracts. A report, not a test: the numbers are for people to read.
//!
//! The set is JSON Lines, one message per line:
//! `{"text", "intent" ("none" when no intent applies), "dates": null | {"from", "to"},
//! "nights", "adults", "children", "today"?}`; `today` defaults to the command's `--today`.

use super::nlu::{self, Intent, Language, Stay};
use chrono::NaiveDate;
use serde::Deserialize;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The label of a message with no intent.
const NONE: &str = "none";

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    text: String,
    intent: String,
    dates: Option<StayRow>,
    nights: Option<u32>,
    adults: Option<u32>,
    children: Option<u32>,
    today: Option<NaiveDate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StayRow {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// One labelled message.
#[derive(Clone, Debug)]
pub struct Case {
    pub text: String,
    pub intent: Option<Intent>,
    pub stay: Option<Stay>,
    pub nights: Option<u32>,
    pub adults: Option<u32>,
    pub children: Option<u32>,
    pub today: Option<NaiveDate>,
}

/// Reads a labelled set; a bad line is an error naming it.
pub fn load(path: &Path) -> Result<Vec<Case>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<Vec<Case>, EvalError> {
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let failed = |reason: String| EvalError::Line {
            line: line_number,
            reason,
        };
        let row: Row = serde_json::from_str(line).map_err(|error| failed(error.to_string()))?;
        let intent = match row.intent.as_str() {
            NONE => None,
            name => Some(
                name.parse::<Intent>()
                    .map_err(|error| failed(error.to_string()))?,
            ),
        };
        cases.push(Case {
            text: row.text,
            intent,
            stay: row.dates.map(|dates| Stay {
                from: dates.from,
                to: dates.to,
            }),
            nights: row.nights,
            adults: row.adults,
            children: row.children,
            today: row.today,
        });
    }
    Ok(cases)
}

/// Precision and recall of one label.
#[derive(Clone, Debug, Default)]
pub struct LabelScore {
    pub label: &'static str,
    pub support: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl LabelScore {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

/// A message the engine read differently from its label.
#[derive(Clone, Debug)]
pub struct Miss {
    pub text: String,
    pub what: &'static str,
    pub expected: String,
    pub got: String,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub messages: usize,
    pub intents_right: usize,
    pub labels: Vec<LabelScore>,
    /// Messages labelled with a date, and how many of those the engine read exactly.
    pub dated: usize,
    pub dates_exact: usize,
    /// Messages labelled without a date where the engine found one.
    pub dates_invented: usize,
    pub nights_labelled: usize,
    pub nights_right: usize,
    pub party_labelled: usize,
    pub party_right: usize,
    pub elapsed: Duration,
    pub misses: Vec<Miss>,
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Counts here are far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let ratio = part as f64 / whole as f64;
    ratio
}

/// Runs the engine over every case; `today` is the date of cases that do not set one.
pub fn evaluate(cases: &[Case], today: NaiveDate) -> Report {
    let mut report = Report {
        messages: cases.len(),
        ..Report::default()
    };
    let labels: Vec<Option<Intent>> = Intent::ALL
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None))
        .collect();
    report.labels = labels
        .iter()
        .map(|label| LabelScore {
            label: label_name(*label),
            ..LabelScore::default()
        })
        .collect();
    let position = |label: Option<Intent>| labels.iter().position(|each| *each == label);
    let started = Instant::now();
    for case in cases {
        let understanding =
            nlu::understand(&case.text, case.today.unwrap_or(today), Language::English);
        let predicted = understanding.classification.confident();
        let entities = &understanding.entities;
        if let Some(index) = position(case.intent) {
            report.labels[index].support += 1;
        }
        if predicted == case.intent {
            report.intents_right += 1;
            if let Some(index) = position(predicted) {
                report.labels[index].true_positives += 1;
            }
        } else {
            if let Some(index) = position(predicted) {
                report.labels[index].false_positives += 1;
            }
            if let Some(index) = position(case.intent) {
                report.labels[index].false_negatives += 1;
            }
            report.misses.push(Miss {
                text: case.text.clone(),
                what: "intent",
                expected: label_name(case.intent).to_owned(),
                got: format!(
                    "{} ({:.2})",
                    label_name(understanding.classification.intent),
                    understanding.classification.confidence
                ),
            });
        }
        match case.stay {
            Some(expected) => {
                report.dated += 1;
                if entities.stay == Some(expected) {
                    report.dates_exact += 1;
                } else {
                    report.misses.push(date_miss(case, entities.stay));
                }
            }
            None if entities.stay.is_some() => {
                report.dates_invented += 1;
                report.misses.push(date_miss(case, entities.stay));
            }
            None => {}
        }
        if case.nights.is_some() {
            report.nights_labelled += 1;
            if entities.nights == case.nights {
                report.nights_right += 1;
            } else {
                report.misses.push(Miss {
                    text: case.text.clone(),
                    what: "nights",
                    expected: show(case.nights),
                    got: show(entities.nights),
                });
            }
        }
        if case.adults.is_some() || case.children.is_some() {
            report.party_labelled += 1;
            if (entities.adults, entities.children) == (case.adults, case.children) {
                report.party_right += 1;
            } else {
                report.misses.push(Miss {
                    text: case.text.clone(),
                    what: "party",
                    expected: format!("{} + {}", show(case.adults), show(case.children)),
                    got: format!("{} + {}", show(entities.adults), show(entities.children)),
                });
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn date_miss(case: &Case, got: Option<Stay>) -> Miss {
    Miss {
        text: case.text.clone(),
        what: "dates",
        expected: show_stay(case.stay),
        got: show_stay(got),
    }
}

fn label_name(label: Option<Intent>) -> &'static str {
    label.map_or(NONE, |intent| intent.as_str())
}

fn show(value: Option<u32>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

fn show_stay(stay: Option<Stay>) -> String {
    match stay {
        None => "none".to_owned(),
        Some(stay) => {
            let side =
                |date: Option<NaiveDate>| date.map_or_else(|| "?".to_owned(), |d| d.to_string());
            format!("{} → {}", side(stay.from), side(stay.to))
        }
    }
}

impl Report {
    pub fn intent_accuracy(&self) -> f64 {
        ratio(self.intents_right, self.messages)
    }

    pub fn date_exact_match(&self) -> f64 {
        ratio(self.dates_exact, self.dated)
    }

    /// The report, with every miss listed when `misses` is set.
    pub fn render(&self, misses: bool) -> String {
        let mut out = self.to_string();
        if misses && !self.misses.is_empty() {
            out.push_str("\nMisses\n");
            for miss in &self.misses {
                out.push_str(&format!(
                    "  [{}] {:?}\n      expected {}, got {}\n",
                    miss.what, miss.text, miss.expected, miss.got
                ));
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = |value: f64| format!("{:.1} %", value * 100.0);
        writeln!(f, "Local engine evaluation: {} messages", self.messages)?;
        writeln!(
            f,
            "  intent accuracy     {} ({} of {})",
            percent(self.intent_accuracy()),
            self.intents_right,
            self.messages
        )?;
        writeln!(
            f,
            "  date exact-match    {} ({} of {} dated messages); dates found where none were written: {}",
            percent(self.date_exact_match()),
            self.dates_exact,
            self.dated,
            self.dates_invented
        )?;
        writeln!(
            f,
            "  nights              {} ({} of {})",
            percent(ratio(self.nights_right, self.nights_labelled)),
            self.nights_right,
            self.nights_labelled
        )?;
        writeln!(
            f,
            "  adults + children   {} ({} of {})",
            percent(ratio(self.party_right, self.party_labelled)),
            self.party_right,
            self.party_labelled
        )?;
        let messages = u32::try_from(self.messages.max(1)).unwrap_or(u32::MAX);
        writeln!(
            f,
            "  mean time/message   {:.1} µs (criterion: cargo bench --bench ai)",
            self.elapsed.as_secs_f64() * 1e6 / f64::from(messages)
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<20} {:>7} {:>10} {:>8}",
            "intent", "support", "precision", "recall"
        )?;
        for label in &self.labels {
            writeln!(
                f,
                "  {:<20} {:>7} {:>10} {:>8}",
                label.label,
                label.support,
                percent(label.precision()),
                percent(label.recall())
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 3, 10).expect("a date")
    }

    #[test]
    fn a_set_is_scored_per_intent_and_per_date() {
        let cases = parse(concat!(
            r#"{"text": "I'd like to book a room March 15 to 18", "intent": "book", "dates": {"from": "2027-03-15", "to": "2027-03-18"}, "nights": 3, "adults": null, "children": null}"#,
            "\n",
            r#"{"text": "is the pool heated?", "intent": "book", "dates": null, "nights": null, "adults": null, "children": null}"#,
            "\n\n",
            r#"{"text": "hello", "intent": "greeting", "dates": {"from": "2027-03-11", "to": null}, "nights": null, "adults": 2, "children": null, "today": "2027-03-10"}"#,
        ))
        .expect("a valid set");
        assert_eq!(cases.len(), 3);
        let report = evaluate(&cases, today());
        assert_eq!(report.messages, 3);
        assert_eq!(report.intents_right, 2);
        assert_eq!(
            (report.dated, report.dates_exact, report.dates_invented),
            (2, 1, 0)
        );
        assert_eq!((report.nights_labelled, report.nights_right), (1, 1));
        assert_eq!((report.party_labelled, report.party_right), (1, 0));
        let book = &report.labels[0];
        assert_eq!(book.label, "book");
        assert_eq!(
            (book.support, book.true_positives, book.false_negatives),
            (2, 1, 1)
        );
        let none = report.labels.last().expect("the none label");
        assert_eq!((none.label, none.false_positives), ("none", 1));
        assert!((report.intent_accuracy() - 2.0 / 3.0).abs() < 1e-9);
        let text = report.render(true);
        assert!(text.contains("intent accuracy     66.7 %"), "{text}");
        assert!(text.contains("[intent] \"is the pool heated?\""), "{text}");
    }

    #[test]
    fn a_bad_line_is_named() {
        let error = parse("{\"text\": \"hi\", \"intent\": \"greet\", \"dates\": null, \"nights\": null, \"adults\": null, \"children\": null}")
            .expect_err("an unknown intent");
        assert_eq!(error.to_string(), "line 1: `greet` is not an intent");
        assert!(parse("{").is_err());
    }
}
