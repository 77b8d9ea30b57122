//! `X-Twilio-Signature`: Base64 of HMAC-SHA1, keyed with the auth token, over the URL Twilio
//! requested followed by every POST parameter's name and value, sorted by name (and by value
//! for repeated names). Twilio has been inconsistent about default ports, so a signature over
//! the URL with or without `:443` / `:80` is accepted, as Twilio's own libraries do.

use crate::adapters::WebhookError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The signature of a form POST to `url` with `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` with its default port written out, and without it: the forms Twilio may have signed.
fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    if let Ok(mut parsed) = url::Url::parse(url) {
        let default = match parsed.scheme() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        };
        if let Some(port) = default {
            // `url` never prints a default port, so the explicit form is built by hand.
            let plain = parsed.to_string();
            let host = parsed.host_str().unwrap_or_default().to_owned();
            let explicit = plain.replacen(&format!("://{host}"), &format!("://{host}:{port}"), 1);
            let _ = parsed.set_port(None);
            forms.push(parsed.to_string());
            forms.push(explicit);
        }
    }
    forms.dedup();
    forms
}

/// Checks `header` against the signature of the request, in constant time.
pub fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = header
        .map(str::trim)
        .filter(|header| !header.is_empty())
        .ok_or(WebhookError::MissingSignature)?;
    let Ok(given) = STANDARD.decode(header) else {
        return Err(WebhookError::BadSignature);
    };
    for form in url_forms(url) {
        let mut sorted: Vec<&(String, String)> = params.iter().collect();
        sorted.sort();
        let mut mac =
            Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
        mac.update(form.as_bytes());
        for (name, value) in sorted {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    #[test]
    fn twilios_documented_example_signs_as_published() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &documented_params()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify(
            "12345",
            url,
            &documented_params(),
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        )
        .is_ok());
    }

    #[test]
    fn parameter_order_does_not_matter_but_every_value_does() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let mut shuffled = documented_params();
        shuffled.reverse();
        assert!(verify(
            "12345",
            url,
            &shuffled,
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        )
        .is_ok());
        let mut changed = documented_params();
        changed[2].1 = "1235".into();
        assert!(matches!(
            verify("12345", url, &changed, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            verify(
                "54321",
                url,
                &documented_params(),
                Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
            ),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            verify("12345", url, &documented_params(), None),
            Err(WebhookError::MissingSignature)
        ));
    }

    #[test]
    fn a_signature_over_the_url_with_its_default_port_is_accepted() {
        let params = documented_params();
        let with_port = signature("12345", "https://parley.example:443/webhooks/x", &params);
        assert!(verify(
            "12345",
            "https://parley.example/webhooks/x",
            &params,
            Some(&with_port)
        )
        .is_ok());
        let without = signature("12345", "https://parley.example/webhooks/x", &params);
        assert!(verify(
            "12345",
            "https://parley.example:443/webhooks/x",
            &params,
            Some(&without)
        )
        .is_ok());
    }
}
