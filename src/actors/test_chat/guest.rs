//! What a tester sends, parsed once for both doors: the JSON bodies of the HTTP routes and the
//! frames of the socket. A message is typed text, a tap on a choice (`reply_id` and `title`)
//! or a shared location; the text and tap rules are the web chat's own
//! (`adapters::webchat::{message_content, reply_content}`), so a test sees what a visitor would.

use super::TestChatError;
use crate::adapters::webchat::{message_content, reply_content};
use crate::domain::MessageContent;
use serde_json::{Map, Value};

/// The longest event name, in characters.
pub const EVENT_NAME_MAX_CHARS: usize = 256;
const MESSAGE_HINT: &str =
    "send `text`, a tap (`reply_id` and `title`) or a location (`latitude` and `longitude`)";

/// A tester's input.
#[derive(Clone, Debug, PartialEq)]
pub enum GuestInput {
    Message(MessageContent),
    Event {
        name: String,
        payload: Option<Value>,
    },
    /// Fire the pending timer now.
    FireTimer,
}

/// The body of `POST /test-sessions/{id}/messages`.
pub fn message(body: &Value) -> Result<MessageContent, TestChatError> {
    let object = object(body)?;
    let present = |field: &str| object.get(field).is_some_and(|value| !value.is_null());
    let tap = present("reply_id") || present("title");
    let location = present("latitude") || present("longitude");
    match (present("text"), tap, location) {
        (true, false, false) => text(object),
        (false, true, false) => reply(object),
        (false, false, true) => self::location(object),
        (false, false, false) => Err(TestChatError::missing("text", MESSAGE_HINT)),
        _ => Err(TestChatError::invalid(
            "text",
            format!("a message is one thing: {MESSAGE_HINT}"),
        )),
    }
}

/// The body of `POST /test-sessions/{id}/events`.
pub fn event(body: &Value) -> Result<GuestInput, TestChatError> {
    let object = object(body)?;
    let name = match object.get("name") {
        None | Some(Value::Null) => {
            return Err(TestChatError::missing("name", "name the event to deliver"))
        }
        Some(Value::String(name)) => name.trim(),
        Some(_) => return Err(TestChatError::invalid("name", "`name` must be a string")),
    };
    if name.is_empty() || name.chars().count() > EVENT_NAME_MAX_CHARS {
        return Err(TestChatError::invalid(
            "name",
            format!("`name` must have 1 to {EVENT_NAME_MAX_CHARS} characters"),
        ));
    }
    let payload = object.get("payload").filter(|value| !value.is_null());
    Ok(GuestInput::Event {
        name: name.to_owned(),
        payload: payload.cloned(),
    })
}

/// A socket frame: `{"type": "message" | "reply" | "location" | "event" | "fire_timer", …}`.
pub fn frame(text: &str) -> Result<GuestInput, TestChatError> {
    let frame: Value = serde_json::from_str(text)
        .map_err(|error| TestChatError::Malformed(format!("the frame is not JSON: {error}")))?;
    let object = object(&frame)?;
    match object.get("type").and_then(Value::as_str) {
        Some("message") => self::text(object).map(GuestInput::Message),
        Some("reply") => reply(object).map(GuestInput::Message),
        Some("location") => location(object).map(GuestInput::Message),
        Some("event") => event(&frame),
        Some("fire_timer") => Ok(GuestInput::FireTimer),
        Some(_) => Err(TestChatError::invalid(
            "type",
            "`type` is one of message, reply, location, event, fire_timer",
        )),
        None => Err(TestChatError::missing("type", "say what the frame is")),
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, TestChatError> {
    body.as_object()
        .ok_or_else(|| TestChatError::Malformed("the body must be a JSON object".into()))
}

fn string<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, TestChatError> {
    match object.get(field) {
        None | Some(Value::Null) => Err(TestChatError::missing(field, MESSAGE_HINT)),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(TestChatError::invalid(
            field,
            format!("`{field}` must be a string"),
        )),
    }
}

fn text(object: &Map<String, Value>) -> Result<MessageContent, TestChatError> {
    message_content(string(object, "text")?)
        .map_err(|refusal| TestChatError::invalid("text", refusal.message))
}

fn reply(object: &Map<String, Value>) -> Result<MessageContent, TestChatError> {
    let reply_id = string(object, "reply_id")?;
    let title = string(object, "title")?;
    reply_content(reply_id, title)
        .map_err(|refusal| TestChatError::invalid("reply_id", refusal.message))
}

fn location(object: &Map<String, Value>) -> Result<MessageContent, TestChatError> {
    let coordinate = |field: &'static str, limit: f64| match object.get(field) {
        None | Some(Value::Null) => Err(TestChatError::missing(field, MESSAGE_HINT)),
        Some(value) => value
            .as_f64()
            .filter(|number| number.is_finite() && number.abs() <= limit)
            .ok_or_else(|| {
                TestChatError::invalid(
                    field,
                    format!("`{field}` must be a number from -{limit} to {limit}"),
                )
            }),
    };
    Ok(MessageContent::Location {
        latitude: coordinate("latitude", 90.0)?,
        longitude: coordinate("longitude", 180.0)?,
        name: None,
        address: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The field an input is refused on, or the content it becomes.
    #[track_caller]
    fn check(body: &Value, expected: Result<MessageContent, &str>) {
        let got = message(body).map_err(|error| error.field().unwrap_or("-").to_owned());
        assert_eq!(got, expected.map_err(str::to_owned), "{body}");
    }

    #[test]
    fn a_message_is_text_a_tap_or_a_location() {
        check(
            &json!({"text": "  hi "}),
            Ok(MessageContent::Text { body: "hi".into() }),
        );
        check(
            &json!({"reply_id": "a", "title": "A"}),
            Ok(MessageContent::InteractiveReply {
                reply_id: "a".into(),
                title: "A".into(),
                description: None,
            }),
        );
        check(
            &json!({"latitude": 38.7, "longitude": -9.1}),
            Ok(MessageContent::Location {
                latitude: 38.7,
                longitude: -9.1,
                name: None,
                address: None,
            }),
        );
    }

    #[test]
    fn a_message_names_the_field_it_is_refused_on() {
        let cases = [
            (json!({}), "text", "nothing sent"),
            (json!({"text": "   "}), "text", "blank text"),
            (json!({"text": 5}), "text", "text of the wrong type"),
            (json!({"reply_id": "a"}), "title", "a tap without its title"),
            (
                json!({"latitude": 91, "longitude": 0}),
                "latitude",
                "off the globe",
            ),
            (json!({"latitude": 1}), "longitude", "half a location"),
            (
                json!({"text": "hi", "reply_id": "a"}),
                "text",
                "two kinds at once",
            ),
            (json!("hi"), "-", "not an object"),
        ];
        for (body, field, why) in cases {
            let got = message(&body)
                .err()
                .map(|error| error.field().unwrap_or("-").to_owned());
            assert_eq!(got.as_deref(), Some(field), "{why}");
        }
    }

    #[test]
    fn frames_say_what_they_are() {
        assert_eq!(
            frame(r#"{"type": "reply", "reply_id": "a", "title": "A"}"#).ok(),
            Some(GuestInput::Message(MessageContent::InteractiveReply {
                reply_id: "a".into(),
                title: "A".into(),
                description: None,
            }))
        );
        assert_eq!(
            frame(r#"{"type": "event", "name": "paid", "payload": {"eur": 5}}"#).ok(),
            Some(GuestInput::Event {
                name: "paid".into(),
                payload: Some(json!({"eur": 5})),
            })
        );
        assert_eq!(
            frame(r#"{"type": "fire_timer"}"#).ok(),
            Some(GuestInput::FireTimer)
        );
        let refused = [
            ("not json", "malformed_json"),
            (r#"{"text": "hi"}"#, "missing_field"),
            (r#"{"type": "dance"}"#, "invalid_field"),
            (r#"{"type": "event"}"#, "missing_field"),
        ];
        for (text, code) in refused {
            assert_eq!(
                frame(text).err().map(|error| error.code()),
                Some(code),
                "{text}"
            );
        }
    }
}
