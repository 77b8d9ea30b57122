//! `booking_bot.json`: the guest booking flow, from the greeting buttons to the booking
//! reference, against a mock property system.

use super::{check, Chat, HOUR};
use serde_json::{json, Value};

const EXAMPLE: &str = "booking_bot.json";

/// A search with its three best rooms.
fn three_rooms() -> Value {
    json!({
        "search_id": "s-81f2",
        "currency": "EUR",
        "count": 3,
        "rooms": [
            {"id": "sea-view-double", "name": "Sea View Double", "nightly_rate": 145},
            {"id": "garden-suite", "name": "Garden Suite", "nightly_rate": 180},
            {"id": "family-loft", "name": "Family Loft", "nightly_rate": 220}
        ]
    })
}

fn quote(room: &str, total: u32) -> Value {
    json!({"quote_id": "q-5521", "room": {"name": room}, "total": total, "currency": "EUR"})
}

/// Drives a booking from the first message to the summary: Garden Suite, 15 to 18 April, for
/// two.
fn up_to_the_summary(chat: &mut Chat) {
    chat.say("Hi");
    chat.tap("book");
    chat.say("15/04/2027");
    chat.say("18/04/2027");
    chat.tap("2");
    chat.pms(200, three_rooms());
    chat.tap("2");
    chat.pms(200, quote("Garden Suite", 540));
    chat.say("Ana Silva");
    chat.say("ana.silva@example.com");
}

#[test]
fn a_guest_books_a_stay_and_gets_the_reference() {
    let mut chat = Chat::new(EXAMPLE);
    up_to_the_summary(&mut chat);
    chat.tap("confirm");
    chat.pms(201, json!({"reference": "CA-7Q4K2", "status": "confirmed"}));
    check("booking_happy_path", chat);
}

#[test]
fn a_guest_who_types_everything_is_understood_and_corrected() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("hello");
    chat.say("availability");
    chat.say("20 April");
    // Check-out before check-in is caught before the property system is asked.
    chat.say("18/04/2027");
    chat.say("April 23");
    chat.say("two of us");
    chat.say("2");
    chat.pms(200, three_rooms());
    chat.say("3");
    chat.pms(200, quote("Family Loft", 660));
    chat.say("Ana");
    chat.say("Ana Silva");
    chat.say("ana at example dot com");
    chat.say("Ana.Silva@Example.COM");
    chat.say("change dates");
    // The new search finds one room: the rooms of the first search are not offered again.
    chat.say("1 May");
    chat.say("4 May");
    chat.say("2");
    chat.pms(
        200,
        json!({"search_id": "s-93aa", "currency": "EUR", "count": 1, "rooms": [
            {"id": "garden-suite", "name": "Garden Suite", "nightly_rate": 190}
        ]}),
    );
    check("booking_typed_answers", chat);
}

#[test]
fn fully_booked_dates_lead_to_other_dates_and_few_rooms_to_the_front_desk() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hi");
    chat.tap("availability");
    chat.say("31/12/2027");
    chat.say("02/01/2028");
    chat.tap("4");
    chat.pms(
        200,
        json!({"search_id": "s-1", "currency": "EUR", "count": 0, "rooms": []}),
    );
    chat.say("07/01/2028");
    chat.say("09/01/2028");
    chat.tap("4");
    chat.pms(
        200,
        json!({"search_id": "s-2", "currency": "EUR", "count": 1, "rooms": [
            {"id": "family-loft", "name": "Family Loft", "nightly_rate": 160}
        ]}),
    );
    check("booking_fully_booked_then_few_rooms", chat);
}

#[test]
fn talk_to_us_goes_straight_to_the_front_desk() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hi");
    chat.tap("talk");
    check("booking_talk_to_us", chat);
}

#[test]
fn typed_escalation_words_reach_the_front_desk_when_they_are_the_whole_message() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hello");
    // Synonyms match the whole message, not words inside it: this one is asked again.
    chat.say("can I speak to someone?");
    chat.say("Real person!");
    check("booking_typed_escalation", chat);
}

#[test]
fn a_booking_the_property_system_refuses_goes_to_the_front_desk() {
    let mut chat = Chat::new(EXAMPLE);
    up_to_the_summary(&mut chat);
    chat.say("yes");
    chat.pms(
        409,
        json!({"error": "quote_expired", "message": "the quote expired"}),
    );
    check("booking_refused_by_the_property_system", chat);
}

#[test]
fn a_guest_who_cancels_or_goes_quiet_books_nothing() {
    let mut chat = Chat::new(EXAMPLE);
    up_to_the_summary(&mut chat);
    chat.tap("cancel");
    // The stale timers of the answered questions change nothing.
    chat.wait(HOUR);
    chat.say("Hi again");
    chat.tap("book");
    chat.wait(HOUR);
    check("booking_cancelled_then_silent", chat);
}
