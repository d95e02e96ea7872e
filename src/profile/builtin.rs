//! The built-in data, compiled into the binary: the registry, the profiles `baseline` and
//! `strict`, and the templates of supporting files.

pub(super) const REGISTRY_YAML: &str = include_str!("../../profiles/registry.yaml");

/// Built-in profiles: (name, source text).
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../../profiles/baseline.yaml")),
    ("strict", include_str!("../../profiles/strict.yaml")),
];

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
