//! The document kinds kubeharden reads and edits, one folder each: static pod manifests
//! ([`manifest`]), kubeadm configuration files ([`kubeadm`]) and component configuration files
//! such as the KubeletConfiguration ([`component`]). A kind knows what truly differs between
//! them: how to recognise and load a file, where a setting is in it, how a planned change is
//! written into it, and what else may not change. Everything else (checking, planning,
//! verifying, reporting) is the same for every kind and lives in the stages around it.
//!
//! A file holds one or more [`Part`]s, each a set of settings of one component with its own
//! model: a manifest or a component configuration file is one part; a kubeadm file is its
//! ClusterConfiguration (the kube-apiserver manifest kubeadm generates from it) and, when it
//! has one, its KubeletConfiguration.

pub mod component;
pub mod env_file;
mod kind;
pub mod kubeadm;
pub mod manifest;

use crate::profile::Registry;
use kind::has;
pub(crate) use kind::{has_bare_cr, BARE_CR};
pub use kind::{Document, LoadError, Part};

/// Recognises the kind of `text` and loads it.
pub(crate) fn load(text: &str, registry: &Registry) -> Result<Box<dyn Document>, LoadError> {
    // kubeadm configuration files: a cheap look before parsing anything twice.
    if has(text, kubeadm::GROUP) {
        if let Ok(docs) = crate::yaml::parse(text) {
            if kubeadm::is_kubeadm(&docs) {
                return Ok(Box::new(kubeadm::load(text, docs, &registry.kubeadm)?));
            }
        }
    }
    // Component configuration files (KubeletConfiguration, KubeSchedulerConfiguration).
    if has(text, "Configuration") {
        if let Ok(docs) = crate::yaml::parse(text) {
            if component::config_kind(&docs, registry).is_some() {
                return component::load(text, docs, registry)
                    .map(|c| Box::new(c) as Box<dyn Document>)
                    .map_err(|e| LoadError {
                        unrecognized: false,
                        ..e
                    });
            }
        }
    }
    Ok(Box::new(manifest::load_any(text, registry)?))
}

/// Whether `text` is a component's configuration file (a KubeletConfiguration, a
/// KubeSchedulerConfiguration).
pub(crate) fn is_config_text(text: &str, registry: &Registry) -> bool {
    has(text, "Configuration")
        && crate::yaml::parse(text.trim_start_matches('\u{feff}'))
            .is_ok_and(|d| component::config_kind(&d, registry).is_some())
}

/// Whether `text` is a kubeadm configuration file.
pub(crate) fn is_kubeadm_text(text: &str) -> bool {
    has(text, kubeadm::GROUP)
        && crate::yaml::parse(text.trim_start_matches('\u{feff}'))
            .is_ok_and(|d| kubeadm::is_kubeadm(&d))
}
