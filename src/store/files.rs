//! Files Parley keeps itself: what a web chat visitor uploads (Parley is the web chat's
//! provider), and what the team sends a contact, on the web chat or on a channel whose
//! provider fetches files by link. Each is bound to its channel and contact.

use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult};
use crate::domain::{ChannelId, Millis, OrgId};
use base64::Engine;

/// A file to keep.
pub struct NewFile<'a> {
    pub id: &'a str,
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub contact_external_id: &'a str,
    pub mime_type: &'a str,
    pub filename: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// A file as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub org_id: OrgId,
    pub contact_external_id: String,
    pub mime_type: String,
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Keeps a file; a file already kept under this id (a resent upload) stays as it is.
    pub async fn put_file(&self, file: &NewFile<'_>, now: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO files (id, org_id, channel_id, contact_external_id, mime_type, filename, size, data, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO NOTHING",
            vec![
                file.id.into(),
                file.org_id.to_string().into(),
                file.channel_id.to_string().into(),
                file.contact_external_id.into(),
                file.mime_type.into(),
                file.filename.into(),
                i64::try_from(file.bytes.len()).unwrap_or(i64::MAX).into(),
                base64::engine::general_purpose::STANDARD
                    .encode(file.bytes)
                    .into(),
                now.into(),
            ],
        );
        self.write_script(script).await
    }

    /// A file of a channel.
    pub async fn file(&self, channel_id: ChannelId, id: &str) -> StoreResult<Option<StoredFile>> {
        let row = sqlx::query(
            "SELECT org_id, contact_external_id, mime_type, filename, data FROM files
              WHERE id = $1 AND channel_id = $2",
        )
        .bind(id)
        .bind(channel_id.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            let data: String = row.text("data")?;
            Ok(StoredFile {
                org_id: super::records::parsed(&row, "org_id")?,
                contact_external_id: row.text("contact_external_id")?,
                mime_type: row.text("mime_type")?,
                filename: row.opt_text("filename")?,
                bytes: base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|error| StoreError::Corrupt(format!("files.data: {error}")))?,
            })
        })
        .transpose()
    }
}
