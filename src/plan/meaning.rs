//! What a model's flags mean: the occurrences of each, in order.

use crate::model::Model;
use std::collections::BTreeMap;

/// The entry of [`flag_meaning`] for one key, without building the whole map.
pub(crate) fn meaning_of<'a>(m: &'a Model, key: &str) -> Option<Vec<Option<&'a str>>> {
    let mut v: Vec<Option<&str>> = m
        .flags
        .iter()
        .filter(|f| f.name == key)
        .map(|f| f.value.as_deref())
        .collect();
    if let Some(name) = key.strip_prefix('$') {
        v.extend(
            m.env
                .iter()
                .filter(|f| f.name == name)
                .map(|f| f.value.as_deref()),
        );
    }
    (!v.is_empty()).then_some(v)
}

/// The occurrences of each flag, in order: what the component makes of its arguments. The
/// entry of a key is [`meaning_of`] it, gathered in one pass over the flags and one over the
/// environment (a command line of tens of thousands of flags takes no time to the square of
/// that).
pub(crate) fn flag_meaning(m: &Model) -> BTreeMap<String, Vec<Option<String>>> {
    let mut out: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    let mut add = |key: String, value: Option<&str>| {
        out.entry(key).or_default().push(value.map(str::to_string));
    };
    for f in &m.flags {
        add(f.name.clone(), f.value.as_deref());
    }
    // Environment settings are told apart from flags by a `$` in front of the name; they come
    // after the flags of the same key, as in `meaning_of`.
    for f in &m.env {
        add(format!("${}", f.name), f.value.as_deref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Flag;

    /// Every key's entry is what `meaning_of` says of it, a flag named like a variable
    /// (`--$X`) included.
    #[test]
    fn the_meaning_of_every_flag_is_its_occurrences_in_order() {
        let flag = |name: &str, value: Option<&str>| Flag {
            name: name.into(),
            value: value.map(str::to_string),
        };
        let m = Model {
            flags: vec![
                flag("a", Some("1")),
                flag("b", None),
                flag("$X", Some("line")),
                flag("a", Some("2")),
            ],
            env: vec![flag("X", Some("env")), flag("Y", Some(""))],
            ..Model::default()
        };
        let all = flag_meaning(&m);
        let keys: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(keys, ["$X", "$Y", "a", "b"]);
        for (key, occ) in &all {
            let expected = meaning_of(&m, key).map(|v| {
                v.into_iter()
                    .map(|x| x.map(str::to_string))
                    .collect::<Vec<_>>()
            });
            assert_eq!(Some(occ), expected.as_ref(), "{key}");
        }
        assert_eq!(
            all["$X"],
            [Some("line".to_string()), Some("env".to_string())]
        );
    }
}
