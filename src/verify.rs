//! The invariants every edit must keep, checked on the edited text before anything is written.

use crate::check::{self, Env};
use crate::manifest::{self, Manifest};
use crate::model::Model;
use crate::plan::{self, flag_meaning, Change, Plan};
use crate::profile::{FlagType, Profile};
use crate::yaml::{Kind, Node};
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("verification failed: {0}; nothing was written")]
pub struct VerifyError(pub String);

fn fail(msg: impl Into<String>) -> VerifyError {
    VerifyError(msg.into())
}

/// The document's meaning, without spans, comments or quoting.
pub fn value_of(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar { value, .. } => Value::String(value.clone()),
        Kind::Alias => Value::String("*alias".into()),
        Kind::Seq { items, .. } => Value::Array(items.iter().map(value_of).collect()),
        Kind::Map { entries, .. } => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map_or_else(|| value_of(k).to_string(), str::to_string),
                        value_of(v),
                    )
                })
                .collect(),
        ),
    }
}

/// Whether two nodes mean the same, ignoring spans, comments and quoting.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar { value: x, .. }, Kind::Scalar { value: y, .. }) => x == y,
        (Kind::Alias, Kind::Alias) => true,
        (Kind::Seq { items: x, .. }, Kind::Seq { items: y, .. }) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Kind::Map { entries: x, .. }, Kind::Map { entries: y, .. }) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => false,
    }
}

/// Compares the value of one mapping entry.
type EntryCmp<'a> = &'a dyn Fn(&Node, &Node) -> bool;

/// Like `same` for mappings, but entries whose key is in `skip` are ignored and the entry
/// named `descend` is compared with `inner`.
fn same_map_except(
    a: &Node,
    b: &Node,
    skip: &[&str],
    descend: Option<(&str, EntryCmp<'_>)>,
) -> bool {
    let keep = |e: &&(Node, Node)| !e.0.as_str().is_some_and(|k| skip.contains(&k));
    let x: Vec<_> = a.entries().iter().filter(keep).collect();
    let y: Vec<_> = b.entries().iter().filter(keep).collect();
    a.is_map() == b.is_map()
        && x.len() == y.len()
        && x.iter().zip(&y).all(|((k1, v1), (k2, v2))| {
            if !same(k1, k2) {
                return false;
            }
            match descend {
                Some((key, inner)) if k1.as_str() == Some(key) => inner(v1, v2),
                _ => same(v1, v2),
            }
        })
}

/// The documents agree everywhere except in the parts kubeharden may edit: the container's
/// command, args, volumeMounts and probes, and the Pod's volumes.
fn same_outside_edits(a: &Manifest, b: &Manifest) -> bool {
    let index = a.container_index;
    let containers = |x: &Node, y: &Node| {
        x.items().len() == y.items().len()
            && x.items()
                .iter()
                .zip(y.items())
                .enumerate()
                .all(|(i, (c1, c2))| {
                    if i == index {
                        let mut skip = vec!["command", "args", "volumeMounts"];
                        skip.extend(crate::manifest::PROBES);
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
fn same_env(a: &Node, b: &Node, settings: &[crate::manifest::EnvItem]) -> bool {
    a.items().len() == b.items().len()
        && a.items()
            .iter()
            .zip(b.items())
            .enumerate()
            .all(|(i, (x, y))| {
                if settings.iter().any(|e| e.index == i) {
                    same_map_except(x, y, &["value"], None)
                } else {
                    same(x, y)
                }
            })
}

/// Probes without the handler fields a TCP conversion removes.
fn probe_rest(m: &Manifest) -> Vec<Value> {
    crate::manifest::PROBES
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

fn sorted<T: Clone + Ord>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

type MountRow = (String, String, bool);
type VolumeRow = (String, Option<String>, Option<String>);

fn mounts_key(m: &Model) -> (Vec<MountRow>, Vec<VolumeRow>) {
    (
        sorted(
            &m.mounts
                .iter()
                .map(|x| (x.name.clone(), x.mount_path.clone(), x.read_only))
                .collect::<Vec<_>>(),
        ),
        sorted(
            &m.volumes
                .iter()
                .map(|x| (x.name.clone(), x.host_path.clone(), x.path_type.clone()))
                .collect::<Vec<_>>(),
        ),
    )
}

/// Checks the edited text against the original and the plan.
pub fn verify(
    orig: &Manifest,
    plan: &Plan,
    edited: &str,
    profile: &Profile,
    env: Env,
) -> Result<(), VerifyError> {
    let after = manifest::load(edited, &orig.component, env.registry).map_err(|e| {
        fail(format!(
            "the edited manifest no longer loads ({})",
            e.message
        ))
    })?;
    // 1. The flags mean exactly what the plan says.
    if flag_meaning(&after.model) != flag_meaning(&plan.after) {
        return Err(fail("the edited flags differ from the planned ones"));
    }
    // 2. Volumes, mounts and probes changed exactly as planned.
    if mounts_key(&after.model) != mounts_key(&plan.after) {
        return Err(fail(
            "the edited volumes or mounts differ from the planned ones",
        ));
    }
    if after.model.probes != plan.after.probes || probe_rest(&after) != probe_rest(orig) {
        return Err(fail("the edited probes differ from the planned ones"));
    }
    // 3. Nothing else in the document changed.
    if !same_outside_edits(orig, &after) {
        return Err(fail(
            "a part of the document outside the planned changes differs",
        ));
    }
    common(
        &orig.model,
        &orig.component,
        &after.model,
        plan,
        profile,
        env,
    )
}

/// The checks shared by manifests and kubeadm files, on the models before and after.
fn common(
    orig_model: &Model,
    component: &str,
    after_model: &Model,
    plan: &Plan,
    profile: &Profile,
    env: Env,
) -> Result<(), VerifyError> {
    // 4. Never write what the version rejects.
    for flag in check::rejected_flags(after_model, env) {
        if !orig_model.present(&flag) {
            return Err(fail(format!(
                "--{flag} would be added, but Kubernetes {} rejects it",
                env.version
            )));
        }
    }
    let had = check::rejected_plugins(orig_model, env);
    for p in check::rejected_plugins(after_model, env) {
        if !had.contains(&p) {
            return Err(fail(format!(
                "admission plugin {} would be added, but Kubernetes {} does not have it",
                p.1, env.version
            )));
        }
    }
    // 5. Every file a changed flag newly names is visible inside the container (a value the
    //    component already used, kept while duplicates go, is the unmounted-files rule's business).
    for p in &plan.changes {
        let Change::SetFlag { flag, value } = &p.change else {
            continue;
        };
        if orig_model.value(flag).as_deref() == Some(value.as_str())
            || crate::plan::container_provided(value)
        {
            continue;
        }
        let Some(spec) = env.registry.flag(component, flag) else {
            continue;
        };
        if spec.kind.references_file() && !(spec.kind == FlagType::Logpath && value == "-") {
            match after_model.mount_covering(value) {
                None => {
                    return Err(fail(format!(
                        "--{flag}={value} names a file no volume mounts"
                    )))
                }
                Some(m) if spec.kind == FlagType::Logpath && m.read_only => {
                    return Err(fail(format!(
                        "--{flag}={value} is written to a read-only mount"
                    )))
                }
                _ => {}
            }
        }
    }
    // 5b. No admission plugin newly both enabled and disabled (kube-apiserver refuses it).
    let overlap = |m: &Model| -> Vec<String> {
        let en = m.list("enable-admission-plugins").unwrap_or_default();
        m.list("disable-admission-plugins")
            .unwrap_or_default()
            .into_iter()
            .filter(|p| en.contains(p))
            .collect()
    };
    let had_overlap = overlap(orig_model);
    if let Some(p) = overlap(after_model)
        .into_iter()
        .find(|p| !had_overlap.contains(p))
    {
        return Err(fail(format!(
            "admission plugin {p} would be both enabled and disabled, which kube-apiserver refuses"
        )));
    }
    // 6. Probes keep passing.
    let broke = |m: &Model| {
        check::anonymous_rejected(m) && !check::unauthenticated_http_probes(m).is_empty()
    };
    if broke(after_model) && !broke(orig_model) {
        return Err(fail(
            "anonymous requests would be rejected while HTTP probes still depend on them",
        ));
    }
    // 7. Idempotence: planning again changes nothing.
    let again = plan::plan(profile, after_model, env)
        .map_err(|e| fail(format!("re-planning the result failed: {e}")))?;
    if !again.is_empty() {
        return Err(fail(
            "a second run would still change the result (the edit is not idempotent)",
        ));
    }
    Ok(())
}

/// A kubeadm document's meaning without what kubeharden edits (`apiServer.extraArgs` and
/// `apiServer.extraVolumes`).
fn kubeadm_rest(doc: &Node) -> Value {
    let mut v = value_of(doc);
    if let Some(api) = v.get_mut("apiServer").and_then(|a| a.as_object_mut()) {
        api.remove("extraArgs");
        api.remove("extraVolumes");
        if api.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.remove("apiServer");
            }
        }
    }
    // `apiServer:`, `apiServer: ~` and `apiServer: {}` all mean nothing in it.
    let empty = v.get("apiServer").is_some_and(|a| match a {
        Value::Null => true,
        Value::String(s) => matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"),
        Value::Object(o) => o.is_empty(),
        _ => false,
    });
    if empty {
        if let Some(o) = v.as_object_mut() {
            o.remove("apiServer");
        }
    }
    v
}

/// Checks an edited kubeadm configuration against the original and the plan.
pub fn verify_kubeadm(
    orig: &crate::kubeadm::KubeadmConfig,
    plan: &Plan,
    edited: &str,
    profile: &Profile,
    env: Env,
) -> Result<crate::kubeadm::KubeadmConfig, VerifyError> {
    let facts = &env.registry.kubeadm;
    let docs = crate::yaml::parse(edited)
        .map_err(|e| fail(format!("the edited file no longer parses ({e})")))?;
    let after = crate::kubeadm::load(edited, docs, facts)
        .map_err(|e| fail(format!("the edited file no longer loads ({})", e.message)))?;
    crate::kubeadm::validate_types(edited).map_err(fail)?;
    // 1. The flags kubeadm would write mean exactly what the plan says.
    if flag_meaning(&after.model) != flag_meaning(&plan.after) {
        return Err(fail("the edited extraArgs differ from the planned flags"));
    }
    // 2. Volumes and mounts as planned.
    if mounts_key(&after.model) != mounts_key(&plan.after) {
        return Err(fail(
            "the edited extraVolumes differ from the planned volumes",
        ));
    }
    // 3. Nothing else changed: every document, and the ClusterConfiguration outside what was
    //    edited (a ClusterConfiguration kubeharden added holds nothing else).
    let before: Vec<Value> = orig.docs.iter().map(|d| kubeadm_rest(&d.root)).collect();
    let mut now: Vec<Value> = after.docs.iter().map(|d| kubeadm_rest(&d.root)).collect();
    if orig.cluster.is_none() {
        let Some(i) = after.cluster else {
            return Err(fail("the edited file has no ClusterConfiguration"));
        };
        let added = now.remove(i);
        let expected = serde_json::json!({
            "apiVersion": orig.api_version,
            "kind": "ClusterConfiguration",
        });
        if added != expected {
            return Err(fail(
                "the ClusterConfiguration kubeharden added holds more than planned",
            ));
        }
    }
    if before != now {
        return Err(fail(
            "a part of the file outside the planned changes differs",
        ));
    }
    common(
        &orig.model,
        &orig.model.component,
        &after.model,
        plan,
        profile,
        env,
    )?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Registry;
    use crate::version::Version;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --enable-admission-plugins=NodeRestriction\n    - --profiling=true\n    image: registry.k8s.io/kube-apiserver:v1.30.0\n    name: kube-apiserver\n";

    fn setup() -> (Registry, Profile) {
        let r = Registry::builtin().expect("registry");
        let p = Profile::load("baseline", &r).expect("profile");
        (r, p)
    }

    fn edited(m: &Manifest, p: &Plan) -> String {
        crate::edit::apply(&m.text, crate::edit::edits(m, p).expect("edits")).expect("apply")
    }

    #[test]
    fn the_real_edit_passes_and_tampering_is_caught() {
        let (reg, prof) = setup();
        let env = Env {
            registry: &reg,
            version: Version::minor(30),
        };
        let m = manifest::load(POD, "kube-apiserver", &reg).expect("loads");
        let p = plan::plan(&prof, &m.model, env).expect("plan");
        let good = edited(&m, &p);
        verify(&m, &p, &good, &prof, env).expect("the real edit verifies");

        let renamed = good.replace("name: kube-apiserver\nspec", "name: other\nspec");
        let err = verify(&m, &p, &renamed, &prof, env).expect_err("metadata changed");
        assert!(err.0.contains("outside the planned changes"), "{err}");

        let dropped = good.replace("    - --profiling=false\n", "");
        let err = verify(&m, &p, &dropped, &prof, env).expect_err("a planned flag is missing");
        assert!(err.0.contains("flags differ"), "{err}");

        let extra = good.replace(
            "    - --profiling=false\n",
            "    - --profiling=false\n    - --v=4\n",
        );
        assert!(
            verify(&m, &p, &extra, &prof, env).is_err(),
            "an unplanned flag"
        );

        let broken = good.replace("kind: Pod", "kind: [Pod");
        let err = verify(&m, &p, &broken, &prof, env).expect_err("unparseable");
        assert!(err.0.contains("no longer loads"), "{err}");
    }

    #[test]
    fn a_plan_that_leaves_work_behind_is_not_idempotent() {
        let (reg, prof) = setup();
        let env = Env {
            registry: &reg,
            version: Version::minor(30),
        };
        let m = manifest::load(POD, "kube-apiserver", &reg).expect("loads");
        // An empty plan checked against the unchanged text: re-planning still finds work.
        let empty = Plan {
            after: m.model.clone(),
            ..Plan::default()
        };
        let err = verify(&m, &empty, POD, &prof, env).expect_err("not idempotent");
        assert!(err.0.contains("second run"), "{err}");
    }
}
