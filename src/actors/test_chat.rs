//! Test chat: a sandbox that runs a journey's draft for its builder. A test session takes a
//! snapshot of the draft when it starts, so later edits do not change it, and lives only in
//! memory ([`TestChatHub`]): it never touches a channel, a contact, a conversation or the
//! organisation's campaign variables. The only thing it writes is the goal events its Goal
//! steps reach, flagged as test events.
//!
//! Inputs come from the HTTP routes, from the session's sockets, from its timer task and from
//! the HTTP and AI work it handed out; each is applied under the session's lock (`run`), and
//! the new transcript entries go to every socket of the session in the order they were made.
//! Sessions end on request, after [`IDLE_TIMEOUT`] without use, or when their organisation
//! starts more than [`MAX_SESSIONS_PER_ORG`].

mod error;
pub mod guest;
mod notes;
mod run;
mod socket;
mod tasks;

pub use error::TestChatError;
pub use guest::GuestInput;
pub use run::{
    Guest, Speaker, TestState, TranscriptEntry, CHANNEL_KIND, CHANNEL_NAME, DEFAULT_GUEST_NAME,
};
pub use socket::TestChatSocket;

use super::core::Core;
use crate::crypto::{generate_token, hash_token};
use crate::domain::{Millis, OrgId};
use crate::journey::Journey;
use crate::store::StoreError;
use actix::Recipient;
use dashmap::DashMap;
use run::{Applied, GoalHit, Refusal, TestInput, TestRun};
use serde::Serialize;
use socket::{ServerFrame, SocketEvent};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tasks::{drive, perform, spawn_timer};

/// A session nobody used for this long (and with no socket open) is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Sessions an organisation may hold; starting one more drops its longest idle one.
pub const MAX_SESSIONS_PER_ORG: usize = 20;
/// How long a socket ticket opens the session's socket, reconnects included.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How often idle sessions are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The id of a test session (a UUIDv7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct TestSessionId(uuid::Uuid);

impl TestSessionId {
    fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for TestSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TestSessionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

/// A session as `GET /test-sessions/{id}` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TestSessionView {
    pub id: TestSessionId,
    #[schema(value_type = String)]
    pub journey_id: uuid::Uuid,
    pub transcript: Vec<TranscriptEntry>,
    pub state: TestState,
}

/// A session just started, with the ticket that opens its socket (shown once).
#[derive(Debug)]
pub struct Started {
    pub session: TestSessionView,
    pub ws_ticket: String,
}

/// What one input did: the entries it added and where the session stands now.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TurnView {
    pub entries: Vec<TranscriptEntry>,
    pub state: TestState,
}

/// Every test session of this node.
#[derive(Default)]
pub struct TestChatHub {
    sessions: DashMap<TestSessionId, Arc<TestSession>>,
    sweeper_started: AtomicBool,
    next_socket_id: AtomicU64,
}

struct TestSession {
    id: TestSessionId,
    org_id: OrgId,
    journey_id: uuid::Uuid,
    /// SHA-256 of the socket ticket; the ticket itself is only ever shown to its creator.
    ticket_hash: String,
    ticket_expires_at: Millis,
    live: Mutex<Live>,
}

struct Live {
    run: TestRun,
    timer_task: Option<tokio::task::AbortHandle>,
    sockets: Vec<(u64, Recipient<SocketEvent>)>,
    /// Real time, not the injected clock: idleness is about memory, and a test that moves the
    /// clock a day ahead to fire a Delay must not lose its session.
    last_active: Instant,
}

impl TestChatHub {
    /// Starts a test session on the current draft of a journey of `org_id`.
    #[tracing::instrument(skip_all, fields(org_id = %org_id, journey_id = %journey_id))]
    pub async fn start(
        &self,
        core: &Arc<Core>,
        org_id: OrgId,
        journey_id: uuid::Uuid,
        guest: Guest,
    ) -> Result<Started, TestChatError> {
        let record = core
            .store
            .journey(org_id, journey_id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => TestChatError::JourneyNotFound,
                other => TestChatError::Store(other),
            })?;
        let journey: Journey = serde_json::from_str(&record.graph)
            .map_err(|error| TestChatError::CorruptJourney(error.to_string()))?;
        let campaign = if record.graph.contains("campaign.") {
            core.store.campaign_variables(org_id).await?
        } else {
            BTreeMap::new()
        };
        let time_zone = core.time_zone(org_id).await?;
        let ws_ticket = generate_token("tst");
        let lifetime = Millis::try_from(TICKET_LIFETIME.as_millis()).unwrap_or(Millis::MAX);
        let session = Arc::new(TestSession {
            id: TestSessionId::new(),
            org_id,
            journey_id,
            ticket_hash: hash_token(&ws_ticket),
            ticket_expires_at: core.clock.now().saturating_add(lifetime),
            live: Mutex::new(Live {
                run: TestRun::new(Arc::new(journey), guest, campaign).with_time_zone(time_zone),
                timer_task: None,
                sockets: Vec::new(),
                last_active: Instant::now(),
            }),
        });
        let view = session.view();
        self.sessions.insert(session.id, Arc::clone(&session));
        self.make_room(org_id, session.id);
        self.start_sweeper(core);
        tracing::info!(test_session_id = %session.id, "test session started");
        Ok(Started {
            session: view,
            ws_ticket,
        })
    }

    pub fn read(&self, org_id: OrgId, id: TestSessionId) -> Result<TestSessionView, TestChatError> {
        let session = self.lookup(Some(org_id), id)?;
        session.lock().last_active = Instant::now();
        Ok(session.view())
    }

    /// Applies a tester's input and answers once the journey has run; work it hands out
    /// finishes later, and its entries reach the sockets and the transcript then.
    pub async fn input(
        &self,
        core: &Arc<Core>,
        org_id: OrgId,
        id: TestSessionId,
        input: GuestInput,
    ) -> Result<TurnView, TestChatError> {
        let session = self.lookup(Some(org_id), id)?;
        let input = match input {
            GuestInput::Message(content) => TestInput::Message(content),
            GuestInput::Event { name, payload } => TestInput::Event { name, payload },
            GuestInput::FireTimer => TestInput::FireTimer,
        };
        drive(core, &session, input).await
    }

    /// Ends a session: its timer stops and its sockets close.
    pub fn end(&self, org_id: OrgId, id: TestSessionId) -> Result<(), TestChatError> {
        self.lookup(Some(org_id), id)?;
        self.remove(id);
        tracing::info!(test_session_id = %id, "test session ended");
        Ok(())
    }

    /// The organisation of a session whose socket `ticket` may open.
    pub fn authorize_socket(
        &self,
        id: TestSessionId,
        ticket: &str,
        now: Millis,
    ) -> Result<OrgId, TestChatError> {
        let session = self.lookup(None, id)?;
        let matches: bool = hash_token(ticket)
            .as_bytes()
            .ct_eq(session.ticket_hash.as_bytes())
            .into();
        if !matches || now > session.ticket_expires_at {
            return Err(TestChatError::BadTicket);
        }
        Ok(session.org_id)
    }

    /// Registers a socket; answers its id and the frames that bring it up to date (every
    /// entry, then the state). Entries made later reach it through `recipient`, in order.
    fn subscribe(
        &self,
        id: TestSessionId,
        recipient: Recipient<SocketEvent>,
    ) -> Option<(u64, Vec<Arc<str>>)> {
        let session = self.lookup(None, id).ok()?;
        let socket_id = self.next_socket_id.fetch_add(1, Ordering::Relaxed);
        let mut live = session.lock();
        live.last_active = Instant::now();
        live.sockets.push((socket_id, recipient));
        let mut frames: Vec<Arc<str>> = live
            .run
            .transcript()
            .iter()
            .map(|entry| ServerFrame::Entry { entry }.text())
            .collect();
        frames.push(
            ServerFrame::State {
                state: &live.run.state(),
            }
            .text(),
        );
        Some((socket_id, frames))
    }

    fn unsubscribe(&self, id: TestSessionId, socket_id: u64) {
        if let Some(session) = self.sessions.get(&id).map(|entry| Arc::clone(&entry)) {
            let mut live = session.lock();
            live.sockets
                .retain(|(registered, _)| *registered != socket_id);
            live.last_active = Instant::now();
        }
    }

    /// Feeds an input that does not come from the tester (a timer, a result of work).
    async fn deliver(&self, core: &Arc<Core>, id: TestSessionId, input: TestInput) {
        let Some(session) = self.sessions.get(&id).map(|entry| Arc::clone(&entry)) else {
            return;
        };
        if let Err(error) = drive(core, &session, input).await {
            tracing::warn!(test_session_id = %id, error = %error, "failed to apply a test chat input");
        }
    }

    /// The session, if it exists, belongs to `org_id` (when given) and is not idle past
    /// [`IDLE_TIMEOUT`].
    fn lookup(
        &self,
        org_id: Option<OrgId>,
        id: TestSessionId,
    ) -> Result<Arc<TestSession>, TestChatError> {
        let session = self
            .sessions
            .get(&id)
            .map(|entry| Arc::clone(&entry))
            .ok_or(TestChatError::NotFound)?;
        if org_id.is_some_and(|org_id| org_id != session.org_id) {
            return Err(TestChatError::NotFound);
        }
        if session.is_idle() {
            self.remove(id);
            return Err(TestChatError::NotFound);
        }
        Ok(session)
    }

    fn remove(&self, id: TestSessionId) {
        if let Some((_, session)) = self.sessions.remove(&id) {
            session.close();
        }
    }

    /// Keeps an organisation within [`MAX_SESSIONS_PER_ORG`] by dropping its longest idle
    /// sessions other than `keep`, those without an open socket first.
    fn make_room(&self, org_id: OrgId, keep: TestSessionId) {
        let others: Vec<Arc<TestSession>> = self
            .sessions
            .iter()
            .filter(|entry| entry.org_id == org_id && entry.id != keep)
            .map(|entry| Arc::clone(&entry))
            .collect();
        let Some(excess) = (others.len() + 1)
            .checked_sub(MAX_SESSIONS_PER_ORG)
            .filter(|excess| *excess > 0)
        else {
            return;
        };
        let mut others: Vec<(bool, Instant, TestSessionId)> = others
            .iter()
            .map(|session| {
                let live = session.lock();
                (!live.sockets.is_empty(), live.last_active, session.id)
            })
            .collect();
        others.sort();
        for (_, _, id) in others.into_iter().take(excess) {
            tracing::info!(test_session_id = %id, "test session dropped to make room");
            self.remove(id);
        }
    }

    fn start_sweeper(&self, core: &Arc<Core>) {
        if self.sweeper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let core_ref = Arc::downgrade(core);
        let mut shutdown = core.shutdown_signal();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                    _ = shutdown.changed() => break,
                }
                let Some(core) = core_ref.upgrade() else {
                    break;
                };
                core.test_chats.sweep();
            }
        });
    }

    fn sweep(&self) {
        let idle: Vec<TestSessionId> = self
            .sessions
            .iter()
            .map(|entry| Arc::clone(&entry))
            .filter(|session| session.is_idle())
            .map(|session| session.id)
            .collect();
        for id in idle {
            tracing::info!(test_session_id = %id, "idle test session dropped");
            self.remove(id);
        }
    }
}

impl TestSession {
    fn lock(&self) -> MutexGuard<'_, Live> {
        self.live
            .lock()
            .expect("a test session lock is never poisoned: nothing panics while holding it")
    }

    fn view(&self) -> TestSessionView {
        let live = self.lock();
        TestSessionView {
            id: self.id,
            journey_id: self.journey_id,
            transcript: live.run.transcript().to_vec(),
            state: live.run.state(),
        }
    }

    fn is_idle(&self) -> bool {
        let live = self.lock();
        live.sockets.is_empty() && live.last_active.elapsed() > IDLE_TIMEOUT
    }

    /// Applies one input under the lock: runs the journey, (re)starts the timer task, starts
    /// the work handed out and sends the new entries to the sockets.
    fn apply(
        &self,
        core: &Arc<Core>,
        input: TestInput,
    ) -> Result<(TurnView, Vec<GoalHit>), TestChatError> {
        let now = core.clock.now();
        let mut live = self.lock();
        let tester_input = !matches!(input, TestInput::TimerDue(_) | TestInput::Completed { .. });
        if tester_input {
            live.last_active = Instant::now();
        }
        let Applied {
            entries,
            timer,
            work,
            goals,
        } = live
            .run
            .apply(input, now)
            .map_err(|refusal| match refusal {
                Refusal::NoPendingTimer => TestChatError::NoPendingTimer,
            })?;
        if let Some(timer) = timer {
            if let Some(task) = live.timer_task.take() {
                task.abort();
            }
            live.timer_task = timer.map(|timer| spawn_timer(core, self.id, timer));
        }
        for work in work {
            tokio::spawn(perform(Arc::clone(core), (self.org_id, self.id), work));
        }
        let state = live.run.state();
        if !entries.is_empty() {
            live.broadcast(&entries, &state);
        }
        Ok((TurnView { entries, state }, goals))
    }

    /// Adds a system note and sends it to the sockets.
    fn note(&self, now: Millis, note: String) -> (TranscriptEntry, TestState) {
        let mut live = self.lock();
        let entry = live.run.note(now, note);
        let state = live.run.state();
        live.broadcast(std::slice::from_ref(&entry), &state);
        (entry, state)
    }

    /// Stops the timer and closes the sockets of a session that ended.
    fn close(&self) {
        let mut live = self.lock();
        if let Some(task) = live.timer_task.take() {
            task.abort();
        }
        for (_, socket) in live.sockets.drain(..) {
            socket.do_send(SocketEvent::Ended);
        }
    }
}

impl Live {
    fn broadcast(&self, entries: &[TranscriptEntry], state: &TestState) {
        if self.sockets.is_empty() {
            return;
        }
        let mut frames: Vec<Arc<str>> = entries
            .iter()
            .map(|entry| ServerFrame::Entry { entry }.text())
            .collect();
        frames.push(ServerFrame::State { state }.text());
        for (_, socket) in &self.sockets {
            for frame in &frames {
                // A cheap notification; the socket's own heartbeat drops a dead client.
                socket.do_send(SocketEvent::Frame(Arc::clone(frame)));
            }
        }
    }
}
