//! The knowledge base: documents (FAQ entries, policies) an organisation's AI Agent answers
//! from. Every query is scoped by organisation: another organisation's document is
//! `NotFound`, the same as one that does not exist.

use super::records::parsed;
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{Millis, OrgId};
use serde::Serialize;

/// Longest title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest body, in characters.
pub const BODY_MAX_CHARS: usize = 20_000;
/// Most documents an organisation may keep.
pub const DOCUMENTS_MAX: i64 = 1_000;
/// Longest source label, in characters.
pub const SOURCE_MAX_CHARS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DocumentRecord {
    pub id: String,
    #[serde(skip)]
    pub org_id: OrgId,
    pub title: String,
    pub body: String,
    /// The source (a label such as `spa`) an AI Agent step may keep its retrieval to.
    pub source: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const DOCUMENT_SELECT: &str =
    "SELECT id, org_id, title, body, source, created_at, updated_at FROM knowledge_documents";

fn document_from_row(row: &impl Columns) -> StoreResult<DocumentRecord> {
    Ok(DocumentRecord {
        id: row.text("id")?,
        org_id: parsed(row, "org_id")?,
        title: row.text("title")?,
        body: row.text("body")?,
        source: row.opt_text("source")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

impl Store {
    /// How many documents the organisation keeps.
    pub async fn count_documents(&self, org_id: OrgId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM knowledge_documents WHERE org_id = $1")
            .bind(org_id.to_string())
            .fetch_one(self.reader())
            .await?;
        row.int("n")
    }

    /// What changes whenever the organisation's documents do: their count and latest change
    /// (a delete lowers the count; an add or an edit moves the latest change).
    pub async fn knowledge_stamp(&self, org_id: OrgId) -> StoreResult<(i64, Millis)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS latest
               FROM knowledge_documents WHERE org_id = $1",
        )
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        Ok((row.int("n")?, row.int("latest")?))
    }

    /// Whether a document of the organisation has `source` (ignoring case).
    pub async fn knowledge_source_exists(&self, org_id: OrgId, source: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM knowledge_documents
              WHERE org_id = $1 AND LOWER(source) = LOWER($2)",
        )
        .bind(org_id.to_string())
        .bind(source.trim())
        .fetch_one(self.reader())
        .await?;
        Ok(row.int("n")? > 0)
    }

    /// Adds a document and returns it as stored.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn create_document(
        &self,
        org_id: OrgId,
        title: &str,
        body: &str,
        source: Option<&str>,
        now: Millis,
    ) -> StoreResult<DocumentRecord> {
        let record = DocumentRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id,
            title: title.to_owned(),
            body: body.to_owned(),
            source: source.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        let mut script = Script::new();
        script.push(
            "INSERT INTO knowledge_documents (id, org_id, title, body, source, created_at,
                                              updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            vec![
                record.id.clone().into(),
                org_id.to_string().into(),
                record.title.clone().into(),
                record.body.clone().into(),
                record.source.clone().into(),
                now.into(),
            ],
        );
        self.write_script(script).await?;
        Ok(record)
    }

    /// Every document of the organisation, oldest first.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn documents(&self, org_id: OrgId) -> StoreResult<Vec<DocumentRecord>> {
        let rows = sqlx::query(&format!(
            "{DOCUMENT_SELECT} WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(document_from_row).collect()
    }

    /// One document of the organisation.
    pub async fn document(&self, org_id: OrgId, id: &str) -> StoreResult<DocumentRecord> {
        let row = sqlx::query(&format!("{DOCUMENT_SELECT} WHERE id = $1 AND org_id = $2"))
            .bind(id)
            .bind(org_id.to_string())
            .fetch_one(self.reader())
            .await?;
        document_from_row(&row)
    }

    /// Replaces a document's title and body and returns it as stored.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn update_document(
        &self,
        org_id: OrgId,
        id: &str,
        title: &str,
        body: &str,
        source: Option<&str>,
        now: Millis,
    ) -> StoreResult<DocumentRecord> {
        let (id, title, body) = (id.to_owned(), title.to_owned(), body.to_owned());
        let source = source.map(str::to_owned);
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE knowledge_documents SET title = $1, body = $2, source = $3,
                                updated_at = $4
                          WHERE id = $5 AND org_id = $6",
                        vec![
                            title.into(),
                            body.into(),
                            source.into(),
                            now.into(),
                            id.as_str().into(),
                            org_id.to_string().into(),
                        ],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let row = tx
                    .fetch_one(&format!("{DOCUMENT_SELECT} WHERE id = $1"), vec![id.into()])
                    .await?;
                document_from_row(&row)
            })
        })
        .await
    }

    /// Deletes a document of the organisation.
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    pub async fn delete_document(&self, org_id: OrgId, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "DELETE FROM knowledge_documents WHERE id = $1 AND org_id = $2",
                        vec![id.into(), org_id.to_string().into()],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
    }
}
