//! Why a test chat input or request was refused, with the API code a socket `error` frame
//! carries (the HTTP layer maps the same variants in `http::api::v1::test_sessions`).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TestChatError {
    #[error("Test session not found")]
    NotFound,
    #[error("Journey not found")]
    JourneyNotFound,
    #[error("no timer is pending: the journey waits on no Delay, timeout or event timer")]
    NoPendingTimer,
    #[error("the socket ticket is missing, wrong or expired; start a new test session")]
    BadTicket,
    #[error("{message}")]
    MissingField {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Malformed(String),
    #[error("the journey's draft does not parse: {0}")]
    CorruptJourney(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TestChatError {
    pub(super) fn missing(field: &'static str, hint: &str) -> Self {
        Self::MissingField {
            field,
            message: format!("`{field}` is required: {hint}"),
        }
    }

    pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// The request field the error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingField { field, .. } | Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The API's error code for this error, as socket `error` frames carry it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "test_session_not_found",
            Self::JourneyNotFound => "journey_not_found",
            Self::NoPendingTimer | Self::InvalidField { .. } => "invalid_field",
            Self::BadTicket => "unauthorized",
            Self::MissingField { .. } => "missing_field",
            Self::Malformed(_) => "malformed_json",
            Self::Store(StoreError::Unavailable(_)) => "unavailable",
            Self::CorruptJourney(_) | Self::Store(_) => "internal",
        }
    }
}
