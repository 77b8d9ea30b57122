//! Retrieval over an organisation's knowledge base (FAQ entries, policies) for the AI Agent:
//! documents are cut into passages and ranked for a guest's message with BM25. Pure and
//! deterministic; the index is rebuilt when the documents change.

use std::collections::HashMap;

/// How many passages an AI Agent turn is given.
pub const AGENT_HITS: usize = 3;
/// Passages are cut at paragraph breaks and grow to about this many characters.
pub const PASSAGE_CHARS: usize = 600;
/// BM25's term-frequency saturation.
const K1: f32 = 1.2;
/// BM25's length normalisation.
const B: f32 = 0.75;
/// Title words count this many times in each passage of their document.
const TITLE_WEIGHT: u32 = 2;

/// Words too common to tell documents apart.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "with", "by",
    "from", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these",
    "those", "i", "you", "we", "they", "he", "she", "me", "my", "our", "your", "us", "do", "does",
    "did", "can", "could", "would", "will", "shall", "should", "may", "might", "have", "has",
    "had", "there", "here", "what", "when", "where", "which", "who", "how", "any", "some", "so",
    "not", "no", "yes", "please", "hi", "hello", "thanks", "thank", "as", "about", "into", "also",
    "just", "than", "then", "them", "their", "am", "get", "got", "let", "tell", "know",
];

/// A document to index: its id, title and body, and the source (a label such as `spa`) an
/// AI Agent step may keep its retrieval to.
#[derive(Clone, Debug)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub body: String,
    pub source: Option<String>,
}

/// A piece of a document, the unit retrieval returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Passage {
    pub document_id: String,
    pub title: String,
    pub text: String,
    pub source: Option<String>,
}

/// A passage ranked for a query.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub passage: Passage,
    pub score: f32,
    /// The share of the query's terms the passage contains, 0 to 1.
    pub coverage: f32,
}

/// The passages of every document, with their term statistics.
#[derive(Debug, Default)]
pub struct KnowledgeIndex {
    passages: Vec<Passage>,
    /// Per term: (passage, frequency).
    postings: HashMap<String, Vec<(usize, u32)>>,
    lengths: Vec<u32>,
    average_length: f32,
}

impl KnowledgeIndex {
    pub fn build(documents: &[Document]) -> Self {
        let mut index = KnowledgeIndex::default();
        for document in documents {
            let title_terms = terms(&document.title);
            for text in passages(&document.body) {
                let position = index.passages.len();
                let mut frequencies: HashMap<String, u32> = HashMap::new();
                for term in terms(&text) {
                    *frequencies.entry(term).or_default() += 1;
                }
                for term in &title_terms {
                    *frequencies.entry(term.clone()).or_default() += TITLE_WEIGHT;
                }
                let length: u32 = frequencies.values().sum();
                for (term, frequency) in frequencies {
                    index
                        .postings
                        .entry(term)
                        .or_default()
                        .push((position, frequency));
                }
                index.lengths.push(length);
                index.passages.push(Passage {
                    document_id: document.id.clone(),
                    title: document.title.clone(),
                    text,
                    source: document.source.clone(),
                });
            }
        }
        let total: u64 = index.lengths.iter().map(|length| u64::from(*length)).sum();
        let count = index.lengths.len().max(1);
        // Passage counts and lengths are far below 2^24: exact as f32.
        #[allow(clippy::cast_precision_loss)]
        let average = total as f32 / count as f32;
        index.average_length = average.max(1.0);
        index
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The `limit` passages that best match `query`, best first; passages sharing no term
    /// with it are never returned.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        self.search_in(query, limit, None)
    }

    /// Like [`search`](Self::search), among the passages of documents from `source` only
    /// (compared ignoring case) when one is given. Term statistics stay those of the whole
    /// knowledge base.
    pub fn search_in(&self, query: &str, limit: usize, source: Option<&str>) -> Vec<Hit> {
        let mut query_terms = terms(query);
        query_terms.sort_unstable();
        query_terms.dedup();
        if query_terms.is_empty() || self.passages.is_empty() {
            return Vec::new();
        }
        #[allow(clippy::cast_precision_loss)]
        let passage_count = self.passages.len() as f32;
        let mut scores: HashMap<usize, (f32, u32)> = HashMap::new();
        for term in &query_terms {
            let Some(postings) = self.postings.get(term) else {
                continue;
            };
            #[allow(clippy::cast_precision_loss)]
            let containing = postings.len() as f32;
            let idf = (1.0 + (passage_count - containing + 0.5) / (containing + 0.5)).ln();
            for &(passage, frequency) in postings {
                #[allow(clippy::cast_precision_loss)]
                let (frequency, length) = (frequency as f32, self.lengths[passage] as f32);
                let weight = frequency * (K1 + 1.0)
                    / (frequency + K1 * (1.0 - B + B * length / self.average_length));
                let entry = scores.entry(passage).or_default();
                entry.0 += idf * weight;
                entry.1 += 1;
            }
        }
        let mut ranked: Vec<(usize, f32, u32)> = scores
            .into_iter()
            .map(|(passage, (score, matched))| (passage, score, matched))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        #[allow(clippy::cast_precision_loss)]
        let query_count = query_terms.len() as f32;
        let in_source = |passage: usize| match source {
            None => true,
            Some(source) => self.passages[passage]
                .source
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(source)),
        };
        ranked
            .into_iter()
            .filter(|(passage, _, _)| in_source(*passage))
            .take(limit)
            .map(|(passage, score, matched)| {
                #[allow(clippy::cast_precision_loss)]
                let coverage = matched as f32 / query_count;
                Hit {
                    passage: self.passages[passage].clone(),
                    score,
                    coverage,
                }
            })
            .collect()
    }
}

/// A body cut at blank lines into passages of about [`PASSAGE_CHARS`]; a paragraph longer
/// than that stays whole.
fn passages(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if !current.is_empty()
            && current.chars().count() + paragraph.chars().count() > PASSAGE_CHARS
        {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(paragraph);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The searchable terms of a text: lowercased words and numbers, without stop words, with
/// plural and -ing endings taken off ("rooms" and "room" match, "parking" and "park").
pub fn terms(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && !STOP_WORDS.contains(word))
        .map(stem)
        .collect()
}

fn stem(word: &str) -> String {
    let length = word.chars().count();
    if let Some(base) = word.strip_suffix("ies").filter(|_| length > 4) {
        return format!("{base}y");
    }
    if let Some(base) = word.strip_suffix("ing").filter(|_| length > 5) {
        return base.to_owned();
    }
    if let Some(base) = word
        .strip_suffix('s')
        .filter(|base| length > 3 && !base.ends_with('s') && !base.ends_with('u'))
    {
        return base.to_owned();
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(id: &str, title: &str, body: &str) -> Document {
        Document {
            source: None,
            id: id.into(),
            title: title.into(),
            body: body.into(),
        }
    }

    fn faq() -> KnowledgeIndex {
        KnowledgeIndex::build(&[
            document(
                "pool",
                "Swimming pool",
                "The outdoor pool is heated to 28 °C from April to October. Towels are at the bar.",
            ),
            document(
                "parking",
                "Parking",
                "Free private parking for guests, no reservation needed. Electric car chargers by \
                 the gate.",
            ),
            document(
                "pets",
                "Pets policy",
                "Small dogs are welcome for 15 EUR a night.\n\nCats and other pets are not \
                 allowed.",
            ),
        ])
    }

    #[test]
    fn a_search_can_keep_to_one_source() {
        let spa = Document {
            source: Some("Spa".into()),
            ..document("massage", "Massages", "A massage by the pool costs 60 EUR.")
        };
        let index = KnowledgeIndex::build(&[
            document("pool", "Swimming pool", "The pool is heated to 28 °C."),
            spa,
        ]);
        let everywhere = index.search("pool", 3);
        assert_eq!(everywhere.len(), 2);
        let spa_only = index.search_in("pool", 3, Some("spa"));
        assert_eq!(spa_only.len(), 1);
        assert_eq!(spa_only[0].passage.document_id, "massage");
        assert!(index.search_in("pool", 3, Some("bar")).is_empty());
    }

    #[test]
    fn the_passage_that_shares_the_rarest_terms_ranks_first() {
        let index = faq();
        let hits = index.search("Is the pool heated?", 3);
        assert_eq!(hits[0].passage.document_id, "pool");
        assert!((hits[0].coverage - 1.0).abs() < f32::EPSILON, "{hits:?}");
        let hits = index.search("can I bring my dog", 3);
        assert_eq!(hits[0].passage.document_id, "pets");
        assert_eq!(
            hits[0].passage.text,
            "Small dogs are welcome for 15 EUR a night.\n\nCats and other pets are not allowed."
        );
        let hits = index.search("where do we park the cars", 3);
        assert_eq!(hits[0].passage.document_id, "parking");
    }

    #[test]
    fn nothing_in_common_finds_nothing() {
        let index = faq();
        assert!(index.search("what is the wifi password", 3).is_empty());
        assert!(index.search("the and of", 3).is_empty());
        assert!(KnowledgeIndex::build(&[]).search("pool", 3).is_empty());
    }

    #[test]
    fn long_bodies_are_cut_at_paragraphs() {
        let paragraph = "word ".repeat(100);
        let body = [paragraph.trim(), paragraph.trim(), "short"].join("\n\n");
        let cut = passages(&body);
        assert_eq!(cut.len(), 2, "{cut:?}");
        assert!(cut[1].ends_with("short"));
    }

    #[test]
    fn terms_drop_stop_words_and_plural_endings() {
        assert_eq!(terms("Are the Rooms available?"), ["room", "available"]);
        assert_eq!(terms("parking & policies"), ["park", "policy"]);
        assert_eq!(terms("bus glass"), ["bus", "glass"]);
    }
}
