//! Planning: findings become symbolic changes to the model. Conflicts between rules and fixes
//! that do not satisfy their own rule are found here, before any text is touched.

mod changes;
mod error;
mod meaning;
mod mounts;
mod planner;
mod safety;
mod steps;

pub(crate) use error::PlanError;
pub(crate) use meaning::same_flag_meaning;

use crate::check::Env;
use crate::model::change::{Planned, RequiredFile};
use crate::model::Model;
use crate::profile::Profile;
use planner::Planner;
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
        beyond_mounts: false,
        since_judged: planner::SinceJudged::default(),
    };
    p.rounds(profile, failing_first)?;
    safety::settle_admission_overlap(model, &mut p.work, &mut p.touched);
    safety::check(model, &p.work, &p.touched, env)?;
    let mut changes = changes::changes(model, &mut p);
    let required = changes::required_files(profile, model, &mut p, &changes)?;
    changes.extend(changes::new_volumes(model, &p));
    Ok(Plan {
        changes,
        required_files: required,
        after: p.work,
    })
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
            new_cluster: false,
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

    /// A round whose fixes only mounted files is followed by one that evaluates only the rules
    /// that read the mounts: a rule that the new mount makes fail is still fixed there.
    #[test]
    fn a_rule_the_new_mounts_make_fail_is_fixed_in_the_next_round() {
        let p = profile(&format!(
            "{}  check: {{flag: audit-log-path, present: true}}\n  fix: [{{steps: [{{set: {{flag: audit-log-path, value: /var/log/audit/a.log}}}}]}}]\n{}  check: {{files_mounted: true}}\n  fix: [{{steps: [{{mount_files: true}}]}}]\n{}  check: {{any: [{{flag: audit-log-path, absent: true}}, {{not: {{files_mounted: true}}}}, {{flag: audit-log-maxage, present: true}}]}}\n  fix: [{{steps: [{{set: {{flag: audit-log-maxage, value: \"30\"}}}}]}}]\n",
            RULE.replace("ID", "log"),
            RULE.replace("ID", "mounted"),
            RULE.replace("ID", "age-once-mounted")
        ));
        let pl = plan(&p, &model(&[]), env(30)).expect("plan");
        assert_eq!(pl.after.value("audit-log-maxage").as_deref(), Some("30"));
        let rules: Vec<&str> = pl
            .changes
            .iter()
            .flat_map(|c| c.rules.iter().map(String::as_str))
            .collect();
        assert!(rules.contains(&"age-once-mounted"), "{rules:?}");
        assert!(rules.contains(&"mounted"), "{rules:?}");
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
