//! The example journeys of `examples/journeys/`: every one passes deploy validation, and each
//! is played through realistic conversations on the pure interpreter (no server), with a mock
//! property system answering its API calls and the clock moved by hand. Each conversation is
//! pinned as a transcript in `tests/snapshots/`: the guest's inputs, then what the bot does.
//!
//! Every message the bot sends is also rendered for WhatsApp Cloud, so an example that would
//! be refused at send time fails here, not in front of a guest.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

#[path = "journeys_examples/after_hours_qualifier.rs"]
mod after_hours_qualifier;
#[path = "journeys_examples/booking_bot.rs"]
mod booking_bot;
#[path = "journeys_examples/post_booking_concierge.rs"]
mod post_booking_concierge;

use chrono::DateTime;
use parley::adapters::whatsapp_cloud::render::render as render_for_whatsapp;
use parley::domain::{Header, MessageContent, Millis};
use parley::journey::model::TransferTarget;
use parley::journey::{
    run, validate, ApiRequest, ApiResponse, Completion, Context, Effect, Input, Journey, Session,
};
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `format` of an exported journey, as `GET /api/v1/journeys/{id}/export` writes it.
const EXPORT_FORMAT: &str = "parley.journey/v1";
/// The keys of an export.
const EXPORT_KEYS: [&str; 7] = [
    "format",
    "name",
    "description",
    "steps",
    "connections",
    "variables",
    "api_definitions",
];
/// Every conversation starts at 23:40 UTC on Wednesday 10 March 2027, after hours.
const STARTED_AT: Millis = 1_804_722_000_000;
/// The guest's number, as the WhatsApp renderer addresses it.
const RECIPIENT: &str = "351912345678";

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/journeys")
}

/// Reads an example export into the journey it describes.
fn load(file_name: &str) -> Journey {
    let path = examples_dir().join(file_name);
    let text = std::fs::read_to_string(&path).unwrap();
    let export: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    let keys: BTreeSet<&str> = export
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(EXPORT_KEYS),
        "{file_name} has the keys of an export"
    );
    assert_eq!(export["format"], EXPORT_FORMAT, "{file_name}");
    serde_json::from_value(export)
        .unwrap_or_else(|error| panic!("{file_name} is not a journey: {error}"))
}

fn example_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_passes_deploy_validation() {
    let files = example_files();
    assert_eq!(
        files,
        [
            "after_hours_qualifier.json",
            "booking_bot.json",
            "post_booking_concierge.json"
        ]
    );
    for file in files {
        let problems = validate(&load(&file));
        assert!(problems.is_empty(), "{file}: {problems:#?}");
    }
}

#[test]
fn every_step_of_every_example_can_be_reached_from_start() {
    for file in example_files() {
        let journey = load(&file);
        let mut reached = BTreeSet::from(["start"]);
        let mut queue = VecDeque::from(["start"]);
        while let Some(from) = queue.pop_front() {
            for edge in journey.connections.iter().filter(|edge| edge.from == from) {
                if reached.insert(edge.to.as_str()) {
                    queue.push_back(edge.to.as_str());
                }
            }
        }
        let unreached: Vec<&str> = journey
            .steps
            .iter()
            .map(|step| step.id.as_str())
            .filter(|id| !reached.contains(id))
            .collect();
        assert!(
            unreached.is_empty(),
            "{file}: {unreached:?} are unreachable"
        );
    }
}

/// Pins the transcript of a conversation as `tests/snapshots/journeys_examples__<name>.snap`.
#[track_caller]
fn check(name: &str, chat: Chat) {
    insta::assert_snapshot!(name, chat.transcript());
}

/// Plays the conversation actor around one session of an example journey, writing a
/// transcript: the guest's inputs and the passing of time, each followed by the bot's effects.
struct Chat {
    journey: Journey,
    session: Session,
    now: Millis,
    /// Timers asked for and not fired yet: token and due time.
    timers: Vec<(u64, Millis)>,
    /// API calls asked for and not answered yet, oldest first.
    calls: VecDeque<u64>,
    /// The choices of the last interactive message, as `(id, title)`, so a tap carries the
    /// title the guest saw.
    choices: Vec<(String, String)>,
    transcript: String,
}

impl Chat {
    fn new(file_name: &str) -> Self {
        Self {
            journey: load(file_name),
            session: Session::default(),
            now: STARTED_AT,
            timers: Vec::new(),
            calls: VecDeque::new(),
            choices: Vec::new(),
            transcript: String::new(),
        }
    }

    /// The guest types a message.
    fn say(&mut self, text: &str) {
        self.note(&format!("guest: {text}"));
        self.input(&Input::Message(&MessageContent::Text { body: text.into() }));
    }

    /// The guest taps the button or list row `reply_id` of the last interactive message.
    fn tap(&mut self, reply_id: &str) {
        let title = self
            .choices
            .iter()
            .find(|(id, _)| id == reply_id)
            .map(|(_, title)| title.clone())
            .unwrap_or_else(|| panic!("the last message has no choice `{reply_id}`"));
        self.note(&format!("guest taps: {title} [{reply_id}]"));
        self.input(&Input::Message(&MessageContent::InteractiveReply {
            reply_id: reply_id.into(),
            title,
            description: None,
        }));
    }

    /// Time passes: every timer due by then fires, in order, at its due time.
    fn wait(&mut self, seconds: u64) {
        self.note(&format!("… {} later", duration(seconds)));
        let until = self.now + Millis::try_from(seconds * 1_000).unwrap();
        self.timers.sort_by_key(|(_, due_at)| *due_at);
        while let Some(&(token, due_at)) = self.timers.first() {
            if due_at > until {
                break;
            }
            self.timers.remove(0);
            self.now = due_at;
            self.input(&Input::Timer { token });
        }
        self.now = until;
    }

    /// The property system answers the oldest open call.
    fn pms(&mut self, status: u16, body: Value) {
        self.note(&format!("pms answers {status}: {body}"));
        self.answer(Ok(ApiResponse { status, body }));
    }

    /// The oldest open call gets no response at all.
    fn pms_unreachable(&mut self, error: &str) {
        self.note(&format!("pms: no response ({error})"));
        self.answer(Err(error.to_owned()));
    }

    /// The transcript so far; every call the journey made has been answered.
    fn transcript(self) -> String {
        assert!(self.calls.is_empty(), "unanswered calls: {:?}", self.calls);
        self.transcript
    }

    fn answer(&mut self, response: Result<ApiResponse, String>) {
        let token = self.calls.pop_front().expect("the journey made a call");
        self.input(&Input::Completed {
            token,
            result: Completion::Api(response),
        });
    }

    fn note(&mut self, line: &str) {
        writeln!(self.transcript, "{line}").unwrap();
    }

    fn input(&mut self, input: &Input<'_>) {
        let system = |name: &str| match name {
            "contact_name" => Some("Ana".to_owned()),
            "contact_phone" => Some("+351912345678".to_owned()),
            "channel_name" => Some("Casa Azul WhatsApp".to_owned()),
            "channel_kind" => Some("whatsapp_cloud".to_owned()),
            _ => None,
        };
        let campaign = |_: &str| None;
        let today = DateTime::from_timestamp_millis(self.now)
            .unwrap()
            .date_naive();
        let ctx = Context {
            now: self.now,
            today,
            system: &system,
            campaign: &campaign,
        };
        let outcome = run(&self.journey, self.session.clone(), input, &ctx);
        self.session = outcome.session;
        if outcome.effects.is_empty() && matches!(input, Input::Message(_)) {
            self.note("  (ignored: the run waits for something else)");
        }
        let ended = outcome
            .effects
            .iter()
            .position(|effect| matches!(effect, Effect::Ended { .. }));
        if let Some(position) = ended {
            assert_eq!(position + 1, outcome.effects.len(), "a run ends last");
        }
        for effect in &outcome.effects {
            let line = self.effect_line(effect);
            self.note(&format!("  {line}"));
        }
    }

    fn effect_line(&mut self, effect: &Effect) -> String {
        match effect {
            Effect::Send { step_id, content } => {
                if let Some(choices) = choices_of(content) {
                    self.choices = choices;
                }
                format!("[{step_id}] {}", show(content))
            }
            Effect::StartTimer {
                token,
                due_at,
                step_id,
            } => {
                self.timers.push((*token, *due_at));
                let seconds = u64::try_from((due_at - self.now) / 1_000).unwrap();
                format!("[{step_id}] timer in {}", duration(seconds))
            }
            Effect::CallApi {
                token,
                step_id,
                request,
            } => {
                self.calls.push_back(*token);
                format!("[{step_id}] {}", show_request(request))
            }
            Effect::Transfer { step_id, target } => {
                let target = match target {
                    Some(TransferTarget::Team { team_id }) => format!("team {team_id}"),
                    Some(TransferTarget::User { user_id }) => format!("user {user_id}"),
                    None => "whoever is available".to_owned(),
                };
                format!("[{step_id}] transfer to {target}")
            }
            Effect::Goal {
                step_id,
                goal_id,
                milestone_id,
                trackers,
            } => format!("[{step_id}] goal {goal_id}/{milestone_id} {trackers:?}"),
            Effect::SetCampaignVariable { name, value } => format!("campaign {name} = {value}"),
            Effect::Ended { reason } => format!("(run ended: {reason:?})"),
            other => panic!("the examples use no AI, yet the journey asked for {other:?}"),
        }
    }
}

fn choices_of(content: &MessageContent) -> Option<Vec<(String, String)>> {
    let pair = |id: &str, title: &str| (id.to_owned(), title.to_owned());
    match content {
        MessageContent::Choices { choices, .. } => Some(
            choices
                .iter()
                .map(|choice| pair(&choice.id, &choice.title))
                .collect(),
        ),
        MessageContent::List { sections, .. } => Some(
            sections
                .iter()
                .flat_map(|section| &section.rows)
                .map(|row| pair(&row.id, &row.title))
                .collect(),
        ),
        _ => None,
    }
}

/// A sent message as the guest would see it: a first line, then its parts indented, with
/// what WhatsApp makes of choices. Panics when WhatsApp would refuse the message.
fn show(content: &MessageContent) -> String {
    let whatsapp = render_for_whatsapp(RECIPIENT, content, None)
        .unwrap_or_else(|error| panic!("WhatsApp refuses {content:?}: {error}"));
    let optional = |label: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|value| format!("{label}: {value}"))
            .into_iter()
    };
    let lines: Vec<String> = match content {
        MessageContent::Text { body } => vec![body.clone()],
        MessageContent::Media {
            media_kind,
            url,
            caption,
            filename,
            ..
        } => std::iter::once(format!("{media_kind} {}", url.as_deref().unwrap_or("-")))
            .chain(optional("caption", caption))
            .chain(optional("filename", filename))
            .collect(),
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => std::iter::once(format!("location {latitude}, {longitude}"))
            .chain(optional("name", name))
            .chain(optional("address", address))
            .collect(),
        MessageContent::CtaUrl {
            header,
            body,
            footer,
            button_text,
            url,
        } => std::iter::once(format!("cta_url \"{button_text}\" opens {url}"))
            .chain(header.as_ref().map(show_header))
            .chain([format!("body: {body}")])
            .chain(optional("footer", footer))
            .collect(),
        MessageContent::Choices {
            style,
            header,
            body,
            footer,
            choices,
        } => {
            let whatsapp_kind = whatsapp["interactive"]["type"].as_str().unwrap_or("?");
            let choices: Vec<String> = choices
                .iter()
                .map(|choice| format!("{}={}", choice.id, choice.title))
                .collect();
            std::iter::once(format!("{style} (on WhatsApp: {whatsapp_kind})"))
                .chain(header.as_ref().map(show_header))
                .chain([format!("body: {body}")])
                .chain(optional("footer", footer))
                .chain([format!("choices: {}", choices.join(" | "))])
                .collect()
        }
        MessageContent::List {
            header,
            body,
            footer,
            button,
            sections,
        } => {
            let sections = sections.iter().map(|section| {
                let rows: Vec<String> = section
                    .rows
                    .iter()
                    .map(|row| match &row.description {
                        Some(description) => format!("{}={} ({description})", row.id, row.title),
                        None => format!("{}={}", row.id, row.title),
                    })
                    .collect();
                let title = section.title.as_deref().unwrap_or("(untitled)");
                format!("section {title}: {}", rows.join(" | "))
            });
            std::iter::once(format!("list, opened with \"{button}\""))
                .chain(optional("header", header))
                .chain([format!("body: {body}")])
                .chain(optional("footer", footer))
                .chain(sections)
                .collect()
        }
        other => vec![serde_json::to_string(other).unwrap()],
    };
    let indented: Vec<String> = lines
        .iter()
        .map(|line| line.replace('\n', "\n        "))
        .collect();
    let text = indented.join("\n      ");
    // Blank lines of a message carry no indentation, so the snapshot has no trailing spaces.
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn show_header(header: &Header) -> String {
    match header {
        Header::Text { text } => format!("header: {text}"),
        Header::Image { url } => format!("header: image {url}"),
        Header::Video { url } => format!("header: video {url}"),
        Header::Document { url } => format!("header: document {url}"),
    }
}

fn show_request(request: &ApiRequest) -> String {
    let mut line = format!("{} {}", request.method.as_str(), request.url);
    for (name, value) in &request.headers {
        write!(line, "\n        {name}: {value}").unwrap();
    }
    if let Some(body) = &request.body {
        write!(line, "\n        {body}").unwrap();
    }
    write!(line, "\n        (timeout {} ms)", request.timeout_ms).unwrap();
    line
}

fn duration(seconds: u64) -> String {
    match seconds {
        seconds if seconds % DAY == 0 => plural(seconds / DAY, "day"),
        seconds if seconds % HOUR == 0 => plural(seconds / HOUR, "hour"),
        seconds if seconds % MINUTE == 0 => plural(seconds / MINUTE, "minute"),
        seconds => plural(seconds, "second"),
    }
}

fn plural(count: u64, unit: &str) -> String {
    match count {
        1 => format!("1 {unit}"),
        count => format!("{count} {unit}s"),
    }
}
