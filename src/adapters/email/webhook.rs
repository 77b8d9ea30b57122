//! Inbound mail posted by a provider: Mailgun's routes (a form, signed with the account's
//! webhook signing key) and SendGrid's Inbound Parse (multipart, the raw MIME in `email`).
//! Both end as raw MIME for [`super::parse`].

use crate::adapters::WebhookError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;

/// The fields of a form body, urlencoded or multipart (file parts as their bytes).
pub type Fields = HashMap<String, Vec<u8>>;

/// Reads a form body by its `Content-Type`.
pub async fn form_fields(content_type: &str, body: bytes::Bytes) -> Result<Fields, WebhookError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(url::form_urlencoded::parse(&body)
            .map(|(key, value)| (key.into_owned(), value.into_owned().into_bytes()))
            .collect()),
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(content_type)
                .map_err(|error| WebhookError::MalformedPayload(error.to_string()))?;
            let stream =
                futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
            let mut multipart = multer::Multipart::new(stream, boundary);
            let mut fields = Fields::new();
            let malformed =
                |error: multer::Error| WebhookError::MalformedPayload(error.to_string());
            while let Some(field) = multipart.next_field().await.map_err(malformed)? {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field.bytes().await.map_err(malformed)?;
                fields.insert(name, value.to_vec());
            }
            Ok(fields)
        }
        other => Err(WebhookError::MalformedPayload(format!(
            "a form body was expected, not `{other}`"
        ))),
    }
}

fn text<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .get(name)
        .and_then(|value| std::str::from_utf8(value).ok())
        .filter(|value| !value.is_empty())
}

/// A Mailgun signature's parts.
pub struct MailgunSignature<'a> {
    pub timestamp: &'a str,
    pub token: &'a str,
    pub signature: &'a str,
}

impl<'a> MailgunSignature<'a> {
    pub fn from_fields(fields: &'a Fields) -> Result<Self, WebhookError> {
        match (
            text(fields, "timestamp"),
            text(fields, "token"),
            text(fields, "signature"),
        ) {
            (Some(timestamp), Some(token), Some(signature)) => Ok(Self {
                timestamp,
                token,
                signature,
            }),
            _ => Err(WebhookError::MissingSignature),
        }
    }

    /// `signature == hex(HMAC-SHA256(signing key, timestamp || token))`, compared in
    /// constant time.
    pub fn verify(&self, signing_key: &str) -> Result<(), WebhookError> {
        let expected = hex::decode(self.signature).map_err(|_| WebhookError::BadSignature)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(self.timestamp.as_bytes());
        mac.update(self.token.as_bytes());
        mac.verify_slice(&expected)
            .map_err(|_| WebhookError::BadSignature)
    }

    /// The signing time in Unix milliseconds.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.timestamp
            .trim()
            .parse::<i64>()
            .ok()?
            .checked_mul(1_000)
    }
}

/// The raw MIME of a Mailgun post: `body-mime` when the route asks for it, else a message
/// put together from the parsed fields (the headers as posted, the plain body).
pub fn mailgun_mime(fields: &Fields) -> Result<Vec<u8>, WebhookError> {
    if let Some(raw) = fields.get("body-mime") {
        return Ok(raw.clone());
    }
    let from = text(fields, "from")
        .or_else(|| text(fields, "sender"))
        .ok_or_else(|| WebhookError::MalformedPayload("the post has no `from`".into()))?;
    let mut mime = String::new();
    let mut header = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            // A posted field is one header line, whatever it holds.
            let value = value.replace(['\r', '\n'], " ");
            mime.push_str(&format!("{name}: {value}\r\n"));
        }
    };
    header("From", Some(from));
    header("To", text(fields, "recipient"));
    header("Subject", text(fields, "subject"));
    header("Message-ID", text(fields, "Message-Id"));
    header("In-Reply-To", text(fields, "In-Reply-To"));
    header("References", text(fields, "References"));
    header("Date", text(fields, "Date"));
    header("Auto-Submitted", text(fields, "Auto-Submitted"));
    mime.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    mime.push_str(text(fields, "body-plain").unwrap_or_default());
    Ok(mime.into_bytes())
}

/// The raw MIME of a SendGrid Inbound Parse post, which must be configured to send the raw
/// message (`email`).
pub fn sendgrid_mime(fields: &Fields) -> Result<Vec<u8>, WebhookError> {
    fields.get("email").cloned().ok_or_else(|| {
        WebhookError::MalformedPayload(
            "the post has no raw `email`: enable \"POST the raw, full MIME message\" in Inbound Parse"
                .into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn mailgun_signatures_match_the_reference_vector() {
        let posted = fields(&[
            ("timestamp", "1700000000"),
            (
                "token",
                "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
            ),
            (
                "signature",
                "6347567252f9f568c1e3eda26c492f33f5d5e43f57e159d53391685ddd858c95",
            ),
        ]);
        let signature = MailgunSignature::from_fields(&posted).unwrap();
        assert!(signature.verify("key-signing").is_ok());
        assert!(matches!(
            signature.verify("another-key"),
            Err(WebhookError::BadSignature)
        ));
        assert_eq!(signature.timestamp_millis(), Some(1_700_000_000_000));
        assert!(matches!(
            MailgunSignature::from_fields(&fields(&[("timestamp", "1")])),
            Err(WebhookError::MissingSignature)
        ));
    }

    #[test]
    fn mailgun_fields_become_a_message_without_header_injection() {
        let posted = fields(&[
            ("from", "Ana <ana@example.org>"),
            ("subject", "Hi\r\nBcc: evil@example.com"),
            ("Message-Id", "<m1@example.org>"),
            ("body-plain", "Hello"),
        ]);
        let raw = String::from_utf8(mailgun_mime(&posted).unwrap()).unwrap();
        assert!(
            raw.contains("Subject: Hi  Bcc: evil@example.com\r\n"),
            "{raw}"
        );
        let parsed = crate::adapters::email::parse::parse(raw.as_bytes()).unwrap();
        assert_eq!(parsed.message_id, "m1@example.org");
        assert_eq!(parsed.reply, "Hello");
    }

    #[test]
    fn urlencoded_and_multipart_forms_are_read() {
        let body = bytes::Bytes::from_static(b"a=1&b=two+words");
        let read =
            futures::executor::block_on(form_fields("application/x-www-form-urlencoded", body))
                .unwrap();
        assert_eq!(read["b"], b"two words");
        let body = bytes::Bytes::from_static(
            b"--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nFrom: a@b.c\r\n\r\nhi\r\n--X--\r\n",
        );
        let read =
            futures::executor::block_on(form_fields("multipart/form-data; boundary=X", body))
                .unwrap();
        assert_eq!(sendgrid_mime(&read).unwrap(), b"From: a@b.c\r\n\r\nhi");
    }
}
