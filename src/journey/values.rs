//! Variables as the interpreter sees them: where a name points (system, local or campaign
//! scope), how a value reads as text, and JSON paths into API responses.

use serde_json::Value;

/// The read-only variables the engine fills in. `user_name` is the builder's older name for
/// `contact_name`.
/// The `ai_` ones are what the local engine read in the latest message (`ai::nlu::VARIABLES`).
pub const SYSTEM_VARIABLES: [&str; 19] = [
    "contact_name",
    "user_name",
    "contact_phone",
    "channel_name",
    "channel_kind",
    "conversation_id",
    "last_input",
    "journey_name",
    "today",
    "now",
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

/// Where a variable reference points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableRef<'a> {
    System(&'a str),
    Local(&'a str),
    Campaign(&'a str),
    /// A bare name: a local variable if set, else a system variable of that name.
    Bare(&'a str),
}

impl<'a> VariableRef<'a> {
    /// Reads `scope.name` (`system.`, `var_system.`, `local.`, `var_local.`, `campaign.`,
    /// `var_campaign.`) or a bare name. The older placeholders `contact.name`, `contact.phone`,
    /// `channel.name` and `conversation.id` name system variables.
    pub fn parse(reference: &'a str) -> Self {
        let reference = reference.trim();
        if let Some((scope, name)) = reference.split_once('.') {
            match scope {
                "system" | "var_system" => return VariableRef::System(name),
                "local" | "var_local" => return VariableRef::Local(name),
                "campaign" | "var_campaign" => return VariableRef::Campaign(name),
                _ => {}
            }
            match reference {
                "contact.name" => return VariableRef::System("contact_name"),
                "contact.phone" => return VariableRef::System("contact_phone"),
                "channel.name" => return VariableRef::System("channel_name"),
                "conversation.id" => return VariableRef::System("conversation_id"),
                _ => {}
            }
        }
        VariableRef::Bare(reference)
    }

    /// Where a step stores a value: a local or campaign variable. System variables (and bare
    /// system names) are read-only and give `None`.
    pub fn writable(reference: &'a str) -> Option<Self> {
        match Self::parse(reference) {
            VariableRef::Local(name) | VariableRef::Campaign(name) if name.is_empty() => None,
            VariableRef::Bare(name) if SYSTEM_VARIABLES.contains(&name) || name.is_empty() => None,
            VariableRef::Bare(name) => Some(VariableRef::Local(name)),
            VariableRef::System(_) => None,
            other => Some(other),
        }
    }
}

/// Appends a value as a customer would read it: strings as they are, numbers in their
/// shortest form, `null` as nothing, arrays and objects as compact JSON.
pub fn push_text(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text),
        Value::Null => {}
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        other => out.push_str(&other.to_string()),
    }
}

pub fn to_text(value: &Value) -> String {
    let mut out = String::new();
    push_text(&mut out, value);
    out
}

/// A value as a variable of a declared type holds it: numbers from numeric text, dates as
/// `yyyy-mm-dd` (read leniently), text from any scalar, JSON from text that parses. A value
/// that does not convert is kept as it came rather than lost.
pub fn coerce(
    value: Value,
    value_type: super::model::VariableType,
    today: chrono::NaiveDate,
) -> Value {
    use super::model::VariableType;
    match (value_type, value) {
        (VariableType::Number, Value::String(text)) => {
            let trimmed = text.trim();
            if let Ok(integer) = trimmed.parse::<i64>() {
                Value::from(integer)
            } else {
                match trimmed
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    Some(number) => Value::Number(number),
                    None => Value::String(text),
                }
            }
        }
        (VariableType::Date, Value::String(text)) => {
            match super::input::parse_date(&text, super::model::DateFormat::Lenient, today) {
                Some(date) => Value::String(date.format("%Y-%m-%d").to_string()),
                None => Value::String(text),
            }
        }
        (VariableType::String, value @ (Value::Number(_) | Value::Bool(_))) => {
            Value::String(to_text(&value))
        }
        (VariableType::Json, Value::String(text)) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        (_, value) => value,
    }
}

/// Follows a path of the form `$.a.b[0].c`, `a.b[0]` or `$` into a JSON value.
pub fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim();
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current = value;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let inside = after[..close].trim();
            current = match inside.parse::<usize>() {
                Ok(index) => current.get(index)?,
                Err(_) => current.get(inside.trim_matches(|c| c == '"' || c == '\''))?,
            };
            rest = &after[close + 1..];
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        current = current.get(&rest[..end])?;
        rest = &rest[end..];
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_name_their_scope() {
        assert_eq!(
            VariableRef::parse("var_local.party"),
            VariableRef::Local("party")
        );
        assert_eq!(
            VariableRef::parse("local.party"),
            VariableRef::Local("party")
        );
        assert_eq!(
            VariableRef::parse("campaign.season"),
            VariableRef::Campaign("season")
        );
        assert_eq!(
            VariableRef::parse("var_system.user_name"),
            VariableRef::System("user_name")
        );
        assert_eq!(
            VariableRef::parse("contact.name"),
            VariableRef::System("contact_name")
        );
        assert_eq!(VariableRef::parse(" nights "), VariableRef::Bare("nights"));
        assert_eq!(VariableRef::parse("a.b"), VariableRef::Bare("a.b"));
    }

    #[test]
    fn system_variables_cannot_be_written() {
        assert_eq!(VariableRef::writable("system.contact_name"), None);
        assert_eq!(VariableRef::writable("last_input"), None);
        assert_eq!(VariableRef::writable("local."), None);
        assert_eq!(
            VariableRef::writable("nights"),
            Some(VariableRef::Local("nights"))
        );
        assert_eq!(
            VariableRef::writable("var_campaign.season"),
            Some(VariableRef::Campaign("season"))
        );
    }

    #[test]
    fn values_read_as_text() {
        assert_eq!(to_text(&json!("x")), "x");
        assert_eq!(to_text(&json!(3)), "3");
        assert_eq!(to_text(&json!(2.5)), "2.5");
        assert_eq!(to_text(&json!(null)), "");
        assert_eq!(to_text(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn declared_types_convert_what_they_can() {
        use crate::journey::model::VariableType::*;
        let today = chrono::NaiveDate::from_ymd_opt(2027, 3, 10).unwrap();
        let table = [
            (json!(" 4 "), Number, json!(4)),
            (json!("2.5"), Number, json!(2.5)),
            (json!("a few"), Number, json!("a few")),
            (json!("tomorrow"), Date, json!("2027-03-11")),
            (json!("15/04/2027"), Date, json!("2027-04-15")),
            (json!("someday"), Date, json!("someday")),
            (json!(42), String, json!("42")),
            (json!({"a": 1}), String, json!({"a": 1})),
            (json!("{\"rooms\": 2}"), Json, json!({"rooms": 2})),
            (json!("not json"), Json, json!("not json")),
        ];
        for (value, value_type, expected) in table {
            assert_eq!(
                coerce(value.clone(), value_type, today),
                expected,
                "{value} as {value_type:?}"
            );
        }
    }

    #[test]
    fn json_paths_reach_nested_values() {
        let body = json!({"rooms": [{"name": "Sea view", "price": 120}], "ok": true});
        assert_eq!(
            json_path(&body, "$.rooms[0].name"),
            Some(&json!("Sea view"))
        );
        assert_eq!(json_path(&body, "rooms[0].price"), Some(&json!(120)));
        assert_eq!(json_path(&body, "$['ok']"), Some(&json!(true)));
        assert_eq!(json_path(&body, "$"), Some(&body));
        assert_eq!(json_path(&body, "$.rooms[3].name"), None);
        assert_eq!(json_path(&body, "$.missing"), None);
        assert_eq!(json_path(&body, "$.rooms[0"), None);
    }
}
