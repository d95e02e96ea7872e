//! Planning: findings become symbolic changes to the model. Conflicts between rules and fixes
//! that do not satisfy their own rule are found here, before any text is touched.

mod changes;
mod mounts;
mod safety;
mod steps;

use crate::check::{self, Env};
use crate::model::change::{Planned, RequiredFile};
use crate::model::Model;
use crate::profile::{Profile, Rule, Step};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub(crate) changes: Vec<Planned>,
    pub(crate) required_files: Vec<RequiredFile>,
    /// The model after the plan.
    pub(crate) after: Model,
}

impl Plan {
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PlanError {
    #[error(
        "rule {rule}: its fix would write --{flag}, which Kubernetes {version} does not accept"
    )]
    RejectedFlag {
        rule: String,
        flag: String,
        version: String,
    },
    #[error("rule {rule}: rewriting --{flag} would keep {plugin}, which Kubernetes {version} does not have; remove it first (the strict profile does) or give the right --kubernetes-version")]
    RejectedPlugin {
        rule: String,
        flag: String,
        plugin: String,
        version: String,
    },
    #[error(
        "rule {rule}: --{flag} would get `{value}`, which Kubernetes {version} does not accept"
    )]
    RejectedValue {
        rule: String,
        flag: String,
        value: String,
        version: String,
    },
    #[error("rule {rule}: its fix does not satisfy the rule ({detail})")]
    Unsatisfied { rule: String, detail: String },
    #[error("rules {rules} keep undoing each other's changes; disable one of them in a profile")]
    Conflict { rules: String },
    #[error("rule {rule}: --{flag} cannot be combined with --{other}, which the manifest sets; the component would refuse to start")]
    Exclusive {
        rule: String,
        flag: String,
        other: String,
    },
    #[error("--{flag}: {path} needs a {need} hostPath mount at {dir}, but the container already mounts {what} there")]
    MountConflict {
        flag: String,
        path: String,
        dir: String,
        need: &'static str,
        what: &'static str,
    },
    #[error("--{flag}={path}: kubeharden only mounts absolute paths without `.`, `..` or a trailing `/`, below a directory other than `/`")]
    BadPath { flag: String, path: String },
}

/// A plan in the making: the model as the fixes so far left it, and which rules changed what.
struct Planner<'a> {
    env: Env<'a>,
    work: Model,
    /// The flags fix steps touched, with the rules that did it.
    touched: BTreeMap<String, Vec<String>>,
    /// Volumes added by fix steps, with the rules that added them.
    volume_rules: BTreeMap<String, Vec<String>>,
    /// Flags whose `--flag value` pairs a fix step joined, with the rules that did it.
    join_rules: BTreeMap<String, Vec<String>>,
    /// Files of existing flags that a fix step made visible with a new mount.
    mounted_files: Vec<(String, String)>,
    /// The rules whose fixes change the probes.
    probe_rules: Vec<String>,
}

impl Planner<'_> {
    /// Applies the fix of `rule`, which must then hold.
    fn fix(&mut self, rule: &Rule) -> Result<(), PlanError> {
        let env = self.env;
        // A previous fix in this round may already have satisfied the rule.
        if check::holds(&rule.check, &self.work, env) {
            return Ok(());
        }
        let Some(variant) = rule.variant_for(env.version, |c| check::holds(c, &self.work, env))
        else {
            return Ok(());
        };
        for step in &variant.steps {
            let mut added = Vec::new();
            let mut joined = Vec::new();
            let flags =
                steps::apply_step(step, &mut self.work, env, &rule.id, &mut added, &mut joined)?;
            for flag in joined {
                self.join_rules
                    .entry(flag)
                    .or_default()
                    .push(rule.id.clone());
            }
            for (name, flag, path) in added {
                self.volume_rules
                    .entry(name)
                    .or_default()
                    .push(rule.id.clone());
                self.mounted_files.push((flag, path));
            }
            for flag in flags {
                let rules = self.touched.entry(flag).or_default();
                if !rules.contains(&rule.id) {
                    rules.push(rule.id.clone());
                }
            }
            if matches!(step, Step::Probes(_)) && !self.probe_rules.contains(&rule.id) {
                self.probe_rules.push(rule.id.clone());
            }
        }
        if !check::holds(&rule.check, &self.work, env) {
            let (_, current, desired) = check::evaluate(rule, &self.work, env)
                .map(|f| (f.flag, f.current, f.desired))
                .unwrap_or_default();
            return Err(PlanError::Unsatisfied {
                rule: rule.id.clone(),
                detail: format!("after the fix: {current}; wanted {desired}"),
            });
        }
        Ok(())
    }

    /// Fixes the failing rules in rounds, until every fixable rule holds; rules that keep
    /// undoing each other's changes are a conflict.
    fn rounds(
        &mut self,
        profile: &Profile,
        failing_first: Option<&[&str]>,
    ) -> Result<(), PlanError> {
        const ROUNDS: usize = 4;
        let env = self.env;
        for round in 0..=ROUNDS {
            let failing: Vec<&Rule> = match failing_first.filter(|_| round == 0) {
                Some(ids) => profile
                    .rules
                    .iter()
                    .filter(|r| ids.contains(&r.id.as_str()))
                    .collect(),
                None => check::failing(profile, &self.work, env).collect(),
            };
            let fixable: Vec<&Rule> = failing
                .into_iter()
                .filter(|r| {
                    r.variant_for(env.version, |c| check::holds(c, &self.work, env))
                        .is_some()
                })
                .collect();
            if fixable.is_empty() {
                break;
            }
            if round == ROUNDS {
                return Err(self.conflict(&fixable));
            }
            for rule in fixable {
                self.fix(rule)?;
            }
        }
        Ok(())
    }

    /// The rules still failing, and the rules that changed the same flags.
    fn conflict(&self, fixable: &[&Rule]) -> PlanError {
        let mut rules: Vec<String> = Vec::new();
        for r in fixable {
            rules.push(r.id.clone());
            if let Some(flag) = check::evaluate(r, &self.work, self.env).and_then(|f| f.flag) {
                rules.extend(self.touched.get(&flag).into_iter().flatten().cloned());
            }
        }
        rules.sort();
        rules.dedup();
        PlanError::Conflict {
            rules: rules.join(", "),
        }
    }
}

/// Plans the changes that make `model` satisfy every fixable rule of `profile`.
pub(crate) fn plan(profile: &Profile, model: &Model, env: Env) -> Result<Plan, PlanError> {
    plan_from(profile, model, env, None)
}

/// [`plan`], given the ids of the rules that fail on `model` when the caller has checked it
/// already (rules of `profile` not named there are taken to hold).
pub(crate) fn plan_from(
    profile: &Profile,
    model: &Model,
    env: Env,
    failing_first: Option<&[&str]>,
) -> Result<Plan, PlanError> {
    let mut p = Planner {
        env,
        work: model.clone(),
        touched: BTreeMap::new(),
        volume_rules: BTreeMap::new(),
        join_rules: BTreeMap::new(),
        mounted_files: Vec::new(),
        probe_rules: Vec::new(),
    };
    p.rounds(profile, failing_first)?;
    safety::settle_admission_overlap(model, &mut p.work, &mut p.touched);
    safety::check(model, &p.work, &p.touched, env)?;
    let mut changes = changes::changes(model, &p);
    let required = mounts::required_files(profile, model, &mut p, &changes)?;
    changes.extend(mounts::new_volumes(model, &p));
    Ok(Plan {
        changes,
        required_files: required,
        after: p.work,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::change::Change;
    use crate::model::{Flag, Mount, Volume};
    use crate::profile::version::Version;
    use crate::profile::Registry;

    fn env(minor: u32) -> Env<'static> {
        static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        Env {
            registry: REGISTRY.get_or_init(|| Registry::builtin().expect("registry")),
            version: Version::minor(minor),
        }
    }

    fn profile(rules: &str) -> Profile {
        let text = format!("name: t\ndescription: t\nrules:\n{rules}");
        Profile::from_text("p.yaml", &text, env(30).registry).expect("profile")
    }

    fn model(flags: &[&str]) -> Model {
        Model {
            component: "kube-apiserver".into(),
            flags: flags
                .iter()
                .map(|f| {
                    let (n, v) = f.split_once('=').expect("name=value");
                    Flag {
                        name: n.into(),
                        value: Some(v.into()),
                    }
                })
                .collect(),
            ..Model::default()
        }
    }

    /// The plan of the rules `rules` for the flags `flags` in Kubernetes 1.`minor`.
    fn planned(rules: &str, flags: &[&str], minor: u32) -> Result<Plan, PlanError> {
        plan(&profile(rules), &model(flags), env(minor))
    }

    const RULE: &str = "- id: ID\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: r\n";

    #[test]
    fn rules_that_undo_each_other_are_a_conflict() {
        let rules = format!(
            "{}  check: {{flag: enable-admission-plugins, excludes: [AlwaysAdmit]}}\n  fix: [{{steps: [{{remove_from_list: {{flag: enable-admission-plugins, items: [AlwaysAdmit]}}}}]}}]\n{}  check: {{flag: enable-admission-plugins, contains: [AlwaysAdmit]}}\n  fix: [{{steps: [{{add_to_list: {{flag: enable-admission-plugins, items: [AlwaysAdmit]}}}}]}}]\n",
            RULE.replace("ID", "off"),
            RULE.replace("ID", "on")
        );
        let err = planned(&rules, &["enable-admission-plugins=NodeRestriction"], 30)
            .expect_err("conflict");
        assert!(
            matches!(&err, PlanError::Conflict { rules } if rules == "off, on"),
            "{err}"
        );
    }

    #[test]
    fn a_fix_that_cannot_satisfy_its_rule_is_refused() {
        // PodSecurityPolicy does not exist in 1.30, so adding it is skipped and the rule still fails.
        let rules = format!(
            "{}  check: {{flag: enable-admission-plugins, contains: [PodSecurityPolicy]}}\n  fix: [{{steps: [{{add_to_list: {{flag: enable-admission-plugins, items: [PodSecurityPolicy]}}}}]}}]\n",
            RULE.replace("ID", "psp")
        );
        let err = planned(&rules, &["enable-admission-plugins=NodeRestriction"], 30)
            .expect_err("unsatisfiable");
        assert!(matches!(err, PlanError::Unsatisfied { .. }), "{err}");
        // In 1.24 the plugin exists and the same fix works.
        let ok = planned(&rules, &["enable-admission-plugins=NodeRestriction"], 24).expect("plan");
        assert_eq!(
            ok.after.list("enable-admission-plugins"),
            Some(vec!["NodeRestriction".into(), "PodSecurityPolicy".into()])
        );
    }

    #[test]
    fn flags_the_component_refuses_together_are_never_combined() {
        let rules = format!(
            "{}  check: {{flag: authorization-mode, contains: [RBAC]}}\n  fix: [{{steps: [{{add_to_list: {{flag: authorization-mode, items: [RBAC]}}}}]}}]\n",
            RULE.replace("ID", "rbac")
        );
        let err = planned(
            &rules,
            &["authorization-config=/etc/kubernetes/authz.yaml"],
            31,
        )
        .expect_err("exclusive");
        assert!(
            matches!(&err, PlanError::Exclusive { other, .. } if other == "authorization-config"),
            "{err}"
        );
    }

    #[test]
    fn writing_a_flag_the_version_rejects_is_refused() {
        let p = profile(&format!(
            "{}  check: {{flag: kubelet-https, equals: \"true\"}}\n  fix: [{{steps: [{{set: {{flag: kubelet-https, value: \"true\"}}}}]}}]\n",
            RULE.replace("ID", "https")
        ));
        let err = plan(&p, &model(&[]), env(25)).expect_err("rejected");
        assert!(matches!(err, PlanError::RejectedFlag { .. }), "{err}");
    }

    #[test]
    fn volumes_follow_new_file_flags_and_existing_mounts_are_reused() {
        let p = profile(&format!(
            "{}  check: {{flag: audit-policy-file, present: true}}\n  fix: [{{steps: [{{set: {{flag: audit-policy-file, value: /etc/kubernetes/pki/audit.yaml}}}}]}}]\n{}  check: {{flag: audit-log-path, present: true}}\n  fix: [{{steps: [{{set: {{flag: audit-log-path, value: /var/log/audit/a.log}}}}]}}]\n",
            RULE.replace("ID", "policy"),
            RULE.replace("ID", "log")
        ));
        let env = env(30);
        let mut m = model(&[]);
        m.mounts.push(Mount {
            name: "k8s-certs".into(),
            mount_path: "/etc/kubernetes/pki".into(),
            read_only: true,
            sub_path: None,
        });
        m.volumes.push(Volume {
            name: "k8s-certs".into(),
            host_path: Some("/etc/kubernetes/pki".into()),
            path_type: None,
        });
        let pl = plan(&p, &m, env).expect("plan");
        let added: Vec<_> = pl
            .changes
            .iter()
            .filter_map(|c| match &c.change {
                Change::AddVolume { mount, .. } => {
                    Some((mount.mount_path.clone(), mount.read_only))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            added,
            vec![("/var/log/audit".to_string(), false)],
            "the pki mount already covers the policy"
        );
        assert_eq!(pl.required_files.len(), 2);
    }
}
