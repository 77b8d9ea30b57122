//! Conversation insights from the local engine: lexicon sentiment and an extractive summary.
//!
//! Both functions are pure and deterministic: the same texts always give the same answer, with
//! no network, no model and no clock. [`sentiment`] adds up the valence of known words
//! (English first, with a few Portuguese and Spanish ones), emojis and emoticons, turned by
//! negation ("not clean"), intensifiers ("very"), "but" (what follows it counts more) and
//! exclamation marks, and squashes the sum into -1000..=1000. [`summarise`] picks at most
//! [`SUMMARY_MAX_SENTENCES`] sentences that carry the guest's request (numbers, dates,
//! questions, booking and complaint words) and writes them in conversation order, each run of
//! one speaker prefixed `Guest:` or `Agent:`, in at most [`SUMMARY_MAX_CHARS`] characters.

use lexicon::{booster, emoji_valence, is_filler, is_negator, phrase_at, word_weight};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A score whose distance from zero is below this is neutral.
pub const NEUTRAL_BAND: i64 = 150;
/// The largest score magnitude: `1000` is as positive as a conversation gets.
pub const SCORE_MAX: i64 = 1000;
/// Most sentences a summary keeps.
pub const SUMMARY_MAX_SENTENCES: usize = 3;
/// Longest summary, in characters (not bytes).
pub const SUMMARY_MAX_CHARS: usize = 300;

/// What a word's valence is multiplied by when a negator ("not", "wasn't", "no") precedes it.
/// Below one in size: "not bad" is milder than "good".
const NEGATION: f64 = -0.74;
/// How many words after a negator it still reaches ("not clean or quiet").
const NEGATION_REACH: u8 = 3;
/// VADER's `alpha` in `sum / sqrt(sum² + alpha)`, which maps any sum into -1..1: a sum of
/// about ±3.9 (one strong word) lands at ±0.7.
const SQUASH: f64 = 15.0;
/// The most exclamation marks that still amplify a clause, and how much each adds.
const MAX_BANGS: u32 = 3;
const BANG_BOOST: f64 = 0.15;
/// Before the first "but" of a message a clause counts half, after it one and a half times.
const BEFORE_BUT: f64 = 0.5;
const AFTER_BUT: f64 = 1.5;
/// "Works" only matters negated ("doesn't work", "not working"): it counts as this much,
/// which the negation turns negative.
const WORKS: f64 = 2.0;
/// A sentence needs this score to enter a summary: any guest sentence of three or more words
/// that is not small talk, or a team sentence carrying a fact (a number, a date, a booking).
const MIN_SENTENCE_SCORE: f64 = 2.0;

/// The mood of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
}

impl SentimentLabel {
    /// The label of a score: neutral within [`NEUTRAL_BAND`] of zero.
    pub fn of_score(score: i64) -> Self {
        if score >= NEUTRAL_BAND {
            SentimentLabel::Positive
        } else if score <= -NEUTRAL_BAND {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SentimentLabel::Positive => "positive",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Negative => "negative",
        }
    }
}

impl FromStr for SentimentLabel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "positive" => Ok(SentimentLabel::Positive),
            "neutral" => Ok(SentimentLabel::Neutral),
            "negative" => Ok(SentimentLabel::Negative),
            other => Err(format!("unknown sentiment `{other}`")),
        }
    }
}

impl fmt::Display for SentimentLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sentiment of some texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// From `-SCORE_MAX` (most negative) to `SCORE_MAX` (most positive).
    pub score: i64,
}

/// Who wrote a message, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// The contact.
    Guest,
    /// A team member or the bot.
    Agent,
}

impl Speaker {
    pub fn label(self) -> &'static str {
        match self {
            Speaker::Guest => "Guest",
            Speaker::Agent => "Agent",
        }
    }
}

/// The sentiment of `texts` taken together; no text (or no known word) is neutral at 0.
pub fn sentiment(texts: &[&str]) -> Sentiment {
    let valence: f64 = texts.iter().map(|text| text_valence(text)).sum();
    let squashed = valence / (valence * valence + SQUASH).sqrt();
    // `squashed` lies in -1..1, so the rounded product fits and the clamp only guards rounding.
    let score = ((squashed * SCORE_MAX as f64).round() as i64).clamp(-SCORE_MAX, SCORE_MAX);
    Sentiment {
        label: SentimentLabel::of_score(score),
        score,
    }
}

/// An extractive summary of `messages` (in conversation order): the best sentences, at most
/// [`SUMMARY_MAX_SENTENCES`] and [`SUMMARY_MAX_CHARS`] characters, in conversation order, each
/// run of one speaker's sentences prefixed `Guest: ` or `Agent: `, as in
/// `Guest: I want a refund. Agent: Refund of 120 EUR sent.` Guest sentences are preferred;
/// greetings, thanks and other small talk never enter. Empty when nothing qualifies.
pub fn summarise(messages: &[(Speaker, &str)]) -> String {
    let mut candidates: Vec<Candidate> = messages
        .iter()
        .flat_map(|(speaker, text)| {
            sentences(text)
                .into_iter()
                .map(move |sentence| (*speaker, sentence))
        })
        .enumerate()
        .filter_map(|(order, (speaker, text))| {
            let score = sentence_score(speaker, &text)?;
            (score >= MIN_SENTENCE_SCORE).then_some(Candidate {
                order,
                speaker,
                text,
                score,
            })
        })
        .collect();
    // Best first; among equals, the earlier sentence.
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.order.cmp(&b.order)));
    let Some(best) = candidates.first() else {
        return String::new();
    };
    if render(&[best]).chars().count() > SUMMARY_MAX_CHARS {
        // The best sentence alone is too long: keep its start rather than lesser sentences.
        return truncated(best);
    }
    let mut chosen: Vec<&Candidate> = Vec::new();
    for candidate in &candidates {
        if chosen.len() == SUMMARY_MAX_SENTENCES {
            break;
        }
        let mut trial = chosen.clone();
        trial.push(candidate);
        trial.sort_by_key(|candidate| candidate.order);
        if render(&trial).chars().count() <= SUMMARY_MAX_CHARS {
            chosen = trial;
        }
    }
    render(&chosen)
}

/// The signed strength of one message.
fn text_valence(text: &str) -> f64 {
    let tokens = tokens(text);
    let mut state = Valence::default();
    let mut index = 0;
    while index < tokens.len() {
        match &tokens[index] {
            Token::Break => state.close_clause(),
            Token::Bang => {
                state.bangs += 1;
                state.boost = 1.0;
            }
            Token::Face(valence) => {
                state.close_if_exclaimed();
                state.clause += valence;
            }
            Token::Word(word) => {
                state.close_if_exclaimed();
                if let Some((weight, length)) = phrase_at(&tokens, index) {
                    state.add(weight);
                    index += length;
                    continue;
                }
                state.word(word);
            }
        }
        index += 1;
    }
    state.close_clause();
    state.total
}

/// The running sum of one message.
#[derive(Debug)]
struct Valence {
    /// Closed clauses of the message.
    total: f64,
    /// The clause being read.
    clause: f64,
    /// Exclamation marks at the end of the clause.
    bangs: u32,
    /// Applies to the next word only.
    boost: f64,
    /// How many more words the last negator reaches.
    negation_left: u8,
    /// Whether the message's first "but" was read.
    after_but: bool,
}

impl Default for Valence {
    fn default() -> Self {
        Self {
            total: 0.0,
            clause: 0.0,
            bangs: 0,
            boost: 1.0,
            negation_left: 0,
            after_but: false,
        }
    }
}

impl Valence {
    /// Reads one word that starts no phrase.
    fn word(&mut self, word: &str) {
        if is_negator(word) {
            self.negation_left = NEGATION_REACH;
            return;
        }
        if let Some(factor) = booster(word) {
            self.boost *= factor;
            return;
        }
        if word == "but" && !self.after_but {
            self.total *= BEFORE_BUT;
            self.clause *= BEFORE_BUT;
            self.after_but = true;
            return;
        }
        let negated = self.negation_left > 0;
        match word_weight(word) {
            Some(weight) => self.add(weight),
            // "doesn't work", "not working": neutral words that only matter negated.
            None if negated && lexicon::is_function_word(word) => self.add(WORKS),
            // Any other word takes a step of the negation's reach and drops the boost.
            None => self.add(0.0),
        }
    }

    /// Adds a sentiment-bearing word or phrase under the modifiers before it.
    fn add(&mut self, weight: f64) {
        let mut value = weight * self.boost;
        if self.negation_left > 0 {
            value *= NEGATION;
        }
        if self.after_but {
            value *= AFTER_BUT;
        }
        self.clause += value;
        self.boost = 1.0;
        self.negation_left = self.negation_left.saturating_sub(1);
    }

    /// Exclamation marks end a clause once something else follows them.
    fn close_if_exclaimed(&mut self) {
        if self.bangs > 0 {
            self.close_clause();
        }
    }

    fn close_clause(&mut self) {
        let amplified = 1.0 + BANG_BOOST * f64::from(self.bangs.min(MAX_BANGS));
        self.total += self.clause * amplified;
        self.clause = 0.0;
        self.bangs = 0;
        self.boost = 1.0;
        self.negation_left = 0;
    }
}

/// A piece of a text as sentiment reads it.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// Lowercase, with `’` read as `'` and a trailing `'s` or `'` dropped.
    Word(String),
    /// An emoji or emoticon, with its valence.
    Face(f64),
    Bang,
    /// The end of a clause: `.`, `,`, `;`, `:`, `?` or a line break.
    Break,
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut index = 0;
    while index < chars.len() {
        let character = match chars[index] {
            '’' | '‘' => '\'',
            other => other,
        };
        index += 1;
        if character.is_alphanumeric() || (character == '\'' && !word.is_empty()) {
            word.extend(character.to_lowercase());
            continue;
        }
        push_word(&mut tokens, &mut word);
        match character {
            '!' => tokens.push(Token::Bang),
            ':' | ';' | '=' => match emoticon(&chars[index..]) {
                Some((valence, length)) => {
                    tokens.push(Token::Face(valence));
                    index += length;
                }
                None if character != '=' => tokens.push(Token::Break),
                None => {}
            },
            '.' | ',' | '?' | '\n' => tokens.push(Token::Break),
            other => {
                if let Some(valence) = emoji_valence(other) {
                    tokens.push(Token::Face(valence));
                }
            }
        }
    }
    push_word(&mut tokens, &mut word);
    tokens
}

fn push_word(tokens: &mut Vec<Token>, word: &mut String) {
    if word.is_empty() {
        return;
    }
    let mut text = std::mem::take(word);
    if text.ends_with("'s") {
        text.truncate(text.len() - 2);
    }
    while text.ends_with('\'') {
        text.pop();
    }
    tokens.push(Token::Word(text));
}

/// `:)`, `:-(`, `;)`, `=D`…: the valence and how many characters follow the eyes.
fn emoticon(rest: &[char]) -> Option<(f64, usize)> {
    let nose = usize::from(rest.first() == Some(&'-'));
    let valence = match rest.get(nose)? {
        ')' | 'D' | ']' => 2.0,
        '(' | '[' => -2.0,
        _ => return None,
    };
    Some((valence, nose + 1))
}

/// A sentence that may enter the summary.
#[derive(Debug)]
struct Candidate {
    /// Position in the conversation.
    order: usize,
    speaker: Speaker,
    text: String,
    score: f64,
}

/// The sentences of a message, with whitespace collapsed. A `.` ends a sentence only before
/// whitespace or the end, so `12.50` and `15.03.2027` stay whole.
fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut sentences = Vec::new();
    let mut current = String::new();
    for (index, &character) in chars.iter().enumerate() {
        let next = chars.get(index + 1).copied();
        if character != '\n' {
            current.push(character);
        }
        let ends = match character {
            '\n' => true,
            '!' | '?' => !matches!(next, Some('!' | '?')),
            '.' => next.is_none_or(char::is_whitespace),
            _ => false,
        };
        if ends {
            push_sentence(&mut sentences, &mut current);
        }
    }
    push_sentence(&mut sentences, &mut current);
    sentences
}

fn push_sentence(sentences: &mut Vec<String>, current: &mut String) {
    let sentence = current.split_whitespace().collect::<Vec<_>>().join(" ");
    current.clear();
    if !sentence.is_empty() {
        sentences.push(sentence);
    }
}

/// How much a sentence says about the guest's request; `None` for small talk. A guest's
/// sentence starts at 2 and the team's at 0.5; a digit adds 2, a date word 1.5, a guest's
/// question 1.5, each request word 1 (up to 3) and each of the guest's feeling words 0.5 (up
/// to 1.5); fewer than three words take 2 off.
fn sentence_score(speaker: Speaker, sentence: &str) -> Option<f64> {
    let words: Vec<String> = tokens(sentence)
        .into_iter()
        .filter_map(|token| match token {
            Token::Word(word) => Some(word),
            _ => None,
        })
        .collect();
    if words.iter().all(|word| is_filler(word)) {
        return None;
    }
    let guest = speaker == Speaker::Guest;
    let mut score = if guest { 2.0 } else { 0.5 };
    if sentence.chars().any(|character| character.is_ascii_digit()) {
        score += 2.0;
    }
    if words.iter().any(|word| lexicon::is_date_word(word)) {
        score += 1.5;
    }
    if guest && sentence.ends_with('?') {
        score += 1.5;
    }
    let requests = words
        .iter()
        .filter(|word| lexicon::is_request_word(word))
        .count();
    score += requests.min(3) as f64;
    if guest {
        let feelings = words
            .iter()
            .filter(|word| word_weight(word).is_some())
            .count();
        score += (feelings as f64 * 0.5).min(1.5);
    }
    if words.len() < 3 {
        score -= 2.0;
    }
    Some(score)
}

/// The chosen sentences (in conversation order), each speaker's run prefixed once.
fn render(chosen: &[&Candidate]) -> String {
    let mut summary = String::new();
    let mut last_speaker = None;
    for candidate in chosen {
        if !summary.is_empty() {
            summary.push(' ');
        }
        if last_speaker != Some(candidate.speaker) {
            summary.push_str(candidate.speaker.label());
            summary.push_str(": ");
        }
        summary.push_str(&candidate.text);
        if candidate.text.ends_with(char::is_alphanumeric) {
            summary.push('.');
        }
        last_speaker = Some(candidate.speaker);
    }
    summary
}

/// The start of one sentence that is too long on its own, cut at a word and marked `…`.
fn truncated(candidate: &Candidate) -> String {
    let prefix = format!("{}: ", candidate.speaker.label());
    let room = SUMMARY_MAX_CHARS - prefix.chars().count() - 1;
    let head: String = candidate.text.chars().take(room).collect();
    let cut = match head.rfind(char::is_whitespace) {
        Some(space) if space > 0 => head[..space].trim_end(),
        _ => head.as_str(),
    };
    format!("{prefix}{cut}…")
}

/// The word lists, matched against lowercase words: valences are `match`es, and the plain
/// lists are sets built once, on first use.
mod lexicon {
    use super::Token;
    use std::collections::HashSet;
    use std::sync::LazyLock;

    /// The words of a space-separated list.
    fn set(list: &'static str) -> HashSet<&'static str> {
        list.split_whitespace().collect()
    }

    /// The valence of a word, from -4 (worst) to 4 (best), on VADER's scale.
    pub(super) fn word_weight(word: &str) -> Option<f64> {
        let weight = match word {
            // Hospitality praise.
            "amazing" | "excellent" | "wonderful" | "fantastic" | "awesome" | "superb"
            | "outstanding" | "fabulous" | "exceptional" | "incredible" | "excelente"
            | "maravilhoso" | "maravilloso" | "incrível" | "increíble" => 3.5,
            "great" | "lovely" | "perfect" | "beautiful" | "love" | "loved" | "loving"
            | "delicious" | "spotless" | "brilliant" | "best" | "stunning" | "gorgeous"
            | "ótimo" | "otimo" | "perfeito" | "perfecto" | "genial" => 3.0,
            "friendly" | "helpful" | "happy" | "enjoyed" | "impressed" | "grateful" | "kind"
            | "welcoming" => 2.5,
            "good" | "nice" | "comfortable" | "comfy" | "cosy" | "cozy" | "enjoy" | "recommend"
            | "thanks" | "thank" | "thx" | "ty" | "appreciate" | "appreciated" | "pleased"
            | "glad" | "relaxing" | "satisfied" | "spacious" | "polite" | "professional"
            | "pleasant" | "obrigado" | "obrigada" | "gracias" | "bom" | "boa" | "bueno"
            | "buena" => 2.0,
            "clean" | "quiet" | "cheers" | "resolved" | "smooth" | "easy" | "limpo" | "limpio" => {
                1.5
            }
            "sorted" | "fixed" | "fast" | "quick" | "helped" => 1.0,
            "fine" => 0.8,
            "ok" | "okay" => 0.5,
            // Complaints.
            "terrible" | "awful" | "horrible" | "worst" | "disgusting" | "scam" | "bedbugs"
            | "horrível" | "péssimo" | "pessimo" | "terrível" | "horroroso" => -3.5,
            "filthy" | "unacceptable" | "angry" | "furious" | "hate" | "hated" | "sucks"
            | "stolen" | "overcharged" | "cockroach" | "cockroaches" | "ripoff" => -3.0,
            "dirty" | "rude" | "bad" | "disappointed" | "disappointing" | "disappointment"
            | "smelly" | "stinks" | "mould" | "mold" | "upset" | "unhappy" | "annoyed"
            | "frustrated" | "frustrating" | "unfriendly" | "unhelpful" | "ridiculous"
            | "worse" | "waste" | "sujo" | "sucio" | "sucia" | "malo" | "mala" | "mau" => -2.5,
            "noisy" | "broken" | "complaint" | "complain" | "complaining" | "wrong" | "poor"
            | "uncomfortable" | "leak" | "leaking" | "damaged" | "stained" | "mess" | "messy"
            | "bugs" | "reclamação" | "reclamacao" | "queja" | "mal" => -2.0,
            "refund" | "loud" | "noise" | "problem" | "problems" | "delay" | "delayed"
            | "expensive" | "missing" | "slow" | "smell" | "worried" | "worries" | "reembolso" => {
                -1.5
            }
            "cancel" | "cancelled" | "canceled" | "cancellation" | "issue" | "issues"
            | "cancelar" => -1.0,
            "late" | "cold" => -0.5,
            _ => return None,
        };
        Some(weight)
    }

    /// Phrases read as one unit, before their words: the valence and the number of words.
    pub(super) fn phrase_at(tokens: &[Token], index: usize) -> Option<(f64, usize)> {
        const PHRASES: [(&[&str], f64); 9] = [
            (&["out", "of", "order"], -2.0),
            (&["never", "again"], -2.5),
            (&["can't", "wait"], 2.0),
            (&["cannot", "wait"], 2.0),
            (&["cant", "wait"], 2.0),
            (&["looking", "forward"], 2.0),
            (&["well", "done"], 2.5),
            (&["rip", "off"], -3.0),
            (&["5", "stars"], 3.0),
        ];
        PHRASES.iter().find_map(|(words, weight)| {
            let matches = words.iter().enumerate().all(|(offset, expected)| {
                matches!(tokens.get(index + offset), Some(Token::Word(word)) if word == expected)
            });
            matches.then_some((*weight, words.len()))
        })
    }

    static NEGATORS: LazyLock<HashSet<&str>> = LazyLock::new(|| {
        set(
            "not no never nothing nobody none neither nor without cannot cant dont doesnt \
             didnt isnt wasnt arent werent wont wouldnt couldnt hasnt havent aint não nao \
             nunca",
        )
    });

    /// Words that turn the valence of the next few words.
    pub(super) fn is_negator(word: &str) -> bool {
        word.ends_with("n't") || NEGATORS.contains(word)
    }

    /// Words that strengthen (above 1) or soften (below 1) the next word.
    pub(super) fn booster(word: &str) -> Option<f64> {
        match word {
            "very" | "really" | "so" | "extremely" | "super" | "incredibly" | "absolutely"
            | "totally" | "completely" | "utterly" | "truly" | "too" | "such" | "highly"
            | "muito" | "muy" => Some(1.5),
            "slightly" | "somewhat" | "bit" | "kinda" | "fairly" | "little" => Some(0.6),
            _ => None,
        }
    }

    /// Neutral verbs that become a complaint when negated.
    pub(super) fn is_function_word(word: &str) -> bool {
        matches!(
            word,
            "work" | "works" | "working" | "worked" | "functioning" | "funciona"
        )
    }

    /// The valence of an emoji; skin tones and variation selectors are ignored (`None`).
    pub(super) fn emoji_valence(character: char) -> Option<f64> {
        let valence = match character {
            '😍' | '🥰' | '🤩' | '😘' | '❤' | '♥' | '💕' | '💖' | '💗' | '💙' | '💚' | '💛'
            | '💜' | '🧡' | '💯' => 3.0,
            '🙂' | '😊' | '😀' | '😃' | '😄' | '😁' | '😆' | '😉' | '😎' | '🤗' | '🙏' | '👌'
            | '👏' | '👍' | '🎉' | '✨' | '⭐' | '🌟' | '✅' | '☺' => 2.0,
            '😂' | '🤣' => 1.0,
            '🙁' | '☹' | '😕' | '😟' | '😒' | '😞' | '😔' | '😩' | '😫' | '😢' | '😥' | '😓' => {
                -2.0
            }
            '😭' | '😤' | '😠' | '👎' | '💔' | '🤮' | '🤢' | '💩' => -2.5,
            '😡' | '🤬' => -3.0,
            _ => return None,
        };
        Some(valence)
    }

    static FILLER: LazyLock<HashSet<&str>> = LazyLock::new(|| {
        set(
            "hi hello hey hiya there good morning afternoon evening thanks thank you thx ty \
             very so much ok okay yes no sure great perfect cheers bye goodbye olá ola hola \
             obrigado obrigada gracias",
        )
    });

    /// Small talk: a sentence of only these words never enters a summary.
    pub(super) fn is_filler(word: &str) -> bool {
        FILLER.contains(word)
    }

    static DATE_WORDS: LazyLock<HashSet<&str>> = LazyLock::new(|| {
        set(
            "today tonight tomorrow yesterday weekend week month monday tuesday wednesday \
             thursday friday saturday sunday january february march april june july august \
             september october november december jan feb jun jul aug sep sept oct nov dec",
        )
    });

    /// Words that place a request in time.
    pub(super) fn is_date_word(word: &str) -> bool {
        DATE_WORDS.contains(word)
    }

    static REQUEST_WORDS: LazyLock<HashSet<&str>> = LazyLock::new(|| {
        set(
            "book booked booking reservation reserve reserved cancel cancelled canceled \
             cancellation refund refunded complaint complain change modify extend upgrade \
             check checkin checkout arrive arrival arriving departure late early room rooms \
             suite night nights guests adults children price cost rate pay paid payment \
             invoice receipt deposit charge charged parking breakfast airport transfer taxi \
             want need like please available availability confirm confirmed dirty rude \
             noisy broken reserva quarto habitación",
        )
    });

    /// Words of bookings, changes and complaints: what the guest is asking for.
    pub(super) fn is_request_word(word: &str) -> bool {
        REQUEST_WORDS.contains(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use SentimentLabel::{Negative, Neutral, Positive};
    use Speaker::{Agent, Guest};

    #[track_caller]
    fn check(texts: &[&str], expected: SentimentLabel) {
        let result = sentiment(texts);
        assert_eq!(result.label, expected, "{texts:?} scored {}", result.score);
    }

    #[track_caller]
    fn check_summary(messages: &[(Speaker, &str)], expected: &str) {
        assert_eq!(summarise(messages), expected, "{messages:?}");
    }

    #[test]
    fn complaints_are_negative_and_praise_is_positive() {
        let cases: [(&[&str], SentimentLabel); 12] = [
            (
                &["The room was dirty and the staff were rude, I want a refund"],
                Negative,
            ),
            (
                &["This is unacceptable, I want to make a complaint"],
                Negative,
            ),
            (&["Terrible stay. Disappointed."], Negative),
            (&["I need to cancel my booking"], Negative),
            (&["Thank you so much, everything was perfect!"], Positive),
            (
                &["The breakfast was lovely and the room very clean"],
                Positive,
            ),
            (&["Amazing views, great location"], Positive),
            (&["Can't wait to arrive!"], Positive),
            (&["O quarto estava sujo"], Negative),
            (&["Obrigado, tudo perfeito"], Positive),
            (&["What time is check-in?"], Neutral),
            (&["I'd like to book a room for 2 nights in March"], Neutral),
        ];
        for (texts, expected) in cases {
            check(texts, expected);
        }
    }

    #[test]
    fn negation_turns_a_word_around() {
        let cases: [(&[&str], SentimentLabel); 7] = [
            (&["not bad"], Positive),
            (&["No problem at all"], Positive),
            (&["not good"], Negative),
            (&["The room wasn’t clean"], Negative),
            (&["The shower was not clean or quiet"], Negative),
            (&["The air conditioning doesn't work"], Negative),
            (&["Not rude at all, but the room was dirty"], Negative),
        ];
        for (texts, expected) in cases {
            check(texts, expected);
        }
    }

    #[test]
    fn intensifiers_and_exclamation_marks_strengthen_and_softeners_soften() {
        let score = |text: &str| sentiment(&[text]).score;
        assert!(score("very good") > score("good"));
        assert!(score("really dirty") < score("dirty"));
        assert!(score("slightly noisy") > score("noisy"));
        assert!(score("Great!!!") > score("Great!"));
        assert!(score("Great!") > score("Great"));
        assert!(score("Terrible!") < score("Terrible"));
    }

    #[test]
    fn what_follows_but_counts_more() {
        check(
            &["The location is great but the room was noisy and dirty"],
            Negative,
        );
        check(
            &["The room was a bit noisy, but the staff were amazing"],
            Positive,
        );
    }

    #[test]
    fn emojis_and_emoticons_carry_sentiment() {
        let cases: [(&[&str], SentimentLabel); 8] = [
            (&["🙂"], Positive),
            (&["😍😍"], Positive),
            (&["👍🏽"], Positive),
            (&["❤️"], Positive),
            (&["😡"], Negative),
            (&["👎"], Negative),
            (&["ok :)"], Positive),
            (&["room 12 :-("], Negative),
        ];
        for (texts, expected) in cases {
            check(texts, expected);
        }
    }

    #[test]
    fn nothing_to_read_is_neutral_at_zero() {
        let neutral = Sentiment {
            label: Neutral,
            score: 0,
        };
        assert_eq!(sentiment(&[]), neutral);
        assert_eq!(sentiment(&["", "  "]), neutral);
        assert_eq!(sentiment(&["Room 204, 2 adults"]), neutral);
    }

    #[test]
    fn the_guest_s_messages_add_up() {
        let one = sentiment(&["dirty"]).score;
        let two = sentiment(&["dirty", "and rude"]).score;
        assert!(two < one, "{two} < {one}");
        check(
            &["The room was dirty", "Thanks, now it is perfect! 😍"],
            Positive,
        );
    }

    #[test]
    fn labels_follow_the_neutral_band_and_round_trip() {
        let cases = [
            (-SCORE_MAX, Negative),
            (-NEUTRAL_BAND, Negative),
            (-NEUTRAL_BAND + 1, Neutral),
            (0, Neutral),
            (NEUTRAL_BAND - 1, Neutral),
            (NEUTRAL_BAND, Positive),
            (SCORE_MAX, Positive),
        ];
        for (score, expected) in cases {
            assert_eq!(SentimentLabel::of_score(score), expected, "{score}");
            assert_eq!(expected.as_str().parse(), Ok(expected));
        }
        assert!("happy".parse::<SentimentLabel>().is_err());
    }

    #[test]
    fn a_summary_keeps_the_guest_s_complaint_and_the_answer_with_a_fact() {
        check_summary(
            &[
                (Guest, "Hi"),
                (
                    Agent,
                    "Hello! Thanks for your message. Our team will get back to you shortly.",
                ),
                (
                    Guest,
                    "The room was dirty and the staff were rude, I want a refund",
                ),
                (
                    Agent,
                    "I'm sorry to hear that. I have refunded 120 EUR to your card.",
                ),
                (Guest, "ok thanks"),
            ],
            "Guest: The room was dirty and the staff were rude, I want a refund. \
             Agent: I have refunded 120 EUR to your card.",
        );
    }

    #[test]
    fn a_summary_keeps_dates_numbers_and_questions_in_conversation_order() {
        check_summary(
            &[
                (
                    Guest,
                    "Hello! Do you have a double room available from 12 to 15 March? \
                     We are 2 adults.",
                ),
                (Agent, "Yes, we have a double room at 95 EUR per night."),
                (Guest, "Great, thank you!"),
                (Guest, "My husband says hello too"),
            ],
            "Guest: Do you have a double room available from 12 to 15 March? We are 2 adults. \
             Agent: Yes, we have a double room at 95 EUR per night.",
        );
    }

    #[test]
    fn small_talk_and_nothing_make_an_empty_summary() {
        check_summary(&[], "");
        check_summary(&[(Guest, "")], "");
        check_summary(
            &[
                (Guest, "Hi there! 😊"),
                (Agent, "Hello! How can we help?"),
                (Guest, "ok, thanks. Bye"),
            ],
            "",
        );
    }

    #[test]
    fn a_summary_stays_within_its_limits() {
        let sentence = "Could you please move our booking for 2 adults to the 14th of June?";
        let long_message = [sentence; 6].join(" ");
        let summary = summarise(&[(Guest, &long_message)]);
        assert!(summary.chars().count() <= SUMMARY_MAX_CHARS, "{summary}");
        assert_eq!(
            summary.matches('?').count(),
            SUMMARY_MAX_SENTENCES,
            "{summary}"
        );

        let endless = format!("I want a refund for room 12 {}", "because ".repeat(60));
        let summary = summarise(&[(Guest, &endless)]);
        assert!(summary.chars().count() <= SUMMARY_MAX_CHARS, "{summary}");
        assert!(summary.starts_with("Guest: I want a refund for room 12 because"));
        assert!(summary.ends_with("because…"), "{summary}");
    }

    #[test]
    fn sentences_end_at_punctuation_but_not_inside_numbers() {
        assert_eq!(
            sentences("Arriving 15.03.2027 at 14.30. Is that ok?!\nThanks"),
            ["Arriving 15.03.2027 at 14.30.", "Is that ok?!", "Thanks"]
        );
    }

    proptest! {
        #[test]
        fn any_text_gives_a_bounded_score_and_summary(
            texts in proptest::collection::vec("\\PC{0,400}", 0..6)
        ) {
            let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
            let result = sentiment(&borrowed);
            prop_assert!((-SCORE_MAX..=SCORE_MAX).contains(&result.score));
            prop_assert_eq!(result.label, SentimentLabel::of_score(result.score));
            let messages: Vec<(Speaker, &str)> = borrowed
                .iter()
                .enumerate()
                .map(|(index, text)| (if index % 2 == 0 { Guest } else { Agent }, *text))
                .collect();
            prop_assert!(summarise(&messages).chars().count() <= SUMMARY_MAX_CHARS);
        }
    }
}
