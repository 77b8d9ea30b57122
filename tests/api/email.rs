//! Email channels end to end: the DNS records a new channel answers and their check against
//! a DNS server on loopback, replies sent DKIM-signed over SMTP to a relay on loopback and
//! threaded into the customer's mail, and mail received through Mailgun's and SendGrid's
//! webhooks threaded back to its conversation.

use crate::support::{assert_error, Options, TestApp, PATIENCE};
use hmac::{Hmac, Mac};
use parley::mock::dns::{Answer, MockDns};
use parley::mock::smtp::{Fault, MockSmtp, Received};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DOMAIN: &str = "mail.lodge.test";
const MAILGUN_KEY: &str = "key-signing";

struct EmailSetup {
    app: TestApp,
    dns: MockDns,
    smtp: MockSmtp,
    channel: Value,
}

impl EmailSetup {
    /// The DKIM result of each signature of a sent mail, with its signing domain; the key is
    /// looked up on the test's DNS server.
    async fn verify_dkim(&self, raw: &[u8]) -> Vec<(mail_auth::DkimResult, Option<String>)> {
        let mut config = hickory_resolver::config::ResolverConfig::from_name_servers(vec![]);
        let mut name_server =
            hickory_resolver::config::NameServerConfig::udp(self.dns.address().ip());
        let mut udp = hickory_resolver::config::ConnectionConfig::udp();
        udp.port = self.dns.address().port();
        name_server.connections = vec![udp];
        config.add_name_server(name_server);
        let authenticator =
            mail_auth::MessageAuthenticator::new(config, Default::default()).unwrap();
        let message = mail_auth::AuthenticatedMessage::parse(raw).unwrap();
        authenticator
            .verify_dkim(&message)
            .await
            .iter()
            .map(|output| {
                (
                    output.result().clone(),
                    output.signature().map(|signature| signature.d.clone()),
                )
            })
            .collect()
    }

    async fn start() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(smtp_listen: bool) -> Self {
        let dns = MockDns::start().unwrap();
        let smtp = MockSmtp::start("lodge", "relay-password").unwrap();
        let app = TestApp::spawn_with(Options {
            dns_resolver: Some(dns.address()),
            smtp_listen,
            ..Options::default()
        })
        .await;
        let (status, channel) = app
            .post_json(
                "/api/v1/channels",
                &json!({"kind": "email", "name": "Lodge mail", "config": {
                    "domain": DOMAIN,
                    "from_address": "stay@mail.lodge.test",
                    "from_name": "The Lodge",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.address().port(),
                    "smtp_security": "none",
                    "smtp_username": "lodge",
                    "smtp_password": "relay-password",
                    "spf": "ip4:127.0.0.1",
                    "mailgun_signing_key": MAILGUN_KEY,
                }}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        Self {
            app,
            dns,
            smtp,
            channel,
        }
    }

    fn id(&self) -> &str {
        self.channel["id"].as_str().unwrap()
    }

    fn record(&self, purpose: &str) -> (String, String) {
        let record = self.channel["dns_records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|record| record["purpose"] == purpose)
            .unwrap();
        (
            record["name"].as_str().unwrap().to_owned(),
            record["value"].as_str().unwrap().to_owned(),
        )
    }

    fn publish(&self) {
        let (dkim_name, dkim_value) = self.record("dkim");
        let (spf_name, spf_value) = self.record("spf");
        self.dns.set_txt(&dkim_name, &[&dkim_value]);
        self.dns.set_txt(&spf_name, &[&spf_value]);
    }

    async fn verify(&self) -> Value {
        let (status, body) = self
            .app
            .post_json(
                &format!("/api/v1/channels/{}/verify", self.id()),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A Mailgun post of `raw`, signed now with `token`.
    async fn mailgun(
        &self,
        raw: &str,
        token: &str,
        key: &str,
        timestamp: i64,
    ) -> (StatusCode, Value) {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(timestamp.to_string().as_bytes());
        mac.update(token.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let timestamp = timestamp.to_string();
        let form = [
            ("recipient", "in@in.parley.test"),
            ("timestamp", timestamp.as_str()),
            ("token", token),
            ("signature", signature.as_str()),
            ("body-mime", raw),
        ];
        let response = self
            .app
            .http
            .post(
                self.app
                    .url(&format!("/webhooks/email/{}/mailgun", self.id())),
            )
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn mailgun_now(&self, raw: &str, token: &str) -> (StatusCode, Value) {
        self.mailgun(raw, token, MAILGUN_KEY, now_seconds()).await
    }

    async fn sent_until(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let received = self.smtp.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the relay received {} mails",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "Mailgun signs with the wall-clock time"
)]
fn now_seconds() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn mail(
    from: &str,
    message_id: &str,
    subject: &str,
    body: &str,
    in_reply_to: Option<&str>,
) -> String {
    let threading = in_reply_to
        .map(|parent| format!("In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: in@in.parley.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{threading}\
Date: Thu, 1 Jan 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// A header's value, its folded lines joined.
fn header(raw: &str, name: &str) -> Option<String> {
    let block = raw
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    block
        .split("\r\n")
        .find(|line| {
            line.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|line| line[name.len() + 1..].trim().to_owned())
}

#[actix_web::test]
async fn a_new_email_channel_answers_its_dns_records_and_is_pending_until_they_verify() {
    let setup = EmailSetup::start().await;
    let channel = &setup.channel;
    assert_eq!(channel["status"], "pending_verification");
    assert_eq!(channel["verified"], false);
    let (dkim_name, dkim_value) = setup.record("dkim");
    let selector = channel["config"]["selector"].as_str().unwrap();
    assert_eq!(dkim_name, format!("{selector}._domainkey.{DOMAIN}"));
    let key = dkim_value.strip_prefix("v=DKIM1; k=rsa; p=").unwrap();
    assert_eq!(key.len(), 392, "an RSA 2048 SubjectPublicKeyInfo");
    assert_eq!(
        setup.record("spf"),
        (DOMAIN.to_owned(), "v=spf1 ip4:127.0.0.1 ~all".to_owned())
    );
    assert!(channel["inbound"]["address"]
        .as_str()
        .unwrap()
        .ends_with("@in.parley.test"));
    let shown = channel.to_string();
    assert!(
        !shown.contains("PRIVATE KEY")
            && !shown.contains("relay-password")
            && !shown.contains(MAILGUN_KEY),
        "{shown}"
    );

    // Nothing published: both records missing.
    let body = setup.verify().await;
    assert_eq!(body["verification"]["result"], "pending");
    let codes: Vec<&str> = body["verification"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["dns_record_missing", "dns_record_missing"]);
    assert_eq!(body["status"], "pending_verification");
    assert!(
        body["status_reason"]
            .as_str()
            .unwrap()
            .contains("dns_record_missing"),
        "{body}"
    );

    // The key published (split into 255-byte strings by the DNS server), and two SPF records.
    setup.dns.set_txt(&dkim_name, &[&dkim_value]);
    setup.dns.set_txt(
        DOMAIN,
        &[
            "v=spf1 ip4:127.0.0.1 ~all",
            "v=spf1 include:_spf.other.test ~all",
        ],
    );
    let body = setup.verify().await;
    let statuses: Vec<(&str, Option<&str>)> = body["dns_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| (record["status"].as_str().unwrap(), record["code"].as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("verified", None),
            ("mismatch", Some("dns_record_mismatch"))
        ]
    );
    assert_eq!(body["status"], "pending_verification");

    // Fixed: the channel connects.
    setup.dns.set_txt(DOMAIN, &["v=spf1 ip4:127.0.0.1 ~all"]);
    let body = setup.verify().await;
    assert_eq!(body["verification"]["result"], "verified");
    assert_eq!(
        (body["status"].as_str(), body["verified"].as_bool()),
        (Some("connected"), Some(true))
    );

    // DNS failing afterwards does not take a verified domain offline; it is reported.
    setup.dns.set(DOMAIN, Answer::ServFail);
    let body = setup.verify().await;
    assert_eq!(body["status"], "connected");
    assert_eq!(body["dns_records"][1]["code"], "dns_lookup_failed");

    // A removed key sends it back to pending.
    setup.dns.remove(&dkim_name);
    let body = setup.verify().await;
    assert_eq!(body["status"], "pending_verification");
    assert_eq!(body["dns_records"][0]["code"], "dns_record_missing");
}

#[actix_web::test]
async fn an_email_channel_config_is_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let create = |config: Value| json!({"kind": "email", "name": "Mail", "config": config});
    let cases = [
        (
            json!({"smtp_host": "smtp.relay.test"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "config.domain",
        ),
        (
            json!({"domain": "not a domain", "smtp_host": "smtp.relay.test"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "config.domain",
        ),
        (
            json!({"domain": DOMAIN}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            "config.smtp_host",
        ),
        (
            json!({"domain": DOMAIN, "smtp_host": "smtp.relay.test", "from_address": "a@elsewhere.test"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "config.from_address",
        ),
        (
            json!({"domain": DOMAIN, "smtp_host": "smtp.relay.test", "smtp_port": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "config.smtp_port",
        ),
    ];
    for (config, status, code, field) in cases {
        let answer = app
            .post_json("/api/v1/channels", &create(config.clone()))
            .await;
        assert_error(&answer, status, code);
        assert_eq!(answer.1["error"]["field"], field, "{config}");
    }
    let (_, list) = app.get("/api/v1/channels").await;
    assert!(
        !list.to_string().contains("\"email\""),
        "nothing half-written: {list}"
    );
    // Only email channels have records to verify.
    let (_, channels) = app.get("/api/v1/channels").await;
    let webchat = channels["data"][0]["id"].as_str().unwrap();
    let answer = app
        .post_json(&format!("/api/v1/channels/{webchat}/verify"), &json!({}))
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "channel_state_conflict");
}

#[actix_web::test]
async fn a_customer_mail_is_answered_dkim_signed_in_its_thread_and_replies_thread_back() {
    let setup = EmailSetup::start().await;
    setup.publish();
    assert_eq!(setup.verify().await["status"], "connected");

    let first = mail(
        "Ana Silva <ana@example.org>",
        "ana-1@example.org",
        "Booking in May",
        "Hello, do you have a room?",
        None,
    );
    let (status, body) = setup.mailgun_now(&first, "token-1").await;
    assert_eq!(
        (status, body["new"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );

    // The bot's answer goes out through the relay, authenticated, threaded and signed.
    let sent = setup.sent_until(1).await;
    let reply = &sent[0];
    assert_eq!(reply.user.as_deref(), Some("lodge"));
    assert_eq!(reply.rcpt_to, ["ana@example.org"]);
    let raw = String::from_utf8(reply.raw.clone()).unwrap();
    assert_eq!(
        header(&raw, "In-Reply-To"),
        Some("<ana-1@example.org>".to_owned()),
        "{raw}"
    );
    assert_eq!(
        header(&raw, "References"),
        Some("<ana-1@example.org>".to_owned())
    );
    assert_eq!(
        header(&raw, "Subject"),
        Some("Re: Booking in May".to_owned())
    );
    let message_id = header(&raw, "Message-ID")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_owned();
    assert!(message_id.ends_with(&format!("@{DOMAIN}")), "{message_id}");
    let inbound_address = setup.channel["inbound"]["address"].as_str().unwrap();
    assert!(header(&raw, "Reply-To").unwrap().contains(inbound_address));
    assert!(
        raw.contains("multipart/alternative") && raw.contains("text/html"),
        "{raw}"
    );

    // The signature verifies against the key published in DNS.
    let results = setup.verify_dkim(&reply.raw).await;
    assert_eq!(
        results,
        [(mail_auth::DkimResult::Pass, Some(DOMAIN.to_owned()))]
    );

    // Ana answers from another address, quoting the history: the reply threads to her
    // conversation by In-Reply-To, with the quote stripped.
    let answer = mail(
        "Ana at work <ana.work@example.org>",
        "ana-2@example.org",
        "Re: Booking in May",
        &format!("Two nights please.\r\n\r\nOn Thu, Jan 1, 2026 at 9:00 AM The Lodge <stay@{DOMAIN}> wrote:\r\n> Hello!"),
        Some(&message_id),
    );
    let (status, body) = setup.mailgun_now(&answer, "token-2").await;
    assert_eq!(
        (status, body["new"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    let conversation = setup.app.conversation_with("ana@example.org").await;
    let id = conversation["id"].as_str().unwrap();
    setup
        .app
        .messages_until(id, |messages| {
            messages
                .iter()
                .any(|message| message["content"]["body"] == "Two nights please.")
        })
        .await;
    let (_, all) = setup.app.get("/api/v1/conversations?limit=500").await;
    assert!(
        !all.to_string().contains("ana.work@example.org"),
        "no conversation of its own: {all}"
    );

    // The next answer threads under both mails.
    let sent = setup.sent_until(2).await;
    let raw = String::from_utf8(sent[1].raw.clone()).unwrap();
    assert_eq!(
        header(&raw, "In-Reply-To"),
        Some("<ana-2@example.org>".to_owned())
    );
    assert_eq!(
        header(&raw, "References"),
        Some(format!("<{message_id}> <ana-2@example.org>"))
    );
}

#[actix_web::test]
async fn mailgun_posts_need_a_fresh_signature_with_an_unused_token_and_mails_are_deduplicated() {
    let setup = EmailSetup::start().await;
    let raw = mail("ana@example.org", "dup-1@example.org", "Hi", "Hello", None);
    let (status, body) = setup
        .mailgun(&raw, "t-1", "another-key", now_seconds())
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    let (status, body) = setup
        .mailgun(&raw, "t-2", MAILGUN_KEY, now_seconds() - 3_600)
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    let (status, body) = setup.mailgun_now(&raw, "t-3").await;
    assert_eq!(
        (status, body["new"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    let (status, body) = setup.mailgun_now(&raw, "t-3").await;
    assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    // The same mail again, newly signed: acknowledged as a duplicate.
    let (status, body) = setup.mailgun_now(&raw, "t-4").await;
    assert_eq!(
        (status, body["duplicates"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    // An out-of-office answer is acknowledged and kept out of conversations.
    let auto = "From: bob@example.org\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.org>\r\nSubject: Away\r\n\r\nAway";
    let (status, body) = setup.mailgun_now(auto, "t-5").await;
    assert_eq!(
        (status, body["dropped"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
}

#[actix_web::test]
async fn sendgrid_posts_the_raw_mail_with_the_channels_token() {
    let setup = EmailSetup::start().await;
    let url = setup.channel["inbound"]["sendgrid_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let raw = mail(
        "Carla <carla@example.org>",
        "sg-1@example.org",
        "Parking",
        "Is there parking?\r\n-- \r\nCarla",
        None,
    );
    let post = |url: String, raw: String| {
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{{\"to\":[\"in@in.parley.test\"]}}\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n{raw}\r\n--XyZ--\r\n"
        );
        setup
            .app
            .http
            .post(url)
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
    };
    let without_token = url.split('?').next().unwrap();
    let response = post(setup.app.url(without_token), raw.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = post(
        setup.app.url(&format!("{without_token}?token=0000")),
        raw.clone(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = post(setup.app.url(&url), raw).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let conversation = setup.app.conversation_with("carla@example.org").await;
    assert_eq!(conversation["contact"]["name"], "Carla");
    setup
        .app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .any(|message| message["content"]["body"] == "Is there parking?")
        })
        .await;
}

#[actix_web::test]
async fn a_relay_550_fails_the_message_and_a_451_is_retried_until_taken() {
    let setup = EmailSetup::start().await;
    setup.publish();
    setup.verify().await;
    // 550: the message fails with the relay's reason, without retries.
    setup.smtp.set_fault(Some(Fault::MailboxUnavailable));
    let raw = mail("dan@example.org", "f-1@example.org", "Hi", "Hello", None);
    assert_eq!(setup.mailgun_now(&raw, "f-1").await.0, StatusCode::OK);
    let conversation = setup.app.conversation_with("dan@example.org").await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    let messages = setup
        .app
        .messages_until(&id, |messages| {
            messages
                .iter()
                .any(|message| message["delivery_status"] == "failed")
        })
        .await;
    let failed = messages
        .iter()
        .find(|message| message["delivery_status"] == "failed")
        .unwrap();
    assert!(
        failed["failure_reason"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    // 451: retried until the relay takes it.
    setup.smtp.set_fault(Some(Fault::LocalError));
    let raw = mail("eve@example.org", "f-2@example.org", "Hi", "Hello", None);
    assert_eq!(setup.mailgun_now(&raw, "f-2").await.0, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while setup.smtp.connections() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no retries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    setup.smtp.set_fault(None);
    let sent = setup.sent_until(1).await;
    assert_eq!(sent[0].rcpt_to, ["eve@example.org"]);
}

#[actix_web::test]
async fn a_relay_refusing_the_password_needs_a_reconnect_with_new_relay_credentials() {
    let dns = MockDns::start().unwrap();
    let smtp = MockSmtp::start("lodge", "the-real-password").unwrap();
    let app = TestApp::spawn_with(Options {
        dns_resolver: Some(dns.address()),
        ..Options::default()
    })
    .await;
    let (status, channel) = app
        .post_json("/api/v1/channels", &json!({"kind": "email", "name": "Mail", "config": {
            "domain": DOMAIN, "smtp_host": "127.0.0.1", "smtp_port": smtp.address().port(),
            "smtp_security": "none", "smtp_username": "lodge", "smtp_password": "an-old-password",
            "mailgun_signing_key": MAILGUN_KEY,
        }}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    for record in channel["dns_records"].as_array().unwrap() {
        dns.set_txt(
            record["name"].as_str().unwrap(),
            &[record["value"].as_str().unwrap()],
        );
    }
    let id = channel["id"].as_str().unwrap().to_owned();
    let (_, verified) = app
        .post_json(&format!("/api/v1/channels/{id}/verify"), &json!({}))
        .await;
    assert_eq!(verified["status"], "connected", "{verified}");
    let setup = EmailSetup {
        app,
        dns,
        smtp,
        channel,
    };
    let raw = mail("fay@example.org", "c-1@example.org", "Hi", "Hello", None);
    assert_eq!(setup.mailgun_now(&raw, "c-1").await.0, StatusCode::OK);
    let body = setup
        .app
        .get_until(&format!("/api/v1/channels/{id}"), |body| {
            body["status"] == "needs_reconnect"
        })
        .await;
    assert!(
        body["status_reason"].as_str().unwrap().contains("535"),
        "{body}"
    );
    assert!(setup.smtp.received().is_empty());
}

#[actix_web::test]
async fn the_smtp_listener_takes_mail_for_a_channels_inbound_address_and_refuses_others() {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let setup = EmailSetup::start_with(true).await;
    let listener = setup.app.smtp_address.unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(listener.port())
        .build();
    let inbound = setup.channel["inbound"]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let letter = |to: &str| {
        Message::builder()
            .from("Gus <gus@example.org>".parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Late arrival")
            .message_id(Some("<gus-1@example.org>".into()))
            .body("We will arrive at midnight.\n\nOn Mon, Jan 5, 2026 at 9:00 AM The Lodge wrote:\n> See you".to_owned())
            .unwrap()
    };
    let refused = transport
        .send(letter("nobody@in.parley.test"))
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(u16::from), Some(550), "{refused}");
    transport.send(letter(&inbound)).await.unwrap();
    let conversation = setup.app.conversation_with("gus@example.org").await;
    assert_eq!(conversation["contact"]["name"], "Gus");
    setup
        .app
        .messages_until(conversation["id"].as_str().unwrap(), |messages| {
            messages
                .iter()
                .any(|message| message["content"]["body"] == "We will arrive at midnight.")
        })
        .await;
    // The same mail again is taken and dropped as a duplicate.
    transport.send(letter(&inbound)).await.unwrap();
    let (_, messages) = setup
        .app
        .get(&format!(
            "/api/v1/conversations/{}/messages",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    let from_gus = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["direction"] == "inbound")
        .count();
    assert_eq!(from_gus, 1, "{messages}");
}

#[actix_web::test]
async fn an_attachment_becomes_a_media_message_served_from_the_original() {
    let setup = EmailSetup::start().await;
    let raw = "From: Hana <hana@example.org>\r\nSubject: Passport\r\nMessage-ID: <hana-1@example.org>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is my passport.\r\n\
--m\r\nContent-Type: image/png; name=\"passport.png\"\r\nContent-Disposition: attachment; filename=\"passport.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
--m\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(1)</script>\r\n--m--\r\n";
    let (status, body) = setup.mailgun_now(raw, "a-1").await;
    assert_eq!(
        (status, body["new"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{body}"
    );
    let conversation = setup.app.conversation_with("hana@example.org").await;
    let id = conversation["id"].as_str().unwrap().to_owned();
    let messages = setup
        .app
        .messages_until(&id, |messages| {
            messages
                .iter()
                .filter(|message| message["direction"] == "inbound")
                .count()
                == 3
        })
        .await;
    let media = |name: &str| {
        messages
            .iter()
            .find(|message| message["content"]["filename"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let fetch = |message_id: String| {
        setup
            .app
            .http
            .get(setup.app.url(&format!(
                "/api/v1/conversations/{id}/messages/{message_id}/media"
            )))
            .bearer_auth(&setup.app.api_key)
            .send()
    };
    let png = fetch(media("passport.png")).await.unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(png.bytes().await.unwrap().as_ref(), b"\x89PNG\r\n\x1a\n");
    let html = fetch(media("page.html")).await.unwrap();
    assert_eq!(html.headers()["content-type"], "application/octet-stream");
    assert!(html.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
}

#[actix_web::test]
async fn a_mail_of_several_megabytes_is_taken_where_other_webhooks_stop_at_four() {
    let setup = EmailSetup::start().await;
    // 6 MB of attachment, base64 in 76-character lines.
    let encoded = "QUFB".repeat(19).repeat(6 * 1024 * 1024 / 57);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let raw = format!(
        "From: ivo@example.org\r\nSubject: Plans\r\nMessage-ID: <big-1@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nThe plans.\r\n\
--m\r\nContent-Type: application/pdf; name=\"plans.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--m--\r\n",
        lines.join("\r\n")
    );
    assert!(raw.len() > 8 * 1024 * 1024);
    let (status, body) = setup.mailgun_now(&raw, "big-1").await;
    assert_eq!(
        (status, body["new"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
}

#[actix_web::test]
async fn a_team_members_file_is_attached_to_the_signed_mail() {
    let setup = EmailSetup::start().await;
    setup.publish();
    assert_eq!(setup.verify().await["status"], "connected");
    let first = mail(
        "Ana Silva <ana@example.org>",
        "ana-9@example.org",
        "Invoice",
        "Could you send the invoice?",
        None,
    );
    let (status, _) = setup.mailgun_now(&first, "token-9").await;
    assert_eq!(status, StatusCode::OK);
    setup.sent_until(1).await; // the bot's answer
    let conversation = setup.app.conversation_with("ana@example.org").await;
    let id = conversation["id"].as_str().unwrap().to_owned();

    let pdf = b"%PDF-1.4 invoice 9 for Ana".to_vec();
    let response = setup
        .app
        .http
        .post(setup.app.url(&format!(
            "/api/v1/conversations/{id}/attachments?filename=invoice-9.pdf&caption=Here%20it%20is"
        )))
        .bearer_auth(&setup.app.api_key)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();

    let sent = setup.sent_until(2).await;
    let raw = &sent[1].raw;
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
    let attachment = parsed.attachments().next().expect("the file is attached");
    assert_eq!(attachment.attachment_name(), Some("invoice-9.pdf"));
    assert_eq!(attachment.contents(), pdf.as_slice());
    assert!(parsed.body_text(0).unwrap().contains("Here it is"));
    assert_eq!(
        header(&String::from_utf8_lossy(raw), "In-Reply-To"),
        Some("<ana-9@example.org>".to_owned())
    );

    // The signature still verifies with the file in the body.
    assert_eq!(
        setup.verify_dkim(raw).await,
        [(mail_auth::DkimResult::Pass, Some(DOMAIN.to_owned()))]
    );

    // The console opens the file Parley kept.
    let kept = setup
        .app
        .http
        .get(setup.app.url(&format!(
            "/api/v1/conversations/{id}/messages/{}/media",
            message["id"].as_str().unwrap()
        )))
        .bearer_auth(&setup.app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    assert_eq!(kept.bytes().await.unwrap().as_ref(), pdf.as_slice());
}
