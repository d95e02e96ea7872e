//! Loads a static Pod manifest: finds the component's container and reads its flags, volumes,
//! mounts and probes together with where each of them sits in the text.

mod compare;
mod edit;
mod load;
mod pod;

pub use load::{image_version, load, load_any, COMPONENTS};
pub(crate) use pod::ArgList;
pub use pod::{FlagItem, Manifest};

use crate::check::suppress::Target;
use crate::check::{self, Env};
use crate::document::kind::{version_range, Document, Part};
use crate::edit::{EditError, Splice};
use crate::model::report::{Region, VersionSource};
use crate::model::Model;
use crate::plan::Plan;
use crate::profile::version::Version;
use crate::profile::{same_name, Registry};
use crate::verify::Nouns;
use crate::yaml::{head_end, line_col};

/// What a suppression comment in a manifest can silence: the component's container.
fn suppression_targets(m: &Manifest) -> Vec<Target> {
    let line = |o: usize| line_col(&m.text, o).0;
    let c = m.container();
    let head = line(c.span.start);
    let mut trailing = vec![(head, head)];
    for key in ["command", "args", "env"] {
        if let Some((k, v)) = c.entry(key) {
            trailing.push((line(k.span.start), line(v.content_end())));
        }
    }
    vec![Target {
        head_line: head,
        lines: (head, line(c.content_end())),
        trailing,
    }]
}

impl Part for Manifest {
    /// Where a finding points: the flag's first occurrence (the whole item), else the start of the
    /// container's argument list (its first item), else the container (its first key).
    fn locate(&self, flag: Option<&str>) -> Region {
        // The occurrence in effect: the last one (pflag and Go's flag package keep the last).
        if let Some(item) = flag.and_then(|f| self.flags.iter().rfind(|x| same_name(&x.name, f))) {
            return Region::of(&self.text, item.span.start, item.span.end);
        }
        // A setting etcd takes from a variable: its value.
        if let Some(span) = flag
            .filter(|f| self.model.from_env(f))
            .and_then(|f| self.env.iter().rfind(|e| e.flag == f))
            .and_then(|e| e.value_span)
        {
            return Region::of(&self.text, span.start, span.end);
        }
        *self.unset_at.get_or_init(|| {
            let node = self
                .args()
                .filter(|_| self.flags.iter().any(|f| f.list == ArgList::Args))
                .or_else(|| self.command())
                .unwrap_or(self.container());
            // A missing flag: the list's first item (the program), in block and flow lists
            // alike.
            match node.items().first() {
                Some(first) => Region::of(&self.text, first.span.start, head_end(first)),
                None => Region::of(&self.text, node.span.start, head_end(node)),
            }
        })
    }

    fn model(&self) -> &Model {
        &self.model
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn edits(&self, plan: &Plan, _registry: &Registry) -> Result<Vec<Splice>, EditError> {
        edit::edits(self, plan)
    }

    fn reread(&self, _plan: &Plan, edited: &str, registry: &Registry) -> Result<Model, String> {
        let after = load(edited, &self.component, registry)
            .map_err(|e| format!("the edited manifest no longer loads ({})", e.message))?;
        if compare::probe_rest(&after) != compare::probe_rest(self) {
            return Err("the edited probes differ from the planned ones".into());
        }
        if !compare::same_outside_edits(self, &after) {
            return Err("a part of the document outside the planned changes differs".into());
        }
        Ok(after.model)
    }

    fn nouns(&self) -> Nouns {
        Nouns {
            flags: "flags",
            volumes: "volumes or mounts",
        }
    }

    fn fallback(&self) -> &'static str {
        "no automatic fix applies to this manifest and version"
    }
}

impl Document for Manifest {
    fn component(&self) -> &str {
        &self.component
    }

    /// The image tag's, unless the image carries the component's own version (etcd's
    /// `etcd:3.5.15-0`).
    fn named_version(&self, registry: &Registry) -> Option<(Version, VersionSource)> {
        let v = self
            .image
            .as_deref()
            .filter(|_| registry.image_is_kubernetes(&self.component))
            .and_then(image_version)?;
        Some((v, VersionSource::Image))
    }

    fn takes_node_version(&self, registry: &Registry) -> bool {
        !registry.image_is_kubernetes(&self.component)
    }

    fn assumed_note(&self, v: Version, registry: &Registry) -> String {
        let what = if registry.image_is_kubernetes(&self.component) {
            "no Kubernetes version in the image tag"
        } else {
            "the image tag names the component's own version, not Kubernetes'"
        };
        format!("{what} and no --kubernetes-version: assuming {v}, the newest kubeharden knows")
    }

    fn refusals(&self, env: Env, source: VersionSource, notes: &mut Vec<String>) -> Vec<String> {
        let mut cannot = version_range(env, notes);
        let version = env.version;
        // A guessed version that the manifest contradicts (it has flags or plugins that version
        // rejects) must not steer edits: the fix could write flags the real version lacks.
        if source == VersionSource::Assumed {
            let mut evidence: Vec<String> = check::rejected_flags(&self.model, env)
                .iter()
                .map(|f| format!("--{f}"))
                .collect();
            evidence.extend(
                check::rejected_plugins(&self.model, env)
                    .into_iter()
                    .map(|(_, p)| p),
            );
            evidence.extend(
                check::rejected_gates(&self.model, env)
                    .into_iter()
                    .map(|(_, g)| format!("the feature gate {g}")),
            );
            if !evidence.is_empty() {
                cannot.get_or_insert(format!(
                    "the image tag names no version and the manifest uses {}, which {version} rejects, so it is older than {version}; pass --kubernetes-version",
                    evidence.join(", ")
                ));
            }
        }
        if let Some(flag) = env
            .registry
            .components
            .get(&self.component)
            .and_then(|c| c.overriding_flag.as_deref())
            .filter(|f| self.model.present(f))
        {
            cannot.get_or_insert(format!(
                "{} reads its whole configuration from --{flag} and then ignores its other flags and environment variables; kubeharden does not read that file, so the findings come from settings {} does not use",
                self.component, self.component
            ));
        }
        cannot.into_iter().collect()
    }

    fn suppression_targets(&self) -> Vec<Target> {
        suppression_targets(self)
    }
}

#[cfg(test)]
mod tests {
    use super::pod::Form;
    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: sidecar\n    image: busybox\n    command: [sleep, \"3600\"]\n  - command:\n    - kube-apiserver\n    # a comment between items\n    - --profiling=true\n    - \"--authorization-mode=Node,RBAC\"\n    - --audit-log-maxage\n    - '30'\n    - --anonymous-auth\n    args: [\"--secure-port=6443\", --v=2]\n    image: registry.k8s.io/kube-apiserver:v1.29.3\n    name: kube-apiserver\n";

    fn reg() -> Registry {
        Registry::builtin().expect("registry")
    }

    /// `text` is refused as a kube-apiserver manifest, with a message that says `said`.
    fn refused(text: &str, said: &str) {
        let err = load(text, "kube-apiserver", &reg()).expect_err("refused");
        assert!(err.message.contains(said), "{}", err.message);
    }

    #[test]
    fn finds_the_container_by_command_and_reads_every_form() {
        let m = load(POD, "kube-apiserver", &reg()).expect("loads");
        assert_eq!(m.container_index, 1);
        let names: Vec<_> = m
            .flags
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_deref(), f.form))
            .collect();
        assert_eq!(
            names,
            vec![
                ("profiling", Some("true"), Form::Joined),
                ("authorization-mode", Some("Node,RBAC"), Form::Joined),
                ("audit-log-maxage", Some("30"), Form::Split),
                ("anonymous-auth", None, Form::Bare),
                ("secure-port", Some("6443"), Form::Joined),
                ("v", Some("2"), Form::Joined),
            ]
        );
        assert_eq!(m.flags[4].list, ArgList::Args);
        assert_eq!(
            image_version(m.image.as_deref().unwrap_or("")),
            Some(Version {
                minor: 29,
                patch: Some(3)
            })
        );
    }

    #[test]
    fn refuses_shell_wrapped_flags() {
        refused(
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [\"/bin/sh\", \"-c\", \"kube-apiserver --profiling=true\"]\n",
            "shell",
        );
    }

    #[test]
    fn refuses_non_pods_and_missing_containers() {
        refused("kind: Deployment\nspec: {}\n", "is a Deployment, not a Pod");
        refused(
            "kind: Pod\nspec:\n  containers:\n  - name: x\n    command: [etcd]\n",
            "no kube-apiserver container",
        );
    }

    #[test]
    fn refuses_boolean_with_separate_value() {
        refused(
            "kind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --profiling\n    - \"false\"\n",
            "positional",
        );
    }

    #[test]
    fn hyperkube_and_image_only_containers() {
        let text = "kind: Pod\nspec:\n  containers:\n  - command: [/hyperkube, kube-apiserver, --profiling=false]\n";
        let m = load(text, "kube-apiserver", &reg()).expect("hyperkube");
        assert_eq!(m.program_items, 2);
        assert_eq!(m.model.value("profiling").as_deref(), Some("false"));
        let text = "kind: Pod\nspec:\n  containers:\n  - image: registry.k8s.io/kube-apiserver:v1.30.1\n    args: [--profiling=false]\n";
        let m = load(text, "kube-apiserver", &reg()).expect("args only");
        assert_eq!(m.program_items, 0);
        assert_eq!(m.flags.len(), 1);
    }
}
