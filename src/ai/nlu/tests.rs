use super::*;
use chrono::NaiveDate;

/// A Wednesday.
const TODAY: &str = "2027-03-10";

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a test date")
}

fn read(text: &str) -> Understanding {
    understand(text, date(TODAY), Language::English)
}

fn read_on(text: &str, today: &str) -> Understanding {
    understand(text, date(today), Language::English)
}

#[track_caller]
fn check_stay(text: &str, today: &str, from: Option<&str>, to: Option<&str>, nights: Option<u32>) {
    let entities = read_on(text, today).entities;
    let expected = (from.is_some() || to.is_some()).then(|| Stay {
        from: from.map(date),
        to: to.map(date),
    });
    assert_eq!(entities.stay, expected, "{text}");
    assert_eq!(entities.nights, nights, "nights of {text}");
}

#[track_caller]
fn check_intent(text: &str, expected: Option<Intent>) {
    let classification = read(text).classification;
    assert_eq!(
        classification.confident(),
        expected,
        "{text}: {classification:?}"
    );
}

#[test]
fn the_seeds_examples_resolve_against_today() {
    check_stay(
        "tomorrow for 3 nights",
        TODAY,
        Some("2027-03-11"),
        Some("2027-03-14"),
        Some(3),
    );
    check_stay(
        "March 15 to 18 for 2 adults",
        TODAY,
        Some("2027-03-15"),
        Some("2027-03-18"),
        Some(3),
    );
    check_stay("next Friday", TODAY, Some("2027-03-12"), None, None);
    check_stay("15/03", TODAY, Some("2027-03-15"), None, None);
    check_stay(
        "this weekend",
        TODAY,
        Some("2027-03-12"),
        Some("2027-03-14"),
        Some(2),
    );
    check_stay(
        "I'd like a room for 2 nights starting tomorrow",
        TODAY,
        Some("2027-03-11"),
        Some("2027-03-13"),
        Some(2),
    );
}

#[test]
fn ranges_are_written_many_ways() {
    let cases = [
        "15-18 March",
        "15 to 18 march",
        "march 15-18",
        "Mar 15th - 18th",
        "from the 15th to the 18th of March",
        "between March 15 and March 18",
        "15/03 - 18/03",
        "check in 15/03 check out 18/03",
        "arriving 15 march, leaving 18 march",
        "2027-03-15 to 2027-03-18",
        "15.03.2027 until 18.03.2027",
        "from the fifteenth to the eighteenth of march",
    ];
    for text in cases {
        check_stay(text, TODAY, Some("2027-03-15"), Some("2027-03-18"), Some(3));
    }
}

#[test]
fn ends_without_a_month_follow_the_start_across_months_and_years() {
    check_stay(
        "March 30 to April 2",
        TODAY,
        Some("2027-03-30"),
        Some("2027-04-02"),
        Some(3),
    );
    check_stay(
        "the 28th to the 2nd",
        TODAY,
        Some("2027-03-28"),
        Some("2027-04-02"),
        Some(5),
    );
    check_stay(
        "Dec 30 - Jan 2",
        TODAY,
        Some("2027-12-30"),
        Some("2028-01-02"),
        Some(3),
    );
    check_stay(
        "30 dec to 2 jan",
        "2027-12-28",
        Some("2027-12-30"),
        Some("2028-01-02"),
        Some(3),
    );
    check_stay(
        "3/1 for 2 nights",
        "2027-12-28",
        Some("2028-01-03"),
        Some("2028-01-05"),
        Some(2),
    );
}

#[test]
fn days_and_months_without_a_year_are_the_next_such_date() {
    check_stay("March 10", TODAY, Some("2027-03-10"), None, None);
    check_stay("March 5", TODAY, Some("2028-03-05"), None, None);
    check_stay("the 20th", TODAY, Some("2027-03-20"), None, None);
    check_stay("the 5th", TODAY, Some("2027-04-05"), None, None);
    check_stay("03/15", TODAY, Some("2027-03-15"), None, None);
    check_stay("12.04", TODAY, Some("2027-04-12"), None, None);
}

#[test]
fn weekdays_and_weekends_follow_the_conventions() {
    check_stay("this wednesday", TODAY, Some("2027-03-10"), None, None);
    check_stay("next wednesday", TODAY, Some("2027-03-17"), None, None);
    check_stay("on fri", TODAY, Some("2027-03-12"), None, None);
    check_stay(
        "Friday to Sunday",
        TODAY,
        Some("2027-03-12"),
        Some("2027-03-14"),
        Some(2),
    );
    check_stay(
        "from Friday for a week",
        TODAY,
        Some("2027-03-12"),
        Some("2027-03-19"),
        Some(7),
    );
    // 2027-03-12 is a Friday, 03-13 a Saturday, 03-14 a Sunday.
    check_stay(
        "this weekend",
        "2027-03-12",
        Some("2027-03-12"),
        Some("2027-03-14"),
        Some(2),
    );
    check_stay(
        "this weekend",
        "2027-03-13",
        Some("2027-03-13"),
        Some("2027-03-14"),
        Some(1),
    );
    check_stay(
        "next weekend",
        "2027-03-14",
        Some("2027-03-19"),
        Some("2027-03-21"),
        Some(2),
    );
}

#[test]
fn relative_words_count_from_today() {
    check_stay("tonight", TODAY, Some("2027-03-10"), None, None);
    check_stay("tmrw", TODAY, Some("2027-03-11"), None, None);
    check_stay("tommorow", TODAY, Some("2027-03-11"), None, None);
    check_stay(
        "the day after tomorrow",
        TODAY,
        Some("2027-03-12"),
        None,
        None,
    );
    check_stay("in 3 days", TODAY, Some("2027-03-13"), None, None);
    check_stay("in two weeks", TODAY, Some("2027-03-24"), None, None);
    check_stay("a week from today", TODAY, Some("2027-03-17"), None, None);
}

#[test]
fn departures_and_arrivals_are_read_from_the_words_before_them() {
    check_stay("leaving on Sunday", TODAY, None, Some("2027-03-14"), None);
    check_stay(
        "late check out on the 18th?",
        TODAY,
        None,
        Some("2027-03-18"),
        None,
    );
    check_stay(
        "extend my stay until Sunday",
        TODAY,
        None,
        Some("2027-03-14"),
        None,
    );
    check_stay("arriving friday", TODAY, Some("2027-03-12"), None, None);
}

#[test]
fn vague_periods_times_and_prices_are_not_dates() {
    for text in [
        "next week",
        "sometime in August",
        "next month",
        "at 3pm",
        "is it €12.50 per night",
        "room 15",
        "we are 2 adults",
        "is the sun out",
        "call me on +351 912 345 678",
    ] {
        check_stay(text, TODAY, None, None, None);
    }
    check_stay("a week in August", TODAY, None, None, Some(7));
    check_stay("cancel less than a week before", TODAY, None, None, None);
}

#[test]
fn the_party_is_counted() {
    let party = |text: &str| {
        let entities = read(text).entities;
        (entities.adults, entities.children)
    };
    assert_eq!(party("2 adults and 1 child"), (Some(2), Some(1)));
    assert_eq!(party("two adults, three kids"), (Some(2), Some(3)));
    assert_eq!(party("a room for 2"), (Some(2), None));
    assert_eq!(party("table for two please"), (Some(2), None));
    assert_eq!(party("me and my wife"), (Some(2), None));
    assert_eq!(party("just the two of us"), (Some(2), None));
    assert_eq!(party("just me"), (Some(1), None));
    assert_eq!(party("2 adults no children"), (Some(2), Some(0)));
    assert_eq!(party("adults: 3"), (Some(3), None));
    assert_eq!(party("for 3 nights"), (None, None));
    assert_eq!(party("for a couple of nights"), (None, None));
    assert_eq!(party("we're a couple with a baby"), (Some(2), Some(1)));
}

#[test]
fn contacts_and_numbers_are_picked_out() {
    let entities =
        read("I'm ana@example.com, call +351 912 345 678 about 2 rooms at 99.50").entities;
    assert_eq!(entities.emails, vec!["ana@example.com".to_owned()]);
    assert_eq!(entities.phones, vec!["+351912345678".to_owned()]);
    assert_eq!(entities.numbers.first(), Some(&351.0));
    assert!(entities.numbers.contains(&99.5));
    assert!(read("15.03.2027").entities.phones.is_empty());
}

#[test]
fn intents_come_from_cues() {
    check_intent("I'd like to book a room", Some(Intent::Book));
    check_intent(
        "do you have anything free this weekend?",
        Some(Intent::CheckAvailability),
    );
    check_intent(
        "can you check my reservation ABC123",
        Some(Intent::MyReservations),
    );
    check_intent("can I speak to a real person", Some(Intent::TalkToHuman));
    check_intent("how much per night?", Some(Intent::Pricing));
    check_intent("what time is check in?", Some(Intent::CheckInOutTimes));
    check_intent("I need to cancel my booking", Some(Intent::Cancel));
    check_intent("thanks a lot, bye!", Some(Intent::Thanks));
    check_intent("hello there", Some(Intent::Greeting));
}

#[test]
fn politeness_around_a_question_is_not_its_intent() {
    check_intent("Hi! Is the pool heated?", None);
    check_intent(
        "thanks! what time is checkout",
        Some(Intent::CheckInOutTimes),
    );
    check_intent("hey, how much for the villa", Some(Intent::Pricing));
}

#[test]
fn a_stay_alone_is_a_booking_and_nothing_is_nothing() {
    check_intent("March 15-18 for 2 adults", Some(Intent::Book));
    check_intent("is parking free?", None);
    check_intent("", None);
    check_intent("🙂", None);
    let nothing = read("asdf qwerty").classification;
    assert_eq!(nothing.intent, None);
    assert!(nothing.confidence < CONFIDENT);
}

#[test]
fn intents_round_trip_through_their_names() {
    for intent in Intent::ALL {
        assert_eq!(intent.as_str().parse::<Intent>().ok(), Some(intent));
    }
    assert!("book_a_room".parse::<Intent>().is_err());
}

#[test]
fn typos_within_reach_are_corrected_and_real_words_are_kept() {
    let engine = Language::English.engine();
    assert_eq!(engine.correct("availble"), "available");
    assert_eq!(engine.correct("reservaton"), "reservation");
    assert_eq!(engine.correct("tommorow"), "tomorrow");
    assert_eq!(engine.correct("look"), "look");
    assert_eq!(engine.correct("hotel"), "hotel");
    assert_eq!(tokens::edit_distance("abcd", "abdc", 2), 1);
    assert_eq!(tokens::edit_distance("kitten", "sitting", 5), 3);
}
