//! Running the pipeline over a run's inputs: every file read and processed on every core, the
//! outcomes in the order of the inputs, and the node's Kubernetes version passed on to the files
//! that name none.

use crate::load::inputs::{Input, Settings};
use crate::load::read::read_input;
use crate::model::report::{FileError, Outcome, VersionSource, COMPONENT};
use crate::pipeline::{self, Options};
use crate::profile::version::Version;
use crate::profile::Registry;

fn process_one<'p>(input: &'p Input, opts: &Options<'p>) -> Outcome<'p> {
    let shown = input.path.display().to_string();
    if let Some(e) = input.read_error() {
        return Outcome::Error(e);
    }
    if let Some(note) = &input.note {
        return Outcome::Skipped {
            path: shown,
            reason: note.clone(),
        };
    }
    let with_version;
    let opts = match input.version {
        Some(v) if opts.version.is_none() => {
            with_version = Options {
                node_version: Some(v),
                overrides: &input.overrides,
                ..*opts
            };
            &with_version
        }
        _ if !input.overrides.is_empty() => {
            with_version = Options {
                overrides: &input.overrides,
                ..*opts
            };
            &with_version
        }
        _ => opts,
    };
    let result =
        read_input(&input.path).and_then(|text| match input.kind_error(&text, opts.registry) {
            Some(e) => Err(e),
            None => pipeline::process(&shown, &text, opts),
        });
    match result {
        Ok(r) => Outcome::Report(Box::new(r)),
        Err(e) if e.unrecognized && input.from_dir => Outcome::Skipped {
            path: shown,
            reason: e.message,
        },
        Err(e) => Outcome::Error(e),
    }
}

/// The Kubernetes version the `--kubeadm-config` file is judged for: `--kubernetes-version`
/// when given; else the older of the manifests' version and the file's own `kubernetesVersion`,
/// so that nothing is written that either does not accept, with a note when they differ.
pub(crate) fn kubeadm_version(
    s: &Settings,
    manifests: Option<Version>,
    text: &str,
    shown: &str,
) -> (Option<Version>, Option<String>) {
    if s.version.is_some() {
        return (s.version, None);
    }
    let own = crate::document::kubeadm::try_load(text, &s.registry.kubeadm)
        .and_then(Result::ok)
        .and_then(|c| c.kubernetes_version);
    match (manifests, own) {
        (Some(m), Some(o)) if m.minor != o.minor => {
            let older = if m.minor < o.minor { m } else { o };
            (
                Some(older),
                Some(format!(
                    "{shown}: note: its kubernetesVersion ({o}) and the manifests' version ({m}) differ; kubeharden writes only what {older}, the older, accepts"
                )),
            )
        }
        (Some(m), _) => (Some(m), None),
        (None, o) => (o, None),
    }
}

/// The options for the file `--kubeadm-config` names: edited with `profile`, for the version
/// of the manifests (when the run was not given one).
pub(crate) fn kubeadm_options<'s>(
    s: &'s Settings,
    profile: &'s crate::profile::Profile,
    version: Option<Version>,
) -> Options<'s> {
    Options {
        registry: &s.registry,
        profile,
        version: s.version.or(version),
        node_version: None,
        report_only: false,
        keep_edits: false,
        ignores: s.ignores,
        patches: Some(&crate::load::patches::kube_apiserver),
        new_cluster: false,
        on_node: None,
        overrides: &[],
    }
}

/// Processes every input, in parallel across the available cores; the outcomes keep the
/// order of the inputs.
/// `keep_edits`: with `report_only`, still verify and keep the edited texts (SARIF fixes).
/// `keep_changes`: keep each report's planned changes (for the outputs that show them).
pub(crate) fn process_all(
    s: &Settings,
    report_only: bool,
    keep_edits: bool,
    keep_changes: bool,
) -> Vec<Outcome<'_>> {
    let opts = Options {
        registry: &s.registry,
        profile: &s.profile,
        version: s.version,
        node_version: None,
        report_only,
        keep_edits,
        ignores: s.ignores,
        patches: Some(&crate::load::patches::kube_apiserver),
        new_cluster: false,
        on_node: s.node_root.as_deref(),
        overrides: &[],
    };
    let all: Vec<&Input> = s.inputs.iter().collect();
    let mut outcomes = process_with(&all, &opts, keep_changes);
    // Files that name no Kubernetes version (a KubeletConfiguration, etcd's manifest) take the
    // node's, when the run read a kube-apiserver manifest that names one.
    if s.version.is_none() {
        if let Some(v) = node_version(&outcomes) {
            let opts = Options {
                node_version: Some(v),
                ..opts
            };
            let again: Vec<usize> = outcomes
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    matches!(o, Outcome::Report(r) if r.version_source == VersionSource::Assumed)
                })
                .map(|(i, _)| i)
                .collect();
            let inputs: Vec<&Input> = again.iter().map(|&i| &s.inputs[i]).collect();
            for (i, o) in again
                .into_iter()
                .zip(process_with(&inputs, &opts, keep_changes))
            {
                outcomes[i] = o;
            }
        }
    }
    outcomes
}

/// The Kubernetes version of the kube-apiserver manifests' image tags, when they agree.
fn node_version(outcomes: &[Outcome]) -> Option<Version> {
    let mut found: Option<Version> = None;
    for o in outcomes {
        if let Outcome::Report(r) = o {
            if r.component == COMPONENT && !r.kubeadm && r.version_source == VersionSource::Image {
                match found {
                    Some(v) if v.minor != r.version.minor => return None,
                    Some(_) => {}
                    None => found = Some(r.version),
                }
            }
        }
    }
    found
}

/// The same for texts not processed yet: the image tags of the kube-apiserver manifests among
/// them, when they agree.
pub(crate) fn node_version_of<'a>(
    texts: impl Iterator<Item = &'a str>,
    registry: &Registry,
) -> Option<Version> {
    let mut found: Option<Version> = None;
    for t in texts {
        if !t.contains(COMPONENT) {
            continue;
        }
        let Ok(m) = crate::document::manifest::load_any(t.trim_start_matches('\u{feff}'), registry)
        else {
            continue;
        };
        if m.component != COMPONENT {
            continue;
        }
        if let Some(v) = m
            .image
            .as_deref()
            .and_then(crate::document::manifest::image_version)
        {
            match found {
                Some(f) if f.minor != v.minor => return None,
                Some(_) => {}
                None => found = Some(v),
            }
        }
    }
    found
}

/// Processes `inputs` on every core: each worker takes the next file as soon as it is done with
/// one, so a slow file holds up no others. The outcomes keep the order of the inputs; a file
/// whose processing panics is an error of its own, and the others go on.
///
/// Without `keep_changes` (check's text output, which shows findings only), each report drops
/// its planned changes as soon as it is made: they are most of what a report holds.
fn process_with<'p>(
    inputs: &[&'p Input],
    opts: &Options<'p>,
    keep_changes: bool,
) -> Vec<Outcome<'p>> {
    let one = |input: &'p Input| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut o = process_one(input, opts);
            if let (false, Outcome::Report(r)) = (keep_changes, &mut o) {
                r.changes = Vec::new();
            }
            o
        }))
        .unwrap_or_else(|_| {
            Outcome::Error(FileError {
                path: input.path.display().to_string(),
                line_col: None,
                message: "internal error while processing this file".into(),
                unrecognized: false,
            })
        })
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len());
    if workers <= 1 {
        return inputs.iter().map(|i| one(i)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Outcome<'p>>> = Vec::with_capacity(inputs.len());
    slots.resize_with(inputs.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else { break };
                        done.push((i, one(input)));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, o) in done {
                    slots[i] = Some(o);
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(inputs)
        .map(|(o, input)| {
            o.unwrap_or_else(|| {
                Outcome::Error(FileError {
                    path: input.path.display().to_string(),
                    line_col: None,
                    message: "internal error while processing this file".into(),
                    unrecognized: false,
                })
            })
        })
        .collect()
}
