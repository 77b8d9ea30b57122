//! When the bot steps aside on its own: a guest who asks for a person is offered the team
//! ("Talk to our team" / "Continue with assistant"), and three messages in a row the bot cannot
//! understand hand the conversation over directly. Pure: the conversation actor applies it.

use super::message::{ChoiceItem, ChoiceStyle, MessageContent};

/// Consecutive messages the bot cannot understand before the team takes over unasked.
pub const MISUNDERSTOOD_LIMIT: i64 = 3;

/// The payload of the offer's buttons.
pub const TALK_TO_TEAM: &str = "parley:talk_to_team";
pub const CONTINUE_WITH_ASSISTANT: &str = "parley:continue_with_assistant";

/// Words that ask for a person on their own (matched as whole words).
const WORDS: &[&str] = &[
    "human",
    "agent",
    "help",
    "staff",
    "reception",
    "receptionist",
    "operator",
    "representative",
    "manager",
    "person",
];

/// Phrases that ask for a person (matched on word boundaries, after lower-casing and
/// collapsing spaces).
const PHRASES: &[&str] = &[
    "speak to someone",
    "talk to someone",
    "speak with someone",
    "talk with someone",
    "real person",
    "someone real",
    "customer service",
    "front desk",
];

/// Whether free text from a guest asks for a person: one of the seed's words ("human",
/// "agent", "help", "staff", "reception", …) or phrases ("speak to someone", "real person",
/// …), as whole words in any case.
pub fn asks_for_a_person(text: &str) -> bool {
    let normalised: String = text
        .chars()
        .map(|ch| {
            if ch.is_alphanumeric() {
                ch.to_lowercase().next().unwrap_or(ch)
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = normalised.split_whitespace().collect();
    if words.iter().any(|word| WORDS.contains(word)) {
        return true;
    }
    let line = format!(" {} ", words.join(" "));
    PHRASES
        .iter()
        .any(|phrase| line.contains(&format!(" {phrase} ")))
}

/// The guest's answer to an offer of the team.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferAnswer {
    TalkToTeam,
    ContinueWithAssistant,
    /// Something else: the offer lapses and the message is handled as usual.
    Other,
}

/// Reads a message sent while the offer stands: a tap on one of its buttons, or their text
/// typed out.
pub fn answer_to_offer(content: &MessageContent) -> OfferAnswer {
    let (id, text) = match content {
        MessageContent::InteractiveReply {
            reply_id, title, ..
        } => (Some(reply_id.as_str()), title.as_str()),
        MessageContent::Text { body } => (None, body.as_str()),
        _ => return OfferAnswer::Other,
    };
    let text = text.trim().to_lowercase();
    if id == Some(TALK_TO_TEAM) || text == "talk to our team" {
        OfferAnswer::TalkToTeam
    } else if id == Some(CONTINUE_WITH_ASSISTANT) || text == "continue with assistant" {
        OfferAnswer::ContinueWithAssistant
    } else {
        OfferAnswer::Other
    }
}

/// The offer: two quick replies in the seed's words. "Continue with assistant" is longer than
/// a WhatsApp button title may be (20), so WhatsApp shows them as a list (rows take 24).
pub fn offer() -> MessageContent {
    MessageContent::Choices {
        style: ChoiceStyle::QuickReplies,
        header: None,
        body: "Would you like to talk to our team?".into(),
        footer: None,
        choices: vec![
            ChoiceItem {
                id: TALK_TO_TEAM.into(),
                title: "Talk to our team".into(),
                description: None,
            },
            ChoiceItem {
                id: CONTINUE_WITH_ASSISTANT.into(),
                title: "Continue with assistant".into(),
                description: None,
            },
        ],
    }
}

/// What the bot says when the guest keeps the assistant.
pub const CARRY_ON: &str = "Sure, let's carry on.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_words_and_phrases_ask_for_a_person() {
        for text in [
            "HUMAN please",
            "can I talk to an agent?",
            "help!",
            "I need to speak to someone",
            "is there a real person there",
            "Put me through to reception.",
            "staff",
            "customer service please",
        ] {
            assert!(asks_for_a_person(text), "{text}");
        }
    }

    #[test]
    fn words_inside_other_words_do_not() {
        for text in [
            "we are three adults",
            "helpful info, thanks",
            "the agency booked it",
            "humanity",
            "",
        ] {
            assert!(!asks_for_a_person(text), "{text}");
        }
    }

    #[test]
    fn the_offer_is_answered_by_its_buttons_or_their_words() {
        let tap = |id: &str| MessageContent::InteractiveReply {
            reply_id: id.into(),
            title: "x".into(),
            description: None,
        };
        let text = |body: &str| MessageContent::Text { body: body.into() };
        assert_eq!(answer_to_offer(&tap(TALK_TO_TEAM)), OfferAnswer::TalkToTeam);
        assert_eq!(
            answer_to_offer(&tap(CONTINUE_WITH_ASSISTANT)),
            OfferAnswer::ContinueWithAssistant
        );
        assert_eq!(
            answer_to_offer(&text(" Talk to our team ")),
            OfferAnswer::TalkToTeam
        );
        assert_eq!(answer_to_offer(&text("2 adults")), OfferAnswer::Other);
        let MessageContent::Choices { choices, .. } = offer() else {
            panic!("the offer is a set of choices");
        };
        assert_eq!(choices.len(), 2);
        // Within WhatsApp's list row titles.
        assert!(choices
            .iter()
            .all(|choice| choice.title.chars().count() <= 24));
    }
}
