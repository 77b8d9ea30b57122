//! The transactional work of a conversation actor: each function is one write job (see
//! `Store::write`) or plans one (a [`Script`]), taking owned inputs and returning what the actor
//! needs afterwards. A job that returns an error leaves nothing behind.

use super::super::bus::Event;
use super::super::core::RunJourney;
use super::super::timer_kind;
use crate::ai::nlu;
use crate::domain::escalation::{self, OfferAnswer};
use crate::domain::handover::{
    self, Action, Actor, Handling, HandoverError, HUMAN_REPLY_SILENCE_MS,
};
use crate::domain::{
    ChannelId, ContactId, ConversationId, ConversationStatus, DeliveryStatus, Direction,
    InboundMessage, MessageContent, MessageId, Millis, OrgId, SenderKind, StatusUpdate,
};
use crate::journey::model::TransferTarget;
use crate::journey::{self, Effect, Input, Session, Waiting};
use crate::store::conversations::{self as conversation_store, DeliveryUpdate};
use crate::store::notifications::{kind as notification_kind, NotificationRecord};
use crate::store::script::Script;
use crate::store::timers::{self as timer_store, NewTimer};
use crate::store::{self, MessageRecord, NewMessage, StoreError, StoredSession, TimerRecord, Tx};
use serde_json::Value;
use std::collections::BTreeMap;

/// Slack on top of a handed-out call's own timeout before its guard timer gives up on it.
const WORK_GUARD_SLACK_MS: Millis = 30_000;
/// How long an AI call may take before its guard gives up (AI calls carry no timeout of
/// their own).
const AI_WORK_TIMEOUT_MS: Millis = 120_000;

/// A session with the journey and version it runs.
#[derive(Clone, Debug)]
pub(super) struct JourneySession {
    pub journey_id: uuid::Uuid,
    pub version: Option<i64>,
    pub session: Session,
}

/// What the actor already knows of its conversation.
#[derive(Clone, Debug)]
pub(super) struct Known {
    pub contact_id: ContactId,
    pub contact_external_id: String,
    /// The contact's name and phone as last stored, to skip rewriting them unchanged.
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub conversation_id: ConversationId,
    pub status: ConversationStatus,
    /// The team member who owns the conversation, while one does.
    pub assignee: Option<crate::domain::UserId>,
    pub archived: bool,
    /// Off, the bot never answers: the conversation is for humans only.
    pub ai_enabled: bool,
    /// The guest was offered the team and has not answered yet.
    pub offer_pending: bool,
    /// Messages in a row the journey could not understand.
    pub misunderstood: i64,
    pub session: Option<JourneySession>,
}

/// What a journey turn needs besides the session: the conversation's surroundings.
pub(super) struct TurnContext {
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub channel_kind: &'static str,
    pub now: Millis,
    pub journey: RunJourney,
    /// The organisation's campaign variables, read when the journey uses any.
    pub campaign: BTreeMap<String, Value>,
    /// How long the bot waits for the contact before the conversation expires.
    pub bot_inactivity_ms: Millis,
    /// The organisation's time zone: "today" for dates the guest writes.
    pub time_zone: chrono_tz::Tz,
}

impl TurnContext {
    /// The conversation's date, in the organisation's time zone.
    pub(super) fn today(&self) -> chrono::NaiveDate {
        crate::clock::local_date(self.now, self.time_zone)
    }
}

pub(super) struct MessageWork {
    pub inbound_id: i64,
    pub message: InboundMessage,
    pub received_at: Millis,
    pub turn: TurnContext,
}

/// Work a journey handed to the actor, to run once the turn is committed.
#[derive(Clone, Debug)]
pub(super) enum JourneyWork {
    Api {
        token: u64,
        request: journey::ApiRequest,
    },
    AiCheck {
        token: u64,
        criterion: String,
        answer: String,
    },
    AiPostProcess {
        token: u64,
        prompt: String,
        response: Value,
    },
    AgentTurn {
        token: u64,
        config: crate::journey::model::AiAgentConfig,
        message: String,
        tools: Vec<crate::journey::tools::AgentTool>,
    },
}

pub(super) struct MessageDone {
    pub known: Known,
    /// The stored inbound message, the replies and system notices, in order, for the bus.
    pub created: Vec<MessageRecord>,
    pub status_changed: bool,
    /// The outbox rows written, handed to the channel actor once the write commits.
    pub outbox: Vec<store::OutboxRecord>,
    pub work: Vec<JourneyWork>,
    /// Goal milestones reached, as events other sessions may wait for.
    pub goals: Vec<String>,
    /// The journey handed the conversation to the team: someone is to be assigned.
    pub escalation: Option<Escalation>,
    /// Notifications written for team members, for their consoles.
    pub notifications: Vec<(crate::domain::UserId, NotificationRecord)>,
    /// What the turn logged for consoles (`seal`), published once it commits.
    pub events: Vec<Event>,
}

/// A hand-off to the team waiting for its assignee.
#[derive(Clone, Debug)]
pub(super) struct Escalation {
    /// The team member the journey named, if any.
    pub preferred: Option<crate::domain::UserId>,
    /// Who tells the guest when nobody is available.
    pub bot_user_id: Option<crate::domain::UserId>,
    /// Whether the guest hears that the team will answer when nobody is available (not when
    /// the AI is off: then nothing automatic is sent).
    pub tell_guest: bool,
}

/// How long an escalation waits to be claimed before it returns to the bot.
pub(super) const AWAITING_AGENT_PATIENCE_MS: Millis = 30 * 60 * 1_000;
/// What the guest is told when an escalation finds nobody online.
pub(super) const TEAM_WILL_RESPOND: &str = "Our team will respond shortly.";

/// Handles the first message this actor sees of a conversation that does not exist yet:
/// creates the contact and the conversation, then writes the turn as `plan_message` plans
/// it. The caller checked that the event was not handled yet. (A conversation that exists is
/// loaded by the actor and planned directly.)
pub(super) async fn first_message(
    tx: &mut Tx,
    work: MessageWork,
) -> Result<MessageDone, StoreError> {
    let message = &work.message;
    let contact_id = conversation_store::upsert_contact(
        tx,
        work.turn.org_id,
        work.turn.channel_id,
        &message.contact_external_id,
        message.contact_name.as_deref(),
        message.contact_phone.as_deref(),
        work.turn.now,
    )
    .await?;
    let conversation = conversation_store::upsert_conversation(
        tx,
        work.turn.org_id,
        work.turn.channel_id,
        contact_id,
        work.turn.now,
    )
    .await?;
    let conversation_id = conversation.id;
    let session = parse_session(store::journeys::session_in(tx, conversation_id).await?)?;
    let known = Known {
        contact_id,
        contact_external_id: message.contact_external_id.clone(),
        contact_name: message.contact_name.clone(),
        contact_phone: message.contact_phone.clone(),
        conversation_id,
        status: conversation.status,
        assignee: None,
        archived: conversation.archived,
        ai_enabled: conversation.ai_enabled,
        offer_pending: conversation.offer_pending,
        misunderstood: conversation.misunderstood,
        session,
    };
    let place = (work.turn.org_id, work.turn.channel_id);
    let now = work.turn.now;
    let (script, mut done) = plan_message(work, known);
    tx.run(&script).await?;
    auto_assign(tx, &mut done, place, now).await?;
    tx.run(&seal(&mut done, place.0, now)).await?;
    Ok(done)
}

/// A contact a business-initiated message creates.
pub(super) struct NewContact {
    pub external_id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// Writes a business-initiated message to a contact this channel has no conversation with
/// yet: the contact and the conversation are created first.
pub(super) async fn first_notification(
    tx: &mut Tx,
    place: (OrgId, ChannelId),
    now: Millis,
    contact: NewContact,
    content: MessageContent,
) -> Result<MessageDone, StoreError> {
    let (org_id, channel_id) = place;
    let contact_id = conversation_store::upsert_contact(
        tx,
        org_id,
        channel_id,
        &contact.external_id,
        contact.name.as_deref(),
        contact.phone.as_deref(),
        now,
    )
    .await?;
    let conversation =
        conversation_store::upsert_conversation(tx, org_id, channel_id, contact_id, now).await?;
    let session = parse_session(store::journeys::session_in(tx, conversation.id).await?)?;
    let known = Known {
        contact_id,
        contact_external_id: contact.external_id,
        contact_name: contact.name,
        contact_phone: contact.phone,
        conversation_id: conversation.id,
        status: conversation.status,
        assignee: None,
        archived: conversation.archived,
        ai_enabled: conversation.ai_enabled,
        offer_pending: conversation.offer_pending,
        misunderstood: conversation.misunderstood,
        session,
    };
    let (script, mut done) = plan_notification(place, now, known, &content);
    tx.run(&script).await?;
    tx.run(&seal(&mut done, org_id, now)).await?;
    Ok(done)
}

/// Plans a business-initiated message (an event's template) on a known conversation: the
/// message, sent by the bot identity of no journey step, and its outbox row. Pure.
pub(super) fn plan_notification(
    place: (OrgId, ChannelId),
    now: Millis,
    known: Known,
    content: &MessageContent,
) -> (Script, MessageDone) {
    let (org_id, channel_id) = place;
    let mut script = Script::new();
    let message = NewMessage {
        id: MessageId::new(),
        org_id,
        conversation_id: known.conversation_id,
        channel_id,
        direction: Direction::Outbound,
        sender_kind: SenderKind::Bot,
        sender_id: None,
        content,
        journey_step: None,
        provider_message_id: None,
        reply_to_provider_message_id: None,
        delivery_status: DeliveryStatus::Pending,
        provider_timestamp: None,
        received_at: now,
    };
    conversation_store::insert_message_into(&mut script, &message);
    let row = store::outbox::insert_outbox_into(&mut script, &message, &known.contact_external_id);
    conversation_store::touch_conversation_into(&mut script, known.conversation_id, now, false);
    let done = MessageDone {
        known,
        created: vec![record_of(&message)],
        status_changed: false,
        outbox: vec![row],
        work: Vec::new(),
        goals: Vec::new(),
        escalation: None,
        notifications: Vec::new(),
        events: Vec::new(),
    };
    (script, done)
}

/// Plans the writes of an inbound message on a conversation whose ids and state are known:
/// store the message (and the contact's new name or phone), and, while the bot handles the
/// conversation, run the journey and store what it did, marking the event processed. Pure:
/// the result is one script.
pub(super) fn plan_message(work: MessageWork, known: Known) -> (Script, MessageDone) {
    let MessageWork {
        inbound_id,
        message,
        received_at,
        turn,
    } = work;
    let mut known = known;
    let mut script = Script::new();
    store::inbound::mark_inbound_processed_into(&mut script, inbound_id, turn.now);
    let renamed = message.contact_name.is_some() && message.contact_name != known.contact_name;
    let renumbered =
        message.contact_phone.is_some() && message.contact_phone != known.contact_phone;
    if renamed || renumbered {
        conversation_store::update_contact_into(
            &mut script,
            known.contact_id,
            message.contact_name.as_deref(),
            message.contact_phone.as_deref(),
            turn.now,
        );
    }
    known.contact_name = message.contact_name.clone().or(known.contact_name);
    known.contact_phone = message.contact_phone.clone().or(known.contact_phone);
    let inbound = NewMessage {
        id: MessageId::new(),
        org_id: turn.org_id,
        conversation_id: known.conversation_id,
        channel_id: turn.channel_id,
        direction: Direction::Inbound,
        sender_kind: SenderKind::Contact,
        sender_id: None,
        content: &message.content,
        journey_step: None,
        provider_message_id: Some(&message.provider_message_id),
        reply_to_provider_message_id: message.reply_to_provider_message_id.as_deref(),
        delivery_status: DeliveryStatus::Received,
        provider_timestamp: message.provider_timestamp,
        received_at,
    };
    conversation_store::insert_message_into(&mut script, &inbound);
    conversation_store::touch_conversation_into(&mut script, known.conversation_id, turn.now, true);
    let mut done = MessageDone {
        known: known.clone(),
        created: vec![record_of(&inbound)],
        status_changed: false,
        outbox: Vec::new(),
        work: Vec::new(),
        goals: Vec::new(),
        escalation: None,
        notifications: Vec::new(),
        events: Vec::new(),
    };
    if let (ConversationStatus::AgentAssigned, Some(assignee)) = (known.status, known.assignee) {
        let title = format!("New message from {}", contact_label(&known));
        notify(
            &mut script,
            &mut done,
            (turn.org_id, turn.now),
            assignee,
            notification_kind::NEW_MESSAGE,
            &title,
            &message.content.preview(),
        );
    }
    if known.archived {
        // `touch_conversation_into` brought it back to the inbox.
        known.archived = false;
        done.status_changed = true;
    }
    if matches!(
        known.status,
        ConversationStatus::Resolved | ConversationStatus::Expired
    ) {
        // A message on a closed conversation opens it again, with the bot.
        known.status = ConversationStatus::BotHandling;
        done.status_changed = true;
        conversation_store::set_conversation_status_into(
            &mut script,
            known.conversation_id,
            known.status,
            turn.now,
        );
    }
    if known.status == ConversationStatus::BotHandling {
        if known.ai_enabled {
            if plan_escalation_rules(&mut script, &turn, &mut known, &message.content, &mut done) {
                restart_inactivity(&mut script, &turn, &known);
            } else {
                let failures = reply_failures(&known);
                let input = Input::Message(&message.content);
                plan_turn(&mut script, &turn, &mut known, &input, &mut done);
                plan_understanding(&mut script, &turn, &mut known, failures, &mut done);
            }
        } else {
            // Humans only: the conversation waits for the team, without a word from the bot.
            known.status = ConversationStatus::AwaitingAgent;
            done.status_changed = true;
            conversation_store::set_conversation_status_into(
                &mut script,
                known.conversation_id,
                known.status,
                turn.now,
            );
            done.escalation = Some(Escalation {
                preferred: None,
                bot_user_id: None,
                tell_guest: false,
            });
        }
    }
    done.known = known;
    (script, done)
}

/// The rules by which the bot steps aside on its own, before the journey sees a guest's
/// message: an answer to a standing offer of the team, or free text asking for a person
/// (offered the team, unless the journey waits for free text). Whether they handled the
/// message (the journey then does not run).
fn plan_escalation_rules(
    script: &mut Script,
    turn: &TurnContext,
    known: &mut Known,
    content: &MessageContent,
    done: &mut MessageDone,
) -> bool {
    // An offer standing is withdrawn by any message; a new offer made for this one replaces
    // the withdrawal, in one write.
    let withdrawn = std::mem::take(&mut known.offer_pending);
    let withdraw = |script: &mut Script, known: &Known| {
        if withdrawn {
            conversation_store::set_escalation_state_into(
                script,
                known.conversation_id,
                None,
                known.misunderstood,
            );
        }
    };
    if withdrawn {
        match escalation::answer_to_offer(content) {
            OfferAnswer::TalkToTeam => {
                withdraw(script, known);
                escalate_to_team(script, turn, known, done, "The guest asked for the team.");
                return true;
            }
            OfferAnswer::ContinueWithAssistant => {
                withdraw(script, known);
                let carry_on = MessageContent::Text {
                    body: escalation::CARRY_ON.into(),
                };
                send_bot(script, turn, known, done, &carry_on);
                return true;
            }
            OfferAnswer::Other => {}
        }
    }
    let offer_again = match content {
        MessageContent::Text { body } => {
            !waits_for_free_text(turn, known)
                && (escalation::asks_for_a_person(body) || not_understood(turn, known, body))
        }
        _ => false,
    };
    if !offer_again {
        withdraw(script, known);
        return false;
    }
    known.offer_pending = true;
    conversation_store::set_escalation_state_into(
        script,
        known.conversation_id,
        Some(turn.now),
        known.misunderstood,
    );
    send_bot(script, turn, known, done, &escalation::offer());
    true
}

/// Seed 003's low-confidence rule: between runs of the journey (a run ended and no flow
/// waits for an answer), a message whose intent the AI reads with less than 50 % confidence
/// is one the bot cannot help with. A conversation's first message, and the first after the
/// team hands it back, start the journey instead.
fn not_understood(turn: &TurnContext, known: &Known, body: &str) -> bool {
    let between_runs = known
        .session
        .as_ref()
        .is_some_and(|held| held.session.waiting == Waiting::NewRun);
    between_runs
        && nlu::classify(body, turn.today(), nlu::Language::English).confidence < nlu::CONFIDENT
}

/// Whether the journey waits on a Prompt or Prompt Date step, whose answer is free text.
fn waits_for_free_text(turn: &TurnContext, known: &Known) -> bool {
    let Some(held) = known.session.as_ref() else {
        return false;
    };
    if !matches!(held.session.waiting, Waiting::Reply { .. }) {
        return false;
    }
    held.session
        .current_step
        .as_deref()
        .and_then(|id| turn.journey.journey.step(id))
        .is_some_and(|step| {
            matches!(
                step.kind,
                journey::model::StepKind::Prompt(_) | journey::model::StepKind::PromptDate(_)
            )
        })
}

/// Answers the journey refused so far on the step it waits on.
fn reply_failures(known: &Known) -> Option<u32> {
    match known.session.as_ref().map(|held| &held.session.waiting) {
        Some(Waiting::Reply { failures, .. }) => Some(*failures),
        _ => None,
    }
}

/// Counts messages in a row the journey refused; at [`MISUNDERSTOOD_LIMIT`] the team takes
/// over without asking.
fn plan_understanding(
    script: &mut Script,
    turn: &TurnContext,
    known: &mut Known,
    failures_before: Option<u32>,
    done: &mut MessageDone,
) {
    let failures_after = reply_failures(known);
    let refused = matches!(
        (failures_before, failures_after),
        (Some(before), Some(after)) if after > before
    ) || matches!((failures_before, failures_after), (None, Some(after)) if after > 0);
    let misunderstood = if refused { known.misunderstood + 1 } else { 0 };
    if known.status != ConversationStatus::BotHandling {
        // The journey handed over by itself.
        if known.misunderstood != 0 {
            known.misunderstood = 0;
            conversation_store::set_escalation_state_into(script, known.conversation_id, None, 0);
        }
        return;
    }
    if misunderstood >= escalation::MISUNDERSTOOD_LIMIT {
        known.misunderstood = 0;
        conversation_store::set_escalation_state_into(script, known.conversation_id, None, 0);
        escalate_to_team(
            script,
            turn,
            known,
            done,
            "The bot could not understand 3 messages in a row; the team takes over.",
        );
        return;
    }
    if misunderstood != known.misunderstood {
        known.misunderstood = misunderstood;
        conversation_store::set_escalation_state_into(
            script,
            known.conversation_id,
            None,
            misunderstood,
        );
    }
}

/// Hands the conversation to the team outside the journey: it waits for an agent (and is
/// auto-assigned), the bot's run ends, and it returns to the bot if nobody claims it in 30
/// minutes.
fn escalate_to_team(
    script: &mut Script,
    turn: &TurnContext,
    known: &mut Known,
    done: &mut MessageDone,
    notice: &str,
) {
    let conversation_id = known.conversation_id;
    known.status = ConversationStatus::AwaitingAgent;
    done.status_changed = true;
    conversation_store::set_conversation_status_into(
        script,
        conversation_id,
        known.status,
        turn.now,
    );
    store::journeys::end_session_into(script, conversation_id);
    known.session = None;
    let system = system_line(
        script,
        (turn.org_id, turn.channel_id, conversation_id),
        None,
        None,
        notice.to_owned(),
        turn.now,
    );
    done.created.push(system);
    let awaiting = NewTimer {
        org_id: turn.org_id,
        conversation_id,
        channel_id: turn.channel_id,
        contact_external_id: &known.contact_external_id,
        kind: timer_kind::AWAITING_AGENT,
        due_at: turn.now.saturating_add(AWAITING_AGENT_PATIENCE_MS),
        generation: 0,
    };
    timer_store::set_timer_into(script, &awaiting, turn.now);
    done.escalation = Some(Escalation {
        preferred: None,
        bot_user_id: turn.journey.bot_user_id,
        tell_guest: true,
    });
}

/// A bot message outside the journey, with its outbox row.
fn send_bot(
    script: &mut Script,
    turn: &TurnContext,
    known: &Known,
    done: &mut MessageDone,
    content: &MessageContent,
) {
    let message = NewMessage {
        id: MessageId::new(),
        org_id: turn.org_id,
        conversation_id: known.conversation_id,
        channel_id: turn.channel_id,
        direction: Direction::Outbound,
        sender_kind: SenderKind::Bot,
        sender_id: turn.journey.bot_user_id,
        content,
        journey_step: None,
        provider_message_id: None,
        reply_to_provider_message_id: None,
        delivery_status: DeliveryStatus::Pending,
        provider_timestamp: None,
        received_at: turn.now,
    };
    conversation_store::insert_message_into(script, &message);
    let row = store::outbox::insert_outbox_into(script, &message, &known.contact_external_id);
    done.outbox.push(row);
    done.created.push(record_of(&message));
}

/// Plans a journey input that is not a message (a timer, an event, a result of handed-out
/// work). `None` when the session does not wait for it (nothing to write).
pub(super) fn plan_journey_input(
    turn: &TurnContext,
    known: Known,
    input: &Input<'_>,
) -> Option<(Script, MessageDone)> {
    let mut known = known;
    if known.status != ConversationStatus::BotHandling || !known.ai_enabled {
        return None;
    }
    let mut script = Script::new();
    let mut done = MessageDone {
        known: known.clone(),
        created: Vec::new(),
        status_changed: false,
        outbox: Vec::new(),
        work: Vec::new(),
        goals: Vec::new(),
        escalation: None,
        notifications: Vec::new(),
        events: Vec::new(),
    };
    let before = known.session.as_ref().map(|held| held.session.generation);
    plan_turn(&mut script, turn, &mut known, input, &mut done);
    let after = known.session.as_ref().map(|held| held.session.generation);
    if before == after {
        return None;
    }
    done.known = known;
    Some((script, done))
}

/// Runs the journey on one input and plans everything the outcome asks for: replies with
/// their outbox rows, timers, campaign variables, goal events, a hand-off, and the session
/// itself. Work that needs I/O goes into `done.work`, with a guard timer. Returns the session's
/// generation.
fn plan_turn(
    script: &mut Script,
    turn: &TurnContext,
    known: &mut Known,
    input: &Input<'_>,
    done: &mut MessageDone,
) -> i64 {
    let run = &turn.journey;
    let previous = known
        .session
        .take()
        .filter(|held| held.journey_id == run.id && held.version == run.version)
        .map(|held| held.session)
        .unwrap_or_default();
    let conversation_id = known.conversation_id;
    // What the engine reads in the message, worked out only if the journey asks.
    let message_text = match input {
        Input::Message(content) => content.text_for_matching(),
        _ => None,
    };
    let understanding = std::cell::OnceCell::new();
    let understood = || {
        understanding.get_or_init(|| {
            message_text.map(|text| nlu::understand(text, turn.today(), nlu::Language::English))
        })
    };
    let system = |name: &str| match name {
        name if name.starts_with("ai_") => understood().as_ref()?.variable(name),
        "contact_name" => known.contact_name.clone(),
        "contact_phone" => known.contact_phone.clone(),
        "channel_name" => Some(turn.channel_name.clone()),
        "channel_kind" => Some(turn.channel_kind.to_owned()),
        "conversation_id" => Some(conversation_id.to_string()),
        _ => None,
    };
    let campaign = |name: &str| turn.campaign.get(name).cloned();
    let ctx = journey::Context {
        now: turn.now,
        today: turn.today(),
        system: &system,
        campaign: &campaign,
    };
    let outcome = journey::run(&run.journey, previous, input, &ctx);
    let session = outcome.session;
    let generation = i64::try_from(session.generation).unwrap_or(i64::MAX);
    let timer = |kind: &'static str, token: u64, due_at: Millis| NewTimer {
        org_id: turn.org_id,
        conversation_id,
        channel_id: turn.channel_id,
        contact_external_id: &known.contact_external_id,
        kind,
        due_at,
        generation: i64::try_from(token).unwrap_or(i64::MAX),
    };
    for effect in outcome.effects {
        match effect {
            Effect::Send { step_id, content } => {
                let reply = NewMessage {
                    id: MessageId::new(),
                    org_id: turn.org_id,
                    conversation_id,
                    channel_id: turn.channel_id,
                    direction: Direction::Outbound,
                    sender_kind: SenderKind::Bot,
                    sender_id: run.bot_user_id,
                    content: &content,
                    journey_step: Some(&step_id),
                    provider_message_id: None,
                    reply_to_provider_message_id: None,
                    delivery_status: DeliveryStatus::Pending,
                    provider_timestamp: None,
                    received_at: turn.now,
                };
                conversation_store::insert_message_into(script, &reply);
                let row =
                    store::outbox::insert_outbox_into(script, &reply, &known.contact_external_id);
                done.outbox.push(row);
                done.created.push(record_of(&reply));
            }
            Effect::StartTimer { token, due_at, .. } => {
                timer_store::set_timer_into(
                    script,
                    &timer(timer_kind::JOURNEY, token, due_at),
                    turn.now,
                );
            }
            Effect::CallApi { token, request, .. } => {
                let patience = Millis::try_from(request.timeout_ms).unwrap_or(Millis::MAX);
                let due_at = turn
                    .now
                    .saturating_add(patience)
                    .saturating_add(WORK_GUARD_SLACK_MS);
                timer_store::set_timer_into(
                    script,
                    &timer(timer_kind::JOURNEY_WORK, token, due_at),
                    turn.now,
                );
                done.work.push(JourneyWork::Api { token, request });
            }
            Effect::AiCheck {
                token,
                criterion,
                answer,
                ..
            } => {
                guard_ai(script, &timer(timer_kind::JOURNEY_WORK, token, 0), turn.now);
                done.work.push(JourneyWork::AiCheck {
                    token,
                    criterion,
                    answer,
                });
            }
            Effect::AiPostProcess {
                token,
                prompt,
                response,
                ..
            } => {
                guard_ai(script, &timer(timer_kind::JOURNEY_WORK, token, 0), turn.now);
                done.work.push(JourneyWork::AiPostProcess {
                    token,
                    prompt,
                    response,
                });
            }
            Effect::AgentTurn {
                token,
                config,
                message,
                tools,
                ..
            } => {
                guard_ai(script, &timer(timer_kind::JOURNEY_WORK, token, 0), turn.now);
                done.work.push(JourneyWork::AgentTurn {
                    token,
                    config,
                    message,
                    tools,
                });
            }
            Effect::SetCampaignVariable { name, value } => {
                store::journeys::set_campaign_variable_into(
                    script,
                    turn.org_id,
                    &name,
                    &value,
                    turn.now,
                );
            }
            Effect::Transfer { step_id, target } => {
                let (user, team) = match &target {
                    Some(TransferTarget::User { user_id }) => (Some(user_id.as_str()), None),
                    Some(TransferTarget::Team { team_id }) => (None, Some(team_id.as_str())),
                    None => (None, None),
                };
                known.status = ConversationStatus::AwaitingAgent;
                done.status_changed = true;
                done.escalation = Some(Escalation {
                    preferred: user.and_then(|id| id.parse().ok()),
                    bot_user_id: run.bot_user_id,
                    tell_guest: true,
                });
                timer_store::set_timer_into(
                    script,
                    &timer(
                        timer_kind::AWAITING_AGENT,
                        0,
                        turn.now.saturating_add(AWAITING_AGENT_PATIENCE_MS),
                    ),
                    turn.now,
                );
                conversation_store::set_conversation_status_into(
                    script,
                    conversation_id,
                    known.status,
                    turn.now,
                );
                conversation_store::assign_conversation_into(
                    script,
                    conversation_id,
                    user,
                    team,
                    turn.now,
                );
                let body = match &target {
                    Some(TransferTarget::User { user_id }) => {
                        format!("The bot handed the conversation to user {user_id}.")
                    }
                    Some(TransferTarget::Team { team_id }) => {
                        format!("The bot handed the conversation to team {team_id}.")
                    }
                    None => "The bot handed the conversation to the team.".to_owned(),
                };
                let system = system_line(
                    script,
                    (turn.org_id, turn.channel_id, conversation_id),
                    None,
                    Some(&step_id),
                    body,
                    turn.now,
                );
                done.created.push(system);
            }
            Effect::Goal {
                goal_id,
                milestone_id,
                trackers,
                ..
            } => {
                store::goals::record_goal_event_into(
                    script,
                    &store::goals::NewGoalEvent {
                        org_id: turn.org_id,
                        goal_id,
                        milestone_id: milestone_id.clone(),
                        journey_id: Some(run.id.to_string()),
                        journey_version: run.version,
                        conversation_id: Some(conversation_id.to_string()),
                        test_session_id: None,
                        is_test: false,
                        trackers,
                        at: turn.now,
                    },
                );
                done.goals.push(milestone_id);
            }
            Effect::Ended { .. } => {}
        }
    }
    let stored = StoredSession {
        journey_id: run.id,
        version: run.version,
        state: serde_json::to_string(&session).expect("sessions serialise to JSON"),
    };
    store::journeys::save_session_into(
        script,
        turn.org_id,
        conversation_id,
        &stored,
        generation,
        turn.now,
    );
    known.session = Some(JourneySession {
        journey_id: run.id,
        version: run.version,
        session,
    });
    // The inactivity timer restarts with every turn; it only expires a conversation whose bot
    // waits on the contact (see `waits_on_contact`).
    restart_inactivity(script, turn, known);
    generation
}

/// Restarts the inactivity timer of a conversation the bot still handles: after every
/// journey turn, and for a message the journey did not see (an offer of the team and its
/// answers).
fn restart_inactivity(script: &mut Script, turn: &TurnContext, known: &Known) {
    let Some(held) = known.session.as_ref() else {
        return;
    };
    if known.status != ConversationStatus::BotHandling {
        return;
    }
    timer_store::set_timer_into(
        script,
        &NewTimer {
            org_id: turn.org_id,
            conversation_id: known.conversation_id,
            channel_id: turn.channel_id,
            contact_external_id: &known.contact_external_id,
            kind: timer_kind::BOT_INACTIVITY,
            due_at: turn.now.saturating_add(turn.bot_inactivity_ms),
            generation: i64::try_from(held.session.generation).unwrap_or(i64::MAX),
        },
        turn.now,
    );
}

/// Whether a session waits for the contact (a reply, or nothing at all), as opposed to a
/// timer, an event or a call the journey made.
pub(super) fn waits_on_contact(waiting: &Waiting) -> bool {
    matches!(
        waiting,
        Waiting::NewRun | Waiting::Reply { .. } | Waiting::Agent { turn: None }
    )
}

/// What a staff action did, for the caller.
pub(super) struct StaffDone {
    pub done: MessageDone,
    /// The team member's reply, when the action was one.
    pub reply: Option<MessageRecord>,
    /// The conversation is gone.
    pub deleted: bool,
}

/// Plans a staff action (claim, take over, assign, resolve, hand back, or a reply with its
/// text) on a known conversation: the status and owner it moves to, the system line, the end
/// of the journey session when the bot is to start afresh, and for a reply the message with its
/// outbox row and the three-day silence of the bot.
pub(super) fn plan_staff_action(
    place: (OrgId, ChannelId),
    now: Millis,
    known: Known,
    actor: &Actor,
    action: &Action,
    content: Option<&MessageContent>,
) -> Result<(Script, StaffDone), HandoverError> {
    let (org_id, channel_id) = place;
    let mut known = known;
    let from = Handling {
        status: known.status,
        assignee: known.assignee,
        archived: known.archived,
        ai_enabled: known.ai_enabled,
    };
    let transition = handover::apply(&from, action, actor)?;
    let mut script = Script::new();
    if transition.delete {
        conversation_store::delete_conversation_into(&mut script, known.conversation_id);
        let done = MessageDone {
            known,
            created: Vec::new(),
            status_changed: false,
            outbox: Vec::new(),
            work: Vec::new(),
            goals: Vec::new(),
            escalation: None,
            notifications: Vec::new(),
            events: Vec::new(),
        };
        return Ok((
            script,
            StaffDone {
                done,
                reply: None,
                deleted: true,
            },
        ));
    }
    let mut done = MessageDone {
        known: known.clone(),
        created: Vec::new(),
        // Consoles refresh the conversation on any change they can see: status or owner.
        status_changed: transition.to.status != from.status
            || transition.to.assignee != from.assignee,
        outbox: Vec::new(),
        work: Vec::new(),
        goals: Vec::new(),
        escalation: None,
        notifications: Vec::new(),
        events: Vec::new(),
    };
    let conversation_id = known.conversation_id;
    if transition.to.status != from.status {
        conversation_store::set_conversation_status_into(
            &mut script,
            conversation_id,
            transition.to.status,
            now,
        );
    }
    if transition.to.assignee != from.assignee || transition.to.status != from.status {
        let user = transition.to.assignee.map(|id| id.to_string());
        conversation_store::assign_conversation_into(
            &mut script,
            conversation_id,
            user.as_deref(),
            None,
            now,
        );
    }
    if transition.reset_session {
        store::journeys::end_session_into(&mut script, conversation_id);
        known.session = None;
    }
    if transition.to.archived != from.archived {
        let at = transition.to.archived.then_some(now);
        conversation_store::set_archived_into(&mut script, conversation_id, at, now);
        done.status_changed = true;
    }
    if transition.to.ai_enabled != from.ai_enabled {
        conversation_store::set_ai_enabled_into(
            &mut script,
            conversation_id,
            transition.to.ai_enabled,
            now,
        );
        done.status_changed = true;
    }
    if transition.escalate {
        done.escalation = Some(Escalation {
            preferred: None,
            bot_user_id: None,
            tell_guest: transition.to.ai_enabled,
        });
    }
    let silence = NewTimer {
        org_id,
        conversation_id,
        channel_id,
        contact_external_id: &known.contact_external_id,
        kind: timer_kind::HUMAN_SILENCE,
        due_at: now.saturating_add(HUMAN_REPLY_SILENCE_MS),
        generation: 0,
    };
    if transition.to.status != ConversationStatus::AgentAssigned {
        // Back with the bot or closed: nothing is left to wait out.
        timer_store::cancel_timer_into(&mut script, conversation_id, timer_kind::HUMAN_SILENCE, 0);
    }
    if let Some(body) = transition.notice.clone() {
        let system = system_line(
            &mut script,
            (org_id, channel_id, conversation_id),
            Some(actor.id),
            None,
            body,
            now,
        );
        done.created.push(system);
    }
    let mut reply_record = None;
    if let (Action::Reply, Some(content)) = (action, content) {
        let reply = NewMessage {
            id: MessageId::new(),
            org_id,
            conversation_id,
            channel_id,
            direction: Direction::Outbound,
            sender_kind: SenderKind::Agent,
            sender_id: Some(actor.id),
            content,
            journey_step: None,
            provider_message_id: None,
            reply_to_provider_message_id: None,
            delivery_status: DeliveryStatus::Pending,
            provider_timestamp: None,
            received_at: now,
        };
        conversation_store::insert_message_into(&mut script, &reply);
        let row =
            store::outbox::insert_outbox_into(&mut script, &reply, &known.contact_external_id);
        done.outbox.push(row);
        conversation_store::touch_conversation_into(&mut script, conversation_id, now, false);
        // The bot stays quiet for three days after a human reply, unless handed back sooner.
        timer_store::set_timer_into(&mut script, &silence, now);
        let record = record_of(&reply);
        done.created.push(record.clone());
        reply_record = Some(record);
    }
    if let (Action::Assign { to, .. }, true) = (action, transition.to.assignee != from.assignee) {
        if *to != actor.id {
            let guest = contact_label(&known);
            notify(
                &mut script,
                &mut done,
                (org_id, now),
                *to,
                notification_kind::ASSIGNED,
                "A conversation was assigned to you",
                &format!("{} assigned {guest} to you.", actor.name),
            );
        }
    }
    known.status = transition.to.status;
    known.assignee = transition.to.assignee;
    known.archived = transition.to.archived;
    known.ai_enabled = transition.to.ai_enabled;
    done.known = known;
    Ok((
        script,
        StaffDone {
            done,
            reply: reply_record,
            deleted: false,
        },
    ))
}

/// A conversation that stayed in `from` too long goes back to the bot: three days after the
/// last human reply (`agent_assigned`), or 30 minutes unclaimed (`awaiting_agent`). `None` when
/// it is not in `from` any more.
pub(super) fn plan_back_to_bot(
    place: (OrgId, ChannelId),
    now: Millis,
    known: Known,
    from: ConversationStatus,
    why: &str,
) -> Option<(Script, MessageDone)> {
    let (org_id, channel_id) = place;
    if known.status != from || !known.ai_enabled {
        return None;
    }
    let mut known = known;
    let mut script = Script::new();
    let conversation_id = known.conversation_id;
    conversation_store::set_conversation_status_into(
        &mut script,
        conversation_id,
        ConversationStatus::BotHandling,
        now,
    );
    conversation_store::assign_conversation_into(&mut script, conversation_id, None, None, now);
    store::journeys::end_session_into(&mut script, conversation_id);
    let system = system_line(
        &mut script,
        (org_id, channel_id, conversation_id),
        None,
        None,
        why.to_owned(),
        now,
    );
    known.status = ConversationStatus::BotHandling;
    known.assignee = None;
    known.session = None;
    let done = MessageDone {
        known,
        created: vec![system],
        status_changed: true,
        outbox: Vec::new(),
        work: Vec::new(),
        goals: Vec::new(),
        escalation: None,
        notifications: Vec::new(),
        events: Vec::new(),
    };
    Some((script, done))
}

/// Assigns an escalated conversation inside the write of its turn: to the team member the
/// journey named if they are online with room, else to the online agent with the fewest active
/// conversations (ties: the longest idle). With nobody available the conversation keeps
/// waiting, and the guest is told so.
pub(super) async fn auto_assign(
    tx: &mut Tx,
    done: &mut MessageDone,
    place: (OrgId, ChannelId),
    now: Millis,
) -> Result<(), StoreError> {
    let Some(escalation) = done.escalation.take() else {
        return Ok(());
    };
    let (org_id, channel_id) = place;
    let conversation_id = done.known.conversation_id;
    let picked = store::inbox::pick_agent(tx, org_id, escalation.preferred, now).await?;
    let Some((agent, name)) = picked else {
        let mut script = Script::new();
        let guest = contact_label(&done.known);
        for member in store::notifications::staff_to_notify(tx, org_id).await? {
            notify(
                &mut script,
                done,
                (org_id, now),
                member,
                notification_kind::ESCALATION,
                "A guest is waiting for the team",
                &format!("{guest} is waiting; nobody online could take the conversation."),
            );
        }
        tx.run(&script).await?;
        if !escalation.tell_guest {
            return Ok(());
        }
        let content = MessageContent::Text {
            body: TEAM_WILL_RESPOND.into(),
        };
        let message = NewMessage {
            id: MessageId::new(),
            org_id,
            conversation_id,
            channel_id,
            direction: Direction::Outbound,
            sender_kind: SenderKind::Bot,
            sender_id: escalation.bot_user_id,
            content: &content,
            journey_step: None,
            provider_message_id: None,
            reply_to_provider_message_id: None,
            delivery_status: DeliveryStatus::Pending,
            provider_timestamp: None,
            received_at: now,
        };
        let mut script = Script::new();
        conversation_store::insert_message_into(&mut script, &message);
        let row = store::outbox::insert_outbox_into(
            &mut script,
            &message,
            &done.known.contact_external_id,
        );
        done.outbox.push(row);
        tx.run(&script).await?;
        done.created.push(record_of(&message));
        return Ok(());
    };
    let mut script = Script::new();
    conversation_store::set_conversation_status_into(
        &mut script,
        conversation_id,
        ConversationStatus::AgentAssigned,
        now,
    );
    let agent_id = agent.to_string();
    conversation_store::assign_conversation_into(
        &mut script,
        conversation_id,
        Some(&agent_id),
        None,
        now,
    );
    let system = system_line(
        &mut script,
        (org_id, channel_id, conversation_id),
        None,
        None,
        format!("Assigned to {name} automatically"),
        now,
    );
    let guest = contact_label(&done.known);
    notify(
        &mut script,
        done,
        (org_id, now),
        agent,
        notification_kind::ASSIGNED,
        "A conversation was assigned to you",
        &format!("{guest} was handed to you automatically."),
    );
    tx.run(&script).await?;
    done.created.push(system);
    done.known.status = ConversationStatus::AgentAssigned;
    done.known.assignee = Some(agent);
    done.status_changed = true;
    Ok(())
}

/// Logs what a turn changed for the consoles: the events go into `done.events`, to be
/// published after the commit, and their log rows into the returned script, which must run in
/// the turn's own write (after `auto_assign`, which may add to the turn).
pub(super) fn seal(done: &mut MessageDone, org_id: OrgId, now: Millis) -> Script {
    done.events = events_of(done);
    crate::actors::bus::log_script(org_id, &done.events, now)
}

/// What a turn changed, as consoles see it: the conversation (when its state moved), then
/// each message in order, then the notifications it wrote.
fn events_of(done: &MessageDone) -> Vec<Event> {
    let mut events = Vec::with_capacity(done.created.len() + 1);
    if done.status_changed {
        events.push(Event::ConversationUpdated {
            conversation_id: done.known.conversation_id,
            status: done.known.status,
        });
    }
    events.extend(done.created.iter().map(|message| Event::MessageCreated {
        message: Box::new(message.clone()),
    }));
    events.extend(done.notifications.iter().map(|(user_id, notification)| {
        Event::NotificationCreated {
            user_id: *user_id,
            notification: Box::new(notification.clone()),
        }
    }));
    events
}

/// Writes a notification for `user_id` about the conversation, for their console too.
fn notify(
    script: &mut Script,
    done: &mut MessageDone,
    place: (OrgId, Millis),
    user_id: crate::domain::UserId,
    kind: &str,
    title: &str,
    body: &str,
) {
    let (org_id, now) = place;
    let conversation_id = Some(done.known.conversation_id);
    let record = store::notifications::notify_into(
        script,
        org_id,
        user_id,
        kind,
        conversation_id,
        title,
        body,
        now,
    );
    done.notifications.push((user_id, record));
}

/// How the team sees the contact: their name, else their phone, else their id on the channel.
fn contact_label(known: &Known) -> String {
    known
        .contact_name
        .clone()
        .or_else(|| known.contact_phone.clone())
        .unwrap_or_else(|| known.contact_external_id.clone())
}

/// Writes a system line (a status change, an assignment) into the thread and answers it.
fn system_line(
    script: &mut Script,
    (org_id, channel_id, conversation_id): (OrgId, ChannelId, ConversationId),
    sender_id: Option<crate::domain::UserId>,
    journey_step: Option<&str>,
    body: String,
    at: Millis,
) -> MessageRecord {
    let notice = MessageContent::System { body };
    let system = NewMessage {
        id: MessageId::new(),
        org_id,
        conversation_id,
        channel_id,
        direction: Direction::Outbound,
        sender_kind: SenderKind::System,
        sender_id,
        content: &notice,
        journey_step,
        provider_message_id: None,
        reply_to_provider_message_id: None,
        delivery_status: DeliveryStatus::Received,
        provider_timestamp: None,
        received_at: at,
    };
    conversation_store::insert_message_into(script, &system);
    record_of(&system)
}

/// Sets the guard timer of an AI call.
fn guard_ai(script: &mut Script, timer: &NewTimer<'_>, now: Millis) {
    let guard = NewTimer {
        due_at: now
            .saturating_add(AI_WORK_TIMEOUT_MS)
            .saturating_add(WORK_GUARD_SLACK_MS),
        ..*timer
    };
    timer_store::set_timer_into(script, &guard, now);
}

/// Whether a session is in the middle of a run (it waits for something).
pub(super) fn is_running(session: Option<&JourneySession>) -> bool {
    session.is_some_and(|held| held.session.waiting != Waiting::NewRun)
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
    let mut script = Script::new();
    let system = system_line(
        &mut script,
        (timer.org_id, timer.channel_id, timer.conversation_id),
        None,
        None,
        "The conversation expired after a period without messages.".to_owned(),
        now,
    );
    tx.run(&script).await?;
    Ok(Some(system))
}

pub(super) fn parse_session(
    stored: Option<StoredSession>,
) -> Result<Option<JourneySession>, StoreError> {
    stored
        .map(|stored| {
            serde_json::from_str::<Session>(&stored.state)
                .map(|session| JourneySession {
                    journey_id: stored.journey_id,
                    version: stored.version,
                    session,
                })
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
        sender_id: message.sender_id,
        sender_name: None,
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
