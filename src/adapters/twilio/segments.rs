//! How many SMS segments a text costs: GSM-7 when every character is in the GSM 03.38 basic
//! set or its extension table (extension characters cost two septets), UCS-2 otherwise
//! (characters outside the BMP cost two units). One segment holds 160 GSM-7 septets or 70
//! UCS-2 units; concatenated segments hold 153 or 67, and an escape pair or a surrogate pair
//! is never split across two.

use serde::Serialize;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Twilio's limit on one message's `Body`, in characters.
pub const SMS_MAX_CHARS: usize = 1_600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What a text costs as SMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SegmentCount {
    pub encoding: Encoding,
    /// Characters as the agent sees them.
    pub characters: usize,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
    /// Units a single segment holds, and each segment of a longer message.
    pub single_segment_units: usize,
    pub per_segment_units: usize,
    /// Twilio's cap on one message, in characters.
    pub max_characters: usize,
    /// Whether the text is over the cap (Twilio would refuse it with 21617).
    pub too_long: bool,
}

/// Counts the segments of `text`.
pub fn count(text: &str) -> SegmentCount {
    let gsm: Option<Vec<usize>> = text
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .collect();
    let (encoding, units, single, multi) = match gsm {
        Some(units) => (Encoding::Gsm7, units, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let total: usize = units.iter().sum();
    let segments = if total == 0 {
        0
    } else if total <= single {
        1
    } else {
        let mut segments = 1;
        let mut used = 0;
        for unit in units {
            if used + unit > multi {
                segments += 1;
                used = 0;
            }
            used += unit;
        }
        segments
    };
    let characters = text.chars().count();
    SegmentCount {
        encoding,
        characters,
        units: total,
        segments,
        single_segment_units: single,
        per_segment_units: multi,
        max_characters: SMS_MAX_CHARS,
        too_long: characters > SMS_MAX_CHARS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_references_vectors_count_as_published() {
        let a = |n: usize| "a".repeat(n);
        let s = |n: usize| "ş".repeat(n);
        let cases: Vec<(String, Encoding, usize, usize)> = vec![
            (a(160), Encoding::Gsm7, 160, 1),
            (a(161), Encoding::Gsm7, 161, 2),
            (a(306), Encoding::Gsm7, 306, 2),
            (a(307), Encoding::Gsm7, 307, 3),
            (a(159) + "€", Encoding::Gsm7, 161, 2),
            (a(152) + "€" + &a(152), Encoding::Gsm7, 306, 3),
            ("é".repeat(70), Encoding::Gsm7, 70, 1),
            (s(70), Encoding::Ucs2, 70, 1),
            (s(71), Encoding::Ucs2, 71, 2),
            (s(134), Encoding::Ucs2, 134, 2),
            (s(135), Encoding::Ucs2, 135, 3),
            (s(66) + "😀" + &s(66), Encoding::Ucs2, 134, 3),
            ("It’s ok".to_owned(), Encoding::Ucs2, 7, 1),
            (a(1600), Encoding::Gsm7, 1600, 11),
        ];
        for (text, encoding, units, segments) in cases {
            let counted = count(&text);
            assert_eq!(
                (counted.encoding, counted.units, counted.segments),
                (encoding, units, segments),
                "{}…",
                text.chars().take(12).collect::<String>()
            );
        }
    }

    #[test]
    fn the_cap_is_in_characters() {
        assert!(!count(&"a".repeat(1600)).too_long);
        assert!(count(&"a".repeat(1601)).too_long);
        assert_eq!(count("").segments, 0);
    }
}
