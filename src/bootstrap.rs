//! First run: on an empty database, create an organisation, its owner (with a generated
//! password and API key), the built-in greeting journey and a web chat channel, and write the
//! credentials to `<data-dir>/bootstrap.json` (mode 0600).

use crate::crypto::{generate_token, hash_password, hash_token, write_private_file, MasterKey};
use crate::domain::{ChannelId, ChannelKind, ChannelStatus, Millis, OrgId, UserId};
use crate::journey::Journey;
use crate::store::{Bootstrap, NewChannel, Store, StoreError};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const BOOTSTRAP_FILE: &str = "bootstrap.json";
pub const OWNER_EMAIL: &str = "owner@parley.local";
/// The greeting the built-in bot answers with until the organisation changes it.
pub const DEFAULT_GREETING: &str =
    "Hello! Thanks for your message. Our team will get back to you shortly.";

/// The contents of `bootstrap.json`.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Credentials {
    pub organization_id: OrgId,
    pub owner_email: String,
    pub owner_password: String,
    pub api_key: String,
    pub webchat_channel_id: ChannelId,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the first organisation if the database has none. Returns the path of the file
/// written, or `None` when the database was already set up.
pub async fn ensure(
    store: &Store,
    master_key: &MasterKey,
    data_dir: &Path,
    now: Millis,
) -> Result<Option<PathBuf>, BootstrapError> {
    if store.count_organizations().await? > 0 {
        return Ok(None);
    }
    let password = generate_token("pw");
    let api_key = generate_token("pk");
    let bootstrap = Bootstrap {
        org_id: OrgId::new(),
        org_name: "My organisation".into(),
        owner_id: UserId::new(),
        owner_email: OWNER_EMAIL.into(),
        owner_password_hash: hash_password(&password),
        api_key_hash: hash_token(&api_key),
        greeting_journey: serde_json::to_string(&Journey::greeting(DEFAULT_GREETING))
            .expect("journeys serialise"),
    };
    store.create_organization(&bootstrap, now).await?;
    let webchat = NewChannel {
        id: ChannelId::new(),
        org_id: bootstrap.org_id,
        kind: ChannelKind::Webchat,
        name: "Web chat".into(),
        status: ChannelStatus::Connected,
        public_config: serde_json::json!({"allowed_origins": []}),
        sealed_secrets: master_key.encrypt(b"{}"),
        status_reason: None,
        connection: crate::store::ChannelConnection {
            webhook_attached: true,
            ..Default::default()
        },
    };
    store.insert_channel(&webchat, now).await?;
    let credentials = Credentials {
        organization_id: bootstrap.org_id,
        owner_email: bootstrap.owner_email,
        owner_password: password,
        api_key,
        webchat_channel_id: webchat.id,
    };
    let path = data_dir.join(BOOTSTRAP_FILE);
    let contents = serde_json::to_vec_pretty(&credentials).expect("credentials serialise");
    write_private_file(&path, &contents).map_err(|source| BootstrapError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(Some(path))
}
