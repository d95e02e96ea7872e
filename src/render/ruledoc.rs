//! The rule documentation: one section per rule, the same text in `docs/rules.md` and from
//! `kubeharden explain RULE`, with an example of what the rule's fix does.
//!
//! The example runs the rule's fix alone (the profile cut down to that rule, as `fix` offers
//! it) on kubeadm 1.33's file for the rule's component (`examples/node`, compiled in). When
//! kubeadm's file passes the rule, `examples/rule-examples.yaml` says how to change it, as
//! little as possible, so that the rule fails. Everything here is a pure function of compiled-in
//! data, so the text is the same on every run and machine.

use crate::model::report::FileReport;
use crate::pipeline::{self, Options};
use crate::profile::version::Version;
use crate::profile::{self, Profile, ProfileError, Registry, Rule};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The Kubernetes version of the example files.
pub(crate) const EXAMPLE_VERSION: Version = Version {
    minor: 33,
    patch: None,
};

/// The example file of each component: its path on a node (without the leading `/`, as diff
/// headers give it), where it comes from, and its text.
pub(crate) const EXAMPLE_FILES: &[(&str, &str, &str, &str)] = &[
    (
        "kube-apiserver",
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        KUBEADM,
        include_str!("../../examples/node/etc/kubernetes/manifests/kube-apiserver.yaml"),
    ),
    (
        "kube-controller-manager",
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        KUBEADM,
        include_str!("../../examples/node/etc/kubernetes/manifests/kube-controller-manager.yaml"),
    ),
    (
        "kube-scheduler",
        "etc/kubernetes/manifests/kube-scheduler.yaml",
        KUBEADM,
        include_str!("../../examples/node/etc/kubernetes/manifests/kube-scheduler.yaml"),
    ),
    (
        "etcd",
        "etc/kubernetes/manifests/etcd.yaml",
        KUBEADM,
        include_str!("../../examples/node/etc/kubernetes/manifests/etcd.yaml"),
    ),
    (
        "kubelet",
        "var/lib/kubelet/config.yaml",
        KUBEADM,
        include_str!("../../examples/node/var/lib/kubelet/config.yaml"),
    ),
    // kubeadm writes no scheduler configuration file; this is the smallest one a scheduler
    // started with `--config` reads.
    (
        "kube-scheduler-config",
        "etc/kubernetes/scheduler-config.yaml",
        "a minimal KubeSchedulerConfiguration,",
        include_str!("../../examples/kube-scheduler-config.yaml"),
    ),
];

const KUBEADM: &str = "kubeadm 1.33's";

/// How the example files are changed so that a rule they pass fails.
pub(crate) const MUTATIONS_YAML: &str = include_str!("../../examples/rule-examples.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutations {
    rules: BTreeMap<String, Mutation>,
}

/// The changes for one rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutation {
    /// What the changed file has, in words: "… changed to have {what}".
    what: Option<String>,
    /// The Kubernetes version to run the fix for, when the rule does not apply to 1.33.
    version: Option<String>,
    #[serde(default)]
    edits: Vec<LineEdit>,
    /// Why there is no example, when none can be made.
    none: Option<String>,
}

/// A change to whole lines. A line is named by its text without the indentation, and must
/// occur exactly once; new lines take its indentation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineEdit {
    /// Replace this line with `with` (no lines: remove it).
    line: Option<String>,
    with: Option<Vec<String>>,
    /// Insert `insert` after (or before) this line.
    after: Option<String>,
    before: Option<String>,
    insert: Option<Vec<String>>,
}

/// What the example section shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Example {
    Diff {
        /// The profile whose fix ran.
        profile: String,
        /// The example file's path on the node, without the leading `/`.
        path: &'static str,
        /// Where the file comes from.
        source: &'static str,
        version: Version,
        /// What the file was changed to have first, when kubeadm's passes the rule.
        what: Option<String>,
        diff: String,
        /// The files the fix needs on the node.
        needs: Vec<String>,
    },
    /// No example, and why.
    None(String),
}

/// The built-in profiles, in the order `profile::BUILTIN` lists them.
pub fn builtin_profiles(registry: &Registry) -> Result<Vec<Profile>, ProfileError> {
    profile::BUILTIN
        .iter()
        .map(|(name, _)| Profile::load(name, registry))
        .collect()
}

fn mutations() -> Result<Mutations, String> {
    yaml_serde::from_str(MUTATIONS_YAML).map_err(|e| format!("examples/rule-examples.yaml: {e}"))
}

/// The text with `edits` made.
fn apply_edits(text: &str, edits: &[LineEdit]) -> Result<String, String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    for e in edits {
        let (anchor, new, keep, offset) = match (e, &e.line, &e.after, &e.before) {
            (
                LineEdit {
                    with: Some(w),
                    insert: None,
                    ..
                },
                Some(l),
                None,
                None,
            ) => (l, w, false, 0),
            (
                LineEdit {
                    with: None,
                    insert: Some(i),
                    ..
                },
                None,
                Some(a),
                None,
            ) => (a, i, true, 1),
            (
                LineEdit {
                    with: None,
                    insert: Some(i),
                    ..
                },
                None,
                None,
                Some(b),
            ) => (b, i, true, 0),
            _ => {
                return Err(
                    "an edit is `line` with `with`, or `after` or `before` with `insert`".into(),
                )
            }
        };
        let found: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim() == anchor.trim())
            .map(|(i, _)| i)
            .collect();
        let [at] = found[..] else {
            return Err(format!(
                "the line `{anchor}` occurs {} times in the example; name one that occurs once",
                found.len()
            ));
        };
        let indent: String = lines[at]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let added: Vec<String> = new.iter().map(|n| format!("{indent}{n}\n")).collect();
        let pos = at + offset;
        if !keep {
            lines.remove(at);
        }
        lines.splice(pos..pos, added);
    }
    Ok(lines.concat())
}

/// The example for `rule`: `Err` when the data cannot make one that it should (a change that
/// does not make the rule fail, or one where none is needed), which the tests catch.
pub fn example_checked(
    rule: &Rule,
    profiles: &[Profile],
    registry: &Registry,
) -> Result<Example, String> {
    let all = mutations()?;
    let entry = all.rules.get(&rule.id);
    // The last built-in profile that changes something for the rule (strict extends baseline).
    let Some(fixer) = profiles
        .iter()
        .rev()
        .find(|p| p.rule(&rule.id).is_some_and(Rule::fixes_running_clusters))
    else {
        if !rule.fix.is_empty() && entry.is_none() {
            return Ok(Example::None(
                "kubeharden makes this change only in the configuration of a new cluster (`kubeharden generate kubeadm`); on a running cluster the rule is reported only.".into(),
            ));
        }
        if entry.is_some() {
            return Err(format!(
                "{} has an example change, but no built-in profile fixes it",
                rule.id
            ));
        }
        return Ok(Example::None(
            "no built-in profile changes anything for this rule; it is reported only.".into(),
        ));
    };
    if let Some(why) = entry.and_then(|m| m.none.as_ref()) {
        return Ok(Example::None(why.trim().to_string()));
    }
    if rule.component == crate::profile::NODE_FILES {
        return Ok(Example::None(
            "`kubeharden fix` on the node changes the file's mode or owner, not its content (a patch shows it as git does: `old mode 100644`, `new mode 100600`); `rollback` gives the old ones back.".into(),
        ));
    }
    let Some((_, path, source, base)) = EXAMPLE_FILES
        .iter()
        .find(|(c, _, _, _)| *c == rule.component)
    else {
        return Ok(Example::None(format!(
            "kubeharden has no example file for {}.",
            rule.component
        )));
    };
    let version = match entry.and_then(|m| m.version.as_deref()) {
        Some(v) => Version::parse(v).ok_or_else(|| format!("{}: version `{v}`", rule.id))?,
        None => EXAMPLE_VERSION,
    };
    if !rule.versions.matches(version) {
        return Err(format!(
            "{} applies to {}, and its example is for {version}; give a version it applies to",
            rule.id, rule.versions
        ));
    }
    let only = fixer.only(std::slice::from_ref(&rule.id));
    let opts = Options {
        version: Some(version),
        ignores: false,
        ..Options::new(registry, &only)
    };
    let fails = |text: &str| -> Result<Option<FileReport>, String> {
        let r = pipeline::process(path, text, &opts).map_err(|e| e.to_string())?;
        Ok(r.findings.iter().any(|f| f.rule.id == rule.id).then_some(r))
    };
    let edits = entry.map(|m| &m.edits[..]).unwrap_or_default();
    let (text, report) = if edits.is_empty() {
        match fails(base)? {
            Some(r) => (base.to_string(), r),
            None => {
                return Err(format!(
                    "kubeadm's {path} passes {} at {version}; examples/rule-examples.yaml must say how to make it fail",
                    rule.id
                ))
            }
        }
    } else {
        if version == EXAMPLE_VERSION && fails(base)?.is_some() {
            return Err(format!(
                "kubeadm's {path} fails {} already; its entry in examples/rule-examples.yaml changes it for nothing",
                rule.id
            ));
        }
        let text = apply_edits(base, edits).map_err(|e| format!("{}: {e}", rule.id))?;
        match fails(&text)? {
            Some(r) => (text, r),
            None => {
                return Err(format!(
                    "{}: the changes in examples/rule-examples.yaml do not make the rule fail",
                    rule.id
                ))
            }
        }
    };
    finish_example(rule, fixer, path, source, version, entry, &text, &report)
}

/// The example made from the failing `text` and its report: the diff of the fix, and the files
/// it needs on the node.
#[allow(clippy::too_many_arguments)]
fn finish_example(
    rule: &Rule,
    fixer: &Profile,
    path: &'static str,
    source: &'static str,
    version: Version,
    entry: Option<&Mutation>,
    text: &str,
    report: &FileReport,
) -> Result<Example, String> {
    let Some(edited) = &report.edited else {
        let why = report
            .findings
            .iter()
            .find_map(|f| f.manual.clone())
            .unwrap_or_default();
        return Err(format!(
            "{}: the fix changes nothing on the example: {why}",
            rule.id
        ));
    };
    let needs = report
        .required_files
        .iter()
        .map(|rf| match &rf.template {
            Some(t) => format!(
                "`{}` (`kubeharden profiles template {t} --kubernetes-version {version}`)",
                rf.path
            ),
            None if rf.directory => format!("`{}` (a directory)", rf.path),
            None => format!("`{}`", rf.path),
        })
        .collect();
    Ok(Example::Diff {
        profile: fixer.name.clone(),
        path,
        source,
        version,
        what: entry.and_then(|m| m.what.clone()),
        diff: crate::render::diff_text(text, edited, path),
        needs,
    })
}

/// The example for `rule`, or why there is none.
pub(crate) fn example(rule: &Rule, profiles: &[Profile], registry: &Registry) -> Example {
    example_checked(rule, profiles, registry)
        .unwrap_or_else(|e| Example::None(format!("the example could not be made: {e}")))
}

/// What each built-in profile does with a rule: "fixes", "reports" or "—" when it lacks it.
fn mode<'a>(p: &Profile, id: &str) -> &'a str {
    match p.rule(id) {
        None => "—",
        Some(r) if r.fix.is_empty() => "reports",
        Some(r) if !r.fixes_running_clusters() => "reports (fixes in `generate kubeadm`)",
        Some(_) => "fixes",
    }
}

/// One rule's section: what, why, the risk, CIS ids, versions, which profiles fix it, how,
/// and the example. Starts with its `## id` heading and ends with a newline.
pub(crate) fn section(rule: &Rule, profiles: &[Profile], registry: &Registry) -> String {
    let r = rule;
    let mut s = String::new();
    let _ = writeln!(s, "## {}\n", r.id);
    let _ = writeln!(s, "What: **{}**\n", r.title);
    let _ = writeln!(s, "- component: {}", r.component);
    let _ = writeln!(s, "- severity: {}", r.severity.as_str());
    let cis = if r.cis.is_empty() {
        "none (a kubeharden safety rule)".to_string()
    } else {
        r.cis.join(", ")
    };
    let _ = writeln!(s, "- CIS ({}): {cis}", registry.cis_benchmark.title());
    let _ = writeln!(s, "- versions: {}", r.versions);
    let modes: Vec<String> = profiles
        .iter()
        .map(|p| format!("{}: {}", p.name, mode(p, &r.id)))
        .collect();
    let _ = writeln!(s, "- {}", modes.join("; "));
    let _ = writeln!(s, "\nWhy: {}\n", r.rationale);
    let _ = writeln!(s, "Risk: {}", r.risk);
    if let Some(a) = &r.applicability {
        let when = if a.safe_when.is_some() {
            " unless the file shows otherwise"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "\nApplicability: risky{when} ({}); make sure first: {}. `fix --yes` leaves it unless `--risky` is given.",
            a.risky, a.precondition
        );
    }
    for p in profiles {
        if let Some(m) = p.rule(&r.id).and_then(|x| x.manual.as_ref()) {
            let _ = writeln!(s, "\nNot fixed by {}: {m}", p.name);
        }
    }
    if let Some(p) = profiles
        .iter()
        .rev()
        .find(|p| p.rule(&r.id).is_some_and(|x| !x.fix.is_empty()))
    {
        let fixes = p.rule(&r.id).map(|x| &x.fix[..]).unwrap_or_default();
        let _ = writeln!(s, "\nFix ({}):\n", p.name);
        for v in fixes {
            let when = match &v.unless {
                Some(crate::profile::Cond::ExistingCluster) => {
                    format!("{}, in a new cluster's configuration only", v.versions)
                }
                Some(_) => format!(
                    "{} (unless the conditions in the profile rule it out)",
                    v.versions
                ),
                None => v.versions.to_string(),
            };
            let steps: Vec<String> = v.steps.iter().map(super::words::describe_step).collect();
            let _ = writeln!(s, "- {when}: {}", steps.join("; "));
        }
    }
    match example(r, profiles, registry) {
        Example::Diff {
            profile,
            path,
            source,
            version,
            what,
            diff,
            needs,
        } => {
            let changed = what
                .map(|w| format!(", changed to have {w}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "\nExample: {profile} with this rule alone, for Kubernetes {version}, on {source} `/{path}`{changed}:\n"
            );
            let _ = writeln!(s, "```diff\n{}```", diff);
            if !needs.is_empty() {
                let _ = writeln!(s, "\nThe fix needs on the node: {}.", needs.join(", "));
            }
        }
        Example::None(why) => {
            let _ = writeln!(s, "\nNo example: {why}");
        }
    }
    s
}

/// `docs/rules.md`: a table of every rule, then one section per rule.
pub fn markdown(profiles: &[Profile], registry: &Registry) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# kubeharden rules\n");
    let _ = writeln!(
        s,
        "Generated from `profiles/baseline.yaml` and `profiles/strict.yaml`, with the examples of `examples/`, by `KUBEHARDEN_BLESS=1 cargo test --test it rules_doc`; a test fails when this file is stale. `kubeharden explain RULE-ID` prints the rule's section.\n"
    );
    let _ = writeln!(
        s,
        "CIS ids are those of the {} (kube-bench `cis-1.10` to `cis-2.0`). `kubeharden explain CIS-ID` (such as `kubeharden explain 1.2.1`) prints the sections of the rules that cite it.\n",
        registry.cis_benchmark.described()
    );
    let _ = writeln!(
        s,
        "Each example runs the rule's fix alone (as `kubeharden fix` offers it) on kubeadm 1.33's file for the rule's component (`examples/node`; for the scheduler's configuration file, `examples/kube-scheduler-config.yaml`), changed first as `examples/rule-examples.yaml` says where that file passes the rule.\n"
    );
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    let _ = writeln!(s, "| rule | severity | CIS | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|---|---|{}", "---|".repeat(names.len()));
    for r in all_rules(profiles) {
        let modes: Vec<&str> = profiles.iter().map(|p| mode(p, &r.id)).collect();
        let _ = writeln!(
            s,
            "| [{id}](#{id}) | {} | {} | {} |",
            r.severity.as_str(),
            r.cis.join(", "),
            modes.join(" | "),
            id = r.id
        );
    }
    for r in all_rules(profiles) {
        let _ = write!(s, "\n{}", section(r, profiles, registry));
    }
    s
}

/// Every rule of the built-in profiles, once, in the order of the last profile that has it
/// (strict has them all), then any others.
pub fn all_rules(profiles: &[Profile]) -> Vec<&Rule> {
    let mut out: Vec<&Rule> = Vec::new();
    for p in profiles.iter().rev() {
        for r in &p.rules {
            if !out.iter().any(|x| x.id == r.id) {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(yaml: &str) -> Vec<LineEdit> {
        yaml_serde::from_str(yaml).expect("edits")
    }

    #[test]
    fn line_edits_keep_the_indentation_and_need_a_unique_line() {
        let text = "a:\n  - x\n  - y\nb: 1\n";
        let out = apply_edits(
            text,
            &edit("- { line: \"- x\", with: [\"- z\", \"- w\"] }\n- { after: \"- y\", insert: [\"- v\"] }\n- { before: \"b: 1\", insert: [\"c: 2\"] }\n"),
        )
        .expect("applies");
        assert_eq!(out, "a:\n  - z\n  - w\n  - y\n  - v\nc: 2\nb: 1\n");
        let removed = apply_edits(text, &edit("- { line: \"- y\", with: [] }\n")).expect("removes");
        assert_eq!(removed, "a:\n  - x\nb: 1\n");
        let twice = "a:\n  - x\n  - x\n";
        assert!(apply_edits(twice, &edit("- { line: \"- x\", with: [] }\n"))
            .expect_err("refused")
            .contains("occurs 2 times"));
        assert!(apply_edits(text, &edit("- { line: \"- q\", with: [] }\n"))
            .expect_err("refused")
            .contains("occurs 0 times"));
        assert!(apply_edits(text, &edit("- { line: \"- x\", insert: [] }\n")).is_err());
    }

    #[test]
    fn the_example_data_names_only_rules_that_exist() {
        let registry = Registry::builtin().expect("registry");
        let profiles = builtin_profiles(&registry).expect("profiles");
        let ids: Vec<&str> = all_rules(&profiles).iter().map(|r| r.id.as_str()).collect();
        for id in mutations()
            .expect("examples/rule-examples.yaml")
            .rules
            .keys()
        {
            assert!(
                ids.contains(&id.as_str()),
                "examples/rule-examples.yaml names {id}"
            );
        }
    }
}
