//! The transactional work of a conversation actor: each function is one write job (see
//! `Store::write`), taking owned inputs and returning what the actor needs afterwards. A job
//! that returns an error leaves nothing behind.

use super::super::timer_kind;
use crate::domain::{
    ChannelId, ContactId, ConversationId, ConversationStatus, DeliveryStatus, Direction,
    InboundMessage, MessageContent, MessageId, Millis, OrgId, SenderKind, StatusUpdate,
};
use crate::journey::{self, Effect, Input, Journey, Session};
use crate::store::conversations::{self as conversation_store, DeliveryUpdate};
use crate::store::script::Script;
use crate::store::timers::{self as timer_store, NewTimer};
use crate::store::{self, MessageRecord, NewMessage, StoreError, StoredSession, TimerRecord, Tx};
use std::sync::Arc;

/// A session with the journey it runs.
pub(super) type JourneySession = (uuid::Uuid, Session);

/// What the actor already knows of its conversation.
#[derive(Clone, Debug)]
pub(super) struct Known {
    pub contact_id: ContactId,
    /// The contact's name and phone as last stored, to skip rewriting them unchanged.
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub conversation_id: ConversationId,
    pub status: ConversationStatus,
    pub session: Option<JourneySession>,
}

pub(super) struct MessageWork {
    pub inbound_id: i64,
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub message: InboundMessage,
    pub received_at: Millis,
    pub now: Millis,
    pub journey: (uuid::Uuid, Arc<Journey>),
    pub bot_inactivity_ms: Millis,
}

pub(super) struct MessageDone {
    pub known: Known,
    /// The stored inbound message and the replies, in order, for the event bus.
    pub created: Vec<MessageRecord>,
    pub status_changed: bool,
    pub replies: usize,
}

/// Handles the first message this actor sees of its conversation: finds or creates the contact
/// and the conversation and reads the journey session, then writes the turn as
/// `plan_message` plans it. The caller checked that the event was not handled yet.
pub(super) async fn first_message(
    tx: &mut Tx,
    work: MessageWork,
) -> Result<MessageDone, StoreError> {
    let message = &work.message;
    let contact_id = conversation_store::upsert_contact(
        tx,
        work.org_id,
        work.channel_id,
        &message.contact_external_id,
        message.contact_name.as_deref(),
        message.contact_phone.as_deref(),
        work.now,
    )
    .await?;
    let (conversation_id, status) = conversation_store::upsert_conversation(
        tx,
        work.org_id,
        work.channel_id,
        contact_id,
        work.now,
    )
    .await?;
    let session = parse_session(store::journeys::session_in(tx, conversation_id).await?)?;
    let known = Known {
        contact_id,
        contact_name: message.contact_name.clone(),
        contact_phone: message.contact_phone.clone(),
        conversation_id,
        status,
        session,
    };
    let (script, done) = plan_message(work, known);
    tx.run(&script).await?;
    Ok(done)
}

/// Plans the writes of an inbound message on a conversation whose ids and state are known:
/// store the message (and the contact's new name or phone), and, while the bot handles the
/// conversation, run the journey and store its replies with their outbox rows, the session and
/// its inactivity timer, marking the event processed. Pure: the result is one script.
pub(super) fn plan_message(work: MessageWork, known: Known) -> (Script, MessageDone) {
    let MessageWork {
        inbound_id,
        org_id,
        channel_id,
        channel_name,
        message,
        received_at,
        now,
        journey: (journey_id, journey),
        bot_inactivity_ms,
        ..
    } = work;
    let Known {
        contact_id,
        contact_name,
        contact_phone,
        conversation_id,
        mut status,
        mut session,
    } = known;
    let mut script = Script::new();
    store::inbound::mark_inbound_processed_into(&mut script, inbound_id, now);
    let renamed = message.contact_name.is_some() && message.contact_name != contact_name;
    let renumbered = message.contact_phone.is_some() && message.contact_phone != contact_phone;
    if renamed || renumbered {
        conversation_store::update_contact_into(
            &mut script,
            contact_id,
            message.contact_name.as_deref(),
            message.contact_phone.as_deref(),
            now,
        );
    }
    let contact_name = message.contact_name.clone().or(contact_name);
    let contact_phone = message.contact_phone.clone().or(contact_phone);
    let inbound = NewMessage {
        id: MessageId::new(),
        org_id,
        conversation_id,
        channel_id,
        direction: Direction::Inbound,
        sender_kind: SenderKind::Contact,
        content: &message.content,
        journey_step: None,
        provider_message_id: Some(&message.provider_message_id),
        reply_to_provider_message_id: message.reply_to_provider_message_id.as_deref(),
        delivery_status: DeliveryStatus::Received,
        provider_timestamp: message.provider_timestamp,
        received_at,
    };
    conversation_store::insert_message_into(&mut script, &inbound);
    conversation_store::touch_conversation_into(&mut script, conversation_id, now, true);
    let mut created = vec![record_of(&inbound)];
    let mut status_changed = false;
    if matches!(
        status,
        ConversationStatus::Resolved | ConversationStatus::Expired
    ) {
        // A message on a closed conversation opens it again, with the bot.
        status = ConversationStatus::BotHandling;
        status_changed = true;
        conversation_store::set_conversation_status_into(&mut script, conversation_id, status, now);
    }
    if status == ConversationStatus::BotHandling {
        let previous = session
            .take()
            .filter(|(session_journey, _)| *session_journey == journey_id)
            .map(|(_, session)| session)
            .unwrap_or_default();
        let variables = |name: &str| match name {
            "contact.name" => contact_name.clone(),
            "contact.phone" => contact_phone.clone(),
            "channel.name" => Some(channel_name.clone()),
            "conversation.id" => Some(conversation_id.to_string()),
            _ => None,
        };
        let input = Input::Message {
            text: message.content.text_for_matching(),
        };
        let outcome = journey::run(&journey, previous, &input, &variables);
        for effect in &outcome.effects {
            let Effect::Send { step_id, content } = effect else {
                continue;
            };
            let reply = NewMessage {
                id: MessageId::new(),
                org_id,
                conversation_id,
                channel_id,
                direction: Direction::Outbound,
                sender_kind: SenderKind::Bot,
                content,
                journey_step: Some(step_id),
                provider_message_id: None,
                reply_to_provider_message_id: None,
                delivery_status: DeliveryStatus::Pending,
                provider_timestamp: None,
                received_at: now,
            };
            conversation_store::insert_message_into(&mut script, &reply);
            store::outbox::insert_outbox_into(
                &mut script,
                org_id,
                channel_id,
                conversation_id,
                reply.id,
                &message.contact_external_id,
                now,
            );
            created.push(record_of(&reply));
        }
        let generation = i64::try_from(outcome.session.generation).unwrap_or(i64::MAX);
        let stored = StoredSession {
            journey_id,
            state: serde_json::to_string(&outcome.session).expect("sessions serialise to JSON"),
        };
        store::journeys::save_session_into(
            &mut script,
            org_id,
            conversation_id,
            &stored,
            generation,
            now,
        );
        let timer = NewTimer {
            org_id,
            conversation_id,
            channel_id,
            contact_external_id: &message.contact_external_id,
            kind: timer_kind::BOT_INACTIVITY,
            due_at: now.saturating_add(bot_inactivity_ms),
            generation,
        };
        timer_store::set_timer_into(&mut script, &timer, now);
        session = Some((journey_id, outcome.session));
    }
    let replies = created.len() - 1;
    let done = MessageDone {
        known: Known {
            contact_id,
            contact_name,
            contact_phone,
            conversation_id,
            status,
            session,
        },
        created,
        status_changed,
        replies,
    };
    (script, done)
}

/// What a delivery status did.
pub(super) enum StatusDone {
    AlreadyHandled,
    Applied {
        message_id: MessageId,
        conversation_id: ConversationId,
    },
    /// The message already had this status or a later one, or is unknown for good.
    Ignored,
    /// The message is not recorded yet (its send result and the status raced): try later.
    TooEarly,
}

pub(super) async fn handle_status(
    tx: &mut Tx,
    inbound_id: i64,
    channel_id: ChannelId,
    status: StatusUpdate,
    give_up_on_unknown: bool,
    now: Millis,
) -> Result<StatusDone, StoreError> {
    if !store::inbound::claim_inbound(tx, inbound_id, now).await? {
        return Ok(StatusDone::AlreadyHandled);
    }
    let update = conversation_store::apply_delivery_status(
        tx,
        channel_id,
        &status.provider_message_id,
        status.status,
        status.failure_reason.as_deref(),
        status.provider_timestamp,
        now,
    )
    .await?;
    Ok(match update {
        DeliveryUpdate::Applied {
            message_id,
            conversation_id,
        } => StatusDone::Applied {
            message_id,
            conversation_id,
        },
        DeliveryUpdate::UnknownMessage if !give_up_on_unknown => {
            store::inbound::unclaim_inbound(tx, inbound_id).await?;
            StatusDone::TooEarly
        }
        DeliveryUpdate::Stale | DeliveryUpdate::UnknownMessage => StatusDone::Ignored,
    })
}

/// Expires a conversation the bot has heard nothing on, if the timer still belongs to the
/// current state. Returns the system message it added.
pub(super) async fn handle_inactivity(
    tx: &mut Tx,
    timer: TimerRecord,
    current_generation: Option<i64>,
    now: Millis,
) -> Result<Option<MessageRecord>, StoreError> {
    if !timer_store::claim_timer(tx, &timer, now).await? {
        return Ok(None);
    }
    // A timer set by a state that has moved on since is claimed and otherwise ignored.
    if timer.kind != timer_kind::BOT_INACTIVITY || current_generation != Some(timer.generation) {
        return Ok(None);
    }
    if conversation_store::conversation_status(tx, timer.conversation_id).await?
        != ConversationStatus::BotHandling
    {
        return Ok(None);
    }
    conversation_store::set_conversation_status(
        tx,
        timer.conversation_id,
        ConversationStatus::Expired,
        now,
    )
    .await?;
    let notice = MessageContent::System {
        body: "The conversation expired after a period without messages.".into(),
    };
    let system = NewMessage {
        id: MessageId::new(),
        org_id: timer.org_id,
        conversation_id: timer.conversation_id,
        channel_id: timer.channel_id,
        direction: Direction::Outbound,
        sender_kind: SenderKind::System,
        content: &notice,
        journey_step: None,
        provider_message_id: None,
        reply_to_provider_message_id: None,
        delivery_status: DeliveryStatus::Received,
        provider_timestamp: None,
        received_at: now,
    };
    conversation_store::insert_message(tx, &system).await?;
    Ok(Some(record_of(&system)))
}

pub(super) fn parse_session(
    stored: Option<StoredSession>,
) -> Result<Option<JourneySession>, StoreError> {
    stored
        .map(|stored| {
            serde_json::from_str::<Session>(&stored.state)
                .map(|session| (stored.journey_id, session))
                .map_err(|error| StoreError::Corrupt(format!("journey session: {error}")))
        })
        .transpose()
}

fn record_of(message: &NewMessage<'_>) -> MessageRecord {
    MessageRecord {
        id: message.id,
        conversation_id: message.conversation_id,
        channel_id: message.channel_id,
        direction: message.direction,
        sender_kind: message.sender_kind,
        content: message.content.clone(),
        journey_step: message.journey_step.map(str::to_owned),
        provider_message_id: message.provider_message_id.map(str::to_owned),
        reply_to_provider_message_id: message.reply_to_provider_message_id.map(str::to_owned),
        delivery_status: message.delivery_status,
        failure_reason: None,
        provider_timestamp: message.provider_timestamp,
        received_at: message.received_at,
    }
}
