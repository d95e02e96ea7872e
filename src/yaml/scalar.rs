//! Scalars as YAML reads them back: which strings may be written plain, in quotes, and which
//! plain scalars YAML 1.1 (the Kubernetes readers) takes for something other than a string.

use super::tree::{Kind, Node, Style};

/// Renders `value` as a scalar in the given style, or `None` when that style cannot hold it.
pub fn render_scalar(value: &str, style: Style, flow: bool) -> Option<String> {
    match style {
        Style::Plain => plain_ok(value, flow).then(|| value.to_string()),
        Style::SingleQuoted => {
            (!value.contains('\n')).then(|| format!("'{}'", value.replace('\'', "''")))
        }
        Style::DoubleQuoted => Some(double_quote(value)),
        Style::Literal | Style::Folded => None,
    }
}

pub fn double_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` reads back as the same string when written as a plain scalar.
pub fn plain_ok(value: &str, flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value != value.trim() || value.contains('\n') || value.contains('\t') {
        return false;
    }
    if "!&*{}[],#|>@`\"'%".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && value.chars().nth(1).is_none_or(|c| c == ' ') {
        return false;
    }
    if value.contains(": ") || value.contains(" #") || value.ends_with(':') {
        return false;
    }
    if flow && value.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    // Words a YAML 1.1 or 1.2 reader turns into something other than a string.
    const WORDS: [&str; 10] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    if WORDS.iter().any(|w| value.eq_ignore_ascii_case(w)) {
        return false;
    }
    if value.parse::<f64>().is_ok() || value.starts_with("0x") || value.starts_with("0o") {
        return false;
    }
    true
}

/// Whether a plain scalar is not a string to a YAML 1.1 reader (go-yaml v2, which kubeadm's
/// decoder uses through sigs.k8s.io/yaml): a null, a boolean (`yes`, `on`, `y`, ... count), an
/// integer (binary, octal, hex, base 60, with `_`) or a float (`.inf`, `.nan` included).
/// See the YAML 1.1 type repository (yaml.org/type/bool.html, int.html, float.html, null.html).
pub fn yaml11_non_string(v: &str) -> bool {
    const WORDS: [&str; 28] = [
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".nan",
    ];
    if v.is_empty() || WORDS.contains(&v) {
        return true;
    }
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(v);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(v, ".NaN" | ".NAN") {
        return true;
    }
    let digits = |s: &str, ok: &dyn Fn(char) -> bool| {
        !s.is_empty() && s.chars().all(|c| ok(c) || c == '_') && s.chars().any(ok)
    };
    if let Some(b) = unsigned.strip_prefix("0b") {
        return digits(b, &|c| c == '0' || c == '1');
    }
    if let Some(x) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        return digits(x, &|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = unsigned.strip_prefix("0o") {
        return digits(o, &|c| ('0'..='7').contains(&c));
    }
    // Decimal and octal integers, base 60 (`1:20`), floats (`1.5`, `.5`, `1e3`, `1:20.5`).
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let mut parts = mantissa.splitn(2, '.');
    let int_part = parts.next().unwrap_or("");
    let frac = parts.next();
    let int_ok = int_part.is_empty()
        || int_part.split(':').enumerate().all(|(i, seg)| {
            if i == 0 {
                digits(seg, &|c| c.is_ascii_digit())
            } else {
                !seg.is_empty() && seg.len() <= 2 && seg.chars().all(|c| c.is_ascii_digit())
            }
        });
    let frac_ok = frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'));
    let has_digit = mantissa.chars().any(|c| c.is_ascii_digit());
    int_ok && frac_ok && has_digit && (frac.is_some() || !int_part.is_empty())
}

/// Whether a string may be written as a plain scalar and read back as the same string by both
/// YAML 1.1 and 1.2 readers: otherwise it is quoted.
pub fn plain_string_ok(v: &str, flow: bool) -> bool {
    plain_ok(v, flow)
        && !yaml11_non_string(v)
        && v.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && !(v.len() >= 10
            && v.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && v.as_bytes()[4] == b'-')
}

/// A boolean as the Kubernetes readers (YAML 1.1, sigs.k8s.io/yaml) read a plain scalar; a
/// quoted `"true"` is a string to them.
pub fn yaml11_bool(n: &Node) -> Option<bool> {
    match &n.kind {
        Kind::Scalar {
            value,
            style: Style::Plain,
        } => match value.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                Some(true)
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
            | "N" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod yaml11_tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars_that_are_not_strings() {
        for v in [
            "yes", "On", "n", "NULL", "~", "", "30", "-0x1F", "0X1F", "0b11", "-0b11", "1_000",
            "017", "1:20", "1.5", ".5", "1e3", "+.inf", ".NaN", "3.0e-2",
        ] {
            assert!(yaml11_non_string(v), "{v}");
        }
        for v in [
            "VersionTLS12",
            "/etc/x",
            "Node,RBAC",
            "1.2.3.4",
            "10.0.0.0/8",
            "abc",
            "1a",
            "e3",
            "0x",
            "v1.31",
            "-",
            ".",
        ] {
            assert!(!yaml11_non_string(v), "{v}");
        }
        assert!(!plain_string_ok("2001-12-14", false));
        assert!(!plain_string_ok("<<", false));
        assert!(!plain_string_ok("12345", false));
        assert!(plain_string_ok("/var/log/audit.log", false));
        assert!(plain_string_ok("NodeRestriction,AlwaysPullImages", false));
    }
}
