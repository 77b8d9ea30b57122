//! The webhook's authenticity: Telegram signs nothing, it echoes the `secret_token` Parley
//! registered in the `X-Telegram-Bot-Api-Secret-Token` header. The header is compared in
//! constant time, and secrets are drawn from the alphabet Telegram allows.

use crate::adapters::WebhookError;
use rand::Rng;
use subtle::ConstantTimeEq;

/// The header Telegram puts the registered secret in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// Characters of a generated secret: Telegram allows 1–256 of `A-Za-z0-9_-`.
pub const SECRET_LENGTH: usize = 48;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// A fresh random secret for `setWebhook`.
pub fn new_secret() -> String {
    let mut rng = rand::thread_rng();
    (0..SECRET_LENGTH)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Whether `secret` is one Telegram accepts.
pub fn is_valid_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks the header against the channel's secret.
pub fn verify_secret(expected: &str, header: Option<&str>) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?;
    if expected.is_empty() || !bool::from(header.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(WebhookError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_in_telegrams_alphabet() {
        let (first, second) = (new_secret(), new_secret());
        assert!(is_valid_secret(&first), "{first}");
        assert_eq!(first.len(), SECRET_LENGTH);
        assert_ne!(first, second);
    }

    #[test]
    fn the_secret_alphabet_and_length_are_telegrams() {
        assert!(is_valid_secret("a"));
        assert!(is_valid_secret(&"A_-9".repeat(64)));
        assert!(!is_valid_secret(""));
        assert!(!is_valid_secret(&"a".repeat(257)));
        assert!(!is_valid_secret("has space"));
        assert!(!is_valid_secret("dots.are.out"));
    }

    #[test]
    fn only_the_registered_secret_passes() {
        assert!(verify_secret("s3cret", Some("s3cret")).is_ok());
        assert!(matches!(
            verify_secret("s3cret", None),
            Err(WebhookError::MissingSignature)
        ));
        assert!(matches!(
            verify_secret("s3cret", Some("s3cre")),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            verify_secret("", Some("")),
            Err(WebhookError::BadSignature)
        ));
    }
}
