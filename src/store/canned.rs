//! Canned responses: saved replies an organisation's agents insert into the composer, each
//! with an optional shortcut (`/checkin`) and category.
//!
//! Every read and write is scoped by organisation, so another organisation's response is
//! `NotFound`. A shortcut is unique within its organisation (a partial unique index); taking
//! one that is in use is a `StoreError::Conflict` from that index, on either backend, and
//! writes nothing. Responses are deleted for good: nothing else refers to them.

use super::records::{opt_parsed, parsed};
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{Millis, OrgId, UserId};
use serde::Serialize;
use std::fmt;

/// Longest shortcut after its `/`, in characters.
pub const SHORTCUT_MAX_CHARS: usize = 32;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CannedResponseRecord {
    pub id: String,
    #[serde(skip)]
    pub org_id: OrgId,
    /// Shown in the composer's picker.
    pub title: String,
    /// The text inserted into the composer.
    pub content: String,
    /// Typed in the composer to find the response, e.g. `/checkin`.
    #[schema(value_type = Option<String>, example = "/checkin")]
    pub shortcut: Option<Shortcut>,
    /// Groups responses in the picker, e.g. `Check-in`.
    pub category: Option<String>,
    /// The team member who created it.
    #[schema(value_type = Option<String>)]
    pub created_by: Option<UserId>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A canned response's shortcut: `/` and then 1 to [`SHORTCUT_MAX_CHARS`] of `a-z`, `0-9`,
/// `_` and `-`. Parsing lowercases ASCII letters, so `/CheckIn` is `/checkin`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Shortcut(String);

impl Shortcut {
    /// Parses a shortcut, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lowered = text.trim().to_ascii_lowercase();
        let Some(name) = lowered.strip_prefix('/') else {
            return Err("a shortcut starts with `/`, as in `/checkin`".into());
        };
        let length = name.chars().count();
        if !(1..=SHORTCUT_MAX_CHARS).contains(&length) {
            return Err(format!(
                "a shortcut has 1 to {SHORTCUT_MAX_CHARS} characters after its `/`"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
        {
            return Err(format!(
                "a shortcut may hold only letters a-z, digits, `_` and `-`, not `{bad}`"
            ));
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Shortcut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A canned response to create, already checked by the caller.
pub struct NewCannedResponse {
    pub title: String,
    pub content: String,
    pub shortcut: Option<Shortcut>,
    pub category: Option<String>,
}

/// What `update_canned_response` changes; `None` keeps the stored value.
#[derive(Default)]
pub struct CannedResponseChanges {
    pub title: Option<String>,
    pub content: Option<String>,
    /// `Some(None)` removes the shortcut.
    pub shortcut: Option<Option<Shortcut>>,
    /// `Some(None)` removes the category.
    pub category: Option<Option<String>>,
}

/// Which responses a listing returns.
#[derive(Clone, Debug, Default)]
pub struct CannedResponseQuery {
    /// `/che` matches shortcuts starting with `/che` (what the composer sends as the agent
    /// types); other text matches titles and contents containing it, ignoring case.
    pub text: Option<String>,
    /// Only responses of exactly this category.
    pub category: Option<String>,
}

impl CannedResponseQuery {
    pub fn matches(&self, response: &CannedResponseRecord) -> bool {
        let category_matches = self
            .category
            .as_ref()
            .is_none_or(|category| response.category.as_ref() == Some(category));
        category_matches
            && self
                .text
                .as_deref()
                .is_none_or(|text| text_matches(text, response))
    }
}

fn text_matches(text: &str, response: &CannedResponseRecord) -> bool {
    let needle = text.to_lowercase();
    if needle.starts_with('/') {
        return response
            .shortcut
            .as_ref()
            .is_some_and(|shortcut| shortcut.as_str().starts_with(&needle));
    }
    response.title.to_lowercase().contains(&needle)
        || response.content.to_lowercase().contains(&needle)
}

const COLUMNS: &str =
    "id, org_id, title, content, shortcut, category, created_by, created_at, updated_at";

fn canned_response_from_row(row: &impl Columns) -> StoreResult<CannedResponseRecord> {
    let shortcut = row
        .opt_text("shortcut")?
        .map(|text| Shortcut::parse(&text).map_err(StoreError::Corrupt))
        .transpose()?;
    let created_by = opt_parsed(row, "created_by")?;
    Ok(CannedResponseRecord {
        id: row.text("id")?,
        org_id: parsed(row, "org_id")?,
        title: row.text("title")?,
        content: row.text("content")?,
        shortcut,
        category: row.opt_text("category")?,
        created_by,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// Responses with a shortcut first, by shortcut; then the rest by title, ignoring case. Done
/// here rather than in SQL because the backends order NULLs and text differently.
fn sort_for_picker(responses: &mut [CannedResponseRecord]) {
    responses.sort_by_cached_key(|response| {
        (
            response.shortcut.is_none(),
            response.shortcut.clone(),
            response.title.to_lowercase(),
            response.id.clone(),
        )
    });
}

impl Store {
    /// Creates a canned response; `Conflict` when the organisation already uses its shortcut.
    pub async fn create_canned_response(
        &self,
        org_id: OrgId,
        created_by: UserId,
        response: &NewCannedResponse,
        now: Millis,
    ) -> StoreResult<CannedResponseRecord> {
        let record = CannedResponseRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id,
            title: response.title.clone(),
            content: response.content.clone(),
            shortcut: response.shortcut.clone(),
            category: response.category.clone(),
            created_by: Some(created_by),
            created_at: now,
            updated_at: now,
        };
        let mut script = Script::new();
        script.push(
            "INSERT INTO canned_responses
                    (id, org_id, title, content, shortcut, category, created_by, created_at,
                     updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            vec![
                record.id.as_str().into(),
                org_id.to_string().into(),
                record.title.as_str().into(),
                record.content.as_str().into(),
                record.shortcut.as_ref().map(Shortcut::as_str).into(),
                record.category.clone().into(),
                created_by.to_string().into(),
                now.into(),
            ],
        );
        self.write_script(script).await?;
        Ok(record)
    }

    /// The organisation's canned responses that match `query`, in picker order (see
    /// `sort_for_picker`). An organisation has a few hundred at most, so the text is matched
    /// here rather than in SQL, the same way on both backends.
    pub async fn list_canned_responses(
        &self,
        org_id: OrgId,
        query: &CannedResponseQuery,
    ) -> StoreResult<Vec<CannedResponseRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM canned_responses WHERE org_id = $1"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut responses = Vec::with_capacity(rows.len());
        for row in &rows {
            let response = canned_response_from_row(row)?;
            if query.matches(&response) {
                responses.push(response);
            }
        }
        sort_for_picker(&mut responses);
        Ok(responses)
    }

    /// One canned response of the organisation; another organisation's is `NotFound`.
    pub async fn canned_response(
        &self,
        org_id: OrgId,
        id: &str,
    ) -> StoreResult<CannedResponseRecord> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM canned_responses WHERE id = $1 AND org_id = $2"
        ))
        .bind(id)
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        canned_response_from_row(&row)
    }

    /// Changes a canned response and returns it as stored; `Conflict` when the new shortcut
    /// is in use, which changes nothing.
    pub async fn update_canned_response(
        &self,
        org_id: OrgId,
        id: &str,
        changes: &CannedResponseChanges,
        now: Millis,
    ) -> StoreResult<CannedResponseRecord> {
        let values = vec![
            changes.title.clone().into(),
            changes.content.clone().into(),
            i64::from(changes.shortcut.is_some()).into(),
            changes
                .shortcut
                .as_ref()
                .and_then(|shortcut| shortcut.as_ref().map(Shortcut::as_str))
                .into(),
            i64::from(changes.category.is_some()).into(),
            changes.category.clone().flatten().into(),
            now.into(),
            id.into(),
            org_id.to_string().into(),
        ];
        self.write(move |tx| {
            Box::pin(async move {
                let row = tx
                    .fetch_optional(
                        "UPDATE canned_responses
                            SET title = COALESCE($1, title),
                                content = COALESCE($2, content),
                                shortcut = CASE WHEN $3 = 1 THEN $4 ELSE shortcut END,
                                category = CASE WHEN $5 = 1 THEN $6 ELSE category END,
                                updated_at = $7
                          WHERE id = $8 AND org_id = $9
                         RETURNING id, org_id, title, content, shortcut, category, created_by,
                                   created_at, updated_at",
                        values,
                    )
                    .await?
                    .ok_or(StoreError::NotFound)?;
                canned_response_from_row(&row)
            })
        })
        .await
    }

    /// Deletes a canned response; `NotFound` when the organisation has no such response.
    pub async fn delete_canned_response(&self, org_id: OrgId, id: &str) -> StoreResult<()> {
        let values = vec![id.into(), org_id.to_string().into()];
        let deleted = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "DELETE FROM canned_responses WHERE id = $1 AND org_id = $2",
                    values,
                ))
            })
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(input: &str, expected: Option<&str>) {
        let parsed = Shortcut::parse(input);
        assert_eq!(
            parsed.as_ref().ok().map(Shortcut::as_str),
            expected,
            "{input:?}: {parsed:?}"
        );
    }

    #[test]
    fn shortcuts_are_a_slash_and_up_to_32_lowercase_letters_digits_or_dashes() {
        check("/checkin", Some("/checkin"));
        check(" /Check-In_2 ", Some("/check-in_2"));
        check(
            &format!("/{}", "a".repeat(32)),
            Some(&format!("/{}", "a".repeat(32))),
        );
        check(&format!("/{}", "a".repeat(33)), None);
        check("/", None);
        check("", None);
        check("checkin", None);
        check("//checkin", None);
        check("/check in", None);
        check("/café", None);
        // The Kelvin sign lowercases to an ASCII `k` under Unicode rules; it stays refused.
        check("/\u{212A}ey", None);
    }

    fn response(title: &str, content: &str, shortcut: Option<&str>) -> CannedResponseRecord {
        CannedResponseRecord {
            id: title.to_owned(),
            org_id: OrgId::new(),
            title: title.to_owned(),
            content: content.to_owned(),
            shortcut: shortcut.map(|text| Shortcut::parse(text).unwrap()),
            category: Some("Booking".into()),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_slash_matches_shortcut_prefixes_and_other_text_titles_and_contents() {
        let checkin = response("Check-in time", "From 3 PM", Some("/checkin"));
        let wifi = response("Wi-Fi", "The password is on your key card", None);
        let query = |text: &str, category: Option<&str>| CannedResponseQuery {
            text: Some(text.to_owned()),
            category: category.map(str::to_owned),
        };
        let cases = [
            (query("/che", None), &checkin, true, "shortcut prefix"),
            (
                query("/CHE", None),
                &checkin,
                true,
                "shortcut prefix, any case",
            ),
            (query("/heck", None), &checkin, false, "shortcut infix"),
            (query("/", None), &wifi, false, "no shortcut"),
            (query("3 pm", None), &checkin, true, "content, any case"),
            (query("KEY CARD", None), &wifi, true, "content"),
            (query("wi-fi", None), &wifi, true, "title"),
            (
                query("checkin", None),
                &checkin,
                false,
                "text is not the shortcut",
            ),
            (query("", Some("Booking")), &wifi, true, "category"),
            (
                query("", Some("booking")),
                &wifi,
                false,
                "category is exact",
            ),
        ];
        for (query, response, expected, case) in cases {
            assert_eq!(query.matches(response), expected, "{case}");
        }
    }

    #[test]
    fn the_picker_lists_shortcuts_first_then_titles() {
        let mut responses = vec![
            response("b title", "", None),
            response("z", "", Some("/b")),
            response("A title", "", None),
            response("a", "", Some("/a")),
        ];
        sort_for_picker(&mut responses);
        let titles: Vec<_> = responses.iter().map(|r| r.title.as_str()).collect();
        assert_eq!(titles, ["a", "z", "A title", "b title"]);
    }

    proptest! {
        #[test]
        fn every_valid_shortcut_parses_to_itself(name in "[a-z0-9_-]{1,32}") {
            let text = format!("/{name}");
            prop_assert_eq!(Shortcut::parse(&text).map(|s| s.to_string()), Ok(text));
        }

        #[test]
        fn parsing_never_panics_and_only_yields_valid_shortcuts(text in "\\PC{0,40}") {
            if let Ok(shortcut) = Shortcut::parse(&text) {
                let name = shortcut.as_str().strip_prefix('/').unwrap();
                prop_assert!(!name.is_empty() && name.len() <= SHORTCUT_MAX_CHARS);
                prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
            }
        }
    }
}
