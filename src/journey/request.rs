//! Turning an API request's configuration into the HTTP request to send: every placeholder in
//! the URL, the header values and the body is replaced by what a writer gives for it. The API
//! step writes the session's variables; an AI Agent's tool call writes its arguments first.

use super::interpolate::interpolate_into;
use super::interpreter::{ApiRequest, DEFAULT_API_TIMEOUT_SECS};
use super::model::ApiRequestConfig;
use serde_json::Value;

/// Appends the value of a placeholder's name to the string; `false` (and nothing appended)
/// when it has none, which leaves the placeholder in place.
pub type Writer<'w> = dyn FnMut(&str, &mut String) -> bool + 'w;

/// The request `config` describes, its placeholders written by `write`.
pub fn build(config: &ApiRequestConfig, write: &mut Writer<'_>) -> ApiRequest {
    let mut headers: Vec<(String, String)> = config
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), render(value, write)))
        .collect();
    let body = config.body.as_ref().map(|body| match body {
        Value::String(text) => render(text, write),
        other => {
            if !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            render_json(other, write).to_string()
        }
    });
    ApiRequest {
        method: config.method,
        url: render_url(&config.url, write),
        headers,
        body,
        timeout_ms: config
            .timeout_secs
            .unwrap_or(DEFAULT_API_TIMEOUT_SECS)
            .saturating_mul(1_000),
    }
}

/// Every placeholder name in the request (URL, header values, body), trimmed, each once, in
/// the order they first appear.
pub fn placeholders(config: &ApiRequestConfig) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut collect = |template: &str| {
        let mut sink = String::new();
        interpolate_into(&mut sink, template, |name, _| {
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
            false
        });
    };
    collect(&config.url);
    for value in config.headers.values() {
        collect(value);
    }
    fn strings<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
        match value {
            Value::String(text) => found.push(text),
            Value::Array(items) => items.iter().for_each(|item| strings(item, found)),
            Value::Object(fields) => fields.values().for_each(|item| strings(item, found)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    if let Some(body) = &config.body {
        strings(body, &mut texts);
    }
    for text in texts {
        collect(text);
    }
    names
}

/// Interpolates a text field.
pub fn render(template: &str, write: &mut Writer<'_>) -> String {
    if !template.contains("{{") {
        return template.to_owned();
    }
    let mut out = String::with_capacity(template.len() + 16);
    interpolate_into(&mut out, template, |name, out| write(name, out));
    out
}

/// Interpolates a URL: values are percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`),
/// so an answer with `&`, `#` or spaces stays one value; a placeholder that opens the URL
/// is taken as it is, so `{{campaign.pms_base_url}}/rates` works.
pub fn render_url(template: &str, write: &mut Writer<'_>) -> String {
    if !template.contains("{{") {
        return template.to_owned();
    }
    let leading = template.trim_start().starts_with("{{");
    let mut first = true;
    let mut out = String::with_capacity(template.len() + 16);
    interpolate_into(&mut out, template, |name, out| {
        let raw = std::mem::take(&mut first) && leading && out.is_empty();
        let mut value = String::new();
        if !write(name, &mut value) {
            return false;
        }
        if raw {
            out.push_str(&value);
        } else {
            for byte in value.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(char::from(byte));
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
        true
    });
    out
}

/// Interpolates every string inside a JSON body.
fn render_json(value: &Value, write: &mut Writer<'_>) -> Value {
    match value {
        Value::String(text) => Value::String(render(text, write)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| render_json(item, write)).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, item)| (name.clone(), render_json(item, write)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::model::HttpMethod;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn config(url: &str, body: Option<Value>) -> ApiRequestConfig {
        ApiRequestConfig {
            method: HttpMethod::Post,
            url: url.into(),
            headers: BTreeMap::from([("X-Guest".into(), "{{ contact_name }}".into())]),
            body,
            mapping: Vec::new(),
            timeout_secs: Some(5),
        }
    }

    #[test]
    fn placeholders_are_listed_once_in_order() {
        let config = config(
            "https://pms.example/{{campaign.hotel}}/rates?from={{check_in}}",
            Some(
                json!({"from": "{{check_in}}", "guests": ["{{adults}}", 2], "n": {"x": "{{ nights }}"}}),
            ),
        );
        assert_eq!(
            placeholders(&config),
            [
                "campaign.hotel",
                "check_in",
                "contact_name",
                "adults",
                "nights"
            ]
        );
    }

    #[test]
    fn a_request_is_built_with_url_values_encoded_and_a_json_body() {
        let config = config(
            "{{base}}/rates?q={{q}}&missing={{nope}}",
            Some(json!({"q": "{{q}}", "n": 2})),
        );
        let mut write = |name: &str, out: &mut String| match name {
            "base" => {
                out.push_str("https://pms.example/v1");
                true
            }
            "q" => {
                out.push_str("a&b \"c\"");
                true
            }
            "contact_name" => {
                out.push_str("Ana");
                true
            }
            _ => false,
        };
        let request = build(&config, &mut write);
        assert_eq!(
            request.url,
            "https://pms.example/v1/rates?q=a%26b%20%22c%22&missing={{nope}}"
        );
        assert_eq!(
            request.headers,
            [
                ("X-Guest".to_owned(), "Ana".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned())
            ]
        );
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap_or("")).unwrap();
        assert_eq!(body, json!({"q": "a&b \"c\"", "n": 2}));
        assert_eq!(request.timeout_ms, 5_000);
    }
}
