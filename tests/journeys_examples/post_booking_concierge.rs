//! `post_booking_concierge.json`: the welcome, restaurant tips a day later, and a satisfaction
//! check before check-out.

use super::{check, Chat, DAY, HOUR};

const EXAMPLE: &str = "post_booking_concierge.json";

#[test]
fn a_happy_guest_gets_tips_the_next_day_and_is_thanked() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hi, we just booked Casa Azul for next week!");
    // The run waits out its day: a message meanwhile is not answered by the bot.
    chat.say("Thank you!");
    chat.wait(DAY);
    chat.tap("mar_azul");
    chat.wait(2 * DAY);
    chat.tap("happy");
    check("concierge_happy_guest", chat);
}

#[test]
fn a_lukewarm_guest_who_skips_the_tips_goes_to_guest_relations() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hello");
    chat.wait(DAY);
    // Anything but a pick moves on (the list has no retries), and so does silence.
    chat.say("thanks, we have plans tonight");
    chat.wait(2 * DAY);
    chat.say("😐");
    check("concierge_lukewarm_guest", chat);
}

#[test]
fn a_complaint_in_words_is_asked_about_once_then_handed_over() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hello");
    chat.wait(DAY);
    chat.wait(HOUR);
    chat.wait(2 * DAY);
    chat.say("The shower is broken");
    chat.say("Did you hear me? The shower!");
    check("concierge_complaint", chat);
}

#[test]
fn a_guest_who_types_great_is_counted_as_happy_even_without_a_restaurant() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hello");
    chat.wait(DAY);
    chat.wait(HOUR);
    chat.wait(2 * DAY);
    chat.say("Great!");
    check("concierge_typed_great", chat);
}

#[test]
fn a_guest_who_ignores_the_survey_is_left_alone() {
    let mut chat = Chat::new(EXAMPLE);
    chat.say("Hello");
    chat.wait(DAY);
    chat.tap("tasca_da_avo");
    chat.wait(2 * DAY);
    chat.wait(HOUR);
    check("concierge_survey_ignored", chat);
}
