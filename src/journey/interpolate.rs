//! `{{scope.name}}` placeholders in step texts. A variable that is not set leaves its
//! placeholder in place, so a journey author sees what is missing.

/// Replaces every `{{ name }}` whose name `lookup` knows.
pub fn interpolate<'a>(template: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    interpolate_into(&mut out, template, |name, out| match lookup(name) {
        Some(value) => {
            out.push_str(value);
            true
        }
        None => false,
    });
    out
}

/// Appends `template` to `out`, with each `{{ name }}` replaced by what `write` appends for
/// the trimmed name; when `write` returns `false` (unknown name) the placeholder stays.
/// `write` must append nothing when it returns `false`.
pub fn interpolate_into(
    out: &mut String,
    template: &str,
    mut write: impl FnMut(&str, &mut String) -> bool,
) {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        let placeholder = &rest[open..open + 2 + close + 2];
        let name = rest[open + 2..open + 2 + close].trim();
        out.push_str(&rest[..open]);
        if !write(name, out) {
            out.push_str(placeholder);
        }
        rest = &rest[open + 2 + close + 2..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(template: &str, expected: &str) {
        let lookup = |name: &str| match name {
            "contact.name" => Some("Ana"),
            "contact.phone" => Some("+351"),
            _ => None,
        };
        assert_eq!(interpolate(template, lookup), expected);
    }

    #[test]
    fn known_variables_are_replaced() {
        check("Hi {{contact.name}}!", "Hi Ana!");
        check("{{ contact.name }} / {{contact.phone}}", "Ana / +351");
    }

    #[test]
    fn unknown_variables_keep_their_placeholder() {
        check("Hi {{contact.nickname}}", "Hi {{contact.nickname}}");
    }

    #[test]
    fn unbalanced_braces_are_left_alone() {
        check("Hi {{contact.name", "Hi {{contact.name");
        check("no placeholders", "no placeholders");
        check("", "");
    }
}
