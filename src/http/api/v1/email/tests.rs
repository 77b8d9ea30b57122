//! The checks of an email channel's `config`, field by field.
use super::*;

#[track_caller]
#[expect(clippy::needless_pass_by_value, reason = "cases are json! literals")]
fn check_error(config: Value, code: Code, field: &str) {
    let error = credentials(config.as_object().unwrap())
        .err()
        .expect("the config should be refused");
    assert_eq!(
        (error.code, error.field.as_deref()),
        (code, Some(field)),
        "{}",
        error.message
    );
}

#[test]
fn a_domain_and_relay_make_a_channel_with_defaults() {
    let parsed = credentials(
        json!({"domain": "Mail.Example.com.", "smtp_host": "smtp.relay.example"})
            .as_object()
            .unwrap(),
    )
    .ok()
    .unwrap();
    let public = public_of(&parsed.public_config).unwrap();
    assert_eq!(public.domain, "mail.example.com");
    assert_eq!(public.from_address, "hello@mail.example.com");
    assert_eq!(
        (public.smtp_port, public.smtp_security),
        (587, SmtpSecurity::Starttls)
    );
    assert_eq!(public.spf_mechanism, "a:smtp.relay.example");
}

#[test]
fn each_bad_field_is_named() {
    let ok = json!({"domain": "mail.example.com", "smtp_host": "smtp.relay.example"});
    let with = |key: &str, value: Value| {
        let mut config = ok.clone();
        config[key] = value;
        config
    };
    check_error(
        json!({"smtp_host": "h.example"}),
        Code::MissingField,
        "config.domain",
    );
    check_error(
        json!({"domain": "mail.example.com"}),
        Code::MissingField,
        "config.smtp_host",
    );
    check_error(
        with("domain", json!("not a domain")),
        Code::InvalidField,
        "config.domain",
    );
    check_error(
        with("domain", json!("localhost")),
        Code::InvalidField,
        "config.domain",
    );
    check_error(
        with("from_address", json!("nobody")),
        Code::InvalidField,
        "config.from_address",
    );
    check_error(
        with("from_address", json!("a@other.org")),
        Code::InvalidField,
        "config.from_address",
    );
    check_error(
        with("smtp_port", json!(70000)),
        Code::InvalidField,
        "config.smtp_port",
    );
    check_error(
        with("smtp_port", json!("25")),
        Code::InvalidField,
        "config.smtp_port",
    );
    check_error(
        with("smtp_security", json!("ssl")),
        Code::InvalidField,
        "config.smtp_security",
    );
    check_error(
        with("smtp_username", json!("u")),
        Code::MissingField,
        "config.smtp_password",
    );
    check_error(
        with("spf", json!("v=spf1 a ~all")),
        Code::InvalidField,
        "config.spf",
    );
    check_error(
        with("smtp_host", json!(12)),
        Code::InvalidField,
        "config.smtp_host",
    );
}

#[test]
fn a_sender_at_the_parent_domain_is_aligned() {
    assert!(aligned("example.com", "mail.example.com"));
    assert!(aligned("mail.example.com", "mail.example.com"));
    assert!(!aligned("example.org", "mail.example.com"));
    assert!(!aligned("badexample.com", "example.com"));
}
