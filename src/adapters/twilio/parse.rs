//! Twilio's form posts into inbound events: a contact's message (text, media, location, a
//! template's quick-reply button) and status callbacks of messages Parley sent. Twilio adds
//! parameters without notice, so unknown ones are ignored.

use super::Flavor;
use crate::adapters::WebhookError;
use crate::domain::{
    DeliveryStatus, InboundEvent, InboundMessage, MediaKind, MessageContent, StatusUpdate,
};

/// The first value of `name` in a form.
pub fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, WebhookError> {
    field(params, name)
        .ok_or_else(|| WebhookError::MalformedPayload(format!("the form has no `{name}`")))
}

fn media_kind(mime_type: &str) -> MediaKind {
    match mime_type.split('/').next().unwrap_or_default() {
        "image" if mime_type.eq_ignore_ascii_case("image/webp") => MediaKind::Sticker,
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

/// A contact's message: one event per piece of media (the first carries the text as its
/// caption), or one for the text, location or button.
pub fn message(
    flavor: Flavor,
    params: &[(String, String)],
) -> Result<Vec<InboundEvent>, WebhookError> {
    let sid = required(params, "MessageSid")
        .or_else(|_| required(params, "SmsMessageSid"))?
        .to_owned();
    let from = required(params, "From")?;
    let contact = Flavor::contact_id(from).to_owned();
    let contact_phone = match flavor {
        Flavor::Whatsapp => field(params, "WaId")
            .map(|digits| format!("+{digits}"))
            .or_else(|| super::is_e164(&contact).then(|| contact.clone())),
        Flavor::Sms => Some(contact.clone()),
    };
    let contact_name = field(params, "ProfileName").map(str::to_owned);
    let reply_to = field(params, "OriginalRepliedMessageSid").map(str::to_owned);
    let body = field(params, "Body").map(str::to_owned);
    let event = |provider_message_id: String, content: MessageContent| {
        InboundEvent::Message(InboundMessage {
            provider_message_id,
            contact_external_id: contact.clone(),
            contact_name: contact_name.clone(),
            contact_phone: contact_phone.clone(),
            provider_timestamp: None,
            content,
            reply_to_provider_message_id: reply_to.clone(),
        })
    };
    let media_count: usize = field(params, "NumMedia")
        .map(|count| {
            count.parse().map_err(|_| {
                WebhookError::MalformedPayload(format!("`NumMedia` is not a count: {count}"))
            })
        })
        .transpose()?
        .unwrap_or(0);
    if media_count > 0 {
        let mut events = Vec::with_capacity(media_count);
        for index in 0..media_count {
            let url = required(params, &format!("MediaUrl{index}"))?;
            let mime_type = field(params, &format!("MediaContentType{index}"))
                .unwrap_or("application/octet-stream");
            let id = if index == 0 {
                sid.clone()
            } else {
                format!("{sid}/{index}")
            };
            events.push(event(
                id,
                MessageContent::Media {
                    media_kind: media_kind(mime_type),
                    media_id: None,
                    url: Some(url.to_owned()),
                    mime_type: Some(mime_type.to_owned()),
                    caption: if index == 0 { body.clone() } else { None },
                    filename: None,
                    voice: false,
                },
            ));
        }
        return Ok(events);
    }
    let content = if let (Some(latitude), Some(longitude)) =
        (field(params, "Latitude"), field(params, "Longitude"))
    {
        let coordinate = |raw: &str, name: &str| {
            raw.parse::<f64>().map_err(|_| {
                WebhookError::MalformedPayload(format!("`{name}` is not a number: {raw}"))
            })
        };
        MessageContent::Location {
            latitude: coordinate(latitude, "Latitude")?,
            longitude: coordinate(longitude, "Longitude")?,
            name: field(params, "Label").map(str::to_owned),
            address: field(params, "Address").map(str::to_owned),
        }
    } else if let Some(payload) = field(params, "ButtonPayload") {
        MessageContent::TemplateButton {
            payload: payload.to_owned(),
            text: field(params, "ButtonText")
                .or(body.as_deref())
                .unwrap_or(payload)
                .to_owned(),
        }
    } else if let Some(body) = body {
        MessageContent::Text { body }
    } else {
        MessageContent::Unsupported {
            detail: format!(
                "a Twilio {} message of type `{}`",
                match flavor {
                    Flavor::Whatsapp => "WhatsApp",
                    Flavor::Sms => "SMS",
                },
                field(params, "MessageType").unwrap_or("unknown")
            ),
        }
    };
    Ok(vec![event(sid, content)])
}

/// What a Twilio error code on a failed message means, for the agent.
pub fn error_reason(code: &str) -> String {
    let meaning = match code {
        "63016" => "outside the 24-hour window: only an approved template can reach the guest now",
        "21610" => "the recipient has opted out (replied STOP)",
        "21211" => "the number is not a valid phone number",
        "21614" => "the number is not a mobile number",
        "63003" => "the recipient's WhatsApp address could not be found",
        "63018" => "the WhatsApp sender's rate limit was exceeded",
        "30003" => "the handset is unreachable",
        "30005" => "the number is unknown or no longer exists",
        "30006" => "the number is a landline or the carrier cannot take it",
        "30007" => "the carrier filtered the message",
        "30008" => "the carrier could not deliver it for an unknown reason",
        "20003" => "Twilio refused the channel's credentials",
        _ => "Twilio could not deliver it",
    };
    format!("{code}: {meaning}")
}

/// A status callback: `None` for the statuses before the provider sends (`queued`,
/// `accepted`, `sending`, `scheduled`), which change nothing Parley shows.
pub fn status(params: &[(String, String)]) -> Result<Option<InboundEvent>, WebhookError> {
    let sid = required(params, "MessageSid").or_else(|_| required(params, "SmsSid"))?;
    let raw = required(params, "MessageStatus").or_else(|_| required(params, "SmsStatus"))?;
    let recipient = Flavor::contact_id(required(params, "To")?).to_owned();
    let (status, failure_reason) = match raw {
        "sent" => (DeliveryStatus::Sent, None),
        "delivered" => (DeliveryStatus::Delivered, None),
        "read" => (DeliveryStatus::Read, None),
        "failed" | "undelivered" | "canceled" => (
            DeliveryStatus::Failed,
            Some(match field(params, "ErrorCode") {
                Some(code) => error_reason(code),
                None => format!("Twilio reported the message {raw}"),
            }),
        ),
        "queued"
        | "accepted"
        | "sending"
        | "scheduled"
        | "receiving"
        | "received"
        | "partially_delivered" => return Ok(None),
        other => {
            return Err(WebhookError::MalformedPayload(format!(
                "unknown message status `{other}`"
            )))
        }
    };
    Ok(Some(InboundEvent::Status(StatusUpdate {
        provider_message_id: sid.to_owned(),
        recipient_external_id: recipient,
        status,
        provider_timestamp: None,
        failure_reason,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn only(events: Vec<InboundEvent>) -> InboundMessage {
        assert_eq!(events.len(), 1, "{events:?}");
        match events.into_iter().next() {
            Some(InboundEvent::Message(message)) => message,
            other => panic!("not a message: {other:?}"),
        }
    }

    const BASE: [(&str, &str); 5] = [
        ("MessageSid", "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "whatsapp:+5511999998888"),
        ("To", "whatsapp:+14155238886"),
        ("WaId", "5511999998888"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(&str, &str)> = BASE.to_vec();
        pairs.extend_from_slice(extra);
        form(&pairs)
    }

    #[test]
    fn a_whatsapp_text_names_its_sender_and_number() {
        let message = only(
            message(
                Flavor::Whatsapp,
                &with(&[
                    ("Body", "Is breakfast included?"),
                    ("ProfileName", "Ana Silva"),
                    ("NumMedia", "0"),
                    ("MessageType", "text"),
                    ("SomethingNew", "x"),
                ]),
            )
            .unwrap(),
        );
        assert_eq!(
            message.provider_message_id,
            "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"
        );
        assert_eq!(message.contact_external_id, "+5511999998888");
        assert_eq!(message.contact_phone.as_deref(), Some("+5511999998888"));
        assert_eq!(message.contact_name.as_deref(), Some("Ana Silva"));
        assert_eq!(
            message.content,
            MessageContent::Text {
                body: "Is breakfast included?".into()
            }
        );
    }

    #[test]
    fn each_piece_of_media_is_a_message_and_the_text_is_the_first_caption() {
        let events = message(
            Flavor::Whatsapp,
            &with(&[
                ("Body", "Here is my receipt"),
                ("NumMedia", "2"),
                ("MediaUrl0", "https://api.twilio.test/Media/ME1"),
                ("MediaContentType0", "image/jpeg"),
                ("MediaUrl1", "https://api.twilio.test/Media/ME2"),
                ("MediaContentType1", "application/pdf"),
            ]),
        )
        .unwrap();
        assert_eq!(events.len(), 2);
        let InboundEvent::Message(first) = &events[0] else {
            panic!()
        };
        let InboundEvent::Message(second) = &events[1] else {
            panic!()
        };
        assert_eq!(
            first.content,
            MessageContent::Media {
                media_kind: MediaKind::Image,
                media_id: None,
                url: Some("https://api.twilio.test/Media/ME1".into()),
                mime_type: Some("image/jpeg".into()),
                caption: Some("Here is my receipt".into()),
                filename: None,
                voice: false,
            }
        );
        assert_eq!(
            second.provider_message_id,
            "SMa1b2c3d4e5f60718293a4b5c6d7e8f90/1"
        );
        assert!(matches!(
            &second.content,
            MessageContent::Media {
                media_kind: MediaKind::Document,
                caption: None,
                ..
            }
        ));
        assert!(matches!(
            message(Flavor::Whatsapp, &with(&[("NumMedia", "1")])),
            Err(WebhookError::MalformedPayload(_))
        ));
    }

    #[test]
    fn locations_buttons_and_replies_are_read() {
        let location = only(
            message(
                Flavor::Whatsapp,
                &with(&[
                    ("MessageType", "location"),
                    ("Latitude", "38.7223"),
                    ("Longitude", "-9.1393"),
                    ("Label", "Our villa"),
                    ("Address", "Rua 1, Lisboa"),
                ]),
            )
            .unwrap(),
        );
        assert_eq!(
            location.content,
            MessageContent::Location {
                latitude: 38.7223,
                longitude: -9.1393,
                name: Some("Our villa".into()),
                address: Some("Rua 1, Lisboa".into()),
            }
        );
        let button = only(
            message(
                Flavor::Whatsapp,
                &with(&[
                    ("MessageType", "button"),
                    ("ButtonText", "Change dates"),
                    ("ButtonPayload", "CHANGE_DATES"),
                    ("Body", "Change dates"),
                    ("OriginalRepliedMessageSid", "SM0000"),
                ]),
            )
            .unwrap(),
        );
        assert_eq!(
            button.content,
            MessageContent::TemplateButton {
                payload: "CHANGE_DATES".into(),
                text: "Change dates".into()
            }
        );
        assert_eq!(
            button.reply_to_provider_message_id.as_deref(),
            Some("SM0000")
        );
        let sticker =
            only(message(Flavor::Whatsapp, &with(&[("MessageType", "interactive")])).unwrap());
        assert!(matches!(
            sticker.content,
            MessageContent::Unsupported { .. }
        ));
    }

    #[test]
    fn statuses_map_to_delivery_states_with_twilios_reasons() {
        let status_of = |pairs: &[(&str, &str)]| status(&form(pairs)).unwrap();
        let failed = status_of(&[
            ("MessageSid", "SM9"),
            ("MessageStatus", "failed"),
            ("ErrorCode", "63016"),
            ("To", "whatsapp:+5511999998888"),
        ]);
        assert_eq!(
            failed,
            Some(InboundEvent::Status(StatusUpdate {
                provider_message_id: "SM9".into(),
                recipient_external_id: "+5511999998888".into(),
                status: DeliveryStatus::Failed,
                provider_timestamp: None,
                failure_reason: Some(
                    "63016: outside the 24-hour window: only an approved template can reach the guest now".into()
                ),
            }))
        );
        let read = status_of(&[
            ("MessageSid", "SM9"),
            ("MessageStatus", "read"),
            ("To", "+1555"),
        ]);
        assert!(matches!(
            read,
            Some(InboundEvent::Status(StatusUpdate {
                status: DeliveryStatus::Read,
                ..
            }))
        ));
        assert_eq!(
            status_of(&[
                ("MessageSid", "SM9"),
                ("MessageStatus", "sending"),
                ("To", "+1555")
            ]),
            None
        );
        assert!(status(&form(&[
            ("MessageSid", "SM9"),
            ("MessageStatus", "teleported"),
            ("To", "+1")
        ]))
        .is_err());
    }
}
