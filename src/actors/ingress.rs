//! The inbound writer: webhook handlers submit parsed events and wait; the writer commits
//! whatever arrived within the batch window in one transaction and hands the new
//! (non-duplicate) events to their conversation actors at once. Each waiting handler is
//! answered once the commit is durable, and the provider is acknowledged only then.
//!
//! The conversation does not wait for that sync: its turn reads the committed rows and writes
//! its reply in a later commit, and the WAL is synced in order, so by the time a reply is
//! durable enough to be sent, the event it answers is durable too. The reply path waits for
//! one sync instead of two, and the writer takes the next batch while this one syncs.

use super::conversation::ConversationCommand;
use super::core::Core;
use super::registry::ConversationKey;
use crate::domain::{ChannelId, InboundEvent, Millis, OrgId};
use crate::store::{NewInbound, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Submissions waiting for the writer before handlers feel backpressure.
const QUEUE_CAPACITY: usize = 16_384;
/// Most rows written in one transaction.
const MAX_BATCH_ROWS: usize = 2_000;
/// How long a handler waits for its commit before answering 503.
const COMMIT_DEADLINE: Duration = Duration::from_secs(10);

/// The result of a committed submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub new: usize,
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// Nothing was stored; the provider should retry.
    #[error("inbound events could not be stored")]
    Unavailable(#[source] Option<StoreError>),
}

pub(crate) struct Submission {
    org_id: OrgId,
    channel_id: ChannelId,
    events: Vec<InboundEvent>,
    received_at: Millis,
    done: oneshot::Sender<Result<Accepted, ()>>,
}

#[derive(Clone)]
pub struct IngressHandle {
    submissions: mpsc::Sender<Submission>,
}

impl IngressHandle {
    pub(crate) fn new() -> (Self, mpsc::Receiver<Submission>) {
        let (submissions, receiver) = mpsc::channel(QUEUE_CAPACITY);
        (Self { submissions }, receiver)
    }

    /// Stores the events durably. Returns once they are committed (or known duplicates).
    pub async fn submit(
        &self,
        org_id: OrgId,
        channel_id: ChannelId,
        events: Vec<InboundEvent>,
        received_at: Millis,
    ) -> Result<Accepted, IngressError> {
        if events.is_empty() {
            return Ok(Accepted {
                new: 0,
                duplicates: 0,
            });
        }
        let (done, committed) = oneshot::channel();
        let submission = Submission {
            org_id,
            channel_id,
            events,
            received_at,
            done,
        };
        let wait = async {
            self.submissions
                .send(submission)
                .await
                .map_err(|_| IngressError::Unavailable(None))?;
            committed
                .await
                .map_err(|_| IngressError::Unavailable(None))?
                .map_err(|()| IngressError::Unavailable(None))
        };
        tokio::time::timeout(COMMIT_DEADLINE, wait)
            .await
            .map_err(|_| IngressError::Unavailable(None))?
    }
}

pub(crate) async fn run_writer(core: Arc<Core>, mut submissions: mpsc::Receiver<Submission>) {
    let window = core.settings.ingress_batch_window;
    let mut shutdown = core.shutdown_signal();
    loop {
        let first = tokio::select! {
            submission = submissions.recv() => submission,
            _ = shutdown.changed() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        let mut rows = batch[0].events.len();
        let deadline = Instant::now() + window;
        while rows < MAX_BATCH_ROWS {
            let next = match submissions.try_recv() {
                Ok(submission) => Some(submission),
                Err(_) if window.is_zero() => None,
                Err(_) => tokio::time::timeout_at(deadline, submissions.recv())
                    .await
                    .ok()
                    .flatten(),
            };
            let Some(next) = next else { break };
            rows += next.events.len();
            batch.push(next);
        }
        commit(&core, batch).await;
    }
}

async fn commit(core: &Arc<Core>, batch: Vec<Submission>) {
    let rows: Vec<NewInbound> = batch
        .iter()
        .flat_map(|submission| {
            submission.events.iter().map(|event| NewInbound {
                org_id: submission.org_id,
                channel_id: submission.channel_id,
                dedupe_key: event.dedupe_key(),
                contact_external_id: event.contact_external_id().to_owned(),
                payload: serde_json::to_string(event).expect("inbound events serialise to JSON"),
                received_at: submission.received_at,
            })
        })
        .collect();
    let row_count = rows.len();
    let (ids, durable) = match core.store.insert_inbound_committed(rows).await {
        Ok(committed) => committed,
        Err(error) => {
            tracing::error!(error = %error, rows = row_count, "failed to store inbound events");
            for submission in batch {
                let _ = submission.done.send(Err(()));
            }
            return;
        }
    };
    let mut ids = ids.into_iter();
    let mut answers = Vec::with_capacity(batch.len());
    for submission in batch {
        let mut accepted = Accepted {
            new: 0,
            duplicates: 0,
        };
        for event in submission.events {
            match ids.next().flatten() {
                Some(inbound_id) => {
                    accepted.new += 1;
                    let key =
                        ConversationKey::new(submission.channel_id, event.contact_external_id());
                    core.conversations.dispatch(
                        core,
                        key,
                        ConversationCommand::Inbound {
                            inbound_id,
                            org_id: submission.org_id,
                            event,
                            received_at: submission.received_at,
                            fresh: true,
                        },
                    );
                }
                None => accepted.duplicates += 1,
            }
        }
        core.metrics
            .inbound_events
            .with_label_values(&["new"])
            .inc_by(accepted.new as u64);
        core.metrics
            .inbound_events
            .with_label_values(&["duplicate"])
            .inc_by(accepted.duplicates as u64);
        answers.push((submission.done, accepted));
    }
    tokio::spawn(async move {
        let outcome = durable.wait().await;
        if let Err(error) = &outcome {
            tracing::error!(error = %error, rows = row_count, "inbound events were committed but not made durable");
        }
        for (done, accepted) in answers {
            // The handler may have given up waiting; the events are stored either way.
            let _ = done.send(outcome.as_ref().map(|()| accepted).map_err(|_| ()));
        }
    });
}
