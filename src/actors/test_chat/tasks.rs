//! What happens around an input of a test session: the goal events it reached are stored,
//! its timer waits on the injected clock, and the HTTP and AI work its journey hands out runs;
//! timers and work feed their results back through `TestChatHub::deliver`.

use super::run::{GoalHit, PendingTimer, TestInput, Work};
use super::{TestChatError, TestSession, TestSessionId, TurnView};
use crate::actors::core::Core;
use crate::clock::SharedClock;
use crate::domain::Millis;
use crate::journey::Completion;
use crate::store::goals::{record_goal_event_into, NewGoalEvent};
use crate::store::script::Script;
use std::sync::Arc;
use std::time::Duration;

/// Applies an input, then stores the goal events it reached. A goal event that cannot be
/// stored gets a note in the transcript; the run itself has happened either way.
pub(super) async fn drive(
    core: &Arc<Core>,
    session: &Arc<TestSession>,
    input: TestInput,
) -> Result<TurnView, TestChatError> {
    let (mut turn, goals) = session.apply(core, input)?;
    if goals.is_empty() {
        return Ok(turn);
    }
    let now = core.clock.now();
    // A draft may name goals and milestones by name; events are recorded by id, as a
    // deployed version records them.
    let known = core
        .store
        .list_goals(session.org_id)
        .await
        .unwrap_or_default();
    let mut script = Script::new();
    for goal in &goals {
        let mut event = goal_event(session, goal, now);
        if let Some(found) = known
            .iter()
            .find(|known| known.id == event.goal_id || known.name == event.goal_id)
        {
            event.goal_id = found.id.clone();
            if let Some(milestone) = found.milestones.iter().find(|milestone| {
                milestone.id == event.milestone_id || milestone.name == event.milestone_id
            }) {
                event.milestone_id = milestone.id.clone();
            }
        }
        record_goal_event_into(&mut script, &event);
    }
    if let Err(error) = core.store.write_script(script).await {
        tracing::error!(test_session_id = %session.id, error = ?error, "failed to record test goal events");
        let (entry, state) = session.note(
            core.clock.now(),
            format!("The goal events of this turn could not be stored: {error}"),
        );
        turn.entries.push(entry);
        turn.state = state;
    }
    Ok(turn)
}

fn goal_event(session: &TestSession, goal: &GoalHit, now: Millis) -> NewGoalEvent {
    NewGoalEvent {
        org_id: session.org_id,
        goal_id: goal.goal_id.clone(),
        milestone_id: goal.milestone_id.clone(),
        journey_id: Some(session.journey_id.to_string()),
        journey_version: None,
        conversation_id: None,
        test_session_id: Some(session.id.to_string()),
        is_test: true,
        trackers: goal.trackers.clone(),
        at: now,
    }
}

/// Waits for a timer on the injected clock, then feeds it to the session. The input is
/// applied by a task of its own: applying it aborts this task, which would otherwise cancel
/// the goal writes that follow.
pub(super) fn spawn_timer(
    core: &Arc<Core>,
    id: TestSessionId,
    timer: PendingTimer,
) -> tokio::task::AbortHandle {
    let core = Arc::clone(core);
    tokio::spawn(async move {
        let mut shutdown = core.shutdown_signal();
        tokio::select! {
            _ = wait_until(&core.clock, timer.due_at) => {}
            _ = shutdown.changed() => return,
        }
        tokio::spawn(async move {
            core.test_chats
                .deliver(&core, id, TestInput::TimerDue(timer.token))
                .await;
        });
    })
    .abort_handle()
}

/// Sleeps until the clock reads `due_at`, waking early when a manual clock jumps.
async fn wait_until(clock: &SharedClock, due_at: Millis) {
    let mut jumps = clock.jumps();
    loop {
        let now = clock.now();
        if now >= due_at {
            return;
        }
        let nap = Duration::from_millis(u64::try_from(due_at - now).unwrap_or(0));
        match jumps.as_mut() {
            Some(watch) => {
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    changed = watch.changed() => {
                        if changed.is_err() {
                            jumps = None;
                        }
                    }
                }
            }
            None => tokio::time::sleep(nap).await,
        }
    }
}

/// Runs work a test run handed out, as the conversation actor does, then feeds the result
/// back to the session.
pub(super) async fn perform(
    core: Arc<Core>,
    (org_id, id): (crate::domain::OrgId, TestSessionId),
    work: Work,
) {
    let ai = core.ai_for(org_id).await;
    let (token, result) = match work {
        Work::Api { token, request } => {
            (token, Completion::Api(core.api_caller.call(&request).await))
        }
        Work::AiCheck {
            token,
            criterion,
            answer,
        } => {
            let verdict = ai.check(&criterion, &answer).await;
            (
                token,
                Completion::AiCheck(verdict.map_err(|error| error.to_string())),
            )
        }
        Work::AiPostProcess {
            token,
            prompt,
            response,
        } => {
            let text = ai.post_process(&prompt, &response).await;
            (
                token,
                Completion::AiText(text.map_err(|error| error.to_string())),
            )
        }
        Work::AgentTurn {
            token,
            config,
            message,
            tools,
        } => {
            let turn = core
                .agent_turn(org_id, &config, message, Vec::new(), tools)
                .await;
            (token, Completion::AgentTurn(turn))
        }
    };
    core.test_chats
        .deliver(&core, id, TestInput::Completed { token, result })
        .await;
}
