//! The new text of a reply, told apart from the history it quotes: the text above the first
//! attribution line ("On … wrote:" and its translations), Outlook's original-message block,
//! or a run of `>` lines, without the signature (`-- `) or a mobile client's footer. When
//! nothing would be left, the whole text is kept: content is never dropped.

use regex::Regex;
use std::sync::LazyLock;

/// Lines that open quoted history. Attributions may wrap over two lines, so each line is
/// also tried joined with the next.
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(
            on\s.+\swrote:\s*$ |
            le\s.+\sa\s+[ée]crit\s*:\s*$ |
            am\s.+\sschrieb\s.*:\s*$ |
            el\s.+\sescribi[óo]\s*:\s*$ |
            em\s.+\sescreveu\s*:\s*$ |
            il\s.+\sha\s+scritto\s*:\s*$ |
            op\s.+\sschreef\s.*:\s*$
        )",
    )
    .expect("the attribution pattern is valid")
});

static OUTLOOK_SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(-{2,}\s*original message\s*-{2,}|_{10,})\s*$")
        .expect("the separator pattern is valid")
});

static HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(from|de|von|van|da)\s*:\*?\s").expect("the header pattern is valid")
});

static MOBILE_FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(sent from my \w+|get outlook for \w+|sent from (mail|outlook) for \w+)")
        .expect("the footer pattern is valid")
});

/// The reply's own text.
pub fn extract(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.lines().collect();
    let mut end = lines.len();
    for (index, line) in lines.iter().enumerate() {
        let next = lines.get(index + 1).copied().unwrap_or_default();
        let joined = format!("{} {}", line.trim_end(), next.trim_start());
        let starts_quote = ATTRIBUTION.is_match(line)
            || (!line.trim().is_empty()
                && !next.trim().is_empty()
                && ATTRIBUTION.is_match(&joined))
            || OUTLOOK_SEPARATOR.is_match(line)
            || (HEADER_LINE.is_match(line) && outlook_header_block(&lines[index..]))
            || line.starts_with('>');
        if starts_quote {
            end = index;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..end].to_vec();
    if let Some(signature) = kept.iter().position(|line| *line == "-- " || *line == "--") {
        kept.truncate(signature);
    }
    while kept
        .last()
        .is_some_and(|line| line.trim().is_empty() || MOBILE_FOOTER.is_match(line))
    {
        kept.pop();
    }
    let reply = kept.join("\n").trim().to_owned();
    if reply.is_empty() {
        normalized.trim().to_owned()
    } else {
        reply
    }
}

/// Whether lines starting with `From:` are an Outlook header block (`Sent:`/`Date:` and
/// `To:` or `Subject:` follow within a few lines).
fn outlook_header_block(lines: &[&str]) -> bool {
    let window: Vec<String> = lines
        .iter()
        .take(6)
        .map(|line| line.trim().trim_start_matches('*').to_ascii_lowercase())
        .collect();
    let has = |prefixes: &[&str]| {
        window
            .iter()
            .skip(1)
            .any(|line| prefixes.iter().any(|prefix| line.starts_with(prefix)))
    };
    has(&["sent:", "date:", "envoyé :", "gesendet:"])
        && has(&["to:", "subject:", "à :", "an:", "betreff:"])
}

#[cfg(test)]
mod tests {
    use super::extract;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(extract(input), expected, "input:\n{input}");
    }

    #[test]
    fn gmail_attribution_and_quote_are_cut() {
        check(
            "Thanks, that fixed it!\n\nOn Thu, Jan 1, 2026 at 9:00 AM Acme Support <support@customer.com> wrote:\n> Hi Ana, please try restarting the router.\n",
            "Thanks, that fixed it!",
        );
    }

    #[test]
    fn a_wrapped_gmail_attribution_is_cut() {
        check(
            "Yes, two nights.\r\n\r\nOn Thu, Jan 1, 2026 at 9:00 AM Acme Support\r\n<support@customer.com> wrote:\r\n\r\n> When would you like to come?\r\n",
            "Yes, two nights.",
        );
    }

    #[test]
    fn the_signature_is_removed() {
        check("Yes please.\n-- \nAna Silva\n", "Yes please.");
    }

    #[test]
    fn outlook_underscore_block_is_cut() {
        check(
            "Sounds good\n\n________________________________\nFrom: Acme Support <support@customer.com>\nSent: Thursday, January 1, 2026 9:00 AM\n",
            "Sounds good",
        );
    }

    #[test]
    fn outlook_original_message_and_header_blocks_are_cut() {
        check(
            "Friday works.\n\n-----Original Message-----\nFrom: Acme\nSent: Thursday\nTo: Ana\nSubject: Visit\n\nWhen?",
            "Friday works.",
        );
        check(
            "Friday works.\n\nFrom: Acme Support <support@customer.com>\nSent: Thursday, January 1, 2026 9:00 AM\nTo: Ana <ana@example.org>\nSubject: Visit\n\nWhen?",
            "Friday works.",
        );
    }

    #[test]
    fn apple_mail_attribution_and_iphone_footer_are_cut() {
        check(
            "See you then\n\nSent from my iPhone\n\n> On 1 Jan 2026, at 09:00, Acme Support <support@customer.com> wrote:\n> \n> Check-in is at 3pm.\n",
            "See you then",
        );
    }

    #[test]
    fn other_languages_attributions_are_cut() {
        check(
            "Merci !\n\nLe jeu. 1 janv. 2026 à 09:00, Acme <a@b.c> a écrit :\n> Bonjour",
            "Merci !",
        );
        check(
            "Danke!\n\nAm Do., 1. Jan. 2026 um 09:00 Uhr schrieb Acme <a@b.c>:\n> Hallo",
            "Danke!",
        );
    }

    #[test]
    fn a_line_merely_starting_with_from_is_kept_and_nothing_is_ever_dropped() {
        check(
            "From: my side, all good.\nSee you",
            "From: my side, all good.\nSee you",
        );
        check(
            "> only a quote\n> nothing else",
            "> only a quote\n> nothing else",
        );
    }
}
