//! Condition rules: `actual operator expected`, over the text of variables.
//!
//! Both sides are compared as numbers when both read as numbers (`"10" greater_than "9"`),
//! else as text, ignoring case unless the rule says otherwise. A variable that is not set
//! satisfies only `not_exists` (and `not_equals`, since nothing equals a missing value).

use super::model::{Combine, Operator, Rule};

/// Whether a rule holds, given the variable's value (`None` when not set) and the rule's
/// interpolated value.
pub fn rule_holds(rule: &Rule, actual: Option<&str>, expected: Option<&str>) -> bool {
    let present = actual.is_some_and(|value| !value.trim().is_empty());
    match rule.operator {
        Operator::Exists => return present,
        Operator::NotExists => return !present,
        _ => {}
    }
    let (Some(actual), Some(expected)) = (actual, expected) else {
        return rule.operator == Operator::NotEquals;
    };
    if let (Some(left), Some(right)) = (number(actual), number(expected)) {
        match rule.operator {
            Operator::Equals => return left == right,
            Operator::NotEquals => return left != right,
            Operator::GreaterThan => return left > right,
            Operator::LessThan => return left < right,
            _ => {}
        }
    }
    if rule.operator == Operator::MatchesRegex {
        return regex::RegexBuilder::new(expected)
            .case_insensitive(!rule.case_sensitive)
            .size_limit(1 << 20)
            .build()
            .is_ok_and(|pattern| pattern.is_match(actual));
    }
    let fold = |text: &str| {
        if rule.case_sensitive {
            text.trim().to_owned()
        } else {
            text.trim().to_lowercase()
        }
    };
    let (actual, expected) = (fold(actual), fold(expected));
    match rule.operator {
        Operator::Equals => actual == expected,
        Operator::NotEquals => actual != expected,
        // Text that is not a number orders as text, so dates in `yyyy-mm-dd` compare right.
        Operator::GreaterThan => actual > expected,
        Operator::LessThan => actual < expected,
        Operator::Contains => actual.contains(&expected),
        Operator::StartsWith => actual.starts_with(&expected),
        Operator::EndsWith => actual.ends_with(&expected),
        Operator::MatchesRegex | Operator::Exists | Operator::NotExists => false,
    }
}

/// Whether a branch's rules hold together: all of them (AND) or any (OR). A branch with no
/// rules never matches (deploy validation refuses it).
pub fn branch_holds(combine: Combine, mut results: impl Iterator<Item = bool>) -> bool {
    let mut any_rule = false;
    match combine {
        Combine::All => {
            results.all(|holds| {
                any_rule = true;
                holds
            }) && any_rule
        }
        Combine::Any => results.any(|holds| holds),
    }
}

fn number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(operator: Operator) -> Rule {
        Rule {
            variable: "local.x".into(),
            operator,
            value: None,
            case_sensitive: false,
        }
    }

    #[track_caller]
    fn check(operator: Operator, actual: Option<&str>, expected: Option<&str>, holds: bool) {
        assert_eq!(
            rule_holds(&rule(operator), actual, expected),
            holds,
            "{actual:?} {operator:?} {expected:?}"
        );
    }

    #[test]
    fn every_operator() {
        use Operator::*;
        let table: &[(Operator, Option<&str>, Option<&str>, bool)] = &[
            (Equals, Some("Yes"), Some("yes"), true),
            (Equals, Some("4"), Some("4.0"), true),
            (Equals, Some("no"), Some("yes"), false),
            (Equals, None, Some("yes"), false),
            (NotEquals, Some("no"), Some("yes"), true),
            (NotEquals, Some("YES"), Some("yes"), false),
            (NotEquals, None, Some("yes"), true),
            (GreaterThan, Some("10"), Some("9"), true),
            (GreaterThan, Some("9"), Some("10"), false),
            (GreaterThan, Some("2027-03-15"), Some("2027-03-01"), true),
            (LessThan, Some("3"), Some("4"), true),
            (LessThan, Some("4"), Some("4"), false),
            (LessThan, None, Some("4"), false),
            (Contains, Some("Sea View Suite"), Some("view"), true),
            (Contains, Some("Garden"), Some("view"), false),
            (StartsWith, Some("Booking-123"), Some("booking"), true),
            (StartsWith, Some("x-Booking"), Some("booking"), false),
            (
                EndsWith,
                Some("villa@example.com"),
                Some("@EXAMPLE.com"),
                true,
            ),
            (
                EndsWith,
                Some("villa@example.org"),
                Some("@example.com"),
                false,
            ),
            (MatchesRegex, Some("ABC-123"), Some(r"^[a-z]{3}-\d+$"), true),
            (
                MatchesRegex,
                Some("ABC-12x"),
                Some(r"^[a-z]{3}-\d+$"),
                false,
            ),
            (MatchesRegex, Some("anything"), Some("("), false),
            (Exists, Some("x"), None, true),
            (Exists, Some("  "), None, false),
            (Exists, None, None, false),
            (NotExists, None, None, true),
            (NotExists, Some("x"), None, false),
        ];
        for &(operator, actual, expected, holds) in table {
            check(operator, actual, expected, holds);
        }
    }

    #[test]
    fn case_sensitive_rules_keep_case() {
        let mut strict = rule(Operator::Equals);
        strict.case_sensitive = true;
        assert!(!rule_holds(&strict, Some("Yes"), Some("yes")));
        assert!(rule_holds(&strict, Some("yes"), Some("yes")));
        strict.operator = Operator::MatchesRegex;
        assert!(!rule_holds(&strict, Some("ABC"), Some("^abc$")));
    }

    #[test]
    fn all_needs_every_rule_and_any_needs_one() {
        assert!(branch_holds(Combine::All, [true, true].into_iter()));
        assert!(!branch_holds(Combine::All, [true, false].into_iter()));
        assert!(!branch_holds(Combine::All, std::iter::empty()));
        assert!(branch_holds(Combine::Any, [false, true].into_iter()));
        assert!(!branch_holds(Combine::Any, [false, false].into_iter()));
        assert!(!branch_holds(Combine::Any, std::iter::empty()));
    }
}
