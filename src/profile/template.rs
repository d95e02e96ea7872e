//! Supporting-file templates rendered for a Kubernetes version and a profile's parameters.

use super::registry::Registry;
use super::version::Version;
use std::collections::BTreeMap;

/// Templates for the supporting files flags refer to: (name, source text).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    (
        "audit-policy",
        include_str!("../../profiles/templates/audit-policy.yaml"),
    ),
    (
        "admission-config",
        include_str!("../../profiles/templates/admission-config.yaml"),
    ),
    (
        "authentication-config",
        include_str!("../../profiles/templates/authentication-config.yaml"),
    ),
    (
        "encryption-config",
        include_str!("../../profiles/templates/encryption-config.yaml"),
    ),
    (
        "kubeadm-config",
        include_str!("../../profiles/templates/kubeadm-config.yaml"),
    ),
    (
        "kubeadm-probe-patch",
        include_str!("../../profiles/templates/kubeadm-probe-patch.yaml"),
    ),
];

pub(crate) fn template(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Renders a supporting-file template for Kubernetes `v`: `${api_version:Kind}` becomes the
/// apiVersion the registry gives for that kind and version, `${name}` a profile parameter, and
/// lines between `#% if version >= 1.N` and `#% endif` are kept only from that version on.
pub fn render_template(
    name: &str,
    v: Version,
    registry: &Registry,
    params: &BTreeMap<String, String>,
) -> Result<String, String> {
    let text = template(name).ok_or_else(|| format!("unknown template `{name}`"))?;
    let mut out = String::with_capacity(text.len());
    let mut keep = vec![true];
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if let Some(req) = t.strip_prefix("#% requires version >=") {
            let (ver, why) = req.split_once(':').unwrap_or((req, ""));
            let min = Version::parse(ver.trim())
                .ok_or_else(|| format!("template `{name}`: bad requirement `{t}`"))?;
            if v.minor < min.minor {
                return Err(format!(
                    "template `{name}` is for Kubernetes {min} or later, not {v}:{why}"
                ));
            }
            continue;
        }
        if let Some(cond) = t.strip_prefix("#% if version >=") {
            let min = Version::parse(cond.trim())
                .ok_or_else(|| format!("template `{name}`: bad condition `{t}`"))?;
            let outer = keep.last().copied().unwrap_or(true);
            keep.push(outer && v.minor >= min.minor);
            continue;
        }
        // `#% if set KEY` / `#% if unset KEY`: whether a parameter has a non-empty value.
        if let Some(key) = t
            .strip_prefix("#% if set ")
            .map(|k| (k, true))
            .or_else(|| t.strip_prefix("#% if unset ").map(|k| (k, false)))
        {
            let (k, want) = key;
            let is_set = params.get(k.trim()).is_some_and(|v| !v.is_empty());
            let outer = keep.last().copied().unwrap_or(true);
            keep.push(outer && is_set == want);
            continue;
        }
        if t == "#% endif" {
            if keep.len() < 2 {
                return Err(format!("template `{name}`: `#% endif` without `#% if`"));
            }
            keep.pop();
            continue;
        }
        if keep.last().copied().unwrap_or(true) {
            out.push_str(line);
        }
    }
    if keep.len() != 1 {
        return Err(format!("template `{name}`: `#% if` without `#% endif`"));
    }
    let mut rendered = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("${") {
        rendered.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after
            .find('}')
            .ok_or_else(|| format!("template `{name}`: unclosed `${{`"))?;
        let key = &after[..j];
        let value = match key.strip_prefix("api_version:") {
            Some(kind) => registry
                .api_version(kind, v)
                .ok_or_else(|| format!("template `{name}`: Kubernetes {v} has no {kind}"))?,
            None => params
                .get(key)
                .map(String::as_str)
                .ok_or_else(|| format!("template `{name}`: unknown parameter `{key}`"))?,
        };
        rendered.push_str(value);
        rest = &after[j + 1..];
    }
    rendered.push_str(rest);
    Ok(rendered)
}

#[cfg(test)]
mod template_tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, String)> {
        let v: yaml_serde::Value = yaml_serde::from_str(text).expect("renders to YAML");
        let mut out = Vec::new();
        fn walk(v: &yaml_serde::Value, out: &mut Vec<(String, String)>) {
            match v {
                yaml_serde::Value::Mapping(m) => {
                    if let (Some(a), Some(k)) = (m.get("apiVersion"), m.get("kind")) {
                        out.push((
                            a.as_str().unwrap_or("").to_string(),
                            k.as_str().unwrap_or("").to_string(),
                        ));
                    }
                    for (_, x) in m {
                        walk(x, out);
                    }
                }
                yaml_serde::Value::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&v, &mut out);
        out
    }

    #[test]
    fn templates_render_for_the_versions_that_use_them() {
        let reg = Registry::builtin().expect("registry");
        let params = BTreeMap::new();
        for minor in reg.versions.oldest..=reg.versions.newest {
            let v = Version::minor(minor);
            let audit = render_template("audit-policy", v, &reg, &params).expect("audit policy");
            assert_eq!(
                kinds(&audit),
                vec![("audit.k8s.io/v1".into(), "Policy".into())]
            );
            let adm = render_template("admission-config", v, &reg, &params).expect("admission");
            let k = kinds(&adm);
            assert_eq!(
                k[0],
                (
                    "apiserver.config.k8s.io/v1".into(),
                    "AdmissionConfiguration".into()
                )
            );
            let psa = k
                .iter()
                .find(|(_, kind)| kind == "PodSecurityConfiguration");
            match minor {
                ..=22 => assert!(
                    psa.is_none(),
                    "1.{minor}: PodSecurity is configured from 1.23"
                ),
                23 | 24 => assert_eq!(
                    psa.map(|x| x.0.as_str()),
                    Some("pod-security.admission.config.k8s.io/v1beta1")
                ),
                _ => assert_eq!(
                    psa.map(|x| x.0.as_str()),
                    Some("pod-security.admission.config.k8s.io/v1")
                ),
            }
            let authn = render_template("authentication-config", v, &reg, &params);
            if minor >= 32 {
                let text = authn.expect("authentication config");
                let want = if minor >= 34 {
                    "apiserver.config.k8s.io/v1"
                } else {
                    "apiserver.config.k8s.io/v1beta1"
                };
                assert_eq!(
                    kinds(&text),
                    vec![(want.to_string(), "AuthenticationConfiguration".to_string())]
                );
                assert!(!text.contains("${"));
            }
        }
        assert!(
            render_template("authentication-config", Version::minor(25), &reg, &params).is_err()
        );
    }

    #[test]
    fn the_audit_policy_covers_what_cis_3_2_2_asks() {
        let reg = Registry::builtin().expect("registry");
        let text = render_template("audit-policy", Version::minor(30), &reg, &BTreeMap::new())
            .expect("renders");
        let v: yaml_serde::Value = yaml_serde::from_str(&text).expect("yaml");
        let rules = v["rules"].as_sequence().expect("rules");
        let level_for = |resource: &str| -> Option<String> {
            rules
                .iter()
                .find(|r| {
                    r["resources"].as_sequence().is_some_and(|rs| {
                        rs.iter().any(|g| {
                            g["resources"].as_sequence().is_some_and(|names| {
                                names.iter().any(|n| n.as_str() == Some(resource))
                            })
                        })
                    })
                })
                .and_then(|r| r["level"].as_str().map(str::to_string))
        };
        for secretish in ["secrets", "configmaps", "tokenreviews"] {
            assert_eq!(
                level_for(secretish).as_deref(),
                Some("Metadata"),
                "{secretish}: metadata, never bodies"
            );
        }
        for access in [
            "pods/exec",
            "pods/portforward",
            "pods/proxy",
            "services/proxy",
            "pods",
        ] {
            assert!(
                level_for(access).is_some_and(|l| l != "None"),
                "{access} is logged"
            );
        }
        let deployments = level_for("deployments");
        assert!(deployments.is_some_and(|l| l != "None"));
        // Everything else falls through to a catch-all that logs.
        let last = rules.last().expect("a catch-all rule");
        assert_eq!(last["level"].as_str(), Some("Metadata"));
        assert!(last.get("resources").is_none());
    }
}
