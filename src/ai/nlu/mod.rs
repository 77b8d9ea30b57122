//! The local understanding engine: what a guest wants (an intent with a confidence) and the
//! facts in what they wrote (dates and date ranges, nights, adults and children, emails, phone
//! numbers and other numbers). Deterministic, allocation-light and offline: weighted cue
//! patterns per language (`lexicon`), a typo corrector over the words the cues use, and a
//! date grammar that resolves relative dates against the conversation's today.

mod dates;
mod entities;
mod lexicon;
mod tokens;

pub use dates::Stay;
pub use entities::Entities;

use lexicon::Lexicon;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use tokens::{Token, TokenKind};

/// Below this confidence the engine does not claim to know what the guest wants: the seeds'
/// escalation rule ("confidence below 50 %") and the evaluation's "none" both read it.
pub const CONFIDENT: f32 = 0.5;

/// What a guest wants, among the hospitality flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Intent {
    TalkToHuman,
    Cancel,
    MyReservations,
    CheckInOutTimes,
    Pricing,
    CheckAvailability,
    Book,
    Thanks,
    Greeting,
}

impl Intent {
    pub const ALL: [Intent; 9] = [
        Intent::Book,
        Intent::CheckAvailability,
        Intent::MyReservations,
        Intent::TalkToHuman,
        Intent::Pricing,
        Intent::CheckInOutTimes,
        Intent::Cancel,
        Intent::Thanks,
        Intent::Greeting,
    ];

    /// The stable snake_case name (`check_availability`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Intent::Book => "book",
            Intent::CheckAvailability => "check_availability",
            Intent::MyReservations => "my_reservations",
            Intent::TalkToHuman => "talk_to_human",
            Intent::Pricing => "pricing",
            Intent::CheckInOutTimes => "check_in_out_times",
            Intent::Cancel => "cancel",
            Intent::Thanks => "thanks",
            Intent::Greeting => "greeting",
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an intent")]
pub struct UnknownIntent(String);

impl FromStr for Intent {
    type Err = UnknownIntent;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Intent::ALL
            .into_iter()
            .find(|intent| intent.as_str() == text)
            .ok_or_else(|| UnknownIntent(text.to_owned()))
    }
}

/// The languages the local engine reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Language {
    #[default]
    English,
}

impl Language {
    fn engine(self) -> &'static Engine {
        static ENGLISH: OnceLock<Engine> = OnceLock::new();
        match self {
            Language::English => ENGLISH.get_or_init(|| Engine::new(&lexicon::ENGLISH)),
        }
    }
}

/// The engine's best guess at an intent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Classification {
    /// The most likely intent; `None` when nothing in the message points to one.
    pub intent: Option<Intent>,
    /// 0 to 1. Below `CONFIDENT` the guess should not be acted on.
    pub confidence: f32,
}

impl Classification {
    /// The intent when the engine is confident of it.
    pub fn confident(&self) -> Option<Intent> {
        self.intent.filter(|_| self.confidence >= CONFIDENT)
    }
}

/// Everything the engine read in one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Understanding {
    pub classification: Classification,
    pub entities: Entities,
}

/// The journey system variables the latest message fills in (`{{system.ai_check_in}}`): its
/// confident intent and confidence, the stay, the party and the first email and phone
/// number. A variable the message says nothing about is not set.
pub const VARIABLES: [&str; 9] = [
    "ai_intent",
    "ai_confidence",
    "ai_check_in",
    "ai_check_out",
    "ai_nights",
    "ai_adults",
    "ai_children",
    "ai_email",
    "ai_phone",
];

impl Understanding {
    /// The value of one of [`VARIABLES`], as text.
    pub fn variable(&self, name: &str) -> Option<String> {
        let entities = &self.entities;
        let stay = entities.stay.as_ref();
        let day =
            |date: Option<chrono::NaiveDate>| date.map(|date| date.format("%Y-%m-%d").to_string());
        match name {
            "ai_intent" => self
                .classification
                .confident()
                .map(|intent| intent.as_str().to_owned()),
            "ai_confidence" => Some(format!("{:.2}", self.classification.confidence)),
            "ai_check_in" => day(stay.and_then(|stay| stay.from)),
            "ai_check_out" => day(stay.and_then(|stay| stay.to)),
            "ai_nights" => entities.nights.map(|count| count.to_string()),
            "ai_adults" => entities.adults.map(|count| count.to_string()),
            "ai_children" => entities.children.map(|count| count.to_string()),
            "ai_email" => entities.emails.first().cloned(),
            "ai_phone" => entities.phones.first().cloned(),
            _ => None,
        }
    }
}

/// Reads one guest message; relative dates are resolved against `today` (the conversation's
/// date in its time zone).
pub fn understand(text: &str, today: chrono::NaiveDate, language: Language) -> Understanding {
    let engine = language.engine();
    let tokens = tokens::tokenize(text, engine);
    let entities = entities::extract(text, &tokens, today, engine.lexicon);
    let classification = engine.classify(&tokens, &entities);
    Understanding {
        classification,
        entities,
    }
}

/// The intent alone (entities still feed it: a stay points to a booking).
pub fn classify(text: &str, today: chrono::NaiveDate, language: Language) -> Classification {
    understand(text, today, language).classification
}

/// A cue compiled: the slots of its pattern, and of the pattern that must also match.
struct CompiledCue {
    intent: Intent,
    slots: Vec<Slot>,
    also: Vec<Slot>,
    weight: f32,
}

/// Words are matched by number: every word a cue names gets one.
type WordId = u16;

/// A message word no cue names.
const UNKNOWN_WORD: WordId = WordId::MAX;

enum Slot {
    /// Any of these words (sorted).
    Words(Vec<WordId>),
    /// Up to `GAP` words.
    Gap,
}

/// The word a message with a date gets, for cues that need one (`free & <date>`).
const DATE_MARK: &str = "<date>";

/// How many words a `*` may skip.
const GAP: usize = 2;

/// A lexicon made ready to match: compiled cues indexed by their first word, and the
/// vocabulary the typo corrector knows, bucketed by first letter.
pub(crate) struct Engine {
    lexicon: &'static Lexicon,
    cues: Vec<CompiledCue>,
    word_ids: HashMap<&'static str, WordId>,
    /// Cues by the words their pattern may start with.
    cues_by_first_word: HashMap<WordId, Vec<usize>>,
    vocabulary: HashMap<char, Vec<&'static str>>,
    known: std::collections::HashSet<&'static str>,
    /// Pleasantries and fillers: what is left of a message without them is its substance.
    polite: std::collections::HashSet<&'static str>,
    spellings: HashMap<&'static str, &'static str>,
}

impl Engine {
    fn new(lexicon: &'static Lexicon) -> Self {
        let mut word_ids: HashMap<&'static str, WordId> = HashMap::new();
        let mut compile = |pattern: &'static str| -> Vec<Slot> {
            pattern
                .split(' ')
                .filter(|slot| !slot.is_empty())
                .map(|slot| match slot {
                    "*" => Slot::Gap,
                    words => {
                        let mut ids: Vec<WordId> = words
                            .split('|')
                            .map(|word| {
                                let next = WordId::try_from(word_ids.len())
                                    .expect("fewer cue words than a WordId counts");
                                *word_ids.entry(word).or_insert(next)
                            })
                            .collect();
                        ids.sort_unstable();
                        Slot::Words(ids)
                    }
                })
                .collect()
        };
        let cues: Vec<CompiledCue> = lexicon
            .cues
            .iter()
            .map(|cue| {
                let (main, also) = cue.pattern.split_once(" & ").unwrap_or((cue.pattern, ""));
                CompiledCue {
                    intent: cue.intent,
                    slots: compile(main),
                    also: compile(also),
                    weight: cue.weight,
                }
            })
            .collect();
        let mut cues_by_first_word: HashMap<WordId, Vec<usize>> = HashMap::new();
        for (index, cue) in cues.iter().enumerate() {
            if let Some(Slot::Words(first)) = cue.slots.first() {
                for word in first {
                    cues_by_first_word.entry(*word).or_default().push(index);
                }
            }
        }
        let mut words: Vec<&'static str> = lexicon
            .cues
            .iter()
            .flat_map(|cue| cue.pattern.split([' ', '|', '&']))
            .chain(lexicon.months.iter().map(|(word, _)| *word))
            .chain(lexicon.weekdays.iter().map(|(word, _)| *word))
            .chain(lexicon.numbers.iter().map(|(word, _)| *word))
            .chain(lexicon.ordinals.iter().copied())
            .chain(entities::UNIT_WORDS.iter().copied())
            .chain(dates::DATE_WORDS.iter().copied())
            .filter(|word| word.chars().count() >= tokens::CORRECTABLE_LENGTH)
            .collect();
        words.sort_unstable();
        words.dedup();
        let mut vocabulary: HashMap<char, Vec<&'static str>> = HashMap::new();
        for word in &words {
            if let Some(first) = word.chars().next() {
                vocabulary.entry(first).or_default().push(word);
            }
        }
        let known = lexicon
            .known_words
            .iter()
            .chain(lexicon.pleasantries)
            .chain(lexicon.fillers)
            .copied()
            .chain(words.iter().copied())
            .collect();
        Engine {
            lexicon,
            cues,
            word_ids,
            cues_by_first_word,
            vocabulary,
            known,
            polite: lexicon
                .pleasantries
                .iter()
                .chain(lexicon.fillers)
                .copied()
                .collect(),
            spellings: lexicon.spellings.iter().copied().collect(),
        }
    }

    fn classify(&self, tokens: &[Token], entities: &Entities) -> Classification {
        let id_of = |word: &str| self.word_ids.get(word).copied().unwrap_or(UNKNOWN_WORD);
        let mut words: Vec<WordId> = tokens
            .iter()
            .filter(|token| token.kind != TokenKind::Symbol)
            .map(|token| id_of(&token.text))
            .collect();
        // Cues may ask for a date anywhere in the message.
        if entities.stay.is_some() {
            words.push(id_of(DATE_MARK));
        }
        let mut matched = vec![false; self.cues.len()];
        for start in 0..words.len() {
            let Some(candidates) = self.cues_by_first_word.get(&words[start]) else {
                continue;
            };
            for &index in candidates {
                if !matched[index] && matches_at(&self.cues[index].slots[1..], &words[start + 1..])
                {
                    matched[index] = true;
                }
            }
        }
        // Per intent: its strongest cue, half of every other, and every cue against it.
        let mut strongest = [0.0_f32; Intent::ALL.len()];
        let mut scores = [0.0_f32; Intent::ALL.len()];
        let slot_of = |intent: Intent| Intent::ALL.iter().position(|each| *each == intent);
        for (cue, _) in self
            .cues
            .iter()
            .zip(&matched)
            .filter(|(_, matched)| **matched)
        {
            if !cue.also.is_empty() && !matches_anywhere(&cue.also, &words) {
                continue;
            }
            let Some(slot) = slot_of(cue.intent) else {
                continue;
            };
            if cue.weight < 0.0 {
                scores[slot] += cue.weight;
            } else if cue.weight > strongest[slot] {
                scores[slot] += strongest[slot] * 0.5;
                strongest[slot] = cue.weight;
            } else {
                scores[slot] += cue.weight * 0.5;
            }
        }
        for (score, strongest) in scores.iter_mut().zip(strongest) {
            *score += strongest;
        }
        // A stay or a party size is what a booking is made of.
        if let Some(slot) = slot_of(Intent::Book) {
            let full_stay = entities
                .stay
                .is_some_and(|stay| stay.from.is_some() && stay.to.is_some());
            if full_stay || entities.nights.is_some() {
                scores[slot] += 1.0;
            }
            if entities.adults.is_some() {
                scores[slot] += 0.8;
            }
        }
        // Greetings and thanks only stand on their own: with more to the message, they are
        // its politeness, not its point.
        let substance = tokens
            .iter()
            .filter(|token| token.kind != TokenKind::Symbol)
            .filter(|token| !self.polite.contains(token.text.as_str()))
            .count();
        let question = tokens.iter().any(|token| token.is("?"));
        let other_request = Intent::ALL.iter().zip(scores).any(|(intent, score)| {
            !matches!(intent, Intent::Greeting | Intent::Thanks) && score >= 1.0
        });
        if substance >= 2 && (question || other_request || substance >= 5) {
            for intent in [Intent::Greeting, Intent::Thanks] {
                if let Some(slot) = slot_of(intent) {
                    scores[slot] *= 0.3;
                }
            }
        }
        let mut ranked: Vec<(Intent, f32)> = Intent::ALL.into_iter().zip(scores).collect();
        // Highest score first; ties go to the intent that matters more (enum order).
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (best, best_score) = ranked[0];
        let runner_up = ranked[1].1.max(0.0);
        if best_score <= 0.0 {
            return Classification {
                intent: None,
                confidence: 0.0,
            };
        }
        let strength = 1.0 - (-best_score).exp();
        let margin = (best_score / (best_score + runner_up)).sqrt();
        Classification {
            intent: Some(best),
            confidence: (strength * margin).clamp(0.0, 1.0),
        }
    }

    /// The word the guest meant: a known misspelling, the word itself when it is known, or
    /// the one vocabulary word within reach of a typo (one edit, two for long words).
    fn correct<'w>(&self, word: &'w str) -> std::borrow::Cow<'w, str> {
        if let Some(right) = self.spellings.get(word) {
            return std::borrow::Cow::Borrowed(right);
        }
        let length = word.chars().count();
        if length < tokens::CORRECTABLE_LENGTH || self.known.contains(word) {
            return std::borrow::Cow::Borrowed(word);
        }
        let reach = if length >= 8 { 2 } else { 1 };
        let Some(candidates) = word.chars().next().and_then(|c| self.vocabulary.get(&c)) else {
            return std::borrow::Cow::Borrowed(word);
        };
        let mut best: Option<(usize, &'static str)> = None;
        for candidate in candidates {
            let candidate_length = candidate.chars().count();
            if candidate_length.abs_diff(length) > reach {
                continue;
            }
            let distance = tokens::edit_distance(word, candidate, reach);
            if distance <= reach && best.is_none_or(|(closest, _)| distance < closest) {
                best = Some((distance, candidate));
            }
        }
        match best {
            Some((_, candidate)) => std::borrow::Cow::Owned(candidate.to_owned()),
            None => std::borrow::Cow::Borrowed(word),
        }
    }
}

/// Whether the slots match a run of words starting anywhere.
fn matches_anywhere(slots: &[Slot], words: &[WordId]) -> bool {
    (0..words.len()).any(|start| matches_at(slots, &words[start..]))
}

fn matches_at(slots: &[Slot], words: &[WordId]) -> bool {
    let Some((slot, rest)) = slots.split_first() else {
        return true;
    };
    match slot {
        Slot::Words(alternatives) => words.first().is_some_and(|word| {
            alternatives.binary_search(word).is_ok() && matches_at(rest, &words[1..])
        }),
        Slot::Gap => (0..=GAP.min(words.len())).any(|skip| matches_at(rest, &words[skip..])),
    }
}

#[cfg(test)]
mod tests;
