//! The interpreter walked step kind by step kind, through a small harness that plays the
//! conversation actor: it feeds inputs, keeps the session, and writes every effect as a line of
//! a transcript.

#![allow(clippy::needless_pass_by_value)] // Builders take `json!` values as written.

use super::*;
use crate::domain::Header;
use serde_json::json;

fn journey(steps: Value, connections: Value) -> Journey {
    let mut all = vec![json!({"id": "start", "name": "Start", "kind": "start"})];
    all.extend(steps.as_array().cloned().unwrap_or_default());
    serde_json::from_value(json!({"name": "Test", "steps": all, "connections": connections}))
        .expect("a test journey parses")
}

fn step(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "name": id, "kind": kind, "config": config})
}

fn edge(from: &str, to: &str) -> Value {
    json!({"from": from, "to": to})
}

fn labelled(from: &str, to: &str, label: &str) -> Value {
    json!({"from": from, "to": to, "label": label})
}

fn text(id: &str, body: &str) -> Value {
    step(id, "text", json!({"text": body}))
}

/// Plays the actor around one session.
struct Chat {
    journey: Journey,
    session: Session,
    now: Millis,
    campaign: BTreeMap<String, Value>,
    /// Tokens of timers and work asked for, newest last.
    timers: Vec<(u64, Millis)>,
    work: Vec<u64>,
}

impl Chat {
    fn new(journey: Journey) -> Self {
        Self {
            journey,
            session: Session::default(),
            now: 1_800_000_000_000,
            campaign: BTreeMap::new(),
            timers: Vec::new(),
            work: Vec::new(),
        }
    }

    fn input(&mut self, input: &Input<'_>) -> Vec<String> {
        let system = |name: &str| match name {
            "contact_name" => Some("Ana".to_owned()),
            "contact_phone" => Some("+351900000000".to_owned()),
            "channel_name" => Some("Casa Azul WhatsApp".to_owned()),
            _ => None,
        };
        let campaign_values = self.campaign.clone();
        let campaign = move |name: &str| campaign_values.get(name).cloned();
        let ctx = Context {
            now: self.now,
            today: chrono::NaiveDate::from_ymd_opt(2027, 3, 10).expect("a date"),
            system: &system,
            campaign: &campaign,
        };
        let outcome = run(&self.journey, self.session.clone(), input, &ctx);
        check_invariants(&self.journey, &outcome);
        check_work_asked(&outcome);
        self.session = outcome.session;
        outcome
            .effects
            .iter()
            .map(|effect| self.line(effect))
            .collect()
    }

    fn say(&mut self, body: &str) -> Vec<String> {
        self.input(&Input::Message(&MessageContent::Text { body: body.into() }))
    }

    fn tap(&mut self, reply_id: &str, title: &str) -> Vec<String> {
        self.input(&Input::Message(&MessageContent::InteractiveReply {
            reply_id: reply_id.into(),
            title: title.into(),
            description: None,
        }))
    }

    /// Fires the newest timer, advancing the clock to it.
    fn fire(&mut self) -> Vec<String> {
        let (token, due_at) = self.timers.pop().expect("a timer was started");
        self.now = due_at;
        self.input(&Input::Timer { token })
    }

    fn complete(&mut self, result: Completion) -> Vec<String> {
        let token = self.work.pop().expect("work was asked for");
        self.input(&Input::Completed { token, result })
    }

    fn line(&mut self, effect: &Effect) -> String {
        match effect {
            Effect::Send { step_id, content } => format!("[{step_id}] {}", show(content)),
            Effect::StartTimer {
                token,
                due_at,
                step_id,
            } => {
                self.timers.push((*token, *due_at));
                format!("[{step_id}] timer +{}s", (due_at - self.now) / 1_000)
            }
            Effect::CallApi {
                token,
                step_id,
                request,
            } => {
                self.work.push(*token);
                let headers: Vec<String> = request
                    .headers
                    .iter()
                    .map(|(name, value)| format!("{name}: {value}"))
                    .collect();
                format!(
                    "[{step_id}] {} {} {:?} {} ({} ms)",
                    request.method.as_str(),
                    request.url,
                    headers,
                    request.body.as_deref().unwrap_or("-"),
                    request.timeout_ms
                )
            }
            Effect::AiCheck {
                token,
                step_id,
                criterion,
                answer,
            } => {
                self.work.push(*token);
                format!("[{step_id}] ai check {criterion:?} on {answer:?}")
            }
            Effect::AiPostProcess {
                token,
                step_id,
                prompt,
                response,
            } => {
                self.work.push(*token);
                format!("[{step_id}] ai post-process {prompt:?} on {response}")
            }
            Effect::AgentTurn {
                token,
                step_id,
                config,
                message,
                tools,
            } => {
                self.work.push(*token);
                let mut line = format!(
                    "[{step_id}] agent turn {message:?} (cap {})",
                    config.loop_cap
                );
                for tool in tools {
                    line.push_str(&format!(
                        " tool {} {}",
                        tool.name,
                        tool.schema()["required"]
                    ));
                }
                line
            }
            Effect::SetCampaignVariable { name, value } => {
                self.campaign.insert(name.clone(), value.clone());
                format!("campaign {name} = {value}")
            }
            Effect::Transfer { step_id, target } => format!("[{step_id}] transfer {target:?}"),
            Effect::Goal {
                step_id,
                goal_id,
                milestone_id,
                trackers,
            } => format!("[{step_id}] goal {goal_id}/{milestone_id} {trackers:?}"),
            Effect::Ended { reason } => format!("(ended: {reason:?})"),
        }
    }
}

fn show(content: &MessageContent) -> String {
    match content {
        MessageContent::Text { body } => body.clone(),
        MessageContent::Choices {
            style,
            body,
            choices,
            ..
        } => {
            let choices: Vec<String> = choices
                .iter()
                .map(|choice| format!("{}={}", choice.id, choice.title))
                .collect();
            format!("{style} {body:?} {}", choices.join(" "))
        }
        MessageContent::List { body, sections, .. } => {
            let rows: Vec<String> = sections
                .iter()
                .flat_map(|section| section.rows.iter())
                .map(|row| format!("{}={}", row.id, row.title))
                .collect();
            format!("list {body:?} {}", rows.join(" "))
        }
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// What must hold after every input: a session that waits stands on an existing step of the
/// kind that waits that way, and a finished run stands nowhere.
fn check_invariants(journey: &Journey, outcome: &Outcome) {
    if outcome.is_noop() {
        // Nothing changed; the session may stand on a step removed since (the next message
        // starts over).
        return;
    }
    let session = &outcome.session;
    let step = session
        .current_step
        .as_deref()
        .and_then(|id| journey.step(id));
    let kind = step.map(|step| &step.kind);
    let fits = match &session.waiting {
        Waiting::NewRun => session.current_step.is_none(),
        Waiting::Reply { .. } => matches!(
            kind,
            Some(
                StepKind::Reply(_)
                    | StepKind::QuickReply(_)
                    | StepKind::List(_)
                    | StepKind::Prompt(_)
                    | StepKind::PromptDate(_)
            )
        ),
        Waiting::AiCheck { .. } => matches!(kind, Some(StepKind::Prompt(_))),
        Waiting::Delay { .. } => matches!(kind, Some(StepKind::Delay(_))),
        Waiting::Event { .. } => matches!(kind, Some(StepKind::WaitForEvents(_))),
        Waiting::Api { .. } | Waiting::PostProcess { .. } => {
            matches!(kind, Some(StepKind::Api(_)))
        }
        Waiting::Agent { .. } => matches!(kind, Some(StepKind::AiAgent(_))),
    };
    assert!(fits, "session {session:?} does not fit step {step:?}");
    let ended = outcome
        .effects
        .iter()
        .filter(|effect| matches!(effect, Effect::Ended { .. }))
        .count();
    assert!(ended <= 1, "a run ends once: {:?}", outcome.effects);
    if ended == 1 {
        assert!(matches!(outcome.effects.last(), Some(Effect::Ended { .. })));
        assert_eq!(session.waiting, Waiting::NewRun);
    }
}

#[track_caller]
fn expect(lines: Vec<String>, expected: &[&str]) {
    assert_eq!(lines, expected, "transcript");
}

#[test]
fn the_greeting_answers_the_first_message_and_ends() {
    let mut chat = Chat::new(Journey::greeting("Welcome to Casa Azul, {{contact.name}}!"));
    expect(
        chat.say("hi"),
        &[
            "[greeting] Welcome to Casa Azul, Ana!",
            "(ended: Completed)",
        ],
    );
    assert_eq!(chat.session.generation, 1);
    expect(
        chat.say("hi again"),
        &[
            "[greeting] Welcome to Casa Azul, Ana!",
            "(ended: Completed)",
        ],
    );
}

#[test]
fn placeholders_of_every_scope_resolve_and_unknown_ones_stay() {
    let mut chat =
        Chat::new(journey(
            json!([
            step("ask", "prompt", json!({"question": "Your name?", "variable": "guest"})),
            text(
                "show",
                "{{var_local.guest}} / {{local.guest}} / {{guest}} / {{var_system.user_name}} / \
                 {{system.channel_name}} / {{campaign.season}} / {{last_input}} / \
                 {{journey_name}} / {{today}} / {{var_local.nope}}",
            ),
        ]),
            json!([edge("start", "ask"), edge("ask", "show")]),
        ));
    chat.campaign.insert("season".into(), json!("summer"));
    chat.say("hello");
    expect(
        chat.say("Bea"),
        &[
            "[show] Bea / Bea / Bea / Ana / Casa Azul WhatsApp / summer / Bea / Test / \
             2027-03-10 / {{var_local.nope}}",
            "(ended: Completed)",
        ],
    );
}

#[test]
fn message_steps_send_and_continue() {
    let mut chat = Chat::new(journey(
        json!([
            step(
                "img",
                "image",
                json!({"url": "https://cdn.example/{{guest}}.jpg", "caption": "Pool"})
            ),
            step(
                "aud",
                "audio",
                json!({"url": "https://cdn.example/a.ogg", "caption": "ignored"})
            ),
            step(
                "doc",
                "document",
                json!({"url": "https://cdn.example/m.pdf", "filename": "menu.pdf"})
            ),
            step(
                "loc",
                "location",
                json!({"latitude": 38.7, "longitude": -9.1, "name": "Casa Azul"})
            ),
            step(
                "cta",
                "cta_url",
                json!({"header": {"type": "text", "text": "Booking"},
                "body": "Hi {{contact.name}}", "button_text": "View", "url": "https://x.example/b"})
            ),
            step(
                "tpl",
                "template",
                json!({"name": "checkin_reminder", "language": "en",
                "parameters": ["{{contact.name}}", "15:00"]})
            ),
        ]),
        json!([
            edge("start", "img"),
            edge("img", "aud"),
            edge("aud", "doc"),
            edge("doc", "loc"),
            edge("loc", "cta"),
            edge("cta", "tpl"),
        ]),
    ));
    expect(
        chat.say("hi"),
        &[
            r#"[img] {"type":"media","media_kind":"image","url":"https://cdn.example/{{guest}}.jpg","caption":"Pool"}"#,
            r#"[aud] {"type":"media","media_kind":"audio","url":"https://cdn.example/a.ogg"}"#,
            r#"[doc] {"type":"media","media_kind":"document","url":"https://cdn.example/m.pdf","filename":"menu.pdf"}"#,
            r#"[loc] {"type":"location","latitude":38.7,"longitude":-9.1,"name":"Casa Azul"}"#,
            r#"[cta] {"type":"cta_url","header":{"type":"text","text":"Booking"},"body":"Hi Ana","button_text":"View","url":"https://x.example/b"}"#,
            r#"[tpl] {"type":"template","name":"checkin_reminder","language":"en","parameters":["Ana","15:00"]}"#,
            "(ended: Completed)",
        ],
    );
}

fn booking_menu(retries: Value, with_failure_edge: bool) -> Journey {
    let mut connections = vec![
        edge("start", "menu"),
        labelled("menu", "book", "book"),
        labelled("menu", "human", "human"),
        edge("menu", "other"),
    ];
    if with_failure_edge {
        connections.push(labelled("menu", "lost", "failure"));
    }
    journey(
        json!([
            step(
                "menu",
                "reply",
                json!({
                    "body": "How can we help?",
                    "choices": [
                        {"id": "book", "title": "Book a stay", "synonyms": ["reserve"]},
                        {"id": "faq", "title": "Questions"},
                        {"id": "human", "title": "Talk to us"}
                    ],
                    "retries": retries,
                    "variable": "choice"
                })
            ),
            text("book", "Booking it is ({{choice}})"),
            text("human", "Connecting you"),
            text("other", "Default path ({{choice}})"),
            text("lost", "Let me get someone"),
        ]),
        Value::Array(connections),
    )
}

#[test]
fn reply_buttons_route_by_tap_label_synonym_and_number() {
    let mut chat = Chat::new(booking_menu(json!(1), true));
    expect(
        chat.say("hi"),
        &[r#"[menu] buttons "How can we help?" book=Book a stay faq=Questions human=Talk to us"#],
    );
    expect(
        chat.tap("book", "Book a stay"),
        &["[book] Booking it is (book)", "(ended: Completed)"],
    );
    for answer in ["book a stay", "Reserve!", "1"] {
        chat.say("hi");
        expect(
            chat.say(answer),
            &["[book] Booking it is (book)", "(ended: Completed)"],
        );
    }
    // A choice with no edge of its own takes the unlabelled edge.
    chat.say("hi");
    expect(
        chat.say("2"),
        &["[other] Default path (faq)", "(ended: Completed)"],
    );
}

#[test]
fn a_wrong_answer_is_retried_then_takes_the_failure_edge() {
    let mut chat = Chat::new(booking_menu(json!(1), true));
    chat.say("hi");
    expect(
        chat.say("what?"),
        &[
            "[menu] Sorry, I didn't catch that.",
            r#"[menu] buttons "How can we help?" book=Book a stay faq=Questions human=Talk to us"#,
        ],
    );
    expect(
        chat.say("still no"),
        &["[lost] Let me get someone", "(ended: Completed)"],
    );
}

#[test]
fn without_retries_or_a_failure_edge_the_run_ends() {
    let mut chat = Chat::new(booking_menu(json!(0), false));
    chat.say("hi");
    expect(chat.say("nonsense"), &["(ended: Completed)"]);
    let mut unlimited = Chat::new(booking_menu(json!("unlimited"), true));
    unlimited.say("hi");
    for _ in 0..20 {
        assert_eq!(unlimited.say("nonsense").len(), 2, "asked again");
    }
    expect(
        unlimited.say("talk to us"),
        &["[human] Connecting you", "(ended: Completed)"],
    );
}

#[test]
fn list_rows_are_numbered_across_sections() {
    let mut chat = Chat::new(journey(
        json!([
            step(
                "rooms",
                "list",
                json!({
                    "body": "Pick a room", "button_text": "Rooms",
                    "sections": [
                        {"title": "Villas", "rows": [{"id": "v1", "title": "Sea villa"}, {"id": "v2", "title": "Hill villa"}]},
                        {"title": "Rooms", "rows": [{"id": "r1", "title": "Garden room", "description": "Ground floor"}]}
                    ],
                    "variable": "room"
                })
            ),
            text("done", "You chose {{room}}"),
        ]),
        json!([edge("start", "rooms"), edge("rooms", "done")]),
    ));
    expect(
        chat.say("hi"),
        &[r#"[rooms] list "Pick a room" v1=Sea villa v2=Hill villa r1=Garden room"#],
    );
    expect(
        chat.say("3"),
        &["[done] You chose r1", "(ended: Completed)"],
    );
    chat.say("hi");
    expect(
        chat.tap("v2", "Hill villa"),
        &["[done] You chose v2", "(ended: Completed)"],
    );
}

#[test]
fn quick_replies_carry_their_style() {
    let mut chat = Chat::new(journey(
        json!([step(
            "q",
            "quick_reply",
            json!({"body": "Rate us",
            "choices": (1..=10).map(|n| json!({"id": format!("r{n}"), "title": n.to_string()})).collect::<Vec<_>>()})
        )]),
        json!([edge("start", "q")]),
    ));
    let lines = chat.say("hi");
    assert!(
        lines[0].starts_with("[q] quick_replies \"Rate us\" r1=1"),
        "{lines:?}"
    );
    expect(chat.say("10"), &["(ended: Completed)"]);
    assert_eq!(chat.session.variables.get("last_input"), Some(&json!("10")));
}

fn prompt_journey(config: Value) -> Journey {
    journey(
        json!([
            step("ask", "prompt", config),
            text("ok", "Got {{answer}}"),
            text("bad", "Giving up"),
            text("slow", "Too slow"),
        ]),
        json!([
            edge("start", "ask"),
            labelled("ask", "ok", "success"),
            labelled("ask", "bad", "failure"),
            labelled("ask", "slow", "timeout"),
        ]),
    )
}

#[test]
fn prompts_validate_and_store_typed_answers() {
    let cases = [
        (
            json!({"mode": "email"}),
            "Ana@Example.COM",
            "Got Ana@example.com",
        ),
        (json!({"mode": "number"}), "1,250", "Got 1250"),
        (
            json!({"mode": "phone"}),
            "+351 912-345-678",
            "Got +351912345678",
        ),
        (
            json!({"mode": "regex", "pattern": "^[A-Z]{2}\\d{4}$"}),
            "AB1234",
            "Got AB1234",
        ),
        (
            json!({"mode": "none"}),
            "anything at all",
            "Got anything at all",
        ),
    ];
    for (validation, answer, reply) in cases {
        let mut chat = Chat::new(prompt_journey(
            json!({"question": "Tell me", "validation": validation, "variable": "answer"}),
        ));
        expect(chat.say("hi"), &["[ask] Tell me"]);
        expect(
            chat.say(answer),
            &[&format!("[ok] {reply}"), "(ended: Completed)"],
        );
    }
}

#[test]
fn a_rejected_prompt_answer_explains_and_asks_again() {
    let mut chat = Chat::new(prompt_journey(json!({
        "question": "Your email?", "validation": {"mode": "email"}, "retries": 1,
        "failure_message": "That doesn't look like an email, {{contact.name}}.", "variable": "answer"
    })));
    chat.say("hi");
    expect(
        chat.say("no thanks"),
        &[
            "[ask] That doesn't look like an email, Ana.",
            "[ask] Your email?",
        ],
    );
    expect(chat.say("nope"), &["[bad] Giving up", "(ended: Completed)"]);
}

#[test]
fn a_prompt_times_out_and_a_stale_timer_changes_nothing() {
    let mut chat = Chat::new(prompt_journey(
        json!({"question": "Still there?", "timeout_secs": 60}),
    ));
    expect(chat.say("hi"), &["[ask] Still there?", "[ask] timer +60s"]);
    let (token, _) = chat.timers[0];
    expect(chat.fire(), &["[slow] Too slow", "(ended: Completed)"]);
    // The same timer again, after the run moved on, is ignored.
    let before = chat.session.clone();
    expect(chat.input(&Input::Timer { token }), &[]);
    assert_eq!(chat.session, before);
}

#[test]
fn an_ai_validated_prompt_waits_for_the_verdict() {
    let config = json!({"question": "When do you arrive?",
        "validation": {"mode": "ai", "criterion": "Does this look like an arrival date?"},
        "retries": 2, "variable": "answer"});
    let mut chat = Chat::new(prompt_journey(config.clone()));
    chat.say("hi");
    expect(
        chat.say("next week sometime"),
        &[r#"[ask] ai check "Does this look like an arrival date?" on "next week sometime""#],
    );
    // Messages while the verdict is out change nothing.
    expect(chat.say("hello?"), &[]);
    expect(
        chat.complete(Completion::AiCheck(Ok(false))),
        &[
            "[ask] Sorry, I didn't catch that.",
            "[ask] When do you arrive?",
        ],
    );
    chat.say("the 15th");
    expect(
        chat.complete(Completion::AiCheck(Ok(true))),
        &["[ok] Got the 15th", "(ended: Completed)"],
    );
    // An AI that cannot answer does not trap the guest.
    let mut chat = Chat::new(prompt_journey(config));
    chat.say("hi");
    chat.say("soon");
    expect(
        chat.complete(Completion::AiCheck(Err("timeout".into()))),
        &["[ok] Got soon", "(ended: Completed)"],
    );
}

#[test]
fn date_prompts_parse_and_check_the_range() {
    let mut chat = Chat::new(journey(
        json!([
            step(
                "when",
                "prompt_date",
                json!({"question": "Arrival?", "format": "dd/mm/yyyy",
                "range": {"type": "future"}, "excluded_weekdays": ["sunday"], "retries": 3,
                "variable": "arrival"})
            ),
            text("ok", "Arriving {{arrival}}"),
        ]),
        json!([edge("start", "when"), edge("when", "ok")]),
    ));
    chat.say("hi");
    // Today is Wednesday 2027-03-10: the past, a Sunday and a non-date are refused.
    for refused in ["01/03/2027", "14/03/2027", "tomorrow-ish"] {
        let lines = chat.say(refused);
        assert_eq!(lines.len(), 2, "{refused}: {lines:?}");
        assert!(lines[0].starts_with("[when] Sorry"), "{lines:?}");
    }
    expect(
        chat.say("15/03/2027"),
        &["[ok] Arriving 2027-03-15", "(ended: Completed)"],
    );
}

#[test]
fn conditions_take_the_first_matching_branch_or_the_fallback() {
    let journey = journey(
        json!([
            step(
                "size",
                "prompt",
                json!({"question": "How many guests?",
                "validation": {"mode": "number"}, "variable": "guests"})
            ),
            step(
                "route",
                "condition",
                json!({"branches": [
                    {"id": "group", "rules": [{"variable": "local.guests", "operator": "greater_than", "value": "6"}]},
                    {"id": "couple", "match": "any", "rules": [
                        {"variable": "guests", "operator": "equals", "value": "2"},
                        {"variable": "last_input", "operator": "contains", "value": "couple"}
                    ]}
                ]})
            ),
            text("big", "Our villas suit groups"),
            text("two", "Our suites suit couples"),
            text("any", "We have rooms for {{guests}}"),
        ]),
        json!([
            edge("start", "size"),
            edge("size", "route"),
            labelled("route", "big", "group"),
            labelled("route", "two", "couple"),
            labelled("route", "any", "fallback"),
        ]),
    );
    for (answer, reply) in [
        ("8", "[big] Our villas suit groups"),
        ("2", "[two] Our suites suit couples"),
        ("4", "[any] We have rooms for 4"),
    ] {
        let mut chat = Chat::new(journey.clone());
        chat.say("hi");
        expect(chat.say(answer), &[reply, "(ended: Completed)"]);
    }
}

#[test]
fn a_delay_waits_for_its_timer_and_ignores_messages_meanwhile() {
    let mut chat = Chat::new(journey(
        json!([
            text("welcome", "Welcome!"),
            step("wait", "delay", json!({"seconds": 86400})),
            text("tips", "Here are our restaurant tips"),
        ]),
        json!([
            edge("start", "welcome"),
            edge("welcome", "wait"),
            edge("wait", "tips")
        ]),
    ));
    expect(
        chat.say("hi"),
        &["[welcome] Welcome!", "[wait] timer +86400s"],
    );
    expect(chat.say("thanks"), &[]);
    expect(chat.input(&Input::Timer { token: 999 }), &[]);
    expect(
        chat.fire(),
        &["[tips] Here are our restaurant tips", "(ended: Completed)"],
    );
}

#[test]
fn wait_for_events_resumes_on_the_event_or_times_out() {
    let journey = journey(
        json!([
            step(
                "pay",
                "wait_for_events",
                json!({"event": "deposit_paid", "timeout_secs": 3600,
                "variable": "payment"})
            ),
            text("paid", "Thanks, {{payment}} received"),
            text("late", "Your hold expired"),
        ]),
        json!([
            edge("start", "pay"),
            edge("pay", "paid"),
            labelled("pay", "late", "timeout")
        ]),
    );
    let mut chat = Chat::new(journey.clone());
    expect(chat.say("hi"), &["[pay] timer +3600s"]);
    expect(
        chat.input(&Input::Event {
            name: "other",
            payload: None,
        }),
        &[],
    );
    let payload = json!("EUR 200");
    expect(
        chat.input(&Input::Event {
            name: "deposit_paid",
            payload: Some(&payload),
        }),
        &["[paid] Thanks, EUR 200 received", "(ended: Completed)"],
    );
    let mut chat = Chat::new(journey);
    chat.say("hi");
    expect(
        chat.fire(),
        &["[late] Your hold expired", "(ended: Completed)"],
    );
}

fn api_journey(api: Value) -> Journey {
    let mut journey = journey(
        json!([
            step(
                "ask",
                "prompt",
                json!({"question": "Nights?", "variable": "nights"})
            ),
            step("quote", "api", api),
            text("ok", "{{room}} for {{price}} ({{summary}})"),
            text("down", "Our system is busy (status {{api_status}})"),
        ]),
        json!([
            edge("start", "ask"),
            edge("ask", "quote"),
            labelled("quote", "ok", "success"),
            labelled("quote", "down", "failure"),
        ]),
    );
    journey.api_definitions = serde_json::from_value(json!([{
        "name": "availability", "method": "GET",
        "url": "https://pms.example/rates?nights={{nights}}",
        "mapping": [{"variable": "price", "path": "$.rates[0].price"}]
    }]))
    .expect("definitions parse");
    journey
}

#[test]
fn an_api_step_calls_maps_the_response_and_routes() {
    let mut chat = Chat::new(api_journey(json!({"request": {
        "method": "POST", "url": "https://pms.example/quote",
        "headers": {"Authorization": "Bearer {{campaign.pms_token}}"},
        "body": {"nights": "{{nights}}", "guest": "{{contact.name}}", "adults": 2},
        "mapping": [{"variable": "price", "path": "$.total"}, {"variable": "room", "path": "room.name"}],
        "timeout_secs": 5
    }})));
    chat.campaign.insert("pms_token".into(), json!("s3cret"));
    chat.say("hi");
    expect(
        chat.say("3"),
        &[
            r#"[quote] POST https://pms.example/quote ["Authorization: Bearer s3cret", "Content-Type: application/json"] {"adults":2,"guest":"Ana","nights":"3"} (5000 ms)"#,
        ],
    );
    expect(
        chat.complete(Completion::Api(Ok(ApiResponse {
            status: 200,
            body: json!({"total": 360, "room": {"name": "Sea villa"}}),
        }))),
        &["[ok] Sea villa for 360 ({{summary}})", "(ended: Completed)"],
    );
    assert_eq!(chat.session.variables.get("api_status"), Some(&json!(200)));
    chat.say("hi");
    assert_eq!(
        chat.session.variables.get("api_status"),
        None,
        "a new run starts clean"
    );
}

#[test]
fn an_api_failure_takes_the_failure_edge() {
    for result in [
        Ok(ApiResponse {
            status: 503,
            body: json!("unavailable"),
        }),
        Err("connection refused".to_owned()),
    ] {
        let mut chat = Chat::new(api_journey(json!({"definition": "availability"})));
        chat.say("hi");
        expect(
            chat.say("2"),
            &[r#"[quote] GET https://pms.example/rates?nights=2 [] - (30000 ms)"#],
        );
        let lines = chat.complete(Completion::Api(result.clone()));
        assert!(
            lines[0].starts_with("[down] Our system is busy"),
            "{lines:?}"
        );
    }
}

#[test]
fn an_api_response_can_be_post_processed_by_ai() {
    let mut chat = Chat::new(api_journey(json!({
        "definition": "availability",
        "post_process": {"prompt": "Summarise the rates for {{contact.name}}", "variable": "summary"}
    })));
    chat.session.variables.insert("room".into(), json!("x"));
    chat.say("hi");
    chat.say("2");
    expect(
        chat.complete(Completion::Api(Ok(ApiResponse {
            status: 200,
            body: json!({"rates": [{"price": 99}]}),
        }))),
        &[r#"[quote] ai post-process "Summarise the rates for Ana" on {"rates":[{"price":99}]}"#],
    );
    expect(
        chat.complete(Completion::AiText(Ok("From 99 a night".into()))),
        &[
            "[ok] {{room}} for 99 (From 99 a night)",
            "(ended: Completed)",
        ],
    );
}

#[test]
fn the_ai_agent_step_converses_until_done_or_handoff() {
    let journey = journey(
        json!([
            step(
                "agent",
                "ai_agent",
                json!({"system_prompt": "You are the concierge", "loop_cap": 5})
            ),
            text("bye", "Glad to help!"),
            step(
                "team",
                "agent_transfer",
                json!({"target": {"type": "team", "team_id": "front-desk"},
                "message": "A colleague will join shortly"})
            ),
        ]),
        json!([
            edge("start", "agent"),
            edge("agent", "bye"),
            labelled("agent", "team", "transfer")
        ]),
    );
    let mut chat = Chat::new(journey.clone());
    // The first message goes straight to the agent.
    expect(
        chat.say("Do you allow dogs?"),
        &[r#"[agent] agent turn "Do you allow dogs?" (cap 5)"#],
    );
    expect(
        chat.complete(Completion::AgentTurn(Ok(AgentTurn::new(
            Some("Yes, small dogs are welcome.".into()),
            AgentNext::Continue,
        )))),
        &["[agent] Yes, small dogs are welcome."],
    );
    expect(
        chat.say("Great, thanks"),
        &[r#"[agent] agent turn "Great, thanks" (cap 5)"#],
    );
    expect(
        chat.complete(Completion::AgentTurn(Ok(AgentTurn::new(
            None,
            AgentNext::Done,
        )))),
        &["[bye] Glad to help!", "(ended: Completed)"],
    );
    let mut chat = Chat::new(journey);
    chat.say("I want a refund");
    expect(
        chat.complete(Completion::AgentTurn(Ok(AgentTurn::new(
            Some("Let me find someone.".into()),
            AgentNext::Handoff,
        )))),
        &[
            "[agent] Let me find someone.",
            "[team] A colleague will join shortly",
            r#"[team] transfer Some(Team { team_id: "front-desk" })"#,
            "(ended: Transferred)",
        ],
    );
}

#[test]
fn an_ai_agent_gets_its_api_definitions_as_tools_and_keeps_what_they_map() {
    let mut journey = journey(
        json!([
            step(
                "nights",
                "prompt",
                json!({"question": "How many nights?", "variable": "nights"})
            ),
            step(
                "agent",
                "ai_agent",
                json!({"system_prompt": "Sell rooms", "tools": ["Rates"]})
            ),
            text("bye", "Booked {{room}}"),
        ]),
        json!([
            edge("start", "nights"),
            edge("nights", "agent"),
            edge("agent", "bye")
        ]),
    );
    journey.api_definitions = serde_json::from_value(json!([{
        "name": "Rates", "method": "GET",
        "url": "https://pms.example/rates?nights={{nights}}&from={{check_in}}",
        "mapping": [{"variable": "room", "path": "$.room"}]
    }]))
    .expect("definitions parse");
    let mut chat = Chat::new(journey);
    chat.say("hi");
    // The agent answers the next message; `nights` is held by the session by then, so only
    // `check_in` is required.
    expect(chat.say("3"), &[]);
    expect(
        chat.say("Free from 15 March?"),
        &[r#"[agent] agent turn "Free from 15 March?" (cap 50) tool Rates ["check_in"]"#],
    );
    let turn = AgentTurn {
        variables: vec![("room".into(), json!("Sea view"))],
        calls: vec!["`Rates` answered 200".into()],
        ..AgentTurn::new(None, AgentNext::Done)
    };
    expect(
        chat.complete(Completion::AgentTurn(Ok(turn))),
        &["[bye] Booked Sea view", "(ended: Completed)"],
    );
}

#[test]
fn an_ai_handoff_without_a_transfer_edge_goes_to_the_team_at_large() {
    let mut chat = Chat::new(journey(
        json!([step("agent", "ai_agent", json!({"system_prompt": "Help"}))]),
        json!([edge("start", "agent")]),
    ));
    chat.say("help");
    expect(
        chat.complete(Completion::AgentTurn(Ok(AgentTurn::new(
            None,
            AgentNext::Handoff,
        )))),
        &["[agent] transfer None", "(ended: Transferred)"],
    );
}

#[test]
fn goals_record_trackers_and_campaign_variables_are_shared() {
    let mut chat = Chat::new(journey(
        json!([
            step(
                "ask",
                "prompt",
                json!({"question": "Budget?", "variable": "campaign.last_budget"})
            ),
            step(
                "goal",
                "goal",
                json!({"goal_id": "qualified", "milestone_id": "budget_known",
                "trackers": {"budget": "{{campaign.last_budget}}"}})
            ),
            text("done", "Noted: {{var_campaign.last_budget}}"),
        ]),
        json!([
            edge("start", "ask"),
            edge("ask", "goal"),
            edge("goal", "done")
        ]),
    ));
    chat.say("hi");
    expect(
        chat.say("500"),
        &[
            r#"campaign last_budget = "500""#,
            r#"[goal] goal qualified/budget_known {"budget": "500"}"#,
            "[done] Noted: 500",
            "(ended: Completed)",
        ],
    );
    assert_eq!(chat.campaign.get("last_budget"), Some(&json!("500")));
}

#[test]
fn a_cycle_of_steps_that_never_wait_is_cut_off() {
    let mut journey = Journey::greeting("again");
    journey
        .connections
        .push(serde_json::from_value(edge("greeting", "greeting")).expect("edge"));
    let mut chat = Chat::new(journey);
    let lines = chat.say("hi");
    assert_eq!(lines.len(), MAX_STEPS_PER_INPUT);
    assert_eq!(lines.last().map(String::as_str), Some("(ended: Looping)"));
}

#[test]
fn a_session_on_a_deleted_step_starts_over_instead_of_failing() {
    let mut chat = Chat::new(Journey::greeting("Hi"));
    chat.session = Session {
        current_step: Some("gone".into()),
        waiting: Waiting::Reply {
            failures: 0,
            timer: None,
        },
        ..Session::default()
    };
    // The message starts a fresh run rather than being lost.
    expect(chat.say("hello"), &["[greeting] Hi", "(ended: Completed)"]);
}

#[test]
fn stored_sessions_of_the_first_format_still_load() {
    let stored = r#"{"current_step":null,"waiting":{"for":"new_run"},"variables":{"last_input":"hi"},"generation":4}"#;
    let session: Session = serde_json::from_str(stored).expect("old sessions load");
    assert_eq!(session.generation, 4);
    assert_eq!(session.variables["last_input"], json!("hi"));
    let header = Header::Text { text: "x".into() };
    assert_eq!(serde_json::to_value(header).expect("json")["type"], "text");
}

/// Work asked for in this input must be asked for in its effects: a session never waits for a
/// timer, a call or a verdict nobody will deliver.
fn check_work_asked(outcome: &Outcome) {
    if outcome.is_noop() {
        return;
    }
    let generation = outcome.session.generation;
    let asked = |wanted: &dyn Fn(&Effect) -> bool| outcome.effects.iter().any(wanted);
    let timer_started = |token: u64| {
        asked(&|effect| matches!(effect, Effect::StartTimer { token: t, .. } if *t == token))
    };
    match &outcome.session.waiting {
        Waiting::Delay { timer } if *timer == generation => {
            assert!(timer_started(*timer), "{outcome:?}");
        }
        Waiting::Reply {
            timer: Some(timer), ..
        }
        | Waiting::Event {
            timer: Some(timer), ..
        } if *timer == generation => assert!(timer_started(*timer), "{outcome:?}"),
        Waiting::Api { token } if *token == generation => assert!(
            asked(&|effect| matches!(effect, Effect::CallApi { token: t, .. } if t == token)),
            "{outcome:?}"
        ),
        Waiting::PostProcess { token } if *token == generation => assert!(
            asked(&|effect| matches!(effect, Effect::AiPostProcess { token: t, .. } if t == token)),
            "{outcome:?}"
        ),
        Waiting::AiCheck { token, .. } if *token == generation => assert!(
            asked(&|effect| matches!(effect, Effect::AiCheck { token: t, .. } if t == token)),
            "{outcome:?}"
        ),
        Waiting::Agent { turn: Some(token) } if *token == generation => assert!(
            asked(&|effect| matches!(effect, Effect::AgentTurn { token: t, .. } if t == token)),
            "{outcome:?}"
        ),
        _ => {}
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Step configs of every kind, including ones deploy validation would refuse, so the
    /// interpreter is exercised on journeys that slipped through too.
    fn kinds() -> Vec<(&'static str, Value)> {
        vec![
            (
                "text",
                json!({"text": "Hi {{contact.name}} {{local.x}}", "variable": "x"}),
            ),
            ("image", json!({"url": "https://x/a.png", "caption": "c"})),
            ("audio", json!({"url": "https://x/a.ogg"})),
            ("location", json!({"latitude": 1.0, "longitude": 2.0})),
            (
                "cta_url",
                json!({"body": "b", "button_text": "Go", "url": "https://x"}),
            ),
            (
                "template",
                json!({"name": "t", "language": "en", "parameters": ["{{x}}"]}),
            ),
            (
                "reply",
                json!({"body": "b", "choices": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}],
                "retries": 1, "timeout_secs": 30, "variable": "x"}),
            ),
            (
                "quick_reply",
                json!({"body": "b", "choices": [{"id": "a", "title": "1"}], "retries": "unlimited"}),
            ),
            (
                "list",
                json!({"body": "b", "button_text": "Open", "sections": [{"rows": [{"id": "a", "title": "A"}]}]}),
            ),
            (
                "prompt",
                json!({"question": "q", "validation": {"mode": "number"}, "retries": 2, "variable": "x"}),
            ),
            (
                "prompt",
                json!({"question": "q", "validation": {"mode": "ai", "criterion": "c"}, "timeout_secs": 20}),
            ),
            (
                "prompt",
                json!({"question": "q", "validation": {"mode": "regex", "pattern": "("}}),
            ),
            (
                "prompt_date",
                json!({"question": "q", "range": {"type": "future"}, "variable": "x"}),
            ),
            (
                "condition",
                json!({"branches": [{"id": "a", "rules": [{"variable": "x", "operator": "exists"}]},
                {"id": "b", "match": "any", "rules": []}]}),
            ),
            ("delay", json!({"seconds": 60})),
            (
                "wait_for_events",
                json!({"event": "e", "timeout_secs": 60, "variable": "x"}),
            ),
            (
                "api",
                json!({"request": {"url": "https://x/{{x}}", "mapping": [{"variable": "x", "path": "$.a"}]},
                "post_process": {"prompt": "p", "variable": "y"}}),
            ),
            ("api", json!({"definition": "missing"})),
            ("ai_agent", json!({"system_prompt": "s"})),
            (
                "agent_transfer",
                json!({"target": {"type": "user", "user_id": "u"}}),
            ),
            (
                "goal",
                json!({"goal_id": "g", "milestone_id": "m", "trackers": {"t": "{{x}}"}}),
            ),
        ]
    }

    const LABELS: [Option<&str>; 9] = [
        None,
        None,
        Some("success"),
        Some("failure"),
        Some("timeout"),
        Some("fallback"),
        Some("transfer"),
        Some("a"),
        Some("b"),
    ];

    fn journeys() -> impl Strategy<Value = Journey> {
        let kind_count = kinds().len();
        (1usize..8)
            .prop_flat_map(move |steps| {
                (
                    proptest::collection::vec(0..kind_count, steps),
                    proptest::collection::vec(
                        (0..=steps, 0..=steps + 1, 0..LABELS.len()),
                        0..steps * 3,
                    ),
                )
            })
            .prop_map(|(chosen, edges)| {
                let kinds = kinds();
                let steps: Vec<Value> = chosen
                    .iter()
                    .enumerate()
                    .map(|(index, kind)| {
                        let (name, config) = &kinds[*kind];
                        step(&format!("s{}", index + 1), name, config.clone())
                    })
                    .collect();
                let id = |index: usize| match index {
                    0 => "start".to_owned(),
                    // One past the last step: an edge to a step that does not exist.
                    other => format!("s{other}"),
                };
                let connections: Vec<Value> = edges
                    .iter()
                    .map(|(from, to, label)| match LABELS[*label] {
                        Some(label) => labelled(&id(*from), &id(*to), label),
                        None => edge(&id(*from), &id(*to)),
                    })
                    .collect();
                journey(Value::Array(steps), Value::Array(connections))
            })
    }

    #[derive(Clone, Debug)]
    enum Move {
        Say(&'static str),
        Tap(&'static str),
        FireTimer,
        StaleTimer,
        Event(&'static str),
        Api(u16),
        ApiError,
        AiCheck(bool),
        AiText,
        Agent(u8),
        /// The journey is redeployed without one of its steps under the session.
        DropStep(usize),
    }

    fn moves() -> impl Strategy<Value = Move> {
        prop_oneof![
            prop::sample::select(vec![
                "hi",
                "1",
                "2",
                "a",
                "B",
                "",
                "15/03/2027",
                "42",
                "yes"
            ])
            .prop_map(Move::Say),
            prop::sample::select(vec!["a", "b", "zzz"]).prop_map(Move::Tap),
            Just(Move::FireTimer),
            Just(Move::StaleTimer),
            prop::sample::select(vec!["e", "other"]).prop_map(Move::Event),
            prop::sample::select(vec![200u16, 404, 500]).prop_map(Move::Api),
            Just(Move::ApiError),
            any::<bool>().prop_map(Move::AiCheck),
            Just(Move::AiText),
            (0u8..4).prop_map(Move::Agent),
            (1usize..8).prop_map(Move::DropStep),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_journey_and_any_inputs_keep_the_session_sound(
            journey in journeys(),
            script in proptest::collection::vec(moves(), 1..24),
        ) {
            let mut chat = Chat::new(journey);
            for step in script {
                let token = chat.work.last().copied().unwrap_or(chat.session.generation);
                let before = chat.session.clone();
                match step {
                    Move::Say(text) => { chat.say(text); }
                    Move::Tap(id) => { chat.tap(id, id); }
                    Move::FireTimer => {
                        if !chat.timers.is_empty() { chat.fire(); }
                    }
                    Move::StaleTimer => {
                        chat.input(&Input::Timer { token: u64::MAX });
                        prop_assert_eq!(&chat.session, &before);
                    }
                    Move::Event(name) => {
                        chat.input(&Input::Event { name, payload: Some(&json!({"paid": true})) });
                    }
                    Move::Api(status) => {
                        chat.input(&Input::Completed {
                            token,
                            result: Completion::Api(Ok(ApiResponse { status, body: json!({"a": 1}) })),
                        });
                    }
                    Move::ApiError => {
                        chat.input(&Input::Completed {
                            token,
                            result: Completion::Api(Err("refused".into())),
                        });
                    }
                    Move::AiCheck(passed) => {
                        chat.input(&Input::Completed { token, result: Completion::AiCheck(Ok(passed)) });
                    }
                    Move::AiText => {
                        chat.input(&Input::Completed { token, result: Completion::AiText(Ok("t".into())) });
                    }
                    Move::Agent(next) => {
                        let next = match next {
                            0 => AgentNext::Continue,
                            1 => AgentNext::Done,
                            2 => AgentNext::Handoff,
                            _ => {
                                chat.input(&Input::Completed {
                                    token,
                                    result: Completion::AgentTurn(Err("down".into())),
                                });
                                continue;
                            }
                        };
                        chat.input(&Input::Completed {
                            token,
                            result: Completion::AgentTurn(Ok(AgentTurn::new(Some("r".into()), next))),
                        });
                    }
                    Move::DropStep(index) => {
                        let id = format!("s{index}");
                        chat.journey.steps.retain(|step| step.id != id);
                        // The session may now stand on a step that is gone; the next input
                        // must end it cleanly.
                        continue;
                    }
                }
            }
        }
    }
}

#[test]
fn typed_answers_match_the_titles_the_contact_saw() {
    let mut chat = Chat::new(journey(
        json!([
            step(
                "rooms",
                "quick_reply",
                json!({"body": "Which room?", "choices": [
                {"id": "room1", "title": "{{first_room}}"},
                {"id": "room2", "title": "{{second_room}}", "synonyms": ["the {{second_room}}"]}
            ], "variable": "room"})
            ),
            text("done", "Booked {{room}}"),
        ]),
        json!([edge("start", "rooms"), edge("rooms", "done")]),
    ));
    chat.say("hi");
    chat.session
        .variables
        .insert("first_room".into(), json!("Sea Villa"));
    chat.session
        .variables
        .insert("second_room".into(), json!("Garden Suite"));
    expect(
        chat.say("garden suite"),
        &["[done] Booked room2", "(ended: Completed)"],
    );
    chat.say("hi");
    chat.session
        .variables
        .insert("second_room".into(), json!("Garden Suite"));
    expect(
        chat.say("The Garden Suite"),
        &["[done] Booked room2", "(ended: Completed)"],
    );
}

#[test]
fn values_in_api_urls_are_encoded_and_missing_fields_are_unset() {
    let mut chat = Chat::new(api_journey(json!({"request": {
        "url": "{{campaign.pms}}/search?q={{nights}}&guest={{contact.name}}",
        "mapping": [{"variable": "price", "path": "$.total"}, {"variable": "room", "path": "room"}]
    }})));
    chat.campaign
        .insert("pms".into(), json!("https://pms.example/v1"));
    chat.say("hi");
    let lines = chat.say("2 & #3 nights");
    assert_eq!(
        lines,
        [
            r#"[quote] GET https://pms.example/v1/search?q=2%20%26%20%233%20nights&guest=Ana [] - (30000 ms)"#
        ]
    );
    chat.session.variables.insert("room".into(), json!("stale"));
    expect(
        chat.complete(Completion::Api(Ok(ApiResponse {
            status: 200,
            body: json!({"total": 99}),
        }))),
        &["[ok] {{room}} for 99 ({{summary}})", "(ended: Completed)"],
    );
}

#[test]
fn answers_take_the_type_their_variable_declares() {
    let mut journey = journey(
        json!([
            step(
                "guests",
                "prompt",
                json!({"question": "How many?", "variable": "guests"})
            ),
            step(
                "arrival",
                "prompt",
                json!({"question": "When?", "variable": "arrival"})
            ),
        ]),
        json!([edge("start", "guests"), edge("guests", "arrival")]),
    );
    journey.variables = serde_json::from_value(json!([
        {"name": "guests", "type": "number"},
        {"name": "arrival", "type": "date"}
    ]))
    .expect("variables parse");
    let mut chat = Chat::new(journey);
    chat.say("hi");
    chat.say("4");
    assert_eq!(chat.session.variables["guests"], json!(4));
    chat.say("tomorrow");
    // The run ended; its variables stay readable until the next run starts.
    assert_eq!(chat.session.variables["arrival"], json!("2027-03-11"));
}
