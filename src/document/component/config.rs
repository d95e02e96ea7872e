//! A loaded component configuration file, and the values others fill into it.

use crate::model::Model;
use crate::yaml::Node;

pub const COMPONENT: &str = "kubelet";

pub const KIND: &str = "KubeletConfiguration";

/// A value another tool fills into the configuration (kubeadm, into the KubeletConfiguration of
/// its configuration file): where the document leaves it unset, or always (`forced`).
#[derive(Clone, Debug)]
pub struct Filled {
    pub(crate) path: String,
    pub(crate) value: String,
    pub(crate) forced: bool,
}

/// A loaded KubeletConfiguration.
#[derive(Debug)]
pub struct ComponentConfig {
    /// The whole file (a kubeadm configuration file holds other documents too).
    pub(crate) text: String,
    /// The KubeletConfiguration document.
    pub(crate) root: Node,
    /// Its index among the file's non-empty documents.
    pub(crate) index: usize,
    pub(crate) newline: &'static str,
    pub model: Model,
    /// Values the settings take when the document leaves them out, because another tool fills
    /// them in (kubeadm, for the KubeletConfiguration of its configuration file).
    pub(crate) defaults: Vec<Filled>,
    /// The component the file configures (`kubelet`, `kube-scheduler-config`) and its kind.
    pub(crate) component: String,
    pub(crate) kind: String,
    pub(crate) api_version: String,
    /// The document is part of a kubeadm configuration file.
    pub(crate) embedded: bool,
}

impl ComponentConfig {
    /// The same document as part of a kubeadm configuration file.
    pub(crate) fn embedded(self) -> ComponentConfig {
        ComponentConfig {
            embedded: true,
            ..self
        }
    }
}

fn map_pairs(v: &str) -> Vec<(String, String)> {
    crate::model::split_list(v)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (kv, "true".to_string()),
        })
        .collect()
}

/// What setting the map setting `flag` (feature gates) to `value` does, key by key: the paths
/// of the keys that go (`None`) and of the keys set anew or to another value.
pub(crate) fn map_changes(
    cfg: &ComponentConfig,
    flag: &str,
    value: &str,
) -> Vec<(String, Option<String>)> {
    pair_changes(flag, cfg.model.value(flag).as_deref(), value)
}

/// [`map_changes`] from the map's value before (`k=v,...`, when it is set) and after.
fn pair_changes(flag: &str, before: Option<&str>, value: &str) -> Vec<(String, Option<String>)> {
    let old = before.map(map_pairs).unwrap_or_default();
    let new = map_pairs(value);
    // The keys and the pairs in sets: a map of a hundred thousand feature gates takes no time
    // to the square of that.
    let new_keys: std::collections::HashSet<&str> = new.iter().map(|(k, _)| k.as_str()).collect();
    let old_pairs: std::collections::HashSet<(&str, &str)> =
        old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    for (k, _) in &old {
        if !new_keys.contains(k.as_str()) {
            out.push((format!("{flag}.{k}"), None));
        }
    }
    for (k, v) in &new {
        if !old_pairs.contains(&(k.as_str(), v.as_str())) {
            out.push((format!("{flag}.{k}"), Some(v.clone())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// The changes as they were first found, each key looked for among all the others: the
    /// oracle of the sets.
    fn by_scans(flag: &str, before: Option<&str>, value: &str) -> Vec<(String, Option<String>)> {
        let old = before.map(super::map_pairs).unwrap_or_default();
        let new = super::map_pairs(value);
        let mut out = Vec::new();
        for (k, _) in &old {
            if !new.iter().any(|(n, _)| n == k) {
                out.push((format!("{flag}.{k}"), None));
            }
        }
        for (k, v) in &new {
            if !old.iter().any(|(o, ov)| o == k && ov == v) {
                out.push((format!("{flag}.{k}"), Some(v.clone())));
            }
        }
        out
    }

    /// The same changes, in the same order, as the scans find, for random maps before and
    /// after: keys repeated, kept, dropped, set anew or to another value, items without a
    /// value and with spaces. Fails when a pair is matched by its key alone or a removal by
    /// key and value.
    #[test]
    fn the_changes_of_a_map_are_those_the_scans_find() {
        let mut next = crate::testing::seeded();
        let items = [
            "A=true",
            "A=false",
            "B=true",
            " B = false ",
            "C",
            "C=true",
            "D=false",
            "E=x",
            "F=",
            "G=true",
            "A",
        ];
        let mut changed = 0;
        for _ in 0..20_000 {
            let mut map = || -> String {
                let n = next(8);
                (0..n)
                    .map(|_| items[next(items.len())])
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let (before, after) = (map(), map());
            let before = (next(5) != 0).then_some(before.as_str());
            let want = by_scans("featureGates", before, &after);
            assert_eq!(
                super::pair_changes("featureGates", before, &after),
                want,
                "{before:?} -> {after:?}"
            );
            changed += usize::from(!want.is_empty());
        }
        assert!(changed > 10_000, "{changed}");
    }
}
