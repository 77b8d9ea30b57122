//! Notifications per team member: escalations, new guest messages, assignments.
//!
//! Writers add them with [`notify_into`], inside the script of the change they are about, so a
//! notification exists exactly when its cause was committed. Every read and update is scoped
//! by organisation *and* user: a member never sees or marks another member's notification,
//! which is `NotFound` to them. Marking read is idempotent and keeps the first `read_at`.

use super::records::{opt_parsed, parsed};
use super::script::Script;
use super::{Columns, Store, StoreError, StoreResult, Tx};
use crate::domain::{ConversationId, Millis, OrgId, UserId};
use serde::Serialize;

/// The kinds of notification writers use.
pub mod kind {
    /// A conversation was handed to the team and waits for someone to take it.
    pub const ESCALATION: &str = "escalation";
    /// A guest wrote in a conversation the member owns.
    pub const NEW_MESSAGE: &str = "new_message";
    /// A conversation was assigned to the member.
    pub const ASSIGNED: &str = "assigned";

    /// A channel's credentials stopped working: an owner or admin must reconnect it.
    pub const CHANNEL_NEEDS_RECONNECT: &str = "channel_needs_reconnect";

    /// Every kind, for checks and documentation.
    pub const ALL: [&str; 4] = [ESCALATION, NEW_MESSAGE, ASSIGNED, CHANNEL_NEEDS_RECONNECT];
}

/// A notification as its recipient sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationRecord {
    pub id: String,
    /// `escalation`, `new_message`, `assigned` or `channel_needs_reconnect`.
    pub kind: String,
    /// The conversation it is about, when it is about one.
    #[schema(value_type = Option<String>)]
    pub conversation_id: Option<ConversationId>,
    pub title: String,
    pub body: String,
    pub created_at: Millis,
    /// When the member marked it read; `null` while unread.
    pub read_at: Option<Millis>,
}

/// Where a page of notifications continues: after the notification with this time and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationCursor {
    pub created_at: Millis,
    pub id: uuid::Uuid,
}

/// Which of a member's notifications to list, newest first.
#[derive(Clone, Debug)]
pub struct NotificationQuery {
    pub unread_only: bool,
    /// Only notifications older than this one.
    pub before: Option<NotificationCursor>,
    pub limit: i64,
}

/// Adds a notification for `user_id` to `script` and answers it as it will be stored. `kind`
/// is one of [`kind::ALL`].
#[expect(
    clippy::too_many_arguments,
    reason = "the signature writers call, agreed with the conversation actor"
)]
pub fn notify_into(
    script: &mut Script,
    org_id: OrgId,
    user_id: UserId,
    kind: &str,
    conversation_id: Option<ConversationId>,
    title: &str,
    body: &str,
    now: Millis,
) -> NotificationRecord {
    debug_assert!(
        kind::ALL.contains(&kind),
        "unknown notification kind {kind}"
    );
    let id = uuid::Uuid::now_v7().to_string();
    script.push(
        "INSERT INTO notifications (id, org_id, user_id, kind, conversation_id, title, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            id.clone().into(),
            org_id.to_string().into(),
            user_id.to_string().into(),
            kind.into(),
            conversation_id.map(|id| id.to_string()).into(),
            title.into(),
            body.into(),
            now.into(),
        ],
    );
    NotificationRecord {
        id,
        kind: kind.to_owned(),
        conversation_id,
        title: title.to_owned(),
        body: body.to_owned(),
        created_at: now,
        read_at: None,
    }
}

/// The organisation's members who hear about an escalation nobody was assigned to: owners,
/// admins and users (never the bot identity), oldest first.
pub async fn staff_to_notify(tx: &mut Tx, org_id: OrgId) -> StoreResult<Vec<UserId>> {
    let rows = tx
        .fetch_all(
            "SELECT id FROM users WHERE org_id = $1 AND role IN ('owner', 'admin', 'user')
              ORDER BY created_at, id",
            vec![org_id.to_string().into()],
        )
        .await?;
    rows.iter().map(|row| parsed(row, "id")).collect()
}

const NOTIFICATION_COLUMNS: &str =
    "id, kind, conversation_id, title, body, created_at, read_at FROM notifications";

fn notification_from_row(row: &impl Columns) -> StoreResult<NotificationRecord> {
    Ok(NotificationRecord {
        id: row.text("id")?,
        kind: row.text("kind")?,
        conversation_id: opt_parsed(row, "conversation_id")?,
        title: row.text("title")?,
        body: row.text("body")?,
        created_at: row.int("created_at")?,
        read_at: row.opt_int("read_at")?,
    })
}

impl Store {
    /// A page of the member's notifications, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn notifications(
        &self,
        org_id: OrgId,
        user_id: UserId,
        query: &NotificationQuery,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let unread_clause = if query.unread_only {
            "AND read_at IS NULL"
        } else {
            ""
        };
        let before_clause = if query.before.is_some() {
            "AND (created_at < $4 OR (created_at = $4 AND id < $5))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS}
              WHERE org_id = $1 AND user_id = $2 {unread_clause} {before_clause}
              ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let mut statement = sqlx::query(&sql)
            .bind(org_id.to_string())
            .bind(user_id.to_string())
            .bind(query.limit);
        if let Some(before) = &query.before {
            statement = statement
                .bind(before.created_at)
                .bind(before.id.to_string());
        }
        let rows = statement.fetch_all(self.reader()).await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// One of the member's notifications; anyone else's is `NotFound`.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn notification(
        &self,
        org_id: OrgId,
        user_id: UserId,
        id: uuid::Uuid,
    ) -> StoreResult<NotificationRecord> {
        let row = sqlx::query(&format!(
            "SELECT {NOTIFICATION_COLUMNS} WHERE id = $1 AND org_id = $2 AND user_id = $3"
        ))
        .bind(id.to_string())
        .bind(org_id.to_string())
        .bind(user_id.to_string())
        .fetch_one(self.reader())
        .await?;
        notification_from_row(&row)
    }

    /// How many of the member's notifications are unread.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn unread_notification_count(
        &self,
        org_id: OrgId,
        user_id: UserId,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications
              WHERE org_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(org_id.to_string())
        .bind(user_id.to_string())
        .fetch_one(self.reader())
        .await?;
        row.int("n")
    }

    /// Marks one of the member's notifications read (keeping an earlier `read_at`) and
    /// returns it as stored.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn mark_notification_read(
        &self,
        org_id: OrgId,
        user_id: UserId,
        id: uuid::Uuid,
        now: Millis,
    ) -> StoreResult<NotificationRecord> {
        let scope = vec![
            id.to_string().into(),
            org_id.to_string().into(),
            user_id.to_string().into(),
        ];
        self.write(move |tx| {
            Box::pin(async move {
                let mut values = scope.clone();
                values.push(now.into());
                let changed = tx
                    .execute(
                        "UPDATE notifications SET read_at = COALESCE(read_at, $4)
                          WHERE id = $1 AND org_id = $2 AND user_id = $3",
                        values,
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let row = tx
                    .fetch_one(
                        &format!(
                            "SELECT {NOTIFICATION_COLUMNS}
                              WHERE id = $1 AND org_id = $2 AND user_id = $3"
                        ),
                        scope,
                    )
                    .await?;
                notification_from_row(&row)
            })
        })
        .await
    }

    /// Marks every unread notification of the member read; returns how many were.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn mark_all_notifications_read(
        &self,
        org_id: OrgId,
        user_id: UserId,
        now: Millis,
    ) -> StoreResult<u64> {
        let values = vec![
            now.into(),
            org_id.to_string().into(),
            user_id.to_string().into(),
        ];
        self.write(move |tx| {
            Box::pin(tx.execute(
                "UPDATE notifications SET read_at = $1
                  WHERE org_id = $2 AND user_id = $3 AND read_at IS NULL",
                values,
            ))
        })
        .await
    }
}
