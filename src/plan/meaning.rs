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

/// The occurrences of each flag, in order: what the component makes of its arguments.
pub(crate) fn flag_meaning(m: &Model) -> BTreeMap<String, Vec<Option<String>>> {
    // Environment settings are told apart from flags by a `$` in front of the name.
    m.flags
        .iter()
        .map(|f| f.name.clone())
        .chain(m.env.iter().map(|f| format!("${}", f.name)))
        .filter_map(|key| {
            let occ = meaning_of(m, &key)?
                .into_iter()
                .map(|v| v.map(str::to_string))
                .collect();
            Some((key, occ))
        })
        .collect()
}
