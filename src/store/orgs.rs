//! Organisations, their users and API keys, and the first-run bootstrap.

use super::records::parsed;
use super::script::Script;
use super::{Columns, Store, StoreResult};
use crate::domain::{Millis, OrgId, Role, UserId};
use sqlx::Row;

/// Who a request acts as, resolved from its API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
}

/// What the first run creates: an organisation, its owner and the owner's API key.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    pub org_id: OrgId,
    pub org_name: String,
    pub owner_id: UserId,
    pub owner_email: String,
    pub owner_password_hash: String,
    pub api_key_hash: String,
    pub greeting_journey: String,
}

impl Store {
    /// The organisation's IANA time zone name (`UTC` unless set).
    pub async fn organization_time_zone(&self, org_id: OrgId) -> StoreResult<String> {
        let row = sqlx::query("SELECT time_zone FROM organizations WHERE id = $1")
            .bind(org_id.to_string())
            .fetch_one(self.reader())
            .await?;
        row.text("time_zone")
    }

    /// Sets the organisation's time zone (an IANA name the caller checked).
    pub async fn set_organization_time_zone(
        &self,
        org_id: OrgId,
        time_zone: &str,
    ) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "UPDATE organizations SET time_zone = $1 WHERE id = $2",
            vec![time_zone.to_owned().into(), org_id.to_string().into()],
        );
        self.write_script(script).await
    }

    pub async fn count_organizations(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM organizations")
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Creates an organisation with its owner, an owner API key and the built-in greeting
    /// journey, in one transaction.
    pub async fn create_organization(&self, bootstrap: &Bootstrap, now: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)",
            vec![
                bootstrap.org_id.to_string().into(),
                bootstrap.org_name.as_str().into(),
                now.into(),
            ],
        );
        script.push(
            "INSERT INTO users (id, org_id, email, name, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, 'owner', $5, $6)",
            vec![
                bootstrap.owner_id.to_string().into(),
                bootstrap.org_id.to_string().into(),
                bootstrap.owner_email.as_str().into(),
                "Owner".into(),
                bootstrap.owner_password_hash.as_str().into(),
                now.into(),
            ],
        );
        script.push(
            "INSERT INTO api_keys (id, org_id, user_id, name, token_hash, created_at)
             VALUES ($1, $2, $3, 'bootstrap', $4, $5)",
            vec![
                uuid::Uuid::now_v7().to_string().into(),
                bootstrap.org_id.to_string().into(),
                bootstrap.owner_id.to_string().into(),
                bootstrap.api_key_hash.as_str().into(),
                now.into(),
            ],
        );
        script.push(
            "INSERT INTO journeys (id, org_id, name, state, builtin, graph, created_at, updated_at)
             VALUES ($1, $2, 'Greeting', 'live', 1, $3, $4, $4)",
            vec![
                uuid::Uuid::now_v7().to_string().into(),
                bootstrap.org_id.to_string().into(),
                bootstrap.greeting_journey.as_str().into(),
                now.into(),
            ],
        );
        self.write_script(script).await
    }

    /// Resolves a hashed API key to the organisation and user it acts for.
    pub async fn principal_for_api_key(&self, token_hash: &str) -> StoreResult<Principal> {
        let row = sqlx::query(
            "SELECT k.org_id, k.user_id, u.role FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.token_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_one(self.reader())
        .await?;
        Ok(Principal {
            org_id: parsed(&row, "org_id")?,
            user_id: parsed(&row, "user_id")?,
            role: parsed(&row, "role")?,
        })
    }

    /// Creates a user with an API key; the harness and partners use it for other roles.
    pub async fn create_user_with_key(
        &self,
        org_id: OrgId,
        email: &str,
        role: Role,
        api_key_hash: &str,
        now: Millis,
    ) -> StoreResult<UserId> {
        let user_id = UserId::new();
        let mut script = Script::new();
        script.push(
            "INSERT INTO users (id, org_id, email, name, role, created_at)
             VALUES ($1, $2, $3, $3, $4, $5)",
            vec![
                user_id.to_string().into(),
                org_id.to_string().into(),
                email.into(),
                role.as_str().into(),
                now.into(),
            ],
        );
        script.push(
            "INSERT INTO api_keys (id, org_id, user_id, name, token_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                uuid::Uuid::now_v7().to_string().into(),
                org_id.to_string().into(),
                user_id.to_string().into(),
                email.into(),
                api_key_hash.into(),
                now.into(),
            ],
        );
        self.write_script(script).await?;
        Ok(user_id)
    }

    /// Creates a team member, with an API key when `api_key_hash` is given. An email already
    /// in use is `Conflict`.
    pub async fn create_user(&self, user: NewUser, now: Millis) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "INSERT INTO users (id, org_id, email, name, role, created_at, password_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                user.id.to_string().into(),
                user.org_id.to_string().into(),
                user.email.as_str().into(),
                user.name.as_str().into(),
                user.role.as_str().into(),
                now.into(),
                user.password_hash.clone().into(),
            ],
        );
        if let Some(hash) = &user.api_key_hash {
            script.push(
                "INSERT INTO api_keys (id, org_id, user_id, name, token_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    uuid::Uuid::now_v7().to_string().into(),
                    user.org_id.to_string().into(),
                    user.id.to_string().into(),
                    user.email.as_str().into(),
                    hash.as_str().into(),
                    now.into(),
                ],
            );
        }
        self.write_script(script).await
    }

    /// The organisation's team members, oldest first.
    pub async fn list_users(&self, org_id: OrgId) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT id, email, name, role, presence, max_active_conversations, created_at
               FROM users WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(org_id.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Sets a team member's presence and, when given, their maximum of active conversations.
    pub async fn update_user_availability(
        &self,
        org_id: OrgId,
        id: UserId,
        presence: Option<&str>,
        max_active_conversations: Option<i64>,
        events: Script,
    ) -> StoreResult<()> {
        let values = vec![
            id.to_string().into(),
            org_id.to_string().into(),
            presence.into(),
            max_active_conversations.into(),
        ];
        let changed = self
            .write(move |tx| {
                Box::pin(async move {
                    let changed = tx
                        .execute(
                            "UPDATE users SET presence = COALESCE($3, presence),
                                max_active_conversations = COALESCE($4, max_active_conversations)
                              WHERE id = $1 AND org_id = $2",
                            values,
                        )
                        .await?;
                    if changed > 0 {
                        tx.run(&events).await?;
                    }
                    Ok(changed)
                })
            })
            .await?;
        if changed == 0 {
            return Err(super::StoreError::NotFound);
        }
        Ok(())
    }

    /// One team member; another organisation's is `NotFound`.
    pub async fn user(&self, org_id: OrgId, id: UserId) -> StoreResult<UserRecord> {
        let row = sqlx::query(
            "SELECT id, email, name, role, presence, max_active_conversations, created_at
               FROM users WHERE id = $1 AND org_id = $2",
        )
        .bind(id.to_string())
        .bind(org_id.to_string())
        .fetch_one(self.reader())
        .await?;
        user_from_row(&row)
    }
}

/// A team member to create.
pub struct NewUser {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub api_key_hash: Option<String>,
    /// An argon2 hash: the member may log in to the console.
    pub password_hash: Option<String>,
}

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `online`, `away` or `offline`: only online agents take new escalations.
    pub presence: String,
    pub max_active_conversations: i64,
    pub created_at: Millis,
}

fn user_from_row(row: &impl super::Columns) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: parsed(row, "id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        role: parsed(row, "role")?,
        presence: row.text("presence")?,
        max_active_conversations: row.int("max_active_conversations")?,
        created_at: row.int("created_at")?,
    })
}
