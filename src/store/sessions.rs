//! Console sessions: tokens from `POST /api/v1/auth/login`, stored hashed, with an expiry.
//!
//! Only the SHA-256 hash of a session token reaches the database, as for API keys. A session
//! authenticates until it expires or is revoked (log-out); both end it for good, and an
//! expired session is deleted the next time its user logs in. Sessions never act for the bot
//! identity, even one that somehow got a password.

use super::records::parsed;
use super::script::Script;
use super::{Columns, Principal, Store, StoreResult};
use crate::domain::{Millis, OrgId, Role, UserId};

/// What log-in needs to know about the team member who has an email address.
#[derive(Clone, Debug)]
pub struct LoginAccount {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    /// The argon2 hash of the password; `None` for members who have never had one.
    pub password_hash: Option<String>,
}

/// A session to store for a member who just logged in.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub org_id: OrgId,
    pub user_id: UserId,
    /// The SHA-256 hash of the token the member was given.
    pub token_hash: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

impl Store {
    /// The team member with this email (emails are unique across organisations and stored in
    /// lower case), or `None`.
    #[tracing::instrument(skip_all)]
    pub async fn login_account(&self, email: &str) -> StoreResult<Option<LoginAccount>> {
        let row = sqlx::query("SELECT id, org_id, role, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(LoginAccount {
            user_id: parsed(&row, "id")?,
            org_id: parsed(&row, "org_id")?,
            role: parsed(&row, "role")?,
            password_hash: row.opt_text("password_hash")?,
        }))
    }

    /// Stores a session, and deletes the member's sessions that have already expired so they
    /// do not pile up.
    #[tracing::instrument(skip_all, fields(user_id = %session.user_id))]
    pub async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        let mut script = Script::new();
        script.push(
            "DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2",
            vec![
                session.user_id.to_string().into(),
                session.created_at.into(),
            ],
        );
        script.push(
            "INSERT INTO sessions (id, org_id, user_id, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                uuid::Uuid::now_v7().to_string().into(),
                session.org_id.to_string().into(),
                session.user_id.to_string().into(),
                session.token_hash.as_str().into(),
                session.created_at.into(),
                session.expires_at.into(),
            ],
        );
        self.write_script(script).await
    }

    /// Resolves a hashed session token to the member it acts for; a session that is unknown,
    /// expired at `now` or revoked is `NotFound`.
    #[tracing::instrument(skip_all)]
    pub async fn principal_for_session(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Principal> {
        let row = sqlx::query(
            "SELECT s.org_id, s.user_id, u.role FROM sessions s JOIN users u ON u.id = s.user_id
              WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
                AND u.role <> 'bot'",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_one(self.reader())
        .await?;
        Ok(Principal {
            org_id: parsed(&row, "org_id")?,
            user_id: parsed(&row, "user_id")?,
            role: parsed(&row, "role")?,
        })
    }

    /// Ends the member's session with this token hash. Returns whether one was still open.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn revoke_session(
        &self,
        user_id: UserId,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let values = vec![now.into(), token_hash.into(), user_id.to_string().into()];
        let revoked = self
            .write(move |tx| {
                Box::pin(tx.execute(
                    "UPDATE sessions SET revoked_at = $1
                      WHERE token_hash = $2 AND user_id = $3 AND revoked_at IS NULL",
                    values,
                ))
            })
            .await?;
        Ok(revoked > 0)
    }
}
