//! `after_hours_qualifier.json`: a villa enquiry at 23:40, qualified and quoted for the
//! reservations team to pick up in the morning.

use super::{check, Chat};
use serde_json::{json, Value};

const EXAMPLE: &str = "after_hours_qualifier.json";

/// The property system's answer when a villa within the budget is free.
fn villa_free() -> Value {
    json!({
        "available": true,
        "villa": {"id": "villa-azul", "name": "Villa Azul"},
        "quote": {"currency": "EUR", "nightly": 420, "total": 2940}
    })
}

#[test]
fn a_qualified_enquiry_is_quoted_and_handed_to_the_team_for_the_morning() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hi! Is the villa free in August?");
    chat.say("14/08/2027");
    chat.say("7");
    chat.tap("4");
    chat.say("450");
    chat.pms(200, villa_free());
    check("qualifier_happy_path", chat);
}

#[test]
fn unclear_answers_are_asked_again_and_a_full_calendar_goes_to_the_team() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("hello");
    // The 1st of March has passed; "next friday" is read against today, the 10th.
    chat.say("01/03/2027");
    chat.say("next friday");
    chat.say("a week");
    chat.say("7");
    chat.say("we are 4 adults");
    chat.say("4");
    chat.say("about €400");
    chat.say("400");
    chat.pms(200, json!({"available": false}));
    check("qualifier_retries_then_nothing_free", chat);
}

#[test]
fn a_guest_who_never_gives_a_date_is_handed_to_the_team_after_three_tries() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("hi");
    chat.say("soon");
    chat.say("sometime in the summer");
    chat.say("whenever suits you");
    check("qualifier_no_date_after_three_tries", chat);
}

#[test]
fn a_failing_property_system_hands_the_enquiry_to_the_team() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hi, do you have anything for Easter?");
    chat.say("25 March");
    chat.say("3");
    chat.tap("10");
    chat.say("1,200");
    chat.pms(500, json!({"error": "internal server error"}));
    check("qualifier_property_system_fails", chat);
}

#[test]
fn a_property_system_that_never_answers_hands_the_enquiry_to_the_team() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Good evening");
    chat.say("26/03/2027");
    chat.say("2");
    chat.tap("2");
    chat.say("300");
    chat.pms_unreachable("timed out after 10 s");
    check("qualifier_property_system_unreachable", chat);
}
