//! Handover between the bot and the team: which staff action may move a conversation from
//! which status to which, who owns it afterwards, and the system line the thread shows. Pure:
//! the conversation actor applies the result in one write.

use super::{ConversationStatus, UserId};

/// How long the bot stays quiet after a team member's reply, unless the conversation is handed
/// back or resolved first.
pub const HUMAN_REPLY_SILENCE_MS: i64 = 3 * 24 * 60 * 60 * 1_000;

/// Who acts, as the thread names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub name: String,
    /// Owners and admins may act on any conversation and assign; agents only on conversations
    /// nobody else owns.
    pub manager: bool,
}

/// A staff action on a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Take a conversation waiting for an agent.
    Claim,
    /// Take a conversation from the bot.
    TakeOver,
    /// Give the conversation to a team member (managers only).
    Assign { to: UserId, to_name: String },
    /// Done: the next guest message starts a fresh bot conversation.
    Resolve,
    /// Back to the bot, which greets the guest on the next message.
    HandBack,
    /// A team member's reply: it makes the sender the owner when nobody (or the bot) was.
    Reply,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Claim => "claim",
            Action::TakeOver => "take_over",
            Action::Assign { .. } => "assign",
            Action::Resolve => "resolve",
            Action::HandBack => "hand_back",
            Action::Reply => "reply",
        }
    }
}

/// Where a conversation stands for handover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handling {
    pub status: ConversationStatus,
    pub assignee: Option<UserId>,
}

/// What an action does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub to: Handling,
    /// The system line for the thread; `None` when nothing changed hands.
    pub notice: Option<String>,
    /// The journey session ends: the next guest message starts a new run.
    pub reset_session: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandoverError {
    #[error("{0}")]
    NotAllowedNow(String),
    #[error("the conversation belongs to another team member; an owner or admin can reassign it")]
    NotYours,
    #[error("only owners and admins may assign conversations")]
    NotManager,
}

impl HandoverError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            HandoverError::NotAllowedNow(_) => "invalid_transition",
            HandoverError::NotYours => "not_your_conversation",
            HandoverError::NotManager => "forbidden",
        }
    }
}

/// Applies `action` by `actor` to a conversation in `from`.
pub fn apply(from: &Handling, action: &Action, actor: &Actor) -> Result<Transition, HandoverError> {
    use ConversationStatus::*;
    let owned_by_other =
        from.status == AgentAssigned && from.assignee.is_some_and(|assignee| assignee != actor.id);
    if owned_by_other && !actor.manager && !matches!(action, Action::Assign { .. }) {
        return Err(HandoverError::NotYours);
    }
    let mine = |notice: String, reset_session: bool| Transition {
        to: Handling {
            status: AgentAssigned,
            assignee: Some(actor.id),
        },
        notice: Some(notice),
        reset_session,
    };
    let closed = matches!(from.status, Resolved | Expired);
    match action {
        Action::Claim => match from.status {
            AwaitingAgent => Ok(mine(
                format!("{} claimed the conversation", actor.name),
                false,
            )),
            _ => Err(HandoverError::NotAllowedNow(format!(
                "only a conversation waiting for an agent can be claimed; this one is {}",
                from.status
            ))),
        },
        Action::TakeOver => match from.status {
            BotHandling | AwaitingAgent => Ok(mine(
                format!("{} took over from the bot", actor.name),
                false,
            )),
            _ => Err(HandoverError::NotAllowedNow(format!(
                "only a conversation with the bot can be taken over; this one is {}",
                from.status
            ))),
        },
        Action::Assign { to, to_name } => {
            if !actor.manager {
                return Err(HandoverError::NotManager);
            }
            if closed {
                return Err(HandoverError::NotAllowedNow(format!(
                    "a {} conversation cannot be assigned; the guest's next message opens it again",
                    from.status
                )));
            }
            Ok(Transition {
                to: Handling {
                    status: AgentAssigned,
                    assignee: Some(*to),
                },
                notice: Some(format!(
                    "{} assigned the conversation to {to_name}",
                    actor.name
                )),
                reset_session: false,
            })
        }
        Action::Resolve => {
            if closed {
                return Err(HandoverError::NotAllowedNow(format!(
                    "the conversation is already {}",
                    from.status
                )));
            }
            Ok(Transition {
                to: Handling {
                    status: Resolved,
                    assignee: None,
                },
                notice: Some(format!("{} resolved the conversation", actor.name)),
                reset_session: true,
            })
        }
        Action::HandBack => match from.status {
            AwaitingAgent | AgentAssigned => Ok(Transition {
                to: Handling {
                    status: BotHandling,
                    assignee: None,
                },
                notice: Some(format!(
                    "{} handed the conversation back to the bot",
                    actor.name
                )),
                reset_session: true,
            }),
            _ => Err(HandoverError::NotAllowedNow(format!(
                "only a conversation with the team can be handed back; this one is {}",
                from.status
            ))),
        },
        Action::Reply => match from.status {
            AgentAssigned if from.assignee.is_some() => Ok(Transition {
                to: from.clone(),
                notice: None,
                reset_session: false,
            }),
            BotHandling | AwaitingAgent | AgentAssigned => Ok(mine(
                format!("{} took over from the bot", actor.name),
                false,
            )),
            // A reply to a closed conversation opens it again, with the sender.
            Resolved | Expired => Ok(mine(
                format!("{} reopened the conversation", actor.name),
                true,
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationStatus::*;

    fn agent(manager: bool) -> Actor {
        Actor {
            id: UserId::new(),
            name: "Maria".into(),
            manager,
        }
    }

    fn at(status: ConversationStatus, assignee: Option<UserId>) -> Handling {
        Handling { status, assignee }
    }

    #[test]
    fn claim_takes_only_a_conversation_waiting_for_an_agent() {
        let maria = agent(false);
        let done = apply(&at(AwaitingAgent, None), &Action::Claim, &maria).unwrap();
        assert_eq!(done.to, at(AgentAssigned, Some(maria.id)));
        assert_eq!(
            done.notice.as_deref(),
            Some("Maria claimed the conversation")
        );
        for status in [BotHandling, Resolved, Expired] {
            let refused = apply(&at(status, None), &Action::Claim, &maria).unwrap_err();
            assert_eq!(refused.code(), "invalid_transition", "{status}");
        }
    }

    #[test]
    fn take_over_and_hand_back_move_between_bot_and_team() {
        let maria = agent(false);
        let taken = apply(&at(BotHandling, None), &Action::TakeOver, &maria).unwrap();
        assert_eq!(taken.to, at(AgentAssigned, Some(maria.id)));
        let back = apply(&taken.to, &Action::HandBack, &maria).unwrap();
        assert_eq!(back.to, at(BotHandling, None));
        assert!(back.reset_session, "the bot greets on the next message");
        assert!(apply(&at(BotHandling, None), &Action::HandBack, &maria).is_err());
        assert!(apply(
            &at(AgentAssigned, Some(maria.id)),
            &Action::TakeOver,
            &maria
        )
        .is_err());
    }

    #[test]
    fn another_agents_conversation_is_left_alone_unless_by_a_manager() {
        let (maria, john, boss) = (agent(false), agent(false), agent(true));
        let johns = at(AgentAssigned, Some(john.id));
        for action in [Action::Resolve, Action::HandBack, Action::Reply] {
            assert_eq!(
                apply(&johns, &action, &maria).unwrap_err(),
                HandoverError::NotYours,
                "{action:?}"
            );
            assert!(apply(&johns, &action, &boss).is_ok(), "{action:?}");
        }
        let assign = Action::Assign {
            to: maria.id,
            to_name: "Maria".into(),
        };
        assert_eq!(
            apply(&johns, &assign, &maria).unwrap_err(),
            HandoverError::NotManager
        );
        let assigned = apply(&johns, &assign, &boss).unwrap();
        assert_eq!(assigned.to, at(AgentAssigned, Some(maria.id)));
        assert_eq!(
            assigned.notice.as_deref(),
            Some("Maria assigned the conversation to Maria")
        );
    }

    #[test]
    fn resolve_closes_and_a_reply_reopens() {
        let maria = agent(false);
        let resolved = apply(&at(AgentAssigned, Some(maria.id)), &Action::Resolve, &maria).unwrap();
        assert_eq!(resolved.to, at(Resolved, None));
        assert!(resolved.reset_session);
        assert!(apply(&resolved.to, &Action::Resolve, &maria).is_err());
        let reopened = apply(&resolved.to, &Action::Reply, &maria).unwrap();
        assert_eq!(reopened.to, at(AgentAssigned, Some(maria.id)));
        assert_eq!(
            reopened.notice.as_deref(),
            Some("Maria reopened the conversation")
        );
    }

    #[test]
    fn a_reply_takes_over_from_the_bot_and_changes_nothing_for_the_owner() {
        let maria = agent(false);
        let taken = apply(&at(BotHandling, None), &Action::Reply, &maria).unwrap();
        assert_eq!(taken.to, at(AgentAssigned, Some(maria.id)));
        assert!(taken.notice.is_some());
        let again = apply(&taken.to, &Action::Reply, &maria).unwrap();
        assert_eq!(again.to, taken.to);
        assert_eq!(again.notice, None);
    }
}
