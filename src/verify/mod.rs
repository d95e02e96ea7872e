//! The invariants every edit must keep, checked on the edited text before anything is written:
//! the edited document, loaded again by its kind, means what the plan says (flags, volumes and
//! mounts, probes); nothing is written that the version rejects; every file a new flag names is
//! mounted; probes keep passing; and planning the result again changes nothing.

use crate::check::{self, Env};
use crate::model::change::Change;
use crate::model::Model;
use crate::plan::{self, same_flag_meaning, Plan};
use crate::profile::{FlagType, Profile};
use std::collections::HashSet;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("verification failed: {0}; nothing was written")]
pub(crate) struct VerifyError(pub(crate) String);

pub(crate) fn fail(msg: impl Into<String>) -> VerifyError {
    VerifyError(msg.into())
}

/// A mount as the edit must keep it: its volume's name, where it is mounted, and whether read
/// only.
type MountRow<'a> = (&'a str, &'a str, bool);
/// A volume as the edit must keep it: its name, and its hostPath's path and type.
type VolumeRow<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// A model's mounts and volumes in an order of their own, borrowed from it: two models have the
/// same ones exactly when these are equal.
fn mounts_key(m: &Model) -> (Vec<MountRow<'_>>, Vec<VolumeRow<'_>>) {
    let mut mounts: Vec<MountRow> = m
        .mounts
        .iter()
        .map(|x| (x.name.as_str(), x.mount_path.as_str(), x.read_only))
        .collect();
    mounts.sort_unstable();
    let mut volumes: Vec<VolumeRow> = m
        .volumes
        .iter()
        .map(|x| {
            (
                x.name.as_str(),
                x.host_path.as_deref(),
                x.path_type.as_deref(),
            )
        })
        .collect();
    volumes.sort_unstable();
    (mounts, volumes)
}

/// What a document kind calls its flags and its volumes, in messages.
#[derive(Clone, Copy)]
pub struct Nouns {
    pub(crate) flags: &'static str,
    pub(crate) volumes: &'static str,
}

/// Checks `after`, the meaning of the edited text as its kind loaded it again, against
/// `before` and the plan.
pub(crate) fn verify(
    before: &Model,
    after: &Model,
    plan: &Plan,
    profile: &Profile,
    env: Env,
    nouns: Nouns,
) -> Result<(), VerifyError> {
    // 1. The flags mean exactly what the plan says.
    if !same_flag_meaning(after, &plan.after) {
        return Err(fail(format!(
            "the edited {} differ from the planned ones",
            nouns.flags
        )));
    }
    // 2. Volumes, mounts and probes changed exactly as planned.
    if mounts_key(after) != mounts_key(&plan.after) {
        return Err(fail(format!(
            "the edited {} differ from the planned ones",
            nouns.volumes
        )));
    }
    if after.probes != plan.after.probes {
        return Err(fail("the edited probes differ from the planned ones"));
    }
    common(before, after, plan, profile, env)
}

/// The checks shared by manifests and kubeadm files, on the models before and after.
fn common(
    orig_model: &Model,
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
            || crate::paths::container_provided(value)
        {
            continue;
        }
        let Some(spec) = env.registry.flag(&orig_model.component, flag) else {
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
    //     The plugins are looked up in sets: lists of thousands were each looked for in the
    //     other.
    let overlap = |m: &Model| -> Vec<String> {
        let en = m.list("enable-admission-plugins").unwrap_or_default();
        let en: HashSet<&str> = en.iter().map(String::as_str).collect();
        m.list("disable-admission-plugins")
            .unwrap_or_default()
            .into_iter()
            .filter(|p| en.contains(p.as_str()))
            .collect()
    };
    let had_overlap = overlap(orig_model);
    let had_overlap: HashSet<&str> = had_overlap.iter().map(String::as_str).collect();
    if let Some(p) = overlap(after_model)
        .into_iter()
        .find(|p| !had_overlap.contains(p.as_str()))
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
