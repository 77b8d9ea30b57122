//! Channel-neutral content into the body of a Cloud API send.
//!
//! Every limit WhatsApp documents for a send is checked here, before the request, so a message
//! WhatsApp would refuse with error 131009 fails at once as [`SendError::Permanent`] with a
//! reason that names the field and the limit.

use crate::adapters::SendError;
use crate::domain::{
    ChoiceItem, ChoiceStyle, Header, ListSection, MessageContent, TemplateButtonValue,
    TemplateHeader,
};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// WhatsApp's limit on a text body, in characters.
pub const TEXT_MAX_CHARS: usize = 4_096;
/// WhatsApp's limit on a media caption, in characters.
pub const CAPTION_MAX_CHARS: usize = 1_024;
/// The body text of an interactive message, in characters.
pub const INTERACTIVE_BODY_MAX_CHARS: usize = 1_024;
/// A text header of an interactive message, in characters.
pub const HEADER_MAX_CHARS: usize = 60;
/// The footer of an interactive message, in characters.
pub const FOOTER_MAX_CHARS: usize = 60;
/// Reply buttons in one message.
pub const BUTTONS_MAX: usize = 3;
/// A reply button's title, in characters.
pub const BUTTON_TITLE_MAX_CHARS: usize = 20;
/// A reply button's id, in characters.
pub const BUTTON_ID_MAX_CHARS: usize = 256;
/// The label of the button that opens a list, in characters.
pub const LIST_BUTTON_MAX_CHARS: usize = 20;
/// Sections in one list.
pub const SECTIONS_MAX: usize = 10;
/// A list section's title, in characters.
pub const SECTION_TITLE_MAX_CHARS: usize = 24;
/// Rows in one list, counted across all its sections.
pub const ROWS_MAX: usize = 10;
/// A list row's id, in characters.
pub const ROW_ID_MAX_CHARS: usize = 200;
/// A list row's title, in characters.
pub const ROW_TITLE_MAX_CHARS: usize = 24;
/// A list row's description, in characters.
pub const ROW_DESCRIPTION_MAX_CHARS: usize = 72;
/// The label of a CTA URL button, in characters. BSPs document it; Meta's page does not.
pub const CTA_DISPLAY_TEXT_MAX_CHARS: usize = 20;
/// The label of the button that opens quick replies sent as a list.
pub const QUICK_REPLIES_LIST_BUTTON: &str = "Choose";

/// The JSON body of `POST /{version}/{phone_number_id}/messages`.
pub fn render(
    recipient: &str,
    content: &MessageContent,
    reply_to: Option<&str>,
) -> Result<Value, SendError> {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient,
    });
    let (kind, object) = match content {
        MessageContent::Text { body } => {
            check_length("text", body, TEXT_MAX_CHARS)?;
            let preview_url = body.contains("http://") || body.contains("https://");
            ("text", json!({"body": body, "preview_url": preview_url}))
        }
        MessageContent::Media {
            media_kind,
            media_id,
            url,
            caption,
            filename,
            voice,
            ..
        } => {
            let mut object = Map::new();
            match (media_id, url) {
                (Some(id), _) => object.insert("id".into(), json!(id)),
                (None, Some(link)) => object.insert("link".into(), json!(link)),
                (None, None) => {
                    return Err(permanent("a media message needs a media id or a link"))
                }
            };
            let kind = media_kind.as_str();
            // Audio and stickers take no caption on WhatsApp.
            if let Some(caption) = caption
                .as_ref()
                .filter(|_| !matches!(kind, "audio" | "sticker"))
            {
                check_length("caption", caption, CAPTION_MAX_CHARS)?;
                object.insert("caption".into(), json!(caption));
            }
            if let Some(filename) = filename.as_ref().filter(|_| kind == "document") {
                object.insert("filename".into(), json!(filename));
            }
            if *voice && kind == "audio" {
                object.insert("voice".into(), json!(true));
            }
            (kind, Value::Object(object))
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let mut object = json!({"latitude": latitude, "longitude": longitude});
            if let Some(name) = name {
                object["name"] = json!(name);
            }
            if let Some(address) = address {
                object["address"] = json!(address);
            }
            ("location", object)
        }
        MessageContent::Reaction {
            target_provider_message_id,
            emoji,
        } => (
            "reaction",
            json!({"message_id": target_provider_message_id, "emoji": emoji.clone().unwrap_or_default()}),
        ),
        MessageContent::Choices {
            style,
            header,
            body,
            footer,
            choices,
        } => (
            "interactive",
            render_choices(*style, header.as_ref(), body, footer.as_deref(), choices)?,
        ),
        MessageContent::List {
            header,
            body,
            footer,
            sections,
            ..
        } if sections
            .iter()
            .map(|section| section.rows.len())
            .sum::<usize>()
            > ROWS_MAX =>
        {
            // WhatsApp lists hold 10 rows in all; a longer menu goes as numbered text, and the
            // journey accepts the number typed back.
            let text = numbered_list(header.as_deref(), body, footer.as_deref(), sections);
            check_length("text", &text, TEXT_MAX_CHARS)?;
            ("text", json!({"body": text, "preview_url": false}))
        }
        MessageContent::List {
            header,
            body,
            footer,
            button,
            sections,
        } => (
            "interactive",
            render_list(header.as_deref(), body, footer.as_deref(), button, sections)?,
        ),
        MessageContent::CtaUrl {
            header,
            body,
            footer,
            button_text,
            url,
        } => (
            "interactive",
            render_cta_url(header.as_ref(), body, footer.as_deref(), button_text, url)?,
        ),
        MessageContent::Template {
            name,
            language,
            parameters,
            parameter_names,
            header,
            buttons,
        } => (
            "template",
            render_template(
                name,
                language,
                parameters,
                parameter_names,
                header.as_deref(),
                buttons,
            )?,
        ),
        other => {
            return Err(permanent(&format!(
                "{} content cannot be sent on WhatsApp",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|value| value.get("type").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| "this".into())
            )))
        }
    };
    body["type"] = json!(kind);
    body[kind] = object;
    if let Some(reply_to) = reply_to {
        body["context"] = json!({"message_id": reply_to});
    }
    Ok(body)
}

/// Choices as reply buttons, or quick replies as a list.
///
/// WhatsApp has no message with more than 3 reply buttons, so quick replies become a list with
/// one untitled section (the channel table: "Quick reply buttons (1–10) → Interactive list").
/// When they would fit as buttons (at most 3, titles within 20 characters, no descriptions,
/// which buttons cannot show) they are sent as buttons instead: one tap instead of two.
/// Buttons ignore the descriptions of `Buttons`-style choices for the same reason.
fn render_choices(
    style: ChoiceStyle,
    header: Option<&Header>,
    body: &str,
    footer: Option<&str>,
    choices: &[ChoiceItem],
) -> Result<Value, SendError> {
    if choices.is_empty() {
        return Err(permanent(
            "the message has no choices; WhatsApp needs at least 1",
        ));
    }
    let fits_as_buttons = choices.len() <= BUTTONS_MAX
        && choices.iter().all(|choice| {
            choice.description.as_deref().is_none_or(str::is_empty)
                && choice.title.chars().count() <= BUTTON_TITLE_MAX_CHARS
        });
    if style == ChoiceStyle::Buttons || fits_as_buttons {
        return render_buttons(header, body, footer, choices);
    }
    let header = match header {
        None => None,
        Some(Header::Text { text }) => Some(text.as_str()),
        Some(_) => {
            return Err(permanent(
                "quick replies that do not fit in 3 buttons are sent as a list, and a list \
                 takes a text header only",
            ))
        }
    };
    let sections = [ListSection {
        title: None,
        rows: choices.to_vec(),
    }];
    render_list(header, body, footer, QUICK_REPLIES_LIST_BUTTON, &sections).map_err(|error| {
        match error {
            SendError::Permanent { reason } => permanent(&format!(
                "{reason} (quick replies that do not fit in 3 buttons are sent as a list)"
            )),
            other => other,
        }
    })
}

fn render_buttons(
    header: Option<&Header>,
    body: &str,
    footer: Option<&str>,
    choices: &[ChoiceItem],
) -> Result<Value, SendError> {
    check_count("the message", "buttons", choices.len(), BUTTONS_MAX)?;
    let mut buttons = Vec::with_capacity(choices.len());
    for (index, choice) in choices.iter().enumerate() {
        let name = format!("button {}", index + 1);
        check_id(&format!("{name} id"), &choice.id, BUTTON_ID_MAX_CHARS)?;
        check_required(
            &format!("{name} title"),
            &choice.title,
            BUTTON_TITLE_MAX_CHARS,
        )?;
        buttons.push(json!({"type": "reply", "reply": {"id": choice.id, "title": choice.title}}));
    }
    check_unique("button id", choices.iter().map(|choice| choice.id.as_str()))?;
    check_unique(
        "button title",
        choices.iter().map(|choice| choice.title.as_str()),
    )?;
    let header = header.map(render_header).transpose()?;
    interactive(
        "button",
        header,
        body,
        footer,
        json!({ "buttons": buttons }),
    )
}

fn render_list(
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    button: &str,
    sections: &[ListSection],
) -> Result<Value, SendError> {
    check_required("list button", button, LIST_BUTTON_MAX_CHARS)?;
    check_count("the list", "sections", sections.len(), SECTIONS_MAX)?;
    let row_count: usize = sections.iter().map(|section| section.rows.len()).sum();
    if row_count > ROWS_MAX {
        return Err(permanent(&format!(
            "the list has {row_count} rows; WhatsApp allows {ROWS_MAX} in total across all sections"
        )));
    }
    let mut rendered = Vec::with_capacity(sections.len());
    for (index, section) in sections.iter().enumerate() {
        let name = format!("section {}", index + 1);
        let mut object = Map::new();
        match section.title.as_deref() {
            // WhatsApp needs a title on every section once there are several.
            None if sections.len() > 1 => {
                return Err(permanent(&format!(
                    "the {name} title is missing; WhatsApp needs one on every section of a \
                     list with several"
                )))
            }
            None => {}
            Some(title) => {
                check_required(&format!("{name} title"), title, SECTION_TITLE_MAX_CHARS)?;
                object.insert("title".into(), json!(title));
            }
        }
        if section.rows.is_empty() {
            return Err(permanent(&format!(
                "the {name} has no rows; WhatsApp needs at least 1"
            )));
        }
        let mut rows = Vec::with_capacity(section.rows.len());
        for (row_index, row) in section.rows.iter().enumerate() {
            let name = format!("{name} row {}", row_index + 1);
            rows.push(render_row(&name, row)?);
        }
        object.insert("rows".into(), Value::Array(rows));
        rendered.push(Value::Object(object));
    }
    check_unique(
        "row id",
        sections
            .iter()
            .flat_map(|section| &section.rows)
            .map(|row| row.id.as_str()),
    )?;
    let header = header
        .map(|text| render_header(&Header::Text { text: text.into() }))
        .transpose()?;
    interactive(
        "list",
        header,
        body,
        footer,
        json!({"button": button, "sections": rendered}),
    )
}

fn render_row(name: &str, row: &ChoiceItem) -> Result<Value, SendError> {
    check_id(&format!("{name} id"), &row.id, ROW_ID_MAX_CHARS)?;
    check_required(&format!("{name} title"), &row.title, ROW_TITLE_MAX_CHARS)?;
    let mut object = json!({"id": row.id, "title": row.title});
    if let Some(description) = row.description.as_deref().filter(|text| !text.is_empty()) {
        check_length(
            &format!("{name} description"),
            description,
            ROW_DESCRIPTION_MAX_CHARS,
        )?;
        object["description"] = json!(description);
    }
    Ok(object)
}

fn render_cta_url(
    header: Option<&Header>,
    body: &str,
    footer: Option<&str>,
    button_text: &str,
    url: &str,
) -> Result<Value, SendError> {
    check_required("button text", button_text, CTA_DISPLAY_TEXT_MAX_CHARS)?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(permanent(
            "the button url must start with https:// or http://",
        ));
    }
    let header = header.map(render_header).transpose()?;
    interactive(
        "cta_url",
        header,
        body,
        footer,
        json!({"name": "cta_url", "parameters": {"display_text": button_text, "url": url}}),
    )
}

/// A template's text parameter, checked as WhatsApp checks it (132007 otherwise).
fn template_text(what: &str, text: &str, name: Option<&str>) -> Result<Value, SendError> {
    if text.trim().is_empty() {
        return Err(permanent(&format!("the {what} is empty")));
    }
    if text.contains(['\n', '\t']) || text.contains("    ") {
        return Err(permanent(&format!(
            "the {what} contains a newline, a tab or 4 spaces in a row; WhatsApp allows none"
        )));
    }
    let mut parameter = json!({"type": "text", "text": text});
    if let Some(name) = name {
        parameter["parameter_name"] = json!(name);
    }
    Ok(parameter)
}

/// A template's header parameter: its text variable or its media, by link.
fn template_header(header: &TemplateHeader) -> Result<Value, SendError> {
    let media = |kind: &str, link: &str| {
        if !(link.starts_with("https://") || link.starts_with("http://")) {
            return Err(permanent(&format!(
                "the template's {kind} header needs a web link, not `{link}`"
            )));
        }
        Ok(json!({"type": kind, kind: {"link": link}}))
    };
    match header {
        TemplateHeader::Text {
            text,
            parameter_name,
        } => template_text("header parameter", text, parameter_name.as_deref()),
        TemplateHeader::Image { link } => media("image", link),
        TemplateHeader::Video { link } => media("video", link),
        TemplateHeader::Document { link, filename } => {
            let mut parameter = media("document", link)?;
            if let Some(filename) = filename {
                parameter["document"]["filename"] = json!(filename);
            }
            Ok(parameter)
        }
    }
}

fn render_template(
    name: &str,
    language: &str,
    parameters: &[String],
    parameter_names: &[String],
    header: Option<&TemplateHeader>,
    buttons: &[TemplateButtonValue],
) -> Result<Value, SendError> {
    if name.trim().is_empty() {
        return Err(permanent("the template name is empty"));
    }
    if language.trim().is_empty() {
        return Err(permanent("the template language is empty"));
    }
    if !parameter_names.is_empty() && parameter_names.len() != parameters.len() {
        return Err(permanent(&format!(
            "the template has {} parameters but {} parameter names",
            parameters.len(),
            parameter_names.len()
        )));
    }
    let mut object = json!({"name": name, "language": {"code": language}});
    let mut components = Vec::new();
    if let Some(header) = header {
        components.push(json!({"type": "header", "parameters": [template_header(header)?]}));
    }
    if !parameters.is_empty() {
        let mut rendered = Vec::with_capacity(parameters.len());
        for (index, text) in parameters.iter().enumerate() {
            let what = format!("template parameter {}", index + 1);
            let name = parameter_names.get(index).map(String::as_str);
            rendered.push(template_text(&what, text, name)?);
        }
        components.push(json!({"type": "body", "parameters": rendered}));
    }
    for button in buttons {
        if button.index > 9 {
            return Err(permanent(
                "a template has at most 10 buttons (index 0 to 9)",
            ));
        }
        let what = format!("suffix of URL button {}", button.index);
        components.push(json!({
            "type": "button",
            "sub_type": "url",
            "index": button.index.to_string(),
            "parameters": [template_text(&what, &button.url_suffix, None)?]
        }));
    }
    if !components.is_empty() {
        object["components"] = json!(components);
    }
    Ok(object)
}

/// The `interactive` object shared by buttons, lists and CTA URLs. An empty footer is left
/// out, as if there were none.
fn interactive(
    kind: &str,
    header: Option<Value>,
    body: &str,
    footer: Option<&str>,
    action: Value,
) -> Result<Value, SendError> {
    check_required("body", body, INTERACTIVE_BODY_MAX_CHARS)?;
    let mut object = json!({"type": kind, "body": {"text": body}});
    object["action"] = action;
    if let Some(header) = header {
        object["header"] = header;
    }
    if let Some(footer) = footer.filter(|text| !text.is_empty()) {
        check_length("footer", footer, FOOTER_MAX_CHARS)?;
        object["footer"] = json!({ "text": footer });
    }
    Ok(object)
}

/// A header of an interactive message; media go by link, with no caption.
fn render_header(header: &Header) -> Result<Value, SendError> {
    let (kind, url) = match header {
        Header::Text { text } => {
            check_required("header", text, HEADER_MAX_CHARS)?;
            return Ok(json!({"type": "text", "text": text}));
        }
        Header::Image { url } => ("image", url),
        Header::Video { url } => ("video", url),
        Header::Document { url } => ("document", url),
    };
    if url.trim().is_empty() {
        return Err(permanent(&format!("the {kind} header has no link")));
    }
    Ok(json!({"type": kind, kind: {"link": url}}))
}

/// A list as text: header in bold, body, each section's title and its rows numbered across
/// sections, footer, and how to answer.
fn numbered_list(
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    sections: &[crate::domain::ListSection],
) -> String {
    let mut text = String::new();
    if let Some(header) = header.filter(|header| !header.trim().is_empty()) {
        text.push_str(&format!("*{header}*\n"));
    }
    text.push_str(body);
    let mut number = 0;
    for section in sections {
        text.push('\n');
        if let Some(title) = section
            .title
            .as_deref()
            .filter(|title| !title.trim().is_empty())
        {
            text.push_str(&format!("\n_{title}_"));
        }
        for row in &section.rows {
            number += 1;
            text.push_str(&format!("\n{number}. {}", row.title));
            if let Some(description) = row.description.as_deref() {
                text.push_str(&format!(" — {description}"));
            }
        }
    }
    if let Some(footer) = footer.filter(|footer| !footer.trim().is_empty()) {
        text.push_str(&format!("\n\n{footer}"));
    }
    text.push_str("\n\nReply with the number of your choice.");
    text
}

fn check_length(field: &str, text: &str, limit: usize) -> Result<(), SendError> {
    let length = text.chars().count();
    if length > limit {
        return Err(permanent(&format!(
            "the {field} has {length} characters; WhatsApp allows {limit}"
        )));
    }
    Ok(())
}

/// A text WhatsApp needs at least one character of.
fn check_required(field: &str, text: &str, limit: usize) -> Result<(), SendError> {
    if text.trim().is_empty() {
        return Err(permanent(&format!(
            "the {field} is empty; WhatsApp needs 1 to {limit} characters"
        )));
    }
    check_length(field, text, limit)
}

/// A button or row id: present, within its limit, and with no spaces around it.
fn check_id(field: &str, id: &str, limit: usize) -> Result<(), SendError> {
    check_required(field, id, limit)?;
    if id.trim() != id {
        return Err(permanent(&format!(
            "the {field} starts or ends with a space; WhatsApp allows none"
        )));
    }
    Ok(())
}

fn check_count(holder: &str, items: &str, count: usize, limit: usize) -> Result<(), SendError> {
    if !(1..=limit).contains(&count) {
        return Err(permanent(&format!(
            "{holder} has {count} {items}; WhatsApp allows 1 to {limit}"
        )));
    }
    Ok(())
}

fn check_unique<'a>(field: &str, values: impl Iterator<Item = &'a str>) -> Result<(), SendError> {
    let mut seen = HashSet::new();
    for value in values {
        if !seen.insert(value) {
            return Err(permanent(&format!(
                "the {field} `{value}` appears twice; WhatsApp needs each to be unique"
            )));
        }
    }
    Ok(())
}

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MediaKind;

    #[track_caller]
    fn check(content: &MessageContent, expected_kind: &str, expected_object: Value) {
        let mut expected = json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
            "type": expected_kind,
        });
        expected[expected_kind] = expected_object;
        assert_eq!(render("16505551234", content, None).unwrap(), expected);
    }

    #[track_caller]
    fn check_refused(content: &MessageContent, expected_reason: &str) {
        match render("16505551234", content, None) {
            Err(SendError::Permanent { reason }) => assert_eq!(reason, expected_reason),
            other => panic!("expected a permanent refusal ({expected_reason}), got {other:?}"),
        }
    }

    fn choice(id: &str, title: &str) -> ChoiceItem {
        ChoiceItem {
            id: id.into(),
            title: title.into(),
            description: None,
        }
    }

    fn choices(
        style: ChoiceStyle,
        header: Option<Header>,
        items: Vec<ChoiceItem>,
    ) -> MessageContent {
        MessageContent::Choices {
            style,
            header,
            body: "What would you like to do?".into(),
            footer: Some("Lucky Shrub support".into()),
            choices: items,
        }
    }

    fn list(sections: Vec<ListSection>) -> MessageContent {
        MessageContent::List {
            header: Some("Pick a size".into()),
            body: "Which size do you need?".into(),
            footer: None,
            button: "Choose size".into(),
            sections,
        }
    }

    fn numbered_rows(count: usize) -> Vec<ChoiceItem> {
        (1..=count)
            .map(|number| choice(&format!("row-{number}"), &format!("Row {number}")))
            .collect()
    }

    fn cta(header: Option<Header>, button_text: &str, url: &str) -> MessageContent {
        MessageContent::CtaUrl {
            header,
            body: "Tap below to see available dates.".into(),
            footer: None,
            button_text: button_text.into(),
            url: url.into(),
        }
    }

    fn template(name: &str, parameters: &[&str]) -> MessageContent {
        MessageContent::Template {
            name: name.into(),
            language: "en_US".into(),
            parameters: parameters.iter().map(|text| (*text).to_owned()).collect(),
            parameter_names: vec![],
            header: None,
            buttons: vec![],
        }
    }

    #[test]
    fn text_renders_with_a_link_preview_only_when_it_has_a_link() {
        check(
            &MessageContent::Text { body: "Hi".into() },
            "text",
            json!({"body": "Hi", "preview_url": false}),
        );
        let linked = render(
            "1",
            &MessageContent::Text {
                body: "see https://x.test".into(),
            },
            Some("wamid.q"),
        )
        .unwrap();
        assert_eq!(linked["text"]["preview_url"], true);
        assert_eq!(linked["context"]["message_id"], "wamid.q");
    }

    #[test]
    fn text_at_the_limit_renders_and_one_more_character_is_refused() {
        let text = |length: usize| MessageContent::Text {
            body: "a".repeat(length),
        };
        assert!(render("1", &text(TEXT_MAX_CHARS), None).is_ok());
        check_refused(
            &text(TEXT_MAX_CHARS + 1),
            "the text has 4097 characters; WhatsApp allows 4096",
        );
    }

    #[test]
    fn media_renders_by_id_or_link_and_drops_captions_where_whatsapp_has_none() {
        let media = |kind: MediaKind, id: Option<&str>, url: Option<&str>| MessageContent::Media {
            media_kind: kind,
            media_id: id.map(str::to_owned),
            url: url.map(str::to_owned),
            mime_type: None,
            caption: Some("Invoice".into()),
            filename: Some("invoice.pdf".into()),
            voice: true,
        };
        let document = render(
            "1",
            &media(MediaKind::Document, None, Some("https://f.test/i.pdf")),
            None,
        )
        .unwrap();
        assert_eq!(
            document["document"],
            json!({"link": "https://f.test/i.pdf", "caption": "Invoice", "filename": "invoice.pdf"})
        );
        let audio = render("1", &media(MediaKind::Audio, Some("77"), None), None).unwrap();
        assert_eq!(audio["audio"], json!({"id": "77", "voice": true}));
        assert!(render("1", &media(MediaKind::Image, None, None), None).is_err());
    }

    #[test]
    fn buttons_render_as_reply_buttons_with_their_header_and_footer() {
        check(
            &choices(
                ChoiceStyle::Buttons,
                Some(Header::Text {
                    text: "Order #4711".into(),
                }),
                vec![
                    choice("track", "Track parcel"),
                    choice("agent", "Talk to a human"),
                ],
            ),
            "interactive",
            json!({
                "type": "button",
                "header": {"type": "text", "text": "Order #4711"},
                "body": {"text": "What would you like to do?"},
                "footer": {"text": "Lucky Shrub support"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "track", "title": "Track parcel"}},
                    {"type": "reply", "reply": {"id": "agent", "title": "Talk to a human"}},
                ]},
            }),
        );
    }

    #[test]
    fn a_media_header_goes_by_link() {
        let content = choices(
            ChoiceStyle::Buttons,
            Some(Header::Image {
                url: "https://cdn.test/parcel.jpg".into(),
            }),
            vec![choice("track", "Track parcel")],
        );
        assert_eq!(
            render("1", &content, None).unwrap()["interactive"]["header"],
            json!({"type": "image", "image": {"link": "https://cdn.test/parcel.jpg"}})
        );
    }

    #[test]
    fn quick_replies_that_fit_in_three_buttons_render_as_buttons() {
        let content = choices(
            ChoiceStyle::QuickReplies,
            None,
            vec![choice("yes", "Yes"), choice("no", "No")],
        );
        let body = render("1", &content, None).unwrap();
        assert_eq!(body["interactive"]["type"], "button");
        assert_eq!(
            body["interactive"]["action"]["buttons"][1],
            json!({"type": "reply", "reply": {"id": "no", "title": "No"}})
        );
    }

    #[test]
    fn quick_replies_beyond_three_render_as_a_list_with_one_section() {
        let mut items = numbered_rows(4);
        items[0].description = Some("The first".into());
        check(
            &choices(ChoiceStyle::QuickReplies, None, items),
            "interactive",
            json!({
                "type": "list",
                "body": {"text": "What would you like to do?"},
                "footer": {"text": "Lucky Shrub support"},
                "action": {"button": "Choose", "sections": [{"rows": [
                    {"id": "row-1", "title": "Row 1", "description": "The first"},
                    {"id": "row-2", "title": "Row 2"},
                    {"id": "row-3", "title": "Row 3"},
                    {"id": "row-4", "title": "Row 4"},
                ]}]},
            }),
        );
        // A description or a title too long for a button also makes a list.
        let long_title = choices(
            ChoiceStyle::QuickReplies,
            None,
            vec![choice("a", "A title of 22 letters")],
        );
        assert_eq!(
            render("1", &long_title, None).unwrap()["interactive"]["type"],
            "list"
        );
    }

    #[test]
    fn a_list_renders_its_sections_and_rows() {
        let mut small = choice("size-s", "Small");
        small.description = Some("Fits 4-6 inch pots".into());
        check(
            &list(vec![
                ListSection {
                    title: Some("Regular".into()),
                    rows: vec![small, choice("size-m", "Medium")],
                },
                ListSection {
                    title: Some("Large".into()),
                    rows: vec![choice("size-l", "Large")],
                },
            ]),
            "interactive",
            json!({
                "type": "list",
                "header": {"type": "text", "text": "Pick a size"},
                "body": {"text": "Which size do you need?"},
                "action": {
                    "button": "Choose size",
                    "sections": [
                        {"title": "Regular", "rows": [
                            {"id": "size-s", "title": "Small", "description": "Fits 4-6 inch pots"},
                            {"id": "size-m", "title": "Medium"},
                        ]},
                        {"title": "Large", "rows": [{"id": "size-l", "title": "Large"}]},
                    ],
                },
            }),
        );
    }

    #[test]
    fn ten_rows_across_sections_render() {
        let mut rows = numbered_rows(ROWS_MAX);
        let second = rows.split_off(5);
        let content = list(vec![
            ListSection {
                title: Some("First".into()),
                rows,
            },
            ListSection {
                title: Some("Second".into()),
                rows: second,
            },
        ]);
        assert!(render("1", &content, None).is_ok());
    }

    #[test]
    fn a_cta_url_renders_its_button_and_media_header() {
        check(
            &cta(
                Some(Header::Document {
                    url: "https://files.test/dates.pdf".into(),
                }),
                "See dates",
                "https://www.example.com/dates?ref=wa",
            ),
            "interactive",
            json!({
                "type": "cta_url",
                "header": {"type": "document", "document": {"link": "https://files.test/dates.pdf"}},
                "body": {"text": "Tap below to see available dates."},
                "action": {"name": "cta_url", "parameters": {
                    "display_text": "See dates", "url": "https://www.example.com/dates?ref=wa"
                }},
            }),
        );
    }

    #[test]
    fn a_template_renders_its_body_parameters() {
        check(
            &template("order_shipped", &["Sheena", "#4711"]),
            "template",
            json!({
                "name": "order_shipped",
                "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "Sheena"},
                    {"type": "text", "text": "#4711"},
                ]}],
            }),
        );
    }

    #[test]
    fn a_template_renders_its_header_named_parameters_and_url_buttons() {
        let content = MessageContent::Template {
            name: "arrival".into(),
            language: "en".into(),
            parameters: vec!["Ana".into(), "12".into()],
            parameter_names: vec!["first_name".into(), "room".into()],
            header: Some(Box::new(TemplateHeader::Document {
                link: "https://villa.example/invoice.pdf".into(),
                filename: Some("Invoice.pdf".into()),
            })),
            buttons: vec![TemplateButtonValue {
                index: 1,
                url_suffix: "B-77".into(),
            }],
        };
        check(
            &content,
            "template",
            json!({
                "name": "arrival",
                "language": {"code": "en"},
                "components": [
                    {"type": "header", "parameters": [{"type": "document", "document":
                        {"link": "https://villa.example/invoice.pdf", "filename": "Invoice.pdf"}}]},
                    {"type": "body", "parameters": [
                        {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                        {"type": "text", "parameter_name": "room", "text": "12"},
                    ]},
                    {"type": "button", "sub_type": "url", "index": "1",
                     "parameters": [{"type": "text", "text": "B-77"}]},
                ],
            }),
        );
        let text_header = MessageContent::Template {
            name: "booking".into(),
            language: "en".into(),
            parameters: vec![],
            parameter_names: vec![],
            header: Some(Box::new(TemplateHeader::Text {
                text: "B-77".into(),
                parameter_name: None,
            })),
            buttons: vec![],
        };
        check(
            &text_header,
            "template",
            json!({"name": "booking", "language": {"code": "en"}, "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "B-77"}]}]}),
        );
        let local = MessageContent::Template {
            name: "booking".into(),
            language: "en".into(),
            parameters: vec![],
            parameter_names: vec![],
            header: Some(Box::new(TemplateHeader::Image {
                link: "/files/pool.jpg".into(),
            })),
            buttons: vec![],
        };
        assert_eq!(
            render("1", &local, None).unwrap_err(),
            permanent("the template's image header needs a web link, not `/files/pool.jpg`")
        );
    }

    #[test]
    fn a_template_without_parameters_has_no_components() {
        check(
            &template("hello_world", &[]),
            "template",
            json!({"name": "hello_world", "language": {"code": "en_US"}}),
        );
    }

    #[test]
    fn content_beyond_whatsapp_limits_is_refused_with_the_field_and_the_limit() {
        let buttons = |items: Vec<ChoiceItem>| choices(ChoiceStyle::Buttons, None, items);
        let one_section = |rows: Vec<ChoiceItem>| list(vec![ListSection { title: None, rows }]);
        let mut long_description = choice("a", "A");
        long_description.description = Some("d".repeat(73));
        let cases = [
            (
                buttons(numbered_rows(4)),
                "the message has 4 buttons; WhatsApp allows 1 to 3",
            ),
            (
                buttons(vec![]),
                "the message has no choices; WhatsApp needs at least 1",
            ),
            (
                buttons(vec![choice("a", &"t".repeat(21))]),
                "the button 1 title has 21 characters; WhatsApp allows 20",
            ),
            (
                buttons(vec![choice("a", "A"), choice(&"i".repeat(257), "B")]),
                "the button 2 id has 257 characters; WhatsApp allows 256",
            ),
            (
                buttons(vec![choice(" a", "A")]),
                "the button 1 id starts or ends with a space; WhatsApp allows none",
            ),
            (
                buttons(vec![choice("a", "A"), choice("a", "B")]),
                "the button id `a` appears twice; WhatsApp needs each to be unique",
            ),
            (
                buttons(vec![choice("a", "")]),
                "the button 1 title is empty; WhatsApp needs 1 to 20 characters",
            ),
            (
                MessageContent::Choices {
                    style: ChoiceStyle::Buttons,
                    header: None,
                    body: "b".repeat(1_025),
                    footer: None,
                    choices: vec![choice("a", "A")],
                },
                "the body has 1025 characters; WhatsApp allows 1024",
            ),
            (
                MessageContent::Choices {
                    style: ChoiceStyle::Buttons,
                    header: Some(Header::Text {
                        text: "h".repeat(61),
                    }),
                    body: "Body".into(),
                    footer: Some("f".repeat(61)),
                    choices: vec![choice("a", "A")],
                },
                "the header has 61 characters; WhatsApp allows 60",
            ),
            (
                MessageContent::Choices {
                    style: ChoiceStyle::Buttons,
                    header: None,
                    body: "Body".into(),
                    footer: Some("f".repeat(61)),
                    choices: vec![choice("a", "A")],
                },
                "the footer has 61 characters; WhatsApp allows 60",
            ),
            (
                choices(
                    ChoiceStyle::QuickReplies,
                    Some(Header::Video {
                        url: "https://cdn.test/v.mp4".into(),
                    }),
                    numbered_rows(4),
                ),
                "quick replies that do not fit in 3 buttons are sent as a list, and a list \
                 takes a text header only",
            ),
            (
                choices(ChoiceStyle::QuickReplies, None, numbered_rows(11)),
                "the list has 11 rows; WhatsApp allows 10 in total across all sections \
                 (quick replies that do not fit in 3 buttons are sent as a list)",
            ),
            (
                list(
                    (1..=11)
                        .map(|number| ListSection {
                            title: Some(format!("Section {number}")),
                            rows: vec![],
                        })
                        .collect(),
                ),
                "the list has 11 sections; WhatsApp allows 1 to 10",
            ),
            (
                list(vec![
                    ListSection {
                        title: Some("First".into()),
                        rows: vec![choice("a", "A")],
                    },
                    ListSection {
                        title: None,
                        rows: vec![choice("b", "B")],
                    },
                ]),
                "the section 2 title is missing; WhatsApp needs one on every section of a \
                 list with several",
            ),
            (
                list(vec![ListSection {
                    title: Some("s".repeat(25)),
                    rows: vec![choice("a", "A")],
                }]),
                "the section 1 title has 25 characters; WhatsApp allows 24",
            ),
            (
                one_section(vec![]),
                "the section 1 has no rows; WhatsApp needs at least 1",
            ),
            (
                one_section(vec![choice(&"i".repeat(201), "A")]),
                "the section 1 row 1 id has 201 characters; WhatsApp allows 200",
            ),
            (
                one_section(vec![choice("a", "A"), choice("b", &"t".repeat(25))]),
                "the section 1 row 2 title has 25 characters; WhatsApp allows 24",
            ),
            (
                one_section(vec![long_description]),
                "the section 1 row 1 description has 73 characters; WhatsApp allows 72",
            ),
            (
                one_section(vec![choice("a", "A"), choice("a", "B")]),
                "the row id `a` appears twice; WhatsApp needs each to be unique",
            ),
            (
                MessageContent::List {
                    header: None,
                    body: "Body".into(),
                    footer: None,
                    button: "b".repeat(21),
                    sections: vec![],
                },
                "the list button has 21 characters; WhatsApp allows 20",
            ),
            (
                cta(None, &"b".repeat(21), "https://x.test"),
                "the button text has 21 characters; WhatsApp allows 20",
            ),
            (
                cta(None, "Open", "javascript:alert(1)"),
                "the button url must start with https:// or http://",
            ),
            (
                cta(
                    Some(Header::Image { url: " ".into() }),
                    "Open",
                    "https://x.test",
                ),
                "the image header has no link",
            ),
            (template(" ", &[]), "the template name is empty"),
            (
                template("order_shipped", &["Sheena", ""]),
                "the template parameter 2 is empty",
            ),
            (
                template("order_shipped", &["line one\nline two"]),
                "the template parameter 1 contains a newline, a tab or 4 spaces in a row; \
                 WhatsApp allows none",
            ),
        ];
        for (content, reason) in cases {
            check_refused(&content, reason);
        }
    }

    #[test]
    fn inbound_only_content_is_refused() {
        check_refused(
            &MessageContent::InteractiveReply {
                reply_id: "a".into(),
                title: "A".into(),
                description: None,
            },
            "interactive_reply content cannot be sent on WhatsApp",
        );
    }

    #[test]
    fn a_list_longer_than_whatsapp_allows_goes_as_numbered_text() {
        let content = MessageContent::List {
            header: Some("Rooms".into()),
            body: "Pick a room".into(),
            footer: Some("Prices per night".into()),
            button: "Rooms".into(),
            sections: vec![
                ListSection {
                    title: Some("Villas".into()),
                    rows: numbered_rows(6),
                },
                ListSection {
                    title: Some("Suites".into()),
                    rows: vec![ChoiceItem {
                        id: "s1".into(),
                        title: "Sea suite".into(),
                        description: Some("Balcony".into()),
                    }]
                    .into_iter()
                    .chain(numbered_rows(4))
                    .collect(),
                },
            ],
        };
        let body = render("15551234567", &content, None).unwrap();
        assert_eq!(body["type"], "text");
        let text = body["text"]["body"].as_str().unwrap();
        assert!(
            text.starts_with("*Rooms*\nPick a room\n\n_Villas_\n1. Row 1"),
            "{text}"
        );
        assert!(
            text.contains("\n_Suites_\n7. Sea suite — Balcony\n8. Row 1"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "11. Row 4\n\nPrices per night\n\nReply with the number of your choice."
            ),
            "{text}"
        );
    }
}
