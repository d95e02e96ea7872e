//! Flag values as the components read them: Go's `strconv` rules, which pflag uses.

/// A boolean flag value as Go's `strconv.ParseBool` (which pflag uses) reads it.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// An integer flag value as pflag reads it (`strconv.ParseInt(s, 0, 64)`): `0x`, `0o`, `0b`
/// prefixes, and a leading `0` means octal, so `010` is 8.
pub(crate) fn parse_go_int(v: &str) -> Option<i64> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let n = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse::<i64>().ok()?
    };
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_number_and_bool_parsing() {
        let ints = [
            ("30", Some(30)),
            ("010", Some(8)),
            ("0x1e", Some(30)),
            ("30d", None),
            ("0", Some(0)),
        ];
        for (text, want) in ints {
            assert_eq!(parse_go_int(text), want, "{text}");
        }
        for (text, want) in [("F", Some(false)), ("0", Some(false)), ("no", None)] {
            assert_eq!(parse_bool(text), want, "{text}");
        }
    }
}
