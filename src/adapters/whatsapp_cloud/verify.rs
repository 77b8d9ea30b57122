//! Webhook authenticity: the `hub.challenge` handshake and `X-Hub-Signature-256`, an
//! HMAC-SHA256 of the raw body keyed with the app secret, compared in constant time.

use crate::adapters::WebhookError;
use crate::crypto::verify_hmac_sha256;

/// Answers Meta's subscription handshake: the challenge to echo, or `None` (answer 403).
pub fn handshake<'a>(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Option<&'a str> {
    let token_matches = verify_token.is_some_and(|given| {
        subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected_token.as_bytes()).into()
    });
    (mode == Some("subscribe") && token_matches)
        .then_some(challenge)
        .flatten()
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` over the exact bytes received.
///
/// Meta signs the ASCII-escaped form of the payload. If a proxy decoded the `\uXXXX` escapes on
/// the way, the raw bytes no longer match; the body is then escaped again and checked once more.
pub fn verify_signature(
    app_secret: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?;
    let tag = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
        .ok_or(WebhookError::BadSignature)?;
    if verify_hmac_sha256(app_secret.as_bytes(), body, &tag) {
        return Ok(());
    }
    if !body.is_ascii() {
        if let Ok(text) = std::str::from_utf8(body) {
            let escaped = escape_non_ascii(text);
            if verify_hmac_sha256(app_secret.as_bytes(), escaped.as_bytes(), &tag) {
                return Ok(());
            }
        }
    }
    Err(WebhookError::BadSignature)
}

/// Meta's wire form: non-ASCII characters as lowercase `\uXXXX` UTF-16 escapes.
pub fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for ch in json.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The header value Meta would send for `body`; used by the mock provider and tests.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(crate::crypto::hmac_sha256(app_secret.as_bytes(), body))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_echoes_the_challenge_for_the_right_token() {
        assert_eq!(
            handshake(Some("subscribe"), Some("tok"), Some("1158201444"), "tok"),
            Some("1158201444")
        );
    }

    #[test]
    fn the_handshake_refuses_a_wrong_token_or_mode() {
        let cases = [
            (Some("subscribe"), Some("nope")),
            (Some("unsubscribe"), Some("tok")),
            (None, Some("tok")),
            (Some("subscribe"), None),
        ];
        for (mode, token) in cases {
            assert_eq!(
                handshake(mode, token, Some("1"), "tok"),
                None,
                "{mode:?} {token:?}"
            );
        }
    }

    #[test]
    fn a_correct_signature_verifies() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        assert!(verify_signature("secret", body, Some(&sign("secret", body))).is_ok());
    }

    #[test]
    fn wrong_or_missing_signatures_are_refused() {
        let body = br#"{"a":1}"#;
        assert!(matches!(
            verify_signature("secret", body, None),
            Err(WebhookError::MissingSignature)
        ));
        assert!(matches!(
            verify_signature("other", body, Some(&sign("secret", body))),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            verify_signature("secret", br#"{"a":2}"#, Some(&sign("secret", body))),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            verify_signature("secret", body, Some("sha1=abcd")),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn a_body_whose_escapes_were_decoded_still_verifies() {
        let wire = r#"{"body":"\u00e4\ud83d\udc4d"}"#;
        let decoded = "{\"body\":\"ä👍\"}";
        let signature = sign("secret", wire.as_bytes());
        assert!(verify_signature("secret", decoded.as_bytes(), Some(&signature)).is_ok());
        assert_eq!(escape_non_ascii(decoded), wire);
    }
}
