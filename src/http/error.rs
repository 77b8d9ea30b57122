//! The one place errors become HTTP answers: `{"error": {"code", "message"}}` with a stable,
//! documented code and the status of its row in the table below.

use crate::adapters::WebhookError;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident => $status:ident),+ $(,)?) => {
        /// Every error code the API answers with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum Code { $($(#[$meta])* $variant),+ }

        impl Code {
            pub fn status(&self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status),+ }
            }
        }
    };
}

error_codes! {
    /// No credentials, or credentials Parley does not know.
    Unauthorized => UNAUTHORIZED,
    /// The caller's role may not do this.
    Forbidden => FORBIDDEN,
    ChannelNotFound => NOT_FOUND,
    ConversationNotFound => NOT_FOUND,
    /// The request body is not valid JSON.
    MalformedJson => BAD_REQUEST,
    /// A required field is absent.
    MissingField => UNPROCESSABLE_ENTITY,
    /// A field is present but its value is not acceptable.
    InvalidField => UNPROCESSABLE_ENTITY,
    UnknownChannelKind => UNPROCESSABLE_ENTITY,
    // Connections (the seed's error table).
    /// The provider refused the channel's credentials (expired, revoked, missing permission).
    ProviderRejectedCredentials => UNPROCESSABLE_ENTITY,
    /// The provider refused the request for another reason, given in the message.
    ProviderRejected => UNPROCESSABLE_ENTITY,
    /// The provider could not be reached or failed; nothing was changed, retry later.
    ProviderUnavailable => BAD_GATEWAY,
    /// Failed to load accounts: the provider refused to list the granted accounts.
    FailedToLoadAccounts => BAD_GATEWAY,
    /// Failed to disconnect: the provider refused to remove the webhook subscription.
    DisconnectFailed => BAD_GATEWAY,
    /// User denied consent on the provider's consent screen.
    UserDeniedConsent => UNPROCESSABLE_ENTITY,
    /// Missing organisation in callback: the consent callback has no (valid) state.
    MissingOrganization => BAD_REQUEST,
    /// The consent flow took too long or its state was already used; start it again.
    ConsentExpired => BAD_REQUEST,
    /// Business account validation failed: no usable number, Page or account was granted.
    BusinessAccountValidationFailed => UNPROCESSABLE_ENTITY,
    /// Webhook subscription empty: the provider reported success but lists no subscription.
    WebhookSubscriptionEmpty => BAD_GATEWAY,
    /// Session has expired: the channel's credentials expired; reconnect it.
    SessionExpired => CONFLICT,
    /// The provider account is connected as another organisation's channel.
    ChannelAccountTaken => CONFLICT,
    /// No Meta app is configured (PARLEY_META_APP_ID, PARLEY_META_APP_SECRET).
    MetaAppNotConfigured => CONFLICT,
    /// The message has no media, or the provider no longer keeps it.
    MediaNotFound => NOT_FOUND,
    /// The conversation's channel cannot send files from the team.
    AttachmentsNotSupported => UNPROCESSABLE_ENTITY,
    /// The file's type is not one the channel sends; the message lists the accepted types.
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE,
    /// The file is larger than the channel allows for its type.
    AttachmentTooLarge => PAYLOAD_TOO_LARGE,
    /// The channel only answers contacts who write first; it cannot start with a number.
    OutboundNotSupported => UNPROCESSABLE_ENTITY,
    /// The provider this channel kind needs is not configured on this server.
    ProviderNotConfigured => CONFLICT,
    // WhatsApp templates and events.
    /// The channel has no WhatsApp templates (not WhatsApp, or no business account id).
    TemplatesNotSupported => UNPROCESSABLE_ENTITY,
    /// No synced template has this name and language: sync the channel's templates first.
    TemplateNotFound => UNPROCESSABLE_ENTITY,
    /// The template is not approved by Meta (pending, rejected, paused or disabled).
    TemplateNotApproved => CONFLICT,
    /// The parameter mapping does not name exactly the template's placeholders.
    ParameterMappingMismatch => UNPROCESSABLE_ENTITY,
    TemplateMappingNotFound => NOT_FOUND,
    /// The event is already mapped on that channel.
    TemplateMappingTaken => CONFLICT,
    /// No template is mapped to the event (on that channel).
    EventNotMapped => UNPROCESSABLE_ENTITY,
    /// The event is mapped on several channels: name one with `channel_id`.
    AmbiguousChannel => UNPROCESSABLE_ENTITY,
    /// The event's data lacks a value the template's mapping reads.
    MissingEventData => UNPROCESSABLE_ENTITY,
    /// The channel is switched off or disconnected: it neither receives nor sends.
    ChannelInactive => SERVICE_UNAVAILABLE,
    /// The channel cannot do this in its current state (e.g. reconnecting a deleted kind).
    ChannelStateConflict => CONFLICT,
    /// A webhook without its signature header.
    MissingSignature => UNAUTHORIZED,
    /// A webhook whose signature does not match its body.
    InvalidSignature => UNAUTHORIZED,
    /// A webhook body that is not the provider's payload.
    MalformedPayload => BAD_REQUEST,
    /// The webhook verification handshake failed (wrong verify token or mode).
    VerificationFailed => FORBIDDEN,
    /// Storage is unavailable; nothing was stored, retry later.
    Unavailable => SERVICE_UNAVAILABLE,
    // Bot journeys (the seed's error table).
    JourneyNotFound => NOT_FOUND,
    /// Journey name already exists in organisation.
    JourneyNameTaken => CONFLICT,
    /// Invalid journey data structure: the graph did not parse.
    InvalidJourneyData => UNPROCESSABLE_ENTITY,
    /// The journey cannot be deployed; `problems` lists every reason with its step.
    JourneyInvalid => UNPROCESSABLE_ENTITY,
    /// Cannot deploy journey with no other steps.
    NoOtherSteps => UNPROCESSABLE_ENTITY,
    /// Cannot delete the Start step.
    CannotDeleteStart => UNPROCESSABLE_ENTITY,
    StepNotFound => NOT_FOUND,
    ConnectionNotFound => NOT_FOUND,
    /// Variable name already exists in journey.
    VariableNameTaken => CONFLICT,
    VariableNotFound => NOT_FOUND,
    /// System variables cannot be modified.
    SystemVariableReadOnly => UNPROCESSABLE_ENTITY,
    VersionNotFound => NOT_FOUND,
    /// Only a Live journey can be assigned to a channel.
    JourneyNotLive => CONFLICT,
    /// A journey speaks as a user with the Bot role.
    NotABotUser => UNPROCESSABLE_ENTITY,
    UserNotFound => NOT_FOUND,
    /// A user with this email already exists.
    EmailTaken => CONFLICT,
    TestSessionNotFound => NOT_FOUND,
    /// The journey changed while the request ran (another edit or deploy); read it and retry.
    JourneyChanged => CONFLICT,
    // Handover.
    /// The action does not apply to the conversation's status (claiming one nobody escalated…).
    InvalidTransition => CONFLICT,
    /// Another team member owns the conversation; an owner or admin can reassign it.
    NotYourConversation => FORBIDDEN,
    // Inbox.
    CannedResponseNotFound => NOT_FOUND,
    /// Another canned response of the organisation has this shortcut.
    ShortcutTaken => CONFLICT,
    NoteNotFound => NOT_FOUND,
    NotificationNotFound => NOT_FOUND,
    /// The email and password do not match a team member who may log in.
    InvalidCredentials => UNAUTHORIZED,
    /// Too many failed log-ins for this email; wait before trying again.
    TooManyAttempts => TOO_MANY_REQUESTS,
    // Knowledge base.
    DocumentNotFound => NOT_FOUND,
    /// The organisation keeps as many documents as it may; delete one first.
    TooManyDocuments => UNPROCESSABLE_ENTITY,
    // AI Agents.
    AiAgentNotFound => NOT_FOUND,
    /// Another AI agent of the organisation has this name (names ignore case).
    AiAgentNameTaken => CONFLICT,
    /// The organisation keeps as many AI agents as it may; delete one first.
    TooManyAiAgents => UNPROCESSABLE_ENTITY,
    // Goals.
    GoalNotFound => NOT_FOUND,
    GoalNameTaken => CONFLICT,
    MilestoneNotFound => NOT_FOUND,
    MilestoneNameTaken => CONFLICT,
    Internal => INTERNAL_SERVER_ERROR,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// The request field the error is about, when it is about one.
    pub field: Option<String>,
    /// Every problem found, when there are several (journey validation).
    pub problems: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    code: Code,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// Every problem found, each with a `code`, a `message` and, where it applies, the
    /// `step_id` and `field` it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    problems: Option<serde_json::Value>,
}

impl ApiError {
    /// A provider call that failed during a request, as the caller sees it: dead credentials
    /// (reconnect), a passing failure (nothing changed, try again) or a refusal with the
    /// provider's reason. `provider` names it in the message ("Meta", "Twilio" …).
    pub(crate) fn from_provider(provider: &str, error: crate::adapters::SendError) -> Self {
        use crate::adapters::SendError;
        match error {
            SendError::CredentialsRejected { reason } => Self::new(
                Code::ProviderRejectedCredentials,
                format!("{provider} refused the credentials; reconnect the channel: {reason}"),
            ),
            SendError::Retryable { reason, .. } => Self::new(
                Code::ProviderUnavailable,
                format!(
                    "{provider} could not be reached; nothing was changed, try again: {reason}"
                ),
            ),
            SendError::Permanent { reason } => Self::new(
                Code::ProviderRejected,
                format!("{provider} refused: {reason}"),
            ),
        }
    }

    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            problems: None,
        }
    }

    pub fn field(code: Code, field: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
            problems: None,
        }
    }

    /// Attaches the list of every problem found.
    pub fn with_problems(mut self, problems: serde_json::Value) -> Self {
        self.problems = Some(problems);
        self
    }

    /// The error as the agent WebSocket reports it: `{"code", "message", "field"?}`.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(ErrorDetail {
            code: self.code,
            message: self.message.clone(),
            field: self.field.clone(),
            problems: self.problems.clone(),
        })
        .unwrap_or(serde_json::Value::Null)
    }

    pub fn missing(field: &str) -> Self {
        Self::field(Code::MissingField, field, format!("`{field}` is required"))
    }

    pub fn unauthorized() -> Self {
        Self::new(
            Code::Unauthorized,
            "send `Authorization: Bearer <api key>` with a valid API key",
        )
    }

    pub fn forbidden(action: &str) -> Self {
        Self::new(Code::Forbidden, format!("your role may not {action}"))
    }

    /// Maps a store error, with `not_found` standing for the resource the caller asked for.
    pub fn from_store(error: StoreError, not_found: Code) -> Self {
        match error {
            StoreError::NotFound => Self::new(not_found, "no such resource in your organisation"),
            StoreError::Unavailable(_) => Self::new(
                Code::Unavailable,
                "storage is unavailable, try again shortly",
            ),
            other => {
                tracing::error!(error = ?other, "store error");
                Self::new(Code::Internal, "an internal error occurred")
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
                problems: self.problems.clone(),
            },
        })
    }
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        let code = match error {
            WebhookError::MissingSignature => Code::MissingSignature,
            WebhookError::BadSignature => Code::InvalidSignature,
            WebhookError::MalformedPayload(_) => Code::MalformedPayload,
        };
        Self::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_client_or_server_error_status() {
        for code in [
            Code::Unauthorized,
            Code::MissingField,
            Code::InvalidSignature,
            Code::Unavailable,
            Code::Internal,
        ] {
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{code:?}"
            );
        }
    }

    #[test]
    fn codes_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_value(Code::UnknownChannelKind).unwrap(),
            "unknown_channel_kind"
        );
    }
}
