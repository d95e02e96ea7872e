//! The pipeline for a kubeadm configuration file: the manifest kubeadm would generate is
//! checked and planned like a static pod manifest; the changes become `apiServer.extraArgs`
//! and `apiServer.extraVolumes` edits, verified by building that manifest again.

use crate::check::{self, Env};
use crate::engine::{file_error, FileError, FileReport, Options, Region, VersionSource};
use crate::kubeadm::KubeadmConfig;
use crate::plan::{self, Change, Plan};
use crate::profile::Profile;

/// Why a rule's fix cannot be made through extraArgs and extraVolumes, if it cannot.
fn inexpressible(cfg: &KubeadmConfig, c: &Change) -> Option<String> {
    match c {
        Change::ProbeToTcp { probe } => Some(format!(
            "kubeadm writes the {probe} itself and extraArgs cannot change it; save the patch `kubeharden profiles template kubeadm-probe-patch` prints as kube-apiserver+strategic.yaml in kubeadm's --patches directory (it turns the probes into TCP probes), then set this flag; or use Kubernetes 1.32 or later, where the strict profile needs no probe change (on a running node `kubeharden fix` rewrites the manifest's probes itself)"
        )),
        Change::RemoveFlag { flag } if !cfg.args.iter().any(|a| &a.name == flag) => Some(format!(
            "kubeadm writes --{flag} itself, and extraArgs can replace a default flag but not remove it"
        )),
        _ => None,
    }
}

/// Where a finding points: the extraArgs entry of its flag, else `apiServer`, else the
/// ClusterConfiguration, else the start of the file.
/// The region covers the whole entry (`name: value`, or the `{name, value}` item), or the
/// `apiServer` key, or the ClusterConfiguration's first key, or the first line of the file.
fn locate(cfg: &KubeadmConfig, flag: Option<&str>) -> Region {
    let text = &cfg.text;
    if let Some(a) = flag.and_then(|f| cfg.args.iter().find(|a| a.name == f)) {
        let end = a.key.content_end().max(a.value_node.span.end);
        return Region::of(text, a.key.span.start, end);
    }
    if let Some(c) = cfg.cluster_root() {
        return match c
            .entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some("apiServer"))
        {
            Some((k, _)) => Region::of(text, k.span.start, k.span.end),
            None => Region::of(text, c.span.start, crate::engine::head_end(c)),
        };
    }
    let first_line = text.find(['\r', '\n']).unwrap_or(text.len());
    Region::of(text, 0, first_line)
}

pub fn process<'p>(
    path: &str,
    full_text: &str,
    bom: &str,
    cfg: KubeadmConfig,
    opts: &Options<'p>,
) -> Result<FileReport<'p>, FileError> {
    let text = cfg.text.as_str();
    let mut notes = Vec::new();
    let (version, version_source) = match (opts.version, cfg.kubernetes_version) {
        (Some(v), _) => (v, VersionSource::Option),
        (None, Some(v)) => (v, VersionSource::Config),
        (None, None) => {
            let v = opts.registry.newest();
            notes.push(format!(
                "no kubernetesVersion in a ClusterConfiguration and no --kubernetes-version: assuming {v}, the newest kubeharden knows"
            ));
            (v, VersionSource::Assumed)
        }
    };
    let known = &opts.registry.versions;
    let mut cannot: Option<String> = None;
    if let Some(why) = opts
        .registry
        .kubeadm
        .api_rejected(&cfg.api_version, version)
    {
        cannot = Some(why);
    }
    if version.minor < known.oldest {
        cannot.get_or_insert(format!(
            "Kubernetes {version} is older than 1.{}, the oldest version kubeharden has lifecycle facts for",
            known.oldest
        ));
    }
    if version.minor > known.newest || version.minor < known.oldest {
        notes.push(format!(
            "Kubernetes {version} is outside the versions kubeharden has lifecycle facts for (1.{}–1.{}); flags and plugins may be misjudged",
            known.oldest, known.newest
        ));
    }
    if crate::engine::has_bare_cr(text) {
        cannot.get_or_insert(crate::engine::BARE_CR.into());
    }
    if text.trim_start().starts_with('{') {
        cannot.get_or_insert(
            "kubeharden edits kubeadm configuration written as YAML, not JSON".into(),
        );
    }
    if let Some(why) = &cannot {
        crate::engine::refuse_or_note(path, text, why, opts.report_only, &mut notes)?;
    }
    let env = Env {
        registry: opts.registry,
        version,
    };

    // Suppression comments: the rules they silence (in the ClusterConfiguration and in the
    // KubeletConfiguration) are left out of the plan.
    let defaults = cfg.kubelet_defaults(&opts.registry.kubeadm);
    let kubelet_of = |t: &str| -> Result<Option<crate::kubelet::KubeletConfig>, FileError> {
        let docs = crate::yaml::parse(t)
            .map_err(|e| file_error(path, t, None, Some((e.line, e.column)), e.message))?;
        crate::kubelet::find(t, docs, opts.registry, crate::kubelet::KIND, &defaults)
            .map_err(|e| file_error(path, t, e.offset, e.line_col, e.message))
    };
    let sup = crate::suppress::Suppressions::read(
        text,
        opts.ignores,
        cfg.docs
            .iter()
            .filter(|d| d.root.is_map())
            .map(|d| crate::suppress::Target::document(text, &d.root))
            .collect(),
    );
    let reduced = sup.without_silenced(opts.profile, || {
        let mut located: Vec<(String, usize)> = check::check(opts.profile, &cfg.model, env)
            .into_iter()
            .map(|f| (f.rule_id, locate(&cfg, f.flag.as_deref()).line))
            .collect();
        if let Ok(Some(k)) = kubelet_of(text) {
            located.extend(
                check::check(opts.profile, &k.model, env)
                    .into_iter()
                    .map(|f| {
                        let at = crate::kubelet::locate(&k, f.flag.as_deref());
                        (f.rule_id, at.line)
                    }),
            );
        }
        located
    });
    let base: &Profile = reduced.as_ref().unwrap_or(opts.profile);

    // Plan without the rules whose fixes kubeadm's configuration cannot express.
    let mut left: Vec<(String, String)> = Vec::new();
    // The rules left out because they need kubeadm's probes changed.
    let mut probe_rules: Vec<String> = Vec::new();
    type Attempt = (Plan, Vec<(String, String)>, Vec<String>, Option<String>);
    let attempt = || -> Result<Attempt, FileError> {
        let mut profile: Profile = base.clone();
        let mut left = Vec::new();
        let mut probe_rules = Vec::new();
        loop {
            let plan = plan::plan(&profile, &cfg.model, env).map_err(|e| {
                file_error(
                    path,
                    text,
                    None,
                    Some(locate(&cfg, None).start()),
                    format!("cannot plan a safe change: {e}; nothing was written"),
                )
            })?;
            let mut drop: Vec<String> = Vec::new();
            for p in &plan.changes {
                if let Some(why) = inexpressible(&cfg, &p.change) {
                    for r in &p.rules {
                        if !drop.contains(r) {
                            drop.push(r.clone());
                            left.push((r.clone(), why.clone()));
                            if matches!(p.change, Change::ProbeToTcp { .. }) {
                                probe_rules.push(r.clone());
                            }
                        }
                    }
                }
            }
            if drop.is_empty() {
                if plan.is_empty() {
                    return Ok((plan, left, probe_rules, None));
                }
                let splices = crate::kubeadm_edit::edits(&cfg, &plan).map_err(|e| {
                    file_error(
                        path,
                        text,
                        e.offset,
                        None,
                        format!("cannot edit safely: {}; nothing was written", e.message),
                    )
                })?;
                let new_text = crate::edit::apply(text, splices)
                    .map_err(|e| file_error(path, text, e.offset, None, e.message))?;
                if opts.verifies() {
                    crate::verify::verify_kubeadm(&cfg, &plan, &new_text, &profile, env)
                        .map_err(|e| file_error(path, text, None, None, e.to_string()))?;
                }
                return Ok((plan, left, probe_rules, Some(format!("{bom}{new_text}"))));
            }
            profile.rules.retain(|r| !drop.contains(&r.id));
        }
    };
    let result = match cannot {
        Some(_) => Ok((Plan::default(), Vec::new(), Vec::new(), None)),
        None => attempt(),
    };
    let (plan, edited) = match crate::engine::failure_as_note(
        result,
        opts.report_only,
        "this file",
        &mut notes,
        &mut cannot,
    )? {
        Some((plan, l, p, edited)) => {
            left = l;
            probe_rules = p;
            (plan, edited)
        }
        None => (Plan::default(), None),
    };

    let findings = crate::engine::report_findings(
        crate::check::check(opts.profile, &cfg.model, env),
        opts.profile,
        &cfg.model,
        env,
        &plan,
        &left,
        cannot.as_deref(),
        |flag| locate(&cfg, flag),
        "no automatic fix applies to this file and version",
    );
    let needs_probe_patch = findings
        .iter()
        .any(|f| !f.fixed && probe_rules.contains(&f.rule.id));
    let mut findings = findings;
    let mut changes = plan.changes;
    let mut edited = edited;

    // The file's KubeletConfiguration, with what kubeadm fills in where it is silent, is
    // checked and edited like the kubelet's own file, after the ClusterConfiguration's edits.
    if let Some(kcfg) = kubelet_of(text)? {
        let mut profile = base.clone();
        let kleft = if version_source == VersionSource::Assumed {
            crate::kubelet::leave_version_bound(&mut profile, crate::kubelet::COMPONENT, "the file")
        } else {
            Vec::new()
        };
        let mut kcannot = cannot.clone();
        let (kplan, kedited) = if kcannot.is_some() {
            (Plan::default(), None)
        } else {
            let current = edited
                .as_deref()
                .map(|t| t.strip_prefix(bom).unwrap_or(t))
                .unwrap_or(text);
            let run = |t: &str| {
                kubelet_of(t).and_then(|k| match k {
                    Some(k) => crate::kubelet::plan_and_edit(
                        path,
                        &k,
                        &profile,
                        opts.registry,
                        env,
                        opts.verifies(),
                    ),
                    None => Ok((Plan::default(), None)),
                })
            };
            let attempt = match run(current) {
                // Positions in the file as it is: the same failure on the original text.
                Err(e) if current != text => Err(run(text).err().unwrap_or(e)),
                other => other,
            };
            crate::engine::failure_as_note(
                attempt,
                opts.report_only,
                "the KubeletConfiguration",
                &mut notes,
                &mut kcannot,
            )?
            .unwrap_or_default()
        };
        findings.extend(crate::engine::report_findings(
            crate::check::check(opts.profile, &kcfg.model, env),
            opts.profile,
            &kcfg.model,
            env,
            &kplan,
            &kleft,
            kcannot.as_deref(),
            |flag| crate::kubelet::locate(&kcfg, flag),
            "no automatic fix applies to this file and version",
        ));
        changes.extend(kplan.changes);
        if let Some(t) = kedited {
            edited = Some(format!("{bom}{t}"));
        }
    }
    let unused_suppressions = sup.apply(&mut findings, opts.profile);
    let edited = if opts.keeps_texts() { edited } else { None };
    Ok(FileReport {
        path: path.to_string(),
        component: crate::engine::COMPONENT.to_string(),
        version,
        version_source,
        notes,
        findings,
        changes,
        required_files: plan.required_files,
        original: if opts.keeps_texts() {
            full_text.to_string()
        } else {
            String::new()
        },
        edited,
        kubeadm: true,
        needs_probe_patch,
        unused_suppressions,
    })
}
