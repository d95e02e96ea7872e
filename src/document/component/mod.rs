//! Component configuration files: the KubeletConfiguration (`kubelet.config.k8s.io/v1beta1`,
//! `/var/lib/kubelet/config.yaml`) and the KubeSchedulerConfiguration.
//!
//! The settings kubeharden knows (`kubelet` in `profiles/registry.yaml`, named by their path in
//! the document: `authentication.anonymous.enabled`) become the model's flags, so the same
//! checks and plans apply as to a manifest. The edits set, add and remove mapping entries in
//! the text; the check after editing reads the result again and compares the whole document
//! with the original plus the planned changes.

mod compare;
mod config;
mod edit;
mod load;

pub use config::{ComponentConfig, Filled, COMPONENT, KIND};
use load::api_rejected;
pub use load::{config_kind, find, load};

use crate::check::suppress::Target;
use crate::check::{self, Env};
use crate::document::kind::{has_bare_cr, Document, Part, BARE_CR};
use crate::edit::mapping::lookup;
use crate::edit::{EditError, Splice};
use crate::model::report::{Region, VersionSource};
use crate::model::Model;
use crate::plan::Plan;
use crate::profile::version::Version;
use crate::profile::Registry;
use crate::verify::Nouns;
use crate::yaml::head_end;

impl Part for ComponentConfig {
    fn text(&self) -> &str {
        &self.text
    }

    fn nouns(&self) -> Nouns {
        Nouns {
            flags: "settings",
            volumes: "volumes",
        }
    }

    fn model(&self) -> &Model {
        &self.model
    }

    /// Where a finding points: the setting's entry, else the top of the document.
    /// The region covers the whole entry (key and value), or the document's first key.
    fn locate(&self, flag: Option<&str>) -> Region {
        let entry = flag.and_then(|f| {
            let (parent, last) = match f.rsplit_once('.') {
                Some((p, l)) => (lookup(&self.root, p)?, l),
                None => (&self.root, f),
            };
            parent.entry(last)
        });
        match entry {
            // An empty value has no text of its own.
            Some((k, v)) if v.as_str() == Some("") => {
                Region::of(&self.text, k.span.start, k.span.end)
            }
            Some((k, v)) => Region::of(&self.text, k.span.start, v.content_end().max(k.span.end)),
            None => Region::of(&self.text, self.root.span.start, head_end(&self.root)),
        }
    }

    fn edits(&self, plan: &Plan, registry: &Registry) -> Result<Vec<Splice>, EditError> {
        edit::edits(self, plan, registry)
    }

    fn reread(&self, plan: &Plan, edited: &str, registry: &Registry) -> Result<Model, String> {
        compare::reread(self, plan, edited, registry)
    }

    fn subject(&self) -> &'static str {
        if self.embedded {
            "the KubeletConfiguration"
        } else {
            "this file"
        }
    }

    fn unversioned_subject(&self) -> Option<String> {
        Some(if self.embedded {
            "the file".to_string()
        } else {
            format!("a {}", self.kind)
        })
    }
}

impl Document for ComponentConfig {
    fn component(&self) -> &str {
        &self.component
    }

    fn named_version(&self, _registry: &Registry) -> Option<(Version, VersionSource)> {
        None
    }

    fn takes_node_version(&self, _registry: &Registry) -> bool {
        true
    }

    fn assumed_note(&self, v: Version, _registry: &Registry) -> String {
        format!(
            "a {} names no Kubernetes version and no --kubernetes-version was given: assuming {v}, the newest kubeharden knows; rules that depend on the version are not fixed",
            self.kind
        )
    }

    fn refusals(&self, env: Env, source: VersionSource, _notes: &mut Vec<String>) -> Vec<String> {
        let mut cannot: Option<String> = None;
        if has_bare_cr(&self.text) {
            cannot = Some(BARE_CR.into());
        }
        if let Some(why) = api_rejected(self, env.registry, env.version) {
            cannot.get_or_insert(why);
        }
        if self.root.is_flow() {
            cannot.get_or_insert(format!(
                "kubeharden edits a {} written as block YAML, not as JSON or a flow mapping",
                self.kind
            ));
        }
        let mut out: Vec<String> = cannot.into_iter().collect();
        // A guessed version that the file contradicts (it names gates that version no longer
        // has) must not steer edits: removing such a gate is right only for the versions
        // without it.
        if source == VersionSource::Assumed {
            let gates: Vec<String> = check::rejected_gates(&self.model, env)
                .into_iter()
                .map(|(_, g)| g)
                .collect();
            if !gates.is_empty() {
                out.push(format!(
                    "the file names the feature gate(s) {}, which {} no longer has, so the component is older than {}; pass --kubernetes-version",
                    gates.join(", "),
                    env.version,
                    env.version
                ));
            }
        }
        out
    }

    fn suppression_targets(&self) -> Vec<Target> {
        vec![Target::document(&self.text, &self.root)]
    }
}
