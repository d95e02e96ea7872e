//! Values written as YAML: scalars in the style of a neighbour, and the small mappings added
//! to lists (volumes, mounts).

use crate::yaml::{self, Style};

/// A value as kubeadm needs it: always a string, so quoted unless plain YAML reads it as one.
pub(crate) fn string_scalar(value: &str, like: Option<Style>, flow: bool) -> String {
    match like {
        Some(Style::SingleQuoted) if !value.contains('\n') => {
            format!("'{}'", value.replace('\'', "''"))
        }
        Some(Style::Plain) if yaml::plain_string_ok(value, flow) => value.to_string(),
        _ => yaml::double_quote(value),
    }
}

pub(crate) fn key_scalar(key: &str) -> String {
    if yaml::plain_ok(key, true) {
        key.to_string()
    } else {
        yaml::double_quote(key)
    }
}

/// A string item as a plain scalar when YAML reads it back as that string, else quoted.
pub(crate) fn string_item(value: &str) -> String {
    if yaml::plain_string_ok(value, false) {
        value.to_string()
    } else {
        yaml::double_quote(value)
    }
}

pub(crate) enum Value {
    Scalar(String),
    Map(Vec<(String, String)>),
}

pub(crate) fn scalar_text(v: &str, flow: bool, json: bool) -> String {
    if v == "true" || v == "false" {
        return v.to_string();
    }
    if json {
        return yaml::double_quote(v);
    }
    yaml::render_scalar(v, Style::Plain, flow).unwrap_or_else(|| yaml::double_quote(v))
}

pub(crate) fn key_text(k: &str, json: bool) -> String {
    if json {
        yaml::double_quote(k)
    } else {
        k.to_string()
    }
}

pub(crate) fn flow_map(kv: &[(String, Value)], json: bool) -> String {
    let parts: Vec<String> = kv
        .iter()
        .map(|(k, v)| match v {
            Value::Scalar(s) => format!("{}: {}", key_text(k, json), scalar_text(s, true, json)),
            Value::Map(m) => format!(
                "{}: {{{}}}",
                key_text(k, json),
                m.iter()
                    .map(|(a, b)| format!("{}: {}", key_text(a, json), scalar_text(b, true, json)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

pub(crate) fn block_map(
    kv: &[(String, Value)],
    prefix: &str,
    key_col: usize,
    nested_col: usize,
    out: &mut Vec<String>,
) {
    // `lead` `key`: `value`, put together in one string of its size (these lines are written
    // for every new volume and mount of every file).
    let line = |lead: &str, indent: usize, k: &str, v: Option<&str>| {
        let value = v.map(|v| scalar_text(v, false, false));
        let size = lead.len() + indent + k.len() + 2 + value.as_ref().map_or(0, String::len);
        let mut line = String::with_capacity(size);
        line.push_str(lead);
        line.extend(std::iter::repeat_n(' ', indent));
        line.push_str(k);
        line.push(':');
        if let Some(v) = value {
            line.push(' ');
            line.push_str(&v);
        }
        line
    };
    for (i, (k, v)) in kv.iter().enumerate() {
        let (lead, indent) = if i == 0 { (prefix, 0) } else { ("", key_col) };
        match v {
            Value::Scalar(s) => out.push(line(lead, indent, k, Some(s))),
            Value::Map(m) => {
                out.push(line(lead, indent, k, None));
                for (a, b) in m {
                    out.push(line("", nested_col, a, Some(b)));
                }
            }
        }
    }
}
