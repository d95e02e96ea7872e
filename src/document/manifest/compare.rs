//! What may differ between a manifest and its edit: the container's command, args, volume
//! mounts and probes, the values of the variables that set flags, and the Pod's volumes.
//! Everything else must mean the same.

use super::pod::{EnvItem, Manifest, PROBES};
use crate::yaml::compare::{same, same_items, same_map_except, value_of};
use crate::yaml::Node;
use serde_json::Value;

/// The documents agree everywhere except in the parts kubeharden may edit: the container's
/// command, args, volumeMounts and probes, and the Pod's volumes.
pub(crate) fn same_outside_edits(a: &Manifest, b: &Manifest) -> bool {
    let index = a.container_index;
    let containers = |x: &Node, y: &Node| {
        same_items(x, y, |i, c1, c2| {
            if i == index {
                let mut skip = vec!["command", "args", "volumeMounts"];
                skip.extend(PROBES);
                let env_same = |x: &Node, y: &Node| same_env(x, y, &a.env);
                same_map_except(c1, c2, &skip, Some(("env", &env_same)))
            } else {
                same(c1, c2)
            }
        })
    };
    let spec =
        |x: &Node, y: &Node| same_map_except(x, y, &["volumes"], Some(("containers", &containers)));
    a.container_index == b.container_index
        && same_map_except(&a.root, &b.root, &[], Some(("spec", &spec)))
}

/// Environment lists that agree except in the values of the variables that set flags (which
/// the flag comparison checks).
pub(crate) fn same_env(a: &Node, b: &Node, settings: &[EnvItem]) -> bool {
    same_items(a, b, |i, x, y| {
        if settings.iter().any(|e| e.index == i) {
            same_map_except(x, y, &["value"], None)
        } else {
            same(x, y)
        }
    })
}

/// Probes without the handler fields a TCP conversion removes.
pub(crate) fn probe_rest(m: &Manifest) -> Vec<Value> {
    PROBES
        .iter()
        .filter_map(|k| m.probe(k))
        .map(|node| {
            let mut v = value_of(node);
            if let Some(o) = v.as_object_mut() {
                let handler = o.remove("httpGet").or_else(|| o.remove("tcpSocket"));
                if let Some(mut h) = handler {
                    if let Some(ho) = h.as_object_mut() {
                        ho.remove("path");
                        ho.remove("scheme");
                        ho.remove("httpHeaders");
                    }
                    o.insert("handler".into(), h);
                }
            }
            v
        })
        .collect()
}
