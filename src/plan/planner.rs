//! The fixes applied to a working copy of the model, in rounds, until every fixable rule holds.

use super::error::PlanError;
use super::steps;
use crate::check::{self, Env};
use crate::model::Model;
use crate::profile::{Profile, Rule, Step};
use std::collections::BTreeMap;

/// A plan in the making: the model as the fixes so far left it, and which rules changed what.
pub(super) struct Planner<'a> {
    pub(super) env: Env<'a>,
    pub(super) work: Model,
    /// The flags fix steps touched, with the rules that did it.
    pub(super) touched: BTreeMap<String, Vec<String>>,
    /// Volumes added by fix steps, with the rules that added them.
    pub(super) volume_rules: BTreeMap<String, Vec<String>>,
    /// Flags whose `--flag value` pairs a fix step joined, with the rules that did it.
    pub(super) join_rules: BTreeMap<String, Vec<String>>,
    /// Files of existing flags that a fix step made visible with a new mount.
    pub(super) mounted_files: Vec<(String, String)>,
    /// The rules whose fixes change the probes.
    pub(super) probe_rules: Vec<String>,
    /// A fix of the current round changed more than the mounts and volumes.
    pub(super) beyond_mounts: bool,
    /// What is known of the working model since the current round judged its rules: whether
    /// a fix has run its steps on it since, and the rule whose fix ran last, which held right
    /// after it.
    pub(super) since_judged: SinceJudged,
}

/// What a round knows of its rules without judging them again.
#[derive(Default)]
pub(super) struct SinceJudged {
    /// The model is no longer the one the round found its failing rules on.
    pub(super) changed: bool,
    /// The id of the rule whose fix ran last: it held once its steps were done, and no step
    /// has run since, so it holds on the model as it is.
    pub(super) held: Option<String>,
}

/// Whether the mounts and volumes decide whether `rule` holds or which of its fixes applies.
fn reads_mounts(rule: &Rule) -> bool {
    check::reads_mounts(&rule.check)
        || rule.fix.iter().any(|v| {
            v.unless.as_ref().is_some_and(check::reads_mounts)
                || v.refuse.iter().any(|(c, _)| check::reads_mounts(c))
        })
}

impl Planner<'_> {
    /// Applies the fix of `rule`, which must then hold.
    fn fix(&mut self, rule: &Rule) -> Result<(), PlanError> {
        let env = self.env;
        // A previous fix in this round may already have satisfied the rule; until one has run,
        // the model is the one the round found the rule failing on.
        if self.since_judged.changed && check::holds(&rule.check, &self.work, env) {
            return Ok(());
        }
        let Some(variant) = rule.variant_for(env.version, |c| check::holds(c, &self.work, env))
        else {
            return Ok(());
        };
        for step in &variant.steps {
            // Mounting files changes only the mounts and volumes; the node's files are not in
            // the model.
            self.beyond_mounts |= !matches!(step, Step::MountFiles | Step::Chmod | Step::Chown);
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
        if !variant.steps.is_empty() {
            self.since_judged = SinceJudged {
                changed: true,
                held: None,
            };
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
        if self.since_judged.changed {
            self.since_judged.held = Some(rule.id.clone());
        }
        Ok(())
    }

    /// Fixes the failing rules in rounds, until every fixable rule holds; rules that keep
    /// undoing each other's changes are a conflict.
    pub(super) fn rounds(
        &mut self,
        profile: &Profile,
        failing_first: Option<&[&str]>,
    ) -> Result<(), PlanError> {
        const ROUNDS: usize = 4;
        let env = self.env;
        // The last round changed nothing but the mounts and volumes.
        let mut mounts_only = false;
        for round in 0..=ROUNDS {
            // The rule fixed last in the round before holds as the model is: it is not judged
            // again (the mounts' rule, whose fix is most often the only one of its round, is
            // the dearest to judge).
            let held = self.since_judged.held.take();
            let unjudged = |r: &&Rule| held.as_deref() != Some(r.id.as_str());
            let failing: Vec<&Rule> = match failing_first.filter(|_| round == 0) {
                // Found failing on the caller's model, which may not be the working one (the
                // kubelet's configuration is judged with the flags that override it): each is
                // judged again before it is fixed.
                Some(ids) => {
                    // The profile's rules of those ids, in the profile's order (ids are unique),
                    // found in one pass when the ids come in that order.
                    let mut at: Vec<usize> = Vec::with_capacity(ids.len());
                    for id in ids {
                        let from = at.last().map_or(0, |i| i + 1);
                        at.extend(profile.position_from(id, from));
                    }
                    at.sort_unstable();
                    at.dedup();
                    at.into_iter().map(|i| &profile.rules[i]).collect()
                }
                // Every rule held or was fixed at the end of the last round, whose fixes only
                // mounted files: only a rule that reads the mounts can fail now (the second
                // round of a manifest whose new flags name files, which `check` plans for
                // every such file).
                None if mounts_only => profile
                    .rules
                    .iter()
                    .filter(unjudged)
                    .filter(|r| {
                        check::applies(r, &self.work, env.version)
                            && reads_mounts(r)
                            && !check::holds(&r.check, &self.work, env)
                    })
                    .collect(),
                None => {
                    check::failing(profile.rules.iter().filter(unjudged), &self.work, env).collect()
                }
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
            self.beyond_mounts = false;
            // The rules were judged on the model as it is, unless the caller judged them.
            self.since_judged.changed = round == 0 && failing_first.is_some();
            for rule in fixable {
                self.fix(rule)?;
            }
            mounts_only = !self.beyond_mounts;
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
