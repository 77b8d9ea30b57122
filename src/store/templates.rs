//! WhatsApp templates synced from Meta per channel, and the mappings of events to templates.

use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{ChannelId, Millis, OrgId};
use serde::Serialize;
use std::collections::BTreeMap;

/// A template as Meta reported it at the last sync.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateRecord {
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: Option<String>,
    /// Meta's id of the template.
    pub provider_id: Option<String>,
    #[schema(value_type = Object)]
    pub components: serde_json::Value,
    /// The body's placeholders in order (`1`, `2` … or names).
    pub parameters: Vec<String>,
    pub synced_at: Millis,
}

/// An event mapped to a template of a channel.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MappingRecord {
    pub id: String,
    pub event: String,
    pub channel_id: ChannelId,
    pub template_name: String,
    pub language: String,
    /// Placeholder → path in the event's data.
    pub parameters: BTreeMap<String, String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A mapping's content, as written.
pub struct NewMapping {
    pub event: String,
    pub channel_id: ChannelId,
    pub template_name: String,
    pub language: String,
    pub parameters: BTreeMap<String, String>,
}

fn corrupt(column: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {error}"))
}

fn template_from_row(row: &impl Columns) -> StoreResult<TemplateRecord> {
    Ok(TemplateRecord {
        name: row.text("name")?,
        language: row.text("language")?,
        status: row.text("status")?,
        category: row.opt_text("category")?,
        provider_id: row.opt_text("provider_id")?,
        components: serde_json::from_str(&row.text("components")?)
            .map_err(|error| corrupt("components", error))?,
        parameters: serde_json::from_str(&row.text("parameters")?)
            .map_err(|error| corrupt("parameters", error))?,
        synced_at: row.int("synced_at")?,
    })
}

fn mapping_from_row(row: &impl Columns) -> StoreResult<MappingRecord> {
    Ok(MappingRecord {
        id: row.text("id")?,
        event: row.text("event")?,
        channel_id: row
            .text("channel_id")?
            .parse()
            .map_err(|error| corrupt("channel_id", error))?,
        template_name: row.text("template_name")?,
        language: row.text("language")?,
        parameters: serde_json::from_str(&row.text("parameters")?)
            .map_err(|error| corrupt("parameters", error))?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

const TEMPLATE_COLUMNS: &str =
    "name, language, status, category, provider_id, components, parameters, synced_at";
const MAPPING_COLUMNS: &str =
    "id, event, channel_id, template_name, language, parameters, created_at, updated_at";

impl Store {
    /// Replaces a channel's templates with what a sync found, in one write.
    pub async fn replace_templates(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
        templates: &[TemplateRecord],
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "DELETE FROM whatsapp_templates WHERE channel_id = $1 AND org_id = $2",
            vec![channel_id.to_string().into(), org_id.to_string().into()],
        );
        for template in templates {
            script.push(
                "INSERT INTO whatsapp_templates (channel_id, org_id, name, language, status, category,
                                                 provider_id, components, parameters, synced_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (channel_id, name, language) DO NOTHING",
                vec![
                    channel_id.to_string().into(),
                    org_id.to_string().into(),
                    template.name.as_str().into(),
                    template.language.as_str().into(),
                    template.status.as_str().into(),
                    template.category.as_deref().into(),
                    template.provider_id.as_deref().into(),
                    template.components.to_string().into(),
                    serde_json::to_string(&template.parameters)
                        .expect("strings serialise")
                        .into(),
                    template.synced_at.into(),
                ],
            );
        }
        self.write_script(script).await
    }

    /// A channel's templates by name and language.
    pub async fn templates(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
    ) -> StoreResult<Vec<TemplateRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM whatsapp_templates
              WHERE channel_id = $1 AND org_id = $2 ORDER BY name, language"
        ))
        .bind(channel_id.to_string())
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(template_from_row).collect()
    }

    pub async fn template(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<TemplateRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM whatsapp_templates
              WHERE channel_id = $1 AND org_id = $2 AND name = $3 AND language = $4"
        ))
        .bind(channel_id.to_string())
        .bind(org_id.to_string())
        .bind(name)
        .bind(language)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(template_from_row).transpose()
    }

    /// Adds a mapping; `Conflict` when the event is already mapped on that channel.
    pub async fn insert_mapping(
        &self,
        org_id: OrgId,
        mapping: &NewMapping,
        now: Millis,
    ) -> StoreResult<MappingRecord> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut script = Script::new();
        script.push(
            "INSERT INTO template_mappings (id, org_id, event, channel_id, template_name, language,
                                            parameters, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            vec![
                id.as_str().into(),
                org_id.to_string().into(),
                mapping.event.as_str().into(),
                mapping.channel_id.to_string().into(),
                mapping.template_name.as_str().into(),
                mapping.language.as_str().into(),
                serde_json::to_string(&mapping.parameters)
                    .expect("strings serialise")
                    .into(),
                now.into(),
            ],
        );
        self.write_script(script).await?;
        self.mapping(org_id, &id).await
    }

    pub async fn update_mapping(
        &self,
        org_id: OrgId,
        id: &str,
        mapping: &NewMapping,
        now: Millis,
    ) -> StoreResult<MappingRecord> {
        let values = vec![
            mapping.event.as_str().into(),
            mapping.channel_id.to_string().into(),
            mapping.template_name.as_str().into(),
            mapping.language.as_str().into(),
            serde_json::to_string(&mapping.parameters)
                .expect("strings serialise")
                .into(),
            now.into(),
            id.into(),
            org_id.to_string().into(),
        ];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE template_mappings SET event = $1, channel_id = $2, template_name = $3,
                            language = $4, parameters = $5, updated_at = $6
                      WHERE id = $7 AND org_id = $8",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.mapping(org_id, id).await
    }

    pub async fn delete_mapping(&self, org_id: OrgId, id: &str) -> StoreResult<()> {
        let values = vec![id.into(), org_id.to_string().into()];
        let changed = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "DELETE FROM template_mappings WHERE id = $1 AND org_id = $2",
                    values,
                ))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn mapping(&self, org_id: OrgId, id: &str) -> StoreResult<MappingRecord> {
        let row = sqlx::query(&format!(
            "SELECT {MAPPING_COLUMNS} FROM template_mappings WHERE id = $1 AND org_id = $2"
        ))
        .bind(id)
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        mapping_from_row(&row)
    }

    /// The organisation's mappings, of one event when `event` is given.
    pub async fn mappings(
        &self,
        org_id: OrgId,
        event: Option<&str>,
    ) -> StoreResult<Vec<MappingRecord>> {
        let rows = match event {
            Some(event) => {
                sqlx::query(&format!(
                    "SELECT {MAPPING_COLUMNS} FROM template_mappings
                      WHERE org_id = $1 AND event = $2 ORDER BY created_at, id"
                ))
                .bind(org_id.to_string())
                .bind(event)
                .fetch_all(self.reader())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {MAPPING_COLUMNS} FROM template_mappings
                      WHERE org_id = $1 ORDER BY event, created_at, id"
                ))
                .bind(org_id.to_string())
                .fetch_all(self.reader())
                .await?
            }
        };
        rows.iter().map(mapping_from_row).collect()
    }
}

/// The components of a template of `kind` (`BODY`, `HEADER`, `BUTTONS`), as Meta lists them.
fn component<'a>(components: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    components
        .as_array()
        .into_iter()
        .flatten()
        .find(|component| {
            component
                .get("type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|found| found.eq_ignore_ascii_case(kind))
        })
}

/// The variables of a template text (`{{1}}`, `{{first_name}}`), in order of first use.
fn variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim().to_owned();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

/// The placeholders of a template's body (`{{1}}`, `{{first_name}}`), in order of first use.
pub fn body_parameters(components: &serde_json::Value) -> Vec<String> {
    component(components, "body")
        .and_then(|body| body.get("text"))
        .and_then(serde_json::Value::as_str)
        .map(variables)
        .unwrap_or_default()
}

/// Where a value goes in a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A body variable, by its number or name.
    Body(String),
    /// The header's text variable.
    HeaderText(String),
    /// The media of an `IMAGE`, `VIDEO` or `DOCUMENT` header: a link.
    HeaderMedia(crate::domain::MediaKind),
    /// The dynamic suffix of the URL button at this index.
    UrlButton(u8),
}

/// One value a template needs, with the key a parameter mapping names it by: body variables
/// by their number or name (`1`, `first_name`), the header's variable as `header.<name>`, a
/// media header as `header.image` (`video`, `document`), a URL button's suffix as
/// `button.<index>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholder {
    pub key: String,
    pub slot: Slot,
}

/// Every value a template needs, header first, then the body's, then the buttons'.
pub fn placeholders(components: &serde_json::Value) -> Vec<Placeholder> {
    use crate::domain::MediaKind;
    let mut found = Vec::new();
    if let Some(header) = component(components, "header") {
        let format = header
            .get("format")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("TEXT")
            .to_ascii_uppercase();
        let media = match format.as_str() {
            "IMAGE" => Some(MediaKind::Image),
            "VIDEO" => Some(MediaKind::Video),
            "DOCUMENT" => Some(MediaKind::Document),
            _ => None,
        };
        match media {
            Some(kind) => found.push(Placeholder {
                key: format!("header.{}", kind.as_str()),
                slot: Slot::HeaderMedia(kind),
            }),
            None => {
                let text = header
                    .get("text")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                // A header has at most one variable.
                if let Some(name) = variables(text).into_iter().next() {
                    found.push(Placeholder {
                        key: format!("header.{name}"),
                        slot: Slot::HeaderText(name),
                    });
                }
            }
        }
    }
    found.extend(
        body_parameters(components)
            .into_iter()
            .map(|name| Placeholder {
                key: name.clone(),
                slot: Slot::Body(name),
            }),
    );
    let buttons = component(components, "buttons")
        .and_then(|buttons| buttons.get("buttons"))
        .and_then(serde_json::Value::as_array);
    for (index, button) in buttons.into_iter().flatten().enumerate() {
        let is_url = button
            .get("type")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|kind| kind.eq_ignore_ascii_case("url"));
        let dynamic = button
            .get("url")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|url| url.contains("{{"));
        if let (true, true, Ok(index)) = (is_url, dynamic, u8::try_from(index)) {
            found.push(Placeholder {
                key: format!("button.{index}"),
                slot: Slot::UrlButton(index),
            });
        }
    }
    found
}

/// The message that sends a template with `values`, one per placeholder in order.
pub fn template_content(
    name: &str,
    language: &str,
    placeholders: &[Placeholder],
    values: Vec<String>,
) -> crate::domain::MessageContent {
    use crate::domain::{MediaKind, TemplateButtonValue, TemplateHeader};
    let mut parameters = Vec::new();
    let mut names = Vec::new();
    let mut header = None;
    let mut buttons = Vec::new();
    let named = |name: &str| !name.chars().all(|c| c.is_ascii_digit());
    for (placeholder, value) in placeholders.iter().zip(values) {
        match &placeholder.slot {
            Slot::Body(name) => {
                if named(name) {
                    names.push(name.clone());
                }
                parameters.push(value);
            }
            Slot::HeaderText(name) => {
                header = Some(TemplateHeader::Text {
                    text: value,
                    parameter_name: named(name).then(|| name.clone()),
                })
            }
            Slot::HeaderMedia(kind) => {
                header = Some(match kind {
                    MediaKind::Video => TemplateHeader::Video { link: value },
                    MediaKind::Document => TemplateHeader::Document {
                        link: value,
                        filename: None,
                    },
                    _ => TemplateHeader::Image { link: value },
                })
            }
            Slot::UrlButton(index) => buttons.push(TemplateButtonValue {
                index: *index,
                url_suffix: value,
            }),
        }
    }
    crate::domain::MessageContent::Template {
        name: name.to_owned(),
        language: language.to_owned(),
        parameters,
        parameter_names: names,
        header: header.map(Box::new),
        buttons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MediaKind, MessageContent, TemplateButtonValue, TemplateHeader};
    use serde_json::json;

    #[test]
    fn headers_and_url_buttons_have_placeholders_of_their_own() {
        let components = json!([
            {"type": "HEADER", "format": "TEXT", "text": "Booking {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, see you on {{2}}."},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Change dates"},
                {"type": "URL", "text": "Manage", "url": "https://villa.example/b/{{1}}"},
                {"type": "URL", "text": "Site", "url": "https://villa.example"}
            ]}
        ]);
        let keys: Vec<String> = placeholders(&components)
            .into_iter()
            .map(|placeholder| placeholder.key)
            .collect();
        assert_eq!(keys, ["header.1", "1", "2", "button.1"]);
        let media = json!([{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Your invoice"}]);
        assert_eq!(
            placeholders(&media),
            [Placeholder {
                key: "header.document".into(),
                slot: Slot::HeaderMedia(MediaKind::Document)
            }]
        );
    }

    #[test]
    fn values_fill_the_slots_their_placeholders_name() {
        let components = json!([
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{first_name}}, room {{room}}"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://v.example/{{1}}"}]}
        ]);
        let content = template_content(
            "arrival",
            "en",
            &placeholders(&components),
            vec![
                "https://v.example/pool.jpg".into(),
                "Ana".into(),
                "12".into(),
                "B-77".into(),
            ],
        );
        assert_eq!(
            content,
            MessageContent::Template {
                name: "arrival".into(),
                language: "en".into(),
                parameters: vec!["Ana".into(), "12".into()],
                parameter_names: vec!["first_name".into(), "room".into()],
                header: Some(Box::new(TemplateHeader::Image {
                    link: "https://v.example/pool.jpg".into()
                })),
                buttons: vec![TemplateButtonValue {
                    index: 0,
                    url_suffix: "B-77".into()
                }],
            }
        );
    }

    #[test]
    fn body_placeholders_are_read_in_order_of_first_use() {
        let components = json!([
            {"type": "HEADER", "format": "TEXT", "text": "Booking {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, see you on {{2}}. Ref {{3}}; again {{1}}."},
            {"type": "FOOTER", "text": "Villa"}
        ]);
        assert_eq!(body_parameters(&components), ["1", "2", "3"]);
        assert_eq!(
            body_parameters(&json!([{"type": "BODY", "text": "Hi {{first_name}}"}])),
            ["first_name"]
        );
        assert!(body_parameters(&json!([{"type": "BODY", "text": "No variables"}])).is_empty());
        assert!(body_parameters(&json!({})).is_empty());
    }
}
