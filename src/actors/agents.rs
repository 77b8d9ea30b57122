//! The agent hub: fans the organisation's event log out to the agent consoles connected to
//! this node.
//!
//! One task per organisation that has had consoles here reads new events from the log whenever the
//! bus says something happened (a local change, or a poke from another node through Redis,
//! or, as a safety net, every second while consoles are connected; notices that arrive together
//! make one read), numbering first what needs a number (Postgres), serialises each event once
//! and offers the frame to every console. A console that joins with the last sequence number it
//! saw gets the events it missed from the log first, inside the same task, so nothing falls
//! between the replay and the live stream and nothing arrives twice.
//!
//! Each console has a bounded buffer. A console that stops reading fills it and is cut off at
//! once; the others never wait for it, and it loses nothing: it reconnects with `since`.

use super::bus::Event;
use super::core::Core;
use crate::domain::{OrgId, UserId};
use crate::store::events::EventRecord;
use bytestring::ByteString;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Frames a console may have waiting before it is cut off as a slow consumer. Frames are
/// shared (`ByteString`, reference-counted), so a full buffer costs a pointer per frame and
/// the socket writes the one copy of each frame; the channel allocates as it
/// fills, so an idle console costs next to nothing.
pub const CONSOLE_BUFFER: usize = 4_096;
/// Events read from the log at a time.
const PAGE: i64 = 500;
/// Most events replayed to a joining console; further behind, it is told to reload.
const MAX_REPLAY: i64 = 10_000;
/// Notices from the bus taken together before the log is read.
const NOTICES_AT_ONCE: usize = 1_024;
/// How often the log is checked with nobody poking, while consoles are connected.
const SAFETY_POLL: Duration = Duration::from_secs(1);

/// A console's end of the hub: where its frames go.
pub struct Console {
    pub user_id: UserId,
    pub frames: mpsc::Sender<ByteString>,
}

/// Why a console could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the event log could not be read: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the hub is shutting down")]
    Closed,
}

/// Where a joined console starts.
#[derive(Clone, Copy, Debug)]
pub struct Joined {
    pub id: u64,
    /// The sequence number the console is now at.
    pub seq: i64,
    /// The console asked for events the log no longer holds: it must reload through REST.
    pub resync: bool,
}

enum Command {
    Join {
        console: Console,
        since: Option<i64>,
        reply: oneshot::Sender<Result<Joined, JoinError>>,
    },
    Leave(u64),
}

#[derive(Default)]
pub struct AgentHub {
    orgs: DashMap<OrgId, mpsc::UnboundedSender<Command>>,
    next_id: AtomicU64,
}

impl AgentHub {
    /// Adds a console: replays what it missed after `since` (or starts at the latest event),
    /// then streams live events to it.
    pub async fn join(
        &self,
        core: &Arc<Core>,
        org_id: OrgId,
        console: Console,
        since: Option<i64>,
    ) -> Result<Joined, JoinError> {
        let (reply, answer) = oneshot::channel();
        let mut command = Command::Join {
            console,
            since,
            reply,
        };
        // A task that ended (it panicked) is replaced.
        for _ in 0..2 {
            let sender = self
                .orgs
                .entry(org_id)
                .or_insert_with(|| spawn_org(Arc::clone(core), org_id))
                .clone();
            match sender.send(command) {
                Ok(()) => return answer.await.map_err(|_| JoinError::Closed)?,
                Err(mpsc::error::SendError(returned)) => {
                    self.orgs
                        .remove_if(&org_id, |_, current| current.same_channel(&sender));
                    command = returned;
                }
            }
        }
        Err(JoinError::Closed)
    }

    pub fn leave(&self, org_id: OrgId, id: u64) {
        if let Some(sender) = self.orgs.get(&org_id) {
            let _ = sender.send(Command::Leave(id));
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

fn spawn_org(core: Arc<Core>, org_id: OrgId) -> mpsc::UnboundedSender<Command> {
    let (sender, commands) = mpsc::unbounded_channel();
    let events = core.bus.subscribe(org_id);
    tokio::spawn(run_org(core, org_id, commands, events));
    sender
}

struct Live {
    id: u64,
    console: Console,
}

async fn run_org(
    core: Arc<Core>,
    org_id: OrgId,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut events: broadcast::Receiver<Arc<Event>>,
) {
    let mut last = match core.store.last_event_seq(org_id).await {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(org_id = %org_id, error = %error, "agent hub could not read the event log");
            0
        }
    };
    let mut consoles: Vec<Live> = Vec::new();
    let mut poll = tokio::time::interval(SAFETY_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Join { console, since, reply }) => {
                    // Catch up first, so the joining console starts where the others are.
                    deliver_new(&core, org_id, &mut last, &mut consoles).await;
                    let id = core.agents.next_id();
                    let joined = replay(&core, org_id, &console, since, last, id).await;
                    if joined.is_ok() {
                        consoles.push(Live { id, console });
                    }
                    let _ = reply.send(joined);
                }
                Some(Command::Leave(id)) => consoles.retain(|live| live.id != id),
                None => return,
            },
            event = events.recv() => {
                // One read of the log for every notice already waiting, not one each (at most
                // `NOTICES_AT_ONCE`, so a steady stream of them cannot hold the read off).
                let mut logged = false;
                let mut next = Some(event);
                let mut taken = 0;
                while let Some(notice) = next.take() {
                    match notice {
                        Ok(event) => match ephemeral_frame(&event) {
                            Some((frame, from)) => offer(&mut consoles, &frame, |live| {
                                from.is_none_or(|from| live.console.user_id != from)
                            }),
                            None => logged = true,
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => logged = true,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                    taken += 1;
                    if taken < NOTICES_AT_ONCE {
                        next = match events.try_recv() {
                            Ok(event) => Some(Ok(event)),
                            Err(broadcast::error::TryRecvError::Lagged(skipped)) => {
                                Some(Err(broadcast::error::RecvError::Lagged(skipped)))
                            }
                            Err(broadcast::error::TryRecvError::Closed) => {
                                Some(Err(broadcast::error::RecvError::Closed))
                            }
                            Err(broadcast::error::TryRecvError::Empty) => None,
                        };
                    }
                }
                if logged {
                    deliver_new(&core, org_id, &mut last, &mut consoles).await;
                }
            }
            _ = poll.tick(), if !consoles.is_empty() => {
                deliver_new(&core, org_id, &mut last, &mut consoles).await;
            }
        }
    }
}

/// Sends a joining console the events after `since` up to `last`, directly (it is not live
/// yet, so it waits for room rather than being cut off).
async fn replay(
    core: &Core,
    org_id: OrgId,
    console: &Console,
    since: Option<i64>,
    last: i64,
    id: u64,
) -> Result<Joined, JoinError> {
    let Some(since) = since.filter(|since| *since < last) else {
        return Ok(Joined {
            id,
            seq: last,
            resync: false,
        });
    };
    let first = core.store.first_event_seq(org_id).await?;
    // Events after `since` are gone when the log starts later, or holds nothing at all.
    let pruned = first.is_none_or(|first| since + 1 < first);
    if since < 0 || pruned || last - since > MAX_REPLAY {
        return Ok(Joined {
            id,
            seq: last,
            resync: true,
        });
    }
    let mut at = since;
    while at < last {
        let page = core
            .store
            .events_after(org_id, at, PAGE.min(last - at))
            .await?;
        if page.is_empty() {
            break;
        }
        for event in &page {
            if let Some(frame) = frame_for(event, console.user_id) {
                if console.frames.send(frame).await.is_err() {
                    return Err(JoinError::Closed);
                }
            }
            at = event.seq;
        }
    }
    Ok(Joined {
        id,
        seq: last,
        resync: false,
    })
}

/// Numbers the events committed so far (see `store::events`), reads the events after `last`
/// and offers them to every console.
async fn deliver_new(core: &Core, org_id: OrgId, last: &mut i64, consoles: &mut Vec<Live>) {
    if let Err(error) = core.store.sequence_events(org_id).await {
        // The next notice or poll tries again; what is numbered already is still delivered.
        tracing::warn!(org_id = %org_id, error = %error, "agent hub could not number new events");
    }
    loop {
        let page = match core.store.events_after(org_id, *last, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(org_id = %org_id, error = %error, "agent hub could not read the event log");
                return;
            }
        };
        let full = page.len() as i64 == PAGE;
        for event in &page {
            let frame = ByteString::from(frame_json(event));
            let only = addressee(event);
            offer(consoles, &frame, |live| {
                only.is_none_or(|user| live.console.user_id == user)
            });
            *last = event.seq;
        }
        if !full {
            return;
        }
    }
}

/// Offers a frame to the consoles `to` selects; a console whose buffer is full is cut off
/// at once (it reconnects with `since` and loses nothing), so nobody else ever waits for it.
fn offer(consoles: &mut Vec<Live>, frame: &ByteString, to: impl Fn(&Live) -> bool) {
    consoles.retain(|live| {
        if !to(live) {
            return true;
        }
        match live.console.frames.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(console = live.id, "console cut off: it stopped reading");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    });
}

/// `{"seq": …, "type": …, "data": …}`.
fn frame_json(event: &EventRecord) -> String {
    serde_json::json!({"seq": event.seq, "type": event.kind, "data": event.data}).to_string()
}

/// The frame of a logged event for one console, or `None` if it is meant for someone else.
fn frame_for(event: &EventRecord, user_id: UserId) -> Option<ByteString> {
    match addressee(event) {
        Some(user) if user != user_id => None,
        _ => Some(frame_json(event).into()),
    }
}

/// Events for one team member only (their notifications) name them in `data.user_id`.
fn addressee(event: &EventRecord) -> Option<UserId> {
    if !event.kind.starts_with("notification.") {
        return None;
    }
    event.data.get("user_id")?.as_str()?.parse().ok()
}

/// Events that are not logged (typing) go straight to the other consoles, without a sequence
/// number; answers the frame and the team member who caused it (who does not get it back).
fn ephemeral_frame(event: &Event) -> Option<(ByteString, Option<UserId>)> {
    match event {
        Event::Typing {
            conversation_id,
            user_id,
            name,
        } => Some((
            serde_json::json!({"type": "typing", "data": {
                "conversation_id": conversation_id, "user_id": user_id, "name": name
            }})
            .to_string()
            .into(),
            Some(*user_id),
        )),
        Event::ContactTyping { conversation_id } => Some((
            serde_json::json!({"type": "contact.typing", "data": {"conversation_id": conversation_id}})
                .to_string()
                .into(),
            None,
        )),
        _ => None,
    }
}
