//! Outbound mail: one message built with lettre (threading headers, `Reply-To` the channel's
//! inbound address, plain text and HTML alternatives, then any attached files), DKIM-signed with the channel's key
//! as `d=<domain>` under its selector, and submitted to the channel's relay. The relay's
//! answer is classified for the channel actor: 4xx retry, 535 credentials, other 5xx
//! permanent.

use super::render::Body;
use super::{EmailPublicConfig, EmailSecrets, SmtpSecurity};
use crate::adapters::{SendError, Sent};
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::ContentType;
use lettre::message::header::HeaderName;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::{Duration, SystemTime};

/// Headers covered by the DKIM signature: the visible ones and those that thread the mail.
/// Not `Content-Type`: lettre writes a multipart body's type with the body, after signing,
/// so a signature covering it would never verify.
const SIGNED_HEADERS: [&str; 10] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "MIME-Version",
    "Cc",
];
/// How many ids of a thread `References` keeps: the first and the latest ones.
const MAX_REFERENCES: usize = 11;
/// The subject of a conversation Parley starts, with no mail to answer.
const DEFAULT_SUBJECT: &str = "Your conversation with us";

/// One message to send.
pub struct Outgoing {
    /// Without angle brackets; also the provider id the send is recorded under.
    pub message_id: String,
    pub to: String,
    pub subject: String,
    /// The mail answered, without angle brackets.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub body: Body,
    /// Files sent with the message, after its text.
    pub attachments: Vec<OutgoingAttachment>,
    pub date: SystemTime,
}

/// A file attached to an outgoing mail.
pub struct OutgoingAttachment {
    pub filename: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// `Re: <subject>` without stacking `Re:`s.
pub fn reply_subject(original: Option<&str>) -> String {
    let mut subject = original.unwrap_or_default().trim();
    loop {
        let lower = subject.to_ascii_lowercase();
        // `Re:` and its German and Scandinavian forms.
        if ["re:", "aw:", "sv:"]
            .iter()
            .any(|prefix| lower.starts_with(prefix))
        {
            subject = subject[3..].trim_start();
        } else {
            break;
        }
    }
    if subject.is_empty() {
        DEFAULT_SUBJECT.to_owned()
    } else if original.is_some() {
        format!("Re: {subject}")
    } else {
        subject.to_owned()
    }
}

/// The `References` of a reply: the parent's references, then the parent; the first id and
/// the latest ones when the thread is long (RFC 5322 §3.6.4).
pub fn thread_references(parent_references: &[String], parent: &str) -> Vec<String> {
    let mut ids: Vec<String> = parent_references
        .iter()
        .filter(|id| id.as_str() != parent)
        .cloned()
        .collect();
    ids.push(parent.to_owned());
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids
}

/// Builds the signed message.
pub fn build(
    public: &EmailPublicConfig,
    secrets: &EmailSecrets,
    outgoing: &Outgoing,
) -> Result<Message, SendError> {
    let permanent = |reason: String| SendError::Permanent { reason };
    let from = Mailbox::new(
        public.from_name.clone(),
        public.from_address.parse().map_err(|error| {
            permanent(format!("the channel's sender address is invalid: {error}"))
        })?,
    );
    let to: Mailbox = outgoing.to.parse().map_err(|error| {
        permanent(format!(
            "`{}` is not an email address: {error}",
            outgoing.to
        ))
    })?;
    let reply_to: Mailbox = public
        .inbound_address
        .parse()
        .map_err(|error| permanent(format!("the channel's inbound address is invalid: {error}")))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .reply_to(reply_to)
        .subject(outgoing.subject.clone())
        .date(outgoing.date)
        .message_id(Some(format!("<{}>", outgoing.message_id)));
    if let Some(parent) = &outgoing.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    if !outgoing.references.is_empty() {
        let references: Vec<String> = outgoing
            .references
            .iter()
            .map(|id| format!("<{id}>"))
            .collect();
        builder = builder.references(references.join(" "));
    }
    let alternatives =
        MultiPart::alternative_plain_html(outgoing.body.text.clone(), outgoing.body.html.clone());
    let body = if outgoing.attachments.is_empty() {
        alternatives
    } else {
        outgoing.attachments.iter().try_fold(
            MultiPart::mixed().multipart(alternatives),
            |mixed, file| {
                let content_type = ContentType::parse(&file.mime_type).map_err(|error| {
                    permanent(format!(
                        "`{}` is not a content type: {error}",
                        file.mime_type
                    ))
                })?;
                Ok(mixed.singlepart(
                    Attachment::new(file.filename.clone()).body(file.bytes.clone(), content_type),
                ))
            },
        )?
    };
    let mut message = builder
        .multipart(body)
        .map_err(|error| permanent(format!("the message could not be built: {error}")))?;
    message.sign(&dkim_config(public, secrets)?);
    Ok(message)
}

fn dkim_config(
    public: &EmailPublicConfig,
    secrets: &EmailSecrets,
) -> Result<DkimConfig, SendError> {
    let key = DkimSigningKey::new(&secrets.dkim_private_key, DkimSigningAlgorithm::Rsa).map_err(
        |error| SendError::CredentialsRejected {
            reason: format!("the channel's DKIM key cannot be loaded: {error}"),
        },
    )?;
    let headers = SIGNED_HEADERS
        .into_iter()
        .map(HeaderName::new_from_ascii_str)
        .collect();
    Ok(DkimConfig::new(
        public.selector.clone(),
        public.domain.clone(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// Submits the message to the channel's relay.
pub async fn send(
    public: &EmailPublicConfig,
    secrets: &EmailSecrets,
    outgoing: &Outgoing,
    timeout: Duration,
) -> Result<Sent, SendError> {
    let message = build(public, secrets, outgoing)?;
    let transport = transport(public, secrets, timeout)?;
    match transport.send(message).await {
        Ok(_) => Ok(Sent {
            provider_message_id: outgoing.message_id.clone(),
        }),
        Err(error) => Err(classify(&error)),
    }
}

fn transport(
    public: &EmailPublicConfig,
    secrets: &EmailSecrets,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls_parameters = || {
        TlsParameters::new(public.smtp_host.clone()).map_err(|error| SendError::Permanent {
            reason: format!("TLS to the relay cannot be set up: {error}"),
        })
    };
    let tls = match public.smtp_security {
        SmtpSecurity::Starttls => Tls::Required(tls_parameters()?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
        SmtpSecurity::None => Tls::None,
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(public.smtp_host.clone())
            .port(public.smtp_port)
            .tls(tls)
            .timeout(Some(timeout));
    if let Some(username) = &public.smtp_username {
        builder = builder
            .credentials(Credentials::new(
                username.clone(),
                secrets.smtp_password.clone().unwrap_or_default(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

/// The relay's answer as a send failure: 535 (authentication failed) means the channel's
/// credentials; any other 5xx is final; 4xx and a relay that could not be reached are worth
/// another try.
pub fn classify(error: &lettre::transport::smtp::Error) -> SendError {
    let code = error.status().map(u16::from);
    let reason = match code {
        Some(code) => format!("the relay answered {code}: {error}"),
        None => format!("the relay could not be reached: {error}"),
    };
    match code {
        Some(535) => SendError::CredentialsRejected { reason },
        Some(code) if (500..600).contains(&code) => SendError::Permanent { reason },
        _ => SendError::Retryable {
            reason,
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_do_not_stack() {
        assert_eq!(reply_subject(Some("Booking 12")), "Re: Booking 12");
        assert_eq!(reply_subject(Some("RE: Re: Booking 12")), "Re: Booking 12");
        assert_eq!(reply_subject(Some("  ")), DEFAULT_SUBJECT);
        assert_eq!(reply_subject(None), DEFAULT_SUBJECT);
    }

    #[test]
    fn references_keep_the_first_and_latest_ids() {
        assert_eq!(thread_references(&[], "a@x"), ["a@x"]);
        assert_eq!(
            thread_references(&["a@x".into(), "b@x".into()], "c@x"),
            ["a@x", "b@x", "c@x"]
        );
        let long: Vec<String> = (0..20).map(|n| format!("{n}@x")).collect();
        let kept = thread_references(&long, "p@x");
        assert_eq!(kept.len(), MAX_REFERENCES);
        assert_eq!(kept[0], "0@x");
        assert_eq!(kept[1], "11@x");
        assert_eq!(kept[MAX_REFERENCES - 1], "p@x");
    }
}
