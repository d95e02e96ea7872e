//! Rules built from their raw form: parameters substituted, flags, plugins and values checked
//! against the registry, conditions and fix steps made typed.

use super::error::ProfileError;
use super::raw::{RawCond, RawRule, RawStep};
use super::registry::{FlagType, Registry};
use super::rule::{Cond, Op, Rule, Step, Variant, NODE_FILES};
use super::version::{Version, VersionReq};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a flag set to `value` alone satisfies `op`.
pub(super) fn op_accepts(op: &Op, value: &str) -> bool {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    match op {
        Op::Present => true,
        Op::Absent => false,
        Op::Equals(v) => value == v,
        Op::OneOf(vs) => vs.iter().any(|v| v == value),
        Op::Contains(vs) => vs.iter().all(|v| items.contains(&v.as_str())),
        Op::Excludes(vs) => !vs.iter().any(|v| items.contains(&v.as_str())),
        Op::AtLeast(n) => super::values::parse_go_int(value).is_some_and(|x| x >= *n),
        Op::SubsetOf(vs) => !items.is_empty() && items.iter().all(|i| vs.iter().any(|v| v == i)),
        Op::GateOff(_) => true,
    }
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

pub(super) fn build_rule(
    origin: &str,
    raw: RawRule,
    params: &BTreeMap<String, String>,
    registry: &Registry,
    used: &std::cell::RefCell<BTreeSet<String>>,
) -> Result<Rule, ProfileError> {
    let id = raw.id.clone();
    let invalid = |message: String| ProfileError::Invalid {
        origin: origin.to_string(),
        message: format!("rule `{id}`: {message}"),
    };
    if !is_kebab(&raw.id) {
        return Err(invalid("ids are kebab-case (a-z, 0-9, `-`)".into()));
    }
    if !registry.flags.contains_key(&raw.component) && raw.component != NODE_FILES {
        return Err(invalid(format!("unknown component `{}`", raw.component)));
    }
    let versions = match &raw.versions {
        Some(v) => VersionReq::parse(v).map_err(&invalid)?,
        None => VersionReq::ANY,
    };
    let ctx = Ctx {
        component: &raw.component,
        params,
        registry,
        used,
    };
    let check = ctx.cond(&raw.check).map_err(&invalid)?;
    let mut fix = Vec::new();
    for var in &raw.fix {
        let vr = match &var.versions {
            Some(v) => VersionReq::parse(v).map_err(&invalid)?,
            None => VersionReq::ANY,
        };
        let unless = match &var.unless {
            Some(c) => Some(ctx.cond(c).map_err(&invalid)?),
            None => None,
        };
        let mut steps = Vec::new();
        for s in &var.steps {
            steps.push(ctx.step(s).map_err(&invalid)?);
        }
        if steps.is_empty() {
            return Err(invalid("a fix variant needs at least one step".into()));
        }
        fix.push(Variant {
            versions: vr,
            unless,
            because: var.because.as_ref().map(|b| b.trim().to_string()),
            refuse: var
                .refuse
                .iter()
                .map(|r| Ok((ctx.cond(&r.when)?, ctx.subst(r.because.trim())?)))
                .collect::<Result<Vec<_>, String>>()
                .map_err(&invalid)?,
            steps,
        });
    }
    if fix.is_empty() && raw.manual.is_none() {
        return Err(invalid(
            "needs either `fix` or `manual` (why it cannot be fixed automatically)".into(),
        ));
    }
    let title = ctx.subst_owned(raw.title).map_err(&invalid)?;
    let rationale = ctx.subst_owned(trimmed(raw.rationale)).map_err(&invalid)?;
    let risk = ctx.subst_owned(trimmed(raw.risk)).map_err(&invalid)?;
    let manual = match raw.manual {
        Some(m) => Some(ctx.subst_owned(trimmed(m)).map_err(&invalid)?),
        None => None,
    };
    let applicability = match raw.applicability {
        Some(a) => Some(crate::profile::rule::Applicability {
            risky: ctx.subst_owned(trimmed(a.risky)).map_err(&invalid)?,
            precondition: ctx.subst_owned(trimmed(a.precondition)).map_err(&invalid)?,
            safe_when: match &a.safe_when {
                Some(c) => Some(ctx.cond(c).map_err(&invalid)?),
                None => None,
            },
            on_node: match &a.on_node {
                Some(n) => Some(node_check(n).map_err(&invalid)?),
                None => None,
            },
        }),
        None => None,
    };
    Ok(Rule {
        id: raw.id,
        component: raw.component,
        cis: raw.cis,
        severity: raw.severity,
        title,
        rationale,
        risk,
        versions,
        check,
        fix,
        manual,
        applicability,
        origin: origin.to_string(),
    })
}

/// `on_node` of an applicability: the kernel settings and their wanted values.
fn node_check(n: &super::raw::RawNodeCheck) -> Result<crate::profile::rule::NodeCheck, String> {
    use crate::profile::rule::{NodeCheck, Wanted};
    let given = usize::from(n.sysctls.is_some())
        + usize::from(n.kubelet_serving_signed_by.is_some())
        + usize::from(n.serving_approved_before.is_some())
        + usize::from(n.admin_credential.is_some());
    if given != 1 {
        return Err(
            "on_node needs exactly one of sysctls, kubelet_serving_signed_by, serving_approved_before, admin_credential"
                .into(),
        );
    }
    if let Some(flag) = &n.serving_approved_before {
        return Ok(NodeCheck::ServingApprovedBefore {
            ca_flag: flag.clone(),
        });
    }
    if let Some(flag) = &n.kubelet_serving_signed_by {
        return Ok(NodeCheck::KubeletServingSignedBy {
            ca_flag: flag.clone(),
        });
    }
    if let Some(a) = &n.admin_credential {
        return Ok(NodeCheck::AdminCredential {
            ca_flag: a.ca_flag.clone(),
            groups: a.groups.clone(),
        });
    }
    let mut out = Vec::new();
    for (name, want) in n.sysctls.iter().flatten() {
        let bad = || format!("on_node.sysctls.{name}: `{want}` is not a number or `>=` a number");
        let w = match want.strip_prefix(">=") {
            Some(v) => Wanted::AtLeast(v.trim().parse().map_err(|_| bad())?),
            None => Wanted::Equals(want.trim().parse().map_err(|_| bad())?),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!(
                "on_node.sysctls: `{name}` is not a kernel setting's name"
            ));
        }
        out.push((name.clone(), w));
    }
    Ok(NodeCheck::Sysctls(out))
}

struct Ctx<'a> {
    component: &'a str,
    params: &'a BTreeMap<String, String>,
    registry: &'a Registry,
    used: &'a std::cell::RefCell<BTreeSet<String>>,
}

/// `text` without its leading and trailing white space, in its own buffer.
fn trimmed(mut text: String) -> String {
    text.truncate(text.trim_end().len());
    let lead = text.len() - text.trim_start().len();
    text.drain(..lead);
    text
}

impl Ctx<'_> {
    /// [`Ctx::subst`] of a text the caller owns: returned as it is when it names no parameter
    /// (most texts of a profile: a profile is built at every start, so no copy is wasted).
    fn subst_owned(&self, text: String) -> Result<String, String> {
        if text.contains("${") {
            self.subst(&text)
        } else {
            Ok(text)
        }
    }

    fn subst(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                return Err(format!("unclosed `${{` in `{text}`"));
            };
            let key = &after[..j];
            self.used.borrow_mut().insert(key.to_string());
            let val = self.params.get(key).ok_or_else(|| {
                format!("`{text}` uses parameter `{key}`, which no profile defines")
            })?;
            out.push_str(val);
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn flag(&self, name: &str) -> Result<String, String> {
        let name = name.strip_prefix("--").unwrap_or(name);
        if self.registry.flag(self.component, name).is_none() {
            return Err(format!(
                "flag `--{name}` is not in the lifecycle registry for {} (profiles/registry.yaml)",
                self.component
            ));
        }
        Ok(name.to_string())
    }

    fn list(&self, items: &[String]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for i in items {
            for part in self.subst(i)?.split(',') {
                let p = part.trim();
                if !p.is_empty() {
                    out.push(p.to_string());
                }
            }
        }
        Ok(out)
    }

    fn cond(&self, c: &RawCond) -> Result<Cond, String> {
        let mut found: Vec<Cond> = Vec::new();
        if let Some(any) = &c.any {
            found.push(Cond::Any(
                any.iter().map(|x| self.cond(x)).collect::<Result<_, _>>()?,
            ));
        }
        if let Some(all) = &c.all {
            found.push(Cond::All(
                all.iter().map(|x| self.cond(x)).collect::<Result<_, _>>()?,
            ));
        }
        // The conditions that are there or not.
        push_switched_on(
            &mut found,
            [
                (c.no_removed_flags, Cond::NoRemovedFlags),
                (c.no_removed_plugins, Cond::NoRemovedPlugins),
                (c.probes_without_anonymous, Cond::ProbesWithoutAnonymous),
                (c.no_duplicate_flags, Cond::NoDuplicateFlags),
                (c.files_mounted, Cond::FilesMounted),
                (c.no_conflicting_flags, Cond::NoConflictingFlags),
                (c.no_split_flags, Cond::NoSplitFlags),
                (c.http_probes_on_local_host, Cond::ProbesOnLocalHost),
                (c.no_env_conflicts, Cond::NoEnvConflicts),
                (c.no_removed_gates, Cond::NoRemovedGates),
                (c.existing_cluster, Cond::ExistingCluster),
                (c.config_api_read, Cond::ConfigApiRead),
                (c.exec_http_probes, Cond::ExecHttpProbes),
            ],
        );
        if let Some(v) = &c.version_at_least {
            let v = Version::parse(v)
                .ok_or_else(|| format!("`version_at_least: {v}` is not a 1.N version"))?;
            found.push(Cond::VersionAtLeast(v.minor));
        }
        if let Some(inner) = &c.not {
            found.push(Cond::Not(Box::new(self.cond(inner)?)));
        }
        if let Some(paths) = &c.http_probes_within {
            found.push(Cond::HttpProbesWithin(paths.clone()));
        }
        if let Some(m) = &c.file_mode {
            let at_most = u32::from_str_radix(&m.at_most, 8)
                .ok()
                .filter(|v| *v <= 0o7777)
                .ok_or_else(|| format!("`at_most: {}` is not an octal mode", m.at_most))?;
            found.push(Cond::FileMode {
                file: self.node_file(&m.file)?,
                at_most,
            });
        }
        if let Some(o) = &c.file_owner {
            if o.owner.split(':').count() != 2 || o.owner.split(':').any(str::is_empty) {
                return Err(format!("`owner: {}` is not user:group", o.owner));
            }
            found.push(Cond::FileOwner {
                file: self.node_file(&o.file)?,
                owner: o.owner.clone(),
            });
        }
        let mut ops = Vec::new();
        if let Some(v) = &c.equals {
            ops.push(Op::Equals(self.subst(v)?));
        }
        if let Some(v) = &c.one_of {
            ops.push(Op::OneOf(self.list(v)?));
        }
        if c.present == Some(true) {
            ops.push(Op::Present);
        }
        if c.absent == Some(true) {
            ops.push(Op::Absent);
        }
        if let Some(v) = &c.contains {
            ops.push(Op::Contains(self.list(v)?));
        }
        if let Some(v) = &c.excludes {
            ops.push(Op::Excludes(self.list(v)?));
        }
        if let Some(v) = c.at_least {
            ops.push(Op::AtLeast(v));
        }
        if let Some(v) = &c.subset_of {
            ops.push(Op::SubsetOf(self.list(v)?));
        }
        if let Some(v) = &c.gate_off {
            ops.push(Op::GateOff(v.clone()));
        }
        match (&c.flag, ops.len()) {
            (Some(f), 1) => found.push(Cond::Flag {
                flag: self.flag(f)?,
                op: ops.remove(0),
            }),
            (Some(f), n) => {
                return Err(format!(
                    "condition on `{f}` needs exactly one operator (equals, one_of, present, absent, contains, excludes, at_least, subset_of, gate_off), found {n}"
                ))
            }
            (None, 0) => {}
            (None, _) => return Err("an operator needs a `flag`".into()),
        }
        if found.len() != 1 {
            return Err(format!(
                "each condition has exactly one form (a flag test, any, all, no_removed_flags, no_removed_plugins, probes_without_anonymous, no_duplicate_flags, files_mounted, no_conflicting_flags, no_split_flags, version_at_least, not, http_probes_within, http_probes_on_local_host, no_env_conflicts, no_removed_gates, existing_cluster, config_api_read, exec_http_probes, file_mode, file_owner), found {}",
                found.len()
            ));
        }
        Ok(found.remove(0))
    }

    /// A role of the registry's `node_files`, named by a rule of the `node-files` component.
    fn node_file(&self, role: &str) -> Result<String, String> {
        if self.component != NODE_FILES {
            return Err(format!(
                "file conditions belong to rules of the `{NODE_FILES}` component"
            ));
        }
        if !self.registry.node_files.contains_key(role) {
            return Err(format!("`{role}` is not a node file the registry knows"));
        }
        Ok(role.to_string())
    }

    fn step(&self, s: &RawStep) -> Result<Step, String> {
        let mut found = Vec::new();
        if let Some(set) = &s.set {
            let flag = self.flag(&set.flag)?;
            let kind = self.registry.flag(self.component, &flag).map(|s| s.kind);
            if matches!(
                kind,
                Some(FlagType::Array | FlagType::Files | FlagType::Map)
            ) {
                return Err(format!(
                    "`set` would replace every occurrence of the repeatable --{flag}; use a flag that takes one value"
                ));
            }
            match (&set.value, &set.value_from) {
                (Some(v), None) => {
                    let value = self.subst(v)?;
                    self.check_value(&flag, &value)?;
                    found.push(Step::Set { flag, value });
                }
                (None, Some(from)) => {
                    let from = self.flag(from)?;
                    let file = |k: Option<FlagType>| k.is_some_and(|k| k.references_file());
                    let from_kind = self.registry.flag(self.component, &from).map(|s| s.kind);
                    if from_kind != kind && !(file(kind) && file(from_kind)) {
                        return Err(format!(
                            "--{flag} cannot take its value from --{from}: their types differ"
                        ));
                    }
                    found.push(Step::SetFrom { flag, from })
                }
                _ => {
                    return Err(format!(
                        "`set` of --{flag} needs exactly one of `value` and `value_from`"
                    ))
                }
            }
        }
        if let Some(f) = &s.remove {
            found.push(Step::Remove {
                flag: self.flag(f)?,
            });
        }
        if let Some(l) = &s.add_to_list {
            let flag = self.list_flag(&l.flag)?;
            let items = self.list(&l.items)?;
            self.known_plugins(&flag, &items)?;
            for item in &items {
                self.check_value(&flag, item)?;
            }
            found.push(Step::AddToList { flag, items });
        }
        if let Some(l) = &s.remove_from_list {
            let flag = self.list_flag(&l.flag)?;
            let items = self.list(&l.items)?;
            self.known_plugins(&flag, &items)?;
            found.push(Step::RemoveFromList { flag, items });
        }
        if let Some(l) = &s.remove_keys {
            let flag = self.flag(&l.flag)?;
            if self.registry.flag(self.component, &flag).map(|s| s.kind) != Some(FlagType::Map) {
                return Err(format!("`--{flag}` is not a map flag (key=value,...)"));
            }
            let keys = self.list(&l.items)?;
            found.push(Step::RemoveKeys { flag, keys });
        }
        if let Some(p) = s.probes {
            found.push(Step::Probes(p));
        }
        // The steps that are there or not.
        push_switched_on(
            &mut found,
            [
                (s.remove_removed, Step::RemoveRemoved),
                (s.dedupe, Step::Dedupe),
                (s.mount_files, Step::MountFiles),
                (s.join_split, Step::JoinSplit),
                (s.chmod, Step::Chmod),
                (s.chown, Step::Chown),
            ],
        );
        if found.len() != 1 {
            return Err(format!(
                "each fix step has exactly one action (set, remove, add_to_list, remove_from_list, remove_keys, probes, remove_removed, dedupe, mount_files, join_split, chmod, chown), found {}",
                found.len()
            ));
        }
        Ok(found.remove(0))
    }

    /// Admission plugin names must be ones kube-apiserver has had (a typo would be fatal).
    fn known_plugins(&self, flag: &str, items: &[String]) -> Result<(), String> {
        if self.registry.names_plugins(self.component, flag) {
            if let Some(bad) = items
                .iter()
                .find(|p| !self.registry.admission_plugins.contains_key(*p))
            {
                return Err(format!(
                    "`{bad}` is not an admission plugin kube-apiserver knows (profiles/registry.yaml)"
                ));
            }
        }
        Ok(())
    }

    fn list_flag(&self, name: &str) -> Result<String, String> {
        let f = self.flag(name)?;
        match self.registry.flag(self.component, &f).map(|s| s.kind) {
            Some(FlagType::List) => Ok(f),
            _ => Err(format!("`--{f}` is not a list flag")),
        }
    }

    fn check_value(&self, flag: &str, value: &str) -> Result<(), String> {
        let kind = self.registry.flag(self.component, flag).map(|s| s.kind);
        match kind {
            Some(FlagType::Bool) if value != "true" && value != "false" => Err(format!(
                "`--{flag}` is a boolean: `{value}` must be true or false"
            )),
            Some(FlagType::Int) if super::values::parse_go_int(value).is_none() => {
                Err(format!("`--{flag}` takes an integer, not `{value}`"))
            }
            // The audit log may go to standard output.
            Some(FlagType::Logpath) if value == "-" => Ok(()),
            Some(FlagType::Logpath) if crate::paths::clean_path(value) && crate::paths::parent_dir(value) == "/" => {
                Err(format!("`--{flag}` needs a file below a directory of its own, not `{value}` (the whole root would be mounted)"))
            }
            Some(FlagType::File | FlagType::Files | FlagType::Logpath) if !crate::paths::clean_path(value) => Err(format!(
                "`--{flag}` needs an absolute path without `.`, `..` or a trailing `/`, not `{value}`"
            )),
            _ if value.is_empty() => Err(format!("`--{flag}` would be set to an empty value")),
            _ if !self.registry.rejected_values(flag, value, None).is_empty() => Err(format!(
                "`--{flag}` does not accept `{}` (profiles/registry.yaml lists what it takes)",
                self.registry.rejected_values(flag, value, None).join("`, `")
            )),
            _ => Ok(()),
        }
    }
}

/// Pushes the conditions or steps a profile writes as `key: true`.
fn push_switched_on<T>(found: &mut Vec<T>, switches: impl IntoIterator<Item = (Option<bool>, T)>) {
    found.extend(
        switches
            .into_iter()
            .filter_map(|(on, item)| (on == Some(true)).then_some(item)),
    );
}
