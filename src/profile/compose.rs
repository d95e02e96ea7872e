//! A profile: the built-in profiles it extends and its own file merged, then built and
//! validated as a whole.

use super::build::{build_rule, op_accepts};
use super::builtin::{built, read, BUILTIN};
use super::error::{yaml_err, ProfileError};
use super::raw::{RawFile, RawProfile, RawRule};
use super::registry::Registry;
use super::rule::{Cond, Rule, Step, SupportFile};
use super::template::template;
use super::version::VersionReq;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub name: String,
    pub(crate) description: String,
    /// The chain of profiles this one is built from, base first.
    pub(crate) lineage: Vec<String>,
    pub parameters: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
    pub(crate) files: Vec<SupportFile>,
    /// The benchmark whose ids the rules' CIS lists are (`CIS Kubernetes Benchmark v2.0.1`).
    pub cis_benchmark: String,
}

impl Profile {
    /// A built-in profile by name (`None` when there is no such profile); a profile file is
    /// read by `load`. The binary holds each built-in profile built (build.rs builds it with
    /// [`Profile::builtin_from_source`]), so a run only reads it.
    pub(crate) fn builtin(
        name: &str,
        registry: &Registry,
    ) -> Option<Result<Profile, ProfileError>> {
        let origin = format!("profiles/{name}.yaml");
        match built(name) {
            Some(json) => Some(read(&origin, json)),
            None => Self::builtin_from_source(name, registry),
        }
    }

    /// A built-in profile built from its source: its own rules and those of the profiles it
    /// extends, with its parameters, validated against the registry.
    pub(crate) fn builtin_from_source(
        name: &str,
        registry: &Registry,
    ) -> Option<Result<Profile, ProfileError>> {
        let (name, json) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Some(builtin_raw(name, json).and_then(|raw| {
            let merged = resolve(&format!("profiles/{name}.yaml"), raw, 0)?;
            finish(merged, registry)
        }))
    }

    /// A profile from its text; `origin` names it in errors.
    pub(crate) fn from_text(
        origin: &str,
        text: &str,
        registry: &Registry,
    ) -> Result<Profile, ProfileError> {
        let raw: RawProfile = yaml_serde::from_str(text).map_err(|e| yaml_err(origin, e))?;
        finish(resolve(origin, raw, 0)?, registry)
    }

    /// The profile cut down to the rules named (in the profile's order).
    pub fn only(&self, ids: &[String]) -> Profile {
        let mut p = self.clone();
        p.rules.retain(|r| ids.contains(&r.id));
        p
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The position of the rule `id`, looked for from `from` on and then before it: ids asked
    /// for in the profile's order (a file's findings, which `check` makes in that order), each
    /// from where the one before was found, are all found in one pass over the rules.
    pub(crate) fn position_from(&self, id: &str, from: usize) -> Option<usize> {
        let from = from.min(self.rules.len());
        let (before, after) = self.rules.split_at(from);
        after
            .iter()
            .position(|r| r.id == id)
            .map(|i| from + i)
            .or_else(|| before.iter().position(|r| r.id == id))
    }

    pub(crate) fn support_file(&self, flag: &str) -> Option<&SupportFile> {
        self.files.iter().find(|f| f.flag == flag)
    }
}

/// Finds a rule in any built-in profile (for `explain`).
pub(crate) fn find_builtin_rule(
    id: &str,
    registry: &Registry,
) -> Result<Option<Rule>, ProfileError> {
    for p in BUILTIN
        .iter()
        .rev()
        .filter_map(|(name, _)| Profile::builtin(name, registry))
    {
        if let Some(r) = p?.rule(id) {
            return Ok(Some(r.clone()));
        }
    }
    Ok(None)
}

struct Merged {
    name: String,
    description: String,
    lineage: Vec<String>,
    parameters: BTreeMap<String, String>,
    /// The file that last set each parameter, and whether it is a built-in profile.
    param_origin: BTreeMap<String, (String, bool)>,
    rules: Vec<(String, RawRule)>,
    files: Vec<RawFile>,
}

/// The built-in profile `name`, read from its compiled text.
fn builtin_raw(name: &str, json: &str) -> Result<RawProfile, ProfileError> {
    read(&format!("profiles/{name}.yaml"), json)
}

fn resolve(origin: &str, raw: RawProfile, depth: usize) -> Result<Merged, ProfileError> {
    if depth > 8 {
        return Err(ProfileError::Invalid {
            origin: origin.to_string(),
            message: "`extends` chain is longer than 8 profiles (a cycle?)".into(),
        });
    }
    let invalid = |message: String| ProfileError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let mut seen = BTreeSet::new();
    for r in &raw.rules {
        if !seen.insert(r.id.clone()) {
            return Err(invalid(format!("rule id `{}` is defined twice", r.id)));
        }
    }
    let mut merged = match &raw.extends {
        None => Merged {
            name: raw.name.clone(),
            description: raw.description.clone(),
            lineage: Vec::new(),
            parameters: BTreeMap::new(),
            param_origin: BTreeMap::new(),
            rules: Vec::new(),
            files: Vec::new(),
        },
        Some(parent) => {
            let Some((pname, pjson)) = BUILTIN.iter().find(|(n, _)| n == parent) else {
                return Err(invalid(format!(
                    "`extends: {parent}`: only built-in profiles (baseline, strict) can be extended"
                )));
            };
            resolve(
                &format!("profiles/{pname}.yaml"),
                builtin_raw(pname, pjson)?,
                depth + 1,
            )?
        }
    };
    merged.lineage.push(raw.name.clone());
    merged.name = raw.name;
    merged.description = raw.description;
    for (k, v) in raw.parameters {
        let builtin = BUILTIN
            .iter()
            .any(|(n, _)| origin == format!("profiles/{n}.yaml"));
        merged
            .param_origin
            .insert(k.clone(), (origin.to_string(), builtin));
        merged.parameters.insert(k, v);
    }
    for (i, id) in raw.disable.iter().enumerate() {
        if raw.disable[..i].contains(id) {
            return Err(invalid(format!("`disable` names rule `{id}` twice")));
        }
        let before = merged.rules.len();
        merged.rules.retain(|(_, r)| &r.id != id);
        if merged.rules.len() == before {
            return Err(invalid(format!(
                "`disable` names rule `{id}`, which the profiles it extends do not define"
            )));
        }
    }
    for rule in raw.rules {
        if let Some(slot) = merged.rules.iter_mut().find(|(_, r)| r.id == rule.id) {
            *slot = (origin.to_string(), rule);
        } else {
            merged.rules.push((origin.to_string(), rule));
        }
    }
    for f in raw.files {
        merged.files.retain(|x| x.flag != f.flag);
        merged.files.push(f);
    }
    Ok(merged)
}

/// The rules of a merged profile, built and validated against the registry.
fn build_rules(
    raw_rules: Vec<(String, RawRule)>,
    m: &Merged,
    registry: &Registry,
    used: &std::cell::RefCell<BTreeSet<String>>,
) -> Result<Vec<Rule>, ProfileError> {
    let mut rules = Vec::new();
    for (origin, raw) in raw_rules {
        let rule = build_rule(&origin, raw, &m.parameters, registry, used).map_err(|e| {
            // Point at the file that set a parameter the rule could not use.
            match e {
                ProfileError::Invalid { origin, message } => {
                    let set_in: Vec<String> = m
                        .param_origin
                        .iter()
                        .filter(|(k, (o, _))| {
                            *o != origin && message.contains(&format!("`{}`", m.parameters[*k]))
                        })
                        .map(|(k, (o, _))| format!("parameter `{k}` is set in {o}"))
                        .collect();
                    let message = if set_in.is_empty() {
                        message
                    } else {
                        format!("{message} ({})", set_in.join("; "))
                    };
                    ProfileError::Invalid { origin, message }
                }
                other => other,
            }
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

/// Two rules that set one flag to different values for overlapping versions can never both
/// hold: the profile is refused rather than every manifest.
fn no_conflicting_sets(rules: &[Rule]) -> Result<(), ProfileError> {
    // Each rule's settings, gathered once: the pairs below are many (a profile of n rules has
    // n(n-1)/2 of them), the rules few.
    let sets: Vec<Vec<(&str, &str, VersionReq)>> = rules
        .iter()
        .map(|r| {
            r.fix
                .iter()
                .flat_map(|v| {
                    v.steps.iter().filter_map(move |s| match s {
                        Step::Set { flag, value } => {
                            Some((flag.as_str(), value.as_str(), v.versions))
                        }
                        _ => None,
                    })
                })
                .collect()
        })
        .collect();
    let overlap = |x: VersionReq, y: VersionReq| {
        let lo = x.min.unwrap_or(0).max(y.min.unwrap_or(0));
        let hi = x.below.unwrap_or(u32::MAX).min(y.below.unwrap_or(u32::MAX));
        lo < hi
    };
    for (i, a) in rules.iter().enumerate() {
        for (j, b) in rules.iter().enumerate().skip(i + 1) {
            for &(fa, va, ra) in &sets[i] {
                for &(fb, vb, rb) in &sets[j] {
                    if fa == fb && va != vb && overlap(ra, rb) && overlap(a.versions, b.versions) {
                        return Err(ProfileError::Invalid {
                            origin: b.origin.clone(),
                            message: format!(
                                "rules `{}` ({}) and `{}` ({}) set --{fa} to `{va}` and `{vb}`; disable one of them",
                                a.id, a.origin, b.id, b.origin
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// A fix must satisfy its own rule: a parameter such as `audit_log_maxage: "5"` under an
/// `at_least: 30` check would fail on every manifest, so the profile is refused instead.
fn fixes_satisfy_rules(rules: &[Rule], m: &Merged) -> Result<(), ProfileError> {
    for r in rules {
        let leaves: Vec<&Cond> = match &r.check {
            Cond::All(cs) => cs.iter().collect(),
            c => vec![c],
        };
        for v in &r.fix {
            for step in &v.steps {
                let Step::Set { flag, value } = step else {
                    continue;
                };
                for leaf in &leaves {
                    if let Cond::Flag { flag: f, op } = leaf {
                        if f == flag && !op_accepts(op, value) {
                            return Err(ProfileError::Invalid {
                                origin: r.origin.clone(),
                                message: format!(
                                    "rule `{}`: its fix sets --{flag}={value}, which its own check rejects{}",
                                    r.id,
                                    m.param_origin
                                        .iter()
                                        .filter(|(k, _)| m.parameters.get(*k) == Some(value))
                                        .map(|(k, (o, _))| format!(" (parameter `{k}` is set in {o})"))
                                        .collect::<String>()
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A parameter no rule uses is a typo or a leftover: said rather than ignored. (Built-in
/// parameters of disabled rules are fine.)
fn parameters_used(m: &Merged, used: &BTreeSet<String>) -> Result<(), ProfileError> {
    for (k, (origin, builtin)) in &m.param_origin {
        if !builtin && !used.contains(k) {
            return Err(ProfileError::Invalid {
                origin: origin.clone(),
                message: format!("parameter `{k}` is not used by any rule"),
            });
        }
    }
    Ok(())
}

fn finish(mut m: Merged, registry: &Registry) -> Result<Profile, ProfileError> {
    let used = std::cell::RefCell::new(BTreeSet::new());
    let rules = build_rules(std::mem::take(&mut m.rules), &m, registry, &used)?;
    no_conflicting_sets(&rules)?;
    fixes_satisfy_rules(&rules, &m)?;
    parameters_used(&m, &used.borrow())?;
    let mut files = Vec::new();
    for f in m.files {
        if template(&f.template).is_none() {
            return Err(ProfileError::Invalid {
                origin: m.name.clone(),
                message: format!("file for --{}: unknown template `{}`", f.flag, f.template),
            });
        }
        files.push(SupportFile {
            flag: f.flag,
            template: f.template,
            description: f.description,
        });
    }
    Ok(Profile {
        name: m.name,
        description: m.description,
        lineage: m.lineage,
        parameters: m.parameters,
        rules,
        files,
        cis_benchmark: registry.cis_benchmark.title(),
    })
}
