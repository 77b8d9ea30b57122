//! Typed identifiers. Every id is a UUID (v7, so ids sort by creation time) kept as a newtype so
//! that a `ChannelId` can never be passed where a `ConversationId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::Custom("uuid".into())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

id_type!(
    /// An organisation: the tenant every row belongs to.
    OrgId
);
id_type!(
    /// A staff member or a bot identity of an organisation.
    UserId
);
id_type!(
    /// A connected messaging channel (one WhatsApp number, one web chat widget, ...).
    ChannelId
);
id_type!(
    /// A customer as seen through one channel.
    ContactId
);
id_type!(
    /// The thread between a contact and the organisation on one channel.
    ConversationId
);
id_type!(
    /// One message in a conversation, inbound or outbound.
    MessageId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = ChannelId::new();
        let parsed: ChannelId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn ids_reject_strings_that_are_not_uuids() {
        assert!("not-an-id".parse::<ConversationId>().is_err());
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = MessageId::new();
        let second = MessageId::new();
        assert!(first < second);
    }
}
