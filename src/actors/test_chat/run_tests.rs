//! A test run walked input by input; each check writes the new entries as lines
//! (`[from step] content-or-note`) so the expectations read like the transcript a tester sees.

use super::*;
use serde_json::json;

const NOW: Millis = 1_780_000_000_000;

fn journey() -> Arc<Journey> {
    let step = |id: &str, name: &str, kind: &str, config: Value| json!({"id": id, "name": name, "kind": kind, "config": config});
    let graph = json!({
        "name": "Front desk",
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            step("hello", "Greeting", "text", json!({"text": "Hi {{contact_name}} on {{channel_name}}"})),
            step("menu", "Menu", "reply", json!({"body": "Pick one",
                "choices": [{"id": "later", "title": "Later"}, {"id": "goal", "title": "Goal"}]})),
            step("pause", "Pause", "delay", json!({"seconds": 86400})),
            step("after", "After", "text", json!({"text": "A day later"})),
            step("score", "Score", "goal", json!({"goal_id": "g1", "milestone_id": "m1",
                "trackers": {"choice": "{{last_input}}"}})),
            step("remember", "Remember", "prompt", json!({"question": "Your budget?",
                "variable": "campaign.budget"})),
        ],
        "connections": [
            {"from": "start", "to": "hello"}, {"from": "hello", "to": "menu"},
            {"from": "menu", "to": "pause", "label": "later"}, {"from": "pause", "to": "after"},
            {"from": "menu", "to": "score", "label": "goal"}, {"from": "score", "to": "remember"},
        ]
    });
    Arc::new(serde_json::from_value(graph).expect("the test journey parses"))
}

fn text(body: &str) -> TestInput {
    TestInput::Message(MessageContent::Text { body: body.into() })
}

fn tap(reply_id: &str, title: &str) -> TestInput {
    TestInput::Message(MessageContent::InteractiveReply {
        reply_id: reply_id.into(),
        title: title.into(),
        description: None,
    })
}

fn line(entry: &TranscriptEntry) -> String {
    let from = match (entry.from, &entry.step_id, &entry.step_name) {
        (Speaker::Guest, _, _) => "guest".to_owned(),
        (speaker, Some(id), Some(name)) => format!("{speaker:?} {id}/{name}").to_lowercase(),
        (speaker, _, _) => format!("{speaker:?}").to_lowercase(),
    };
    let what = match (&entry.content, &entry.note) {
        (Some(MessageContent::Text { body }), _) => body.clone(),
        (Some(MessageContent::Choices { body, .. }), _) => format!("choices {body:?}"),
        (Some(other), _) => format!("{other:?}"),
        (None, Some(note)) => note.clone(),
        (None, None) => String::new(),
    };
    format!("[{from}] {what}")
}

/// Applies `input` and checks the lines of the entries it added.
#[track_caller]
fn check(run: &mut TestRun, input: TestInput, expected: &[&str]) -> Applied {
    let applied = run.apply(input, NOW).expect("the input is accepted");
    let lines: Vec<String> = applied.entries.iter().map(line).collect();
    assert_eq!(lines, expected);
    applied
}

fn new_run() -> TestRun {
    TestRun::new(journey(), Guest::default(), BTreeMap::new())
}

#[test]
fn every_bot_message_names_its_step_and_the_guest_is_the_test_guest() {
    let mut run = new_run();
    check(
        &mut run,
        text("hi"),
        &[
            "[guest] hi",
            "[bot hello/greeting] Hi Test guest on Test chat",
            "[bot menu/menu] choices \"Pick one\"",
        ],
    );
    let seqs: Vec<u64> = run.transcript().iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(run.state().current_step_name.as_deref(), Some("Menu"));
}

#[test]
fn a_delay_is_a_pending_timer_the_tester_can_fire() {
    let mut run = new_run();
    check(
        &mut run,
        text("hi"),
        &[
            "[guest] hi",
            "[bot hello/greeting] Hi Test guest on Test chat",
            "[bot menu/menu] choices \"Pick one\"",
        ],
    );
    let applied = check(
        &mut run,
        tap("later", "Later"),
        &[
            "[guest] InteractiveReply { reply_id: \"later\", title: \"Later\", description: None }",
            "[system pause/pause] Timer set for 2026-05-29T20:26:40Z (in 1d)",
        ],
    );
    let timer = run.timer.expect("a timer is pending");
    assert_eq!(applied.timer, Some(Some(timer)));
    check(
        &mut run,
        text("are you there?"),
        &["[guest] are you there?",
          "[system] The journey waits for a timer (fire it with fire-timer); this message changes nothing"],
    );
    let applied = check(
        &mut run,
        TestInput::FireTimer,
        &[
            "[system] Timer fired by the tester (it was due 2026-05-29T20:26:40Z)",
            "[bot after/after] A day later",
            "[system] Run ended: completed",
        ],
    );
    assert_eq!(applied.timer, Some(None));
    assert_eq!(
        run.apply(TestInput::FireTimer, NOW).err(),
        Some(Refusal::NoPendingTimer)
    );
    // The timer task of the fired timer finds nothing to do.
    check(&mut run, TestInput::TimerDue(timer.token), &[]);
}

#[test]
fn a_goal_is_handed_out_and_campaign_writes_stay_in_the_session() {
    let campaign = BTreeMap::from([("budget".to_owned(), json!("unknown"))]);
    let mut run = TestRun::new(journey(), Guest::default(), campaign);
    run.apply(text("hi"), NOW).expect("accepted");
    let applied = check(
        &mut run,
        tap("goal", "Goal"),
        &[
            "[guest] InteractiveReply { reply_id: \"goal\", title: \"Goal\", description: None }",
            "[system score/score] Goal g1/m1 recorded (choice: Goal)",
            "[bot remember/remember] Your budget?",
        ],
    );
    assert_eq!(
        applied.goals,
        [GoalHit {
            goal_id: "g1".into(),
            milestone_id: "m1".into(),
            trackers: BTreeMap::from([("choice".to_owned(), "Goal".to_owned())]),
        }]
    );
    check(
        &mut run,
        text("300"),
        &[
            "[guest] 300",
            "[system] Campaign variable budget set to \"300\" (in this test session only)",
            "[system] Run ended: completed",
        ],
    );
    assert_eq!(run.campaign.get("budget"), Some(&json!("300")));
}

#[test]
fn work_results_are_noted_and_stale_ones_ignored() {
    let graph = json!({
        "name": "Api",
        "steps": [
            {"id": "start", "name": "Start", "kind": "start"},
            {"id": "quote", "name": "Quote", "kind": "api",
             "config": {"request": {"method": "POST", "url": "https://pms.example/quote"}}},
            {"id": "ok", "name": "Ok", "kind": "text", "config": {"text": "Got it"}},
        ],
        "connections": [{"from": "start", "to": "quote"}, {"from": "quote", "to": "ok"}]
    });
    let mut run = TestRun::new(
        Arc::new(serde_json::from_value(graph).expect("parses")),
        Guest::default(),
        BTreeMap::new(),
    );
    let applied = check(
        &mut run,
        text("quote"),
        &[
            "[guest] quote",
            "[system quote/quote] API call POST https://pms.example/quote sent",
        ],
    );
    let [Work::Api { token, .. }] = applied.work.as_slice() else {
        panic!("one API call is handed out: {:?}", applied.work);
    };
    let done = |token| TestInput::Completed {
        token,
        result: Completion::Api(Ok(journey::ApiResponse {
            status: 200,
            body: json!({}),
        })),
    };
    check(&mut run, done(token + 7), &[]);
    check(
        &mut run,
        done(*token),
        &[
            "[system] API call POST https://pms.example/quote → 200",
            "[bot ok/ok] Got it",
            "[system] Run ended: completed",
        ],
    );
}
