//! Roles of the seeds' permission tables.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The account owner: every permission.
    Owner,
    /// Manages channels, journeys and staff.
    Admin,
    /// An agent answering conversations.
    User,
    /// The identity a bot journey speaks as.
    Bot,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::User => "user",
            Role::Bot => "bot",
        }
    }

    /// Owners and admins manage channels (add, reconnect, disconnect, assign journeys).
    pub fn can_manage_channels(&self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Staff who may read the inbox: everyone but the bot identity.
    pub fn can_read_conversations(&self) -> bool {
        !matches!(self, Role::Bot)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "bot" => Ok(Role::Bot),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_and_admins_manage_channels() {
        let cases = [
            (Role::Owner, true),
            (Role::Admin, true),
            (Role::User, false),
            (Role::Bot, false),
        ];
        for (role, expected) in cases {
            assert_eq!(role.can_manage_channels(), expected, "{role}");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Owner, Role::Admin, Role::User, Role::Bot] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
    }
}
