//! What a model's flags mean: the occurrences of each, in order.

use crate::model::Model;
use crate::profile::same_name;
use std::cmp::Ordering;

/// The entry of [`flag_meaning`] for one key, without building the whole map.
pub(crate) fn meaning_of<'a>(m: &'a Model, key: &str) -> Option<Vec<Option<&'a str>>> {
    let mut v: Vec<Option<&str>> = m
        .flags
        .iter()
        .filter(|f| same_name(&f.name, key))
        .map(|f| f.value.as_deref())
        .collect();
    if let Some(name) = key.strip_prefix('$') {
        v.extend(
            m.env
                .iter()
                .filter(|f| same_name(&f.name, name))
                .map(|f| f.value.as_deref()),
        );
    }
    (!v.is_empty()).then_some(v)
}

/// The occurrences of each flag, in order: what the component makes of its arguments. The
/// entry of a key is [`meaning_of`] it, gathered in one pass over the flags and one over the
/// environment (a command line of tens of thousands of flags takes no time to the square of
/// that). Runs compare meanings with [`same_flag_meaning`]; this map is what it is held to.
#[cfg(test)]
pub(crate) fn flag_meaning(m: &Model) -> std::collections::BTreeMap<String, Vec<Option<String>>> {
    let mut out = std::collections::BTreeMap::<String, Vec<Option<String>>>::new();
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

/// A key of [`flag_meaning`]: a flag's name, or `$` and an environment variable's name.
#[derive(Clone, Copy)]
struct Key<'a> {
    env: bool,
    name: &'a str,
}

impl<'a> Key<'a> {
    /// The key's string: the flag's name, or `$` and the variable's.
    fn bytes(self) -> impl Iterator<Item = &'a u8> {
        let dollar: &'static [u8] = if self.env { b"$" } else { b"" };
        dollar.iter().chain(self.name.as_bytes())
    }

    /// Keys in the order of their strings, the `$` of a variable's included.
    fn cmp(self, other: Key) -> Ordering {
        if self.env == other.env {
            return self.name.cmp(other.name);
        }
        self.bytes().cmp(other.bytes())
    }
}

/// Every occurrence of a flag or variable with its key, in the keys' order, each key's in the
/// order of [`flag_meaning`]'s entry (the sort is stable): the flags, then the environment.
fn by_key(m: &Model) -> Vec<(Key<'_>, Option<&str>)> {
    let mut v: Vec<(Key, Option<&str>)> = m
        .flags
        .iter()
        .map(|f| {
            (
                Key {
                    env: false,
                    name: &f.name,
                },
                f.value.as_deref(),
            )
        })
        .chain(m.env.iter().map(|f| {
            (
                Key {
                    env: true,
                    name: &f.name,
                },
                f.value.as_deref(),
            )
        }))
        .collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// Whether the flags of `a` and `b` mean the same (`flag_meaning(a) == flag_meaning(b)`),
/// without copying every name and value into a map of its own (the check after every edit).
pub(crate) fn same_flag_meaning(a: &Model, b: &Model) -> bool {
    if a.flags == b.flags && a.env == b.env {
        return true;
    }
    let (x, y) = (by_key(a), by_key(b));
    x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(p, q)| p.0.cmp(q.0) == Ordering::Equal && p.1 == q.1)
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

    /// Two models' flags mean the same exactly when their [`flag_meaning`] maps are equal:
    /// thousands of pairs, one made from the other by moving, changing, adding or taking out
    /// flags and variables, names such as `$X` and `X` among them.
    #[test]
    fn the_same_meaning_is_the_same_map() {
        let names = ["a", "b", "$X", "X", "Y", "$Y", "ab"];
        let values = [None, Some("1"), Some("2"), Some("")];
        let mut next = crate::testing::seeded();
        let flag = |next: &mut dyn FnMut(usize) -> usize| Flag {
            name: names[next(names.len())].into(),
            value: values[next(values.len())].map(str::to_string),
        };
        let (mut same, mut tried) = (0, 0);
        for _ in 0..20_000 {
            let mut a = Model::default();
            for _ in 0..next(6) {
                a.flags.push(flag(&mut next));
            }
            for _ in 0..next(3) {
                a.env.push(flag(&mut next));
            }
            let mut b = a.clone();
            for _ in 0..1 + next(2) {
                let list = if next(3) == 0 {
                    &mut b.env
                } else {
                    &mut b.flags
                };
                match next(4) {
                    0 if list.len() > 1 => {
                        let (i, j) = (next(list.len()), next(list.len()));
                        list.swap(i, j);
                    }
                    1 if !list.is_empty() => {
                        let i = next(list.len());
                        list[i].value = values[next(values.len())].map(str::to_string);
                    }
                    2 if !list.is_empty() => {
                        list.remove(next(list.len()));
                    }
                    _ => {
                        let at = next(list.len() + 1);
                        list.insert(at, flag(&mut next));
                    }
                }
            }
            let expected = flag_meaning(&a) == flag_meaning(&b);
            assert_eq!(same_flag_meaning(&a, &b), expected, "{a:?}\n{b:?}");
            assert_eq!(same_flag_meaning(&b, &a), expected, "{b:?}\n{a:?}");
            same += usize::from(expected);
            tried += 1;
        }
        // Both answers come up often.
        assert!(
            same * 10 > tried && (tried - same) * 10 > tried,
            "{same} of {tried}"
        );
    }
}
