//! Handover between the bot and the team: which staff action may move a conversation from
//! which status to which, who owns it afterwards, and the system line the thread shows. Pure:
//! the conversation actor applies the result in one write.

use super::{ConversationStatus, UserId};

/// How long the bot stays quiet after a team member's reply, unless the conversation is handed
/// back or resolved first.
pub const HUMAN_REPLY_SILENCE_MS: i64 = 3 * 24 * 60 * 60 * 1_000;

/// Who acts, as the thread names them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub id: UserId,
    pub name: String,
    /// Owners and admins may act on any conversation and assign; agents only on conversations
    /// nobody else owns.
    pub manager: bool,
}

/// A staff action on a conversation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    /// Take a conversation waiting for an agent.
    Claim,
    /// Take a conversation from the bot.
    TakeOver,
    /// Give the conversation to a team member (managers only).
    Assign { to: UserId, to_name: String },
    /// Done: the next guest message starts a fresh bot conversation.
    Resolve,
    /// Resolve, in the words of the WhatsApp page: the conversation ends as `resolved`.
    Close,
    /// File a closed conversation away; it leaves the default inbox until the guest writes.
    Archive,
    /// Open a closed (or archived) conversation again, with the one who reopens it.
    Reopen,
    /// Back to the bot, which greets the guest on the next message.
    HandBack,
    /// A team member's reply: it makes the sender the owner when nobody (or the bot) was.
    Reply,
    /// Let the bot and AI answer, or make the conversation humans-only.
    SetAi { enabled: bool },
    /// Remove the conversation with its messages and notes (managers only).
    Delete,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Claim => "claim",
            Action::TakeOver => "take_over",
            Action::Assign { .. } => "assign",
            Action::Resolve => "resolve",
            Action::Close => "close",
            Action::Archive => "archive",
            Action::Reopen => "reopen",
            Action::HandBack => "hand_back",
            Action::Reply => "reply",
            Action::SetAi { .. } => "set_ai",
            Action::Delete => "delete",
        }
    }
}

/// Where a conversation stands for handover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handling {
    pub status: ConversationStatus,
    pub assignee: Option<UserId>,
    pub archived: bool,
    /// Off, the bot never answers: the conversation is for humans only.
    pub ai_enabled: bool,
}

/// What an action does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub to: Handling,
    /// The system line for the thread; `None` when nothing changed hands.
    pub notice: Option<String>,
    /// The journey session ends: the next guest message starts a new run.
    pub reset_session: bool,
    /// The conversation now waits for the team: auto-assign it.
    pub escalate: bool,
    /// The conversation and everything in it is to be removed.
    pub delete: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum HandoverError {
    #[error("{0}")]
    NotAllowedNow(String),
    #[error("the conversation belongs to another team member; an owner or admin can reassign it")]
    NotYours,
    #[error("only owners and admins may {0}")]
    NotManager(std::borrow::Cow<'static, str>),
}

impl HandoverError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            HandoverError::NotAllowedNow(_) => "invalid_transition",
            HandoverError::NotYours => "not_your_conversation",
            HandoverError::NotManager(_) => "forbidden",
        }
    }
}

/// Applies `action` by `actor` to a conversation in `from`.
pub fn apply(from: &Handling, action: &Action, actor: &Actor) -> Result<Transition, HandoverError> {
    use ConversationStatus::*;
    let owned_by_other =
        from.status == AgentAssigned && from.assignee.is_some_and(|assignee| assignee != actor.id);
    let managers_only = matches!(action, Action::Assign { .. } | Action::Delete);
    if owned_by_other && !actor.manager && !managers_only {
        return Err(HandoverError::NotYours);
    }
    let change = |to: Handling, notice: Option<String>, reset_session: bool| Transition {
        to,
        notice,
        reset_session,
        escalate: false,
        delete: false,
    };
    let mine = |notice: String, reset_session: bool| {
        change(
            Handling {
                status: AgentAssigned,
                assignee: Some(actor.id),
                archived: false,
                ai_enabled: from.ai_enabled,
            },
            Some(notice),
            reset_session,
        )
    };
    let closed = matches!(from.status, Resolved | Expired);
    let not_now = |message: String| Err(HandoverError::NotAllowedNow(message));
    match action {
        Action::Claim => match from.status {
            AwaitingAgent => Ok(mine(
                format!("{} claimed the conversation", actor.name),
                false,
            )),
            _ => not_now(format!(
                "only a conversation waiting for an agent can be claimed; this one is {}",
                from.status
            )),
        },
        Action::TakeOver => match from.status {
            BotHandling | AwaitingAgent => Ok(mine(
                format!("{} took over from the bot", actor.name),
                false,
            )),
            _ => not_now(format!(
                "only a conversation with the bot can be taken over; this one is {}",
                from.status
            )),
        },
        Action::Assign { to, to_name } => {
            if !actor.manager {
                return Err(HandoverError::NotManager(std::borrow::Cow::Borrowed(
                    "assign conversations",
                )));
            }
            if closed {
                return not_now(format!(
                    "a {} conversation cannot be assigned; reopen it first",
                    from.status
                ));
            }
            Ok(change(
                Handling {
                    status: AgentAssigned,
                    assignee: Some(*to),
                    ..from.clone()
                },
                Some(format!(
                    "{} assigned the conversation to {to_name}",
                    actor.name
                )),
                false,
            ))
        }
        Action::Resolve | Action::Close => {
            if closed {
                return not_now(format!("the conversation is already {}", from.status));
            }
            let verb = if *action == Action::Close {
                "closed"
            } else {
                "resolved"
            };
            Ok(change(
                Handling {
                    status: Resolved,
                    assignee: None,
                    ..from.clone()
                },
                Some(format!("{} {verb} the conversation", actor.name)),
                true,
            ))
        }
        Action::Archive => {
            if !closed {
                return not_now(format!(
                    "only a closed conversation can be archived; this one is {}",
                    from.status
                ));
            }
            if from.archived {
                return not_now("the conversation is already archived".to_owned());
            }
            Ok(change(
                Handling {
                    archived: true,
                    ..from.clone()
                },
                Some(format!("{} archived the conversation", actor.name)),
                false,
            ))
        }
        Action::Reopen => {
            if !closed {
                return not_now(format!(
                    "only a closed conversation can be reopened; this one is {}",
                    from.status
                ));
            }
            Ok(mine(
                format!("{} reopened the conversation", actor.name),
                true,
            ))
        }
        Action::HandBack => match from.status {
            AwaitingAgent | AgentAssigned if !from.ai_enabled => not_now(
                "the AI is off for this conversation; turn it on before handing back to the bot"
                    .to_owned(),
            ),
            AwaitingAgent | AgentAssigned => Ok(change(
                Handling {
                    status: BotHandling,
                    assignee: None,
                    ..from.clone()
                },
                Some(format!(
                    "{} handed the conversation back to the bot",
                    actor.name
                )),
                true,
            )),
            _ => not_now(format!(
                "only a conversation with the team can be handed back; this one is {}",
                from.status
            )),
        },
        Action::Reply => match from.status {
            AgentAssigned if from.assignee.is_some() => Ok(change(from.clone(), None, false)),
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
        Action::SetAi { enabled } => {
            if *enabled == from.ai_enabled {
                return Ok(change(from.clone(), None, false));
            }
            if *enabled {
                return Ok(change(
                    Handling {
                        ai_enabled: true,
                        ..from.clone()
                    },
                    Some(format!("{} turned the AI on", actor.name)),
                    false,
                ));
            }
            // Humans only: a conversation the bot was handling now waits for the team.
            let escalate = from.status == BotHandling;
            let mut transition = change(
                Handling {
                    status: if escalate { AwaitingAgent } else { from.status },
                    ai_enabled: false,
                    ..from.clone()
                },
                Some(format!(
                    "{} turned the AI off; only the team answers",
                    actor.name
                )),
                escalate,
            );
            transition.escalate = escalate;
            Ok(transition)
        }
        Action::Delete => {
            if !actor.manager {
                return Err(HandoverError::NotManager(std::borrow::Cow::Borrowed(
                    "delete conversations",
                )));
            }
            let mut transition = change(from.clone(), None, true);
            transition.delete = true;
            Ok(transition)
        }
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
        Handling {
            status,
            assignee,
            archived: false,
            ai_enabled: true,
        }
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
            HandoverError::NotManager(std::borrow::Cow::Borrowed("assign conversations"))
        );
        assert_eq!(
            apply(&johns, &Action::Delete, &maria).unwrap_err(),
            HandoverError::NotManager(std::borrow::Cow::Borrowed("delete conversations"))
        );
        assert!(apply(&johns, &Action::Delete, &boss).unwrap().delete);
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

    #[test]
    fn close_archive_and_reopen_follow_the_status() {
        let maria = agent(false);
        let open = at(AgentAssigned, Some(maria.id));
        let refused = apply(&open, &Action::Archive, &maria).unwrap_err();
        assert_eq!(refused.code(), "invalid_transition");
        assert!(apply(&open, &Action::Reopen, &maria).is_err());
        let closed = apply(&open, &Action::Close, &maria).unwrap();
        assert_eq!(closed.to, at(Resolved, None));
        assert_eq!(
            closed.notice.as_deref(),
            Some("Maria closed the conversation")
        );
        assert!(apply(&closed.to, &Action::Close, &maria).is_err());
        let archived = apply(&closed.to, &Action::Archive, &maria).unwrap();
        assert!(archived.to.archived);
        assert_eq!(archived.to.status, Resolved);
        assert!(apply(&archived.to, &Action::Archive, &maria).is_err());
        let reopened = apply(&archived.to, &Action::Reopen, &maria).unwrap();
        assert_eq!(reopened.to, at(AgentAssigned, Some(maria.id)));
        assert!(reopened.reset_session);
        let expired = at(Expired, None);
        assert!(apply(&expired, &Action::Archive, &maria).is_ok());
    }

    #[test]
    fn turning_the_ai_off_hands_a_bot_conversation_to_the_team() {
        let maria = agent(false);
        let off = apply(
            &at(BotHandling, None),
            &Action::SetAi { enabled: false },
            &maria,
        )
        .unwrap();
        assert_eq!(off.to.status, AwaitingAgent);
        assert!(!off.to.ai_enabled);
        assert!(off.escalate && off.reset_session);
        // With the AI off the conversation cannot go back to the bot.
        let mine = apply(&off.to, &Action::Claim, &maria).unwrap();
        assert!(!mine.to.ai_enabled);
        let refused = apply(&mine.to, &Action::HandBack, &maria).unwrap_err();
        assert_eq!(refused.code(), "invalid_transition");
        // Turning it off again changes nothing; on, the team keeps the conversation.
        let same = apply(&mine.to, &Action::SetAi { enabled: false }, &maria).unwrap();
        assert_eq!((same.to.clone(), same.notice), (mine.to.clone(), None));
        let on = apply(&mine.to, &Action::SetAi { enabled: true }, &maria).unwrap();
        assert_eq!(on.to.status, AgentAssigned);
        assert!(on.to.ai_enabled && !on.escalate);
        assert!(apply(&on.to, &Action::HandBack, &maria).is_ok());
        // Off on a conversation a human already has: it stays with them.
        let kept = apply(
            &at(AgentAssigned, Some(maria.id)),
            &Action::SetAi { enabled: false },
            &maria,
        )
        .unwrap();
        assert_eq!(kept.to.status, AgentAssigned);
        assert!(!kept.escalate);
    }
}
