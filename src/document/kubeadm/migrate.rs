//! kubeadm configuration `v1beta3` → `v1beta4`, edited in place: comments, order, quoting and
//! line endings stay as they are, unlike `kubeadm config migrate`, which re-serialises the file.
//!
//! What changes (cmd/kubeadm/app/apis/kubeadm/v1beta4/doc.go and types.go; the v1beta4
//! announcement, kubernetes.io/blog 2024-08-23):
//! - the `apiVersion` of every kubeadm document;
//! - `extraArgs` maps become lists of `{name, value}`: ClusterConfiguration `apiServer`,
//!   `controllerManager`, `scheduler` and `etcd.local`, and `nodeRegistration.kubeletExtraArgs`
//!   of InitConfiguration and JoinConfiguration;
//! - ClusterConfiguration `apiServer.timeoutForControlPlane` becomes InitConfiguration
//!   `timeouts.controlPlaneComponentHealthCheck`, and JoinConfiguration `discovery.timeout`
//!   becomes `timeouts.discovery`.
//!
//! The result is verified before it is returned: it parses, loads as v1beta4, and every document
//! means what the original meant with exactly these changes.

use super::config::GROUP;
use super::load::string_of;
use crate::document::kind::LoadError;
use crate::edit::{apply as apply_splices, Splice};
use crate::model::Model;
use crate::profile::kubeadm::Facts;
use crate::yaml::compare::value_of;
use crate::yaml::{self, Kind, Node};
use serde_json::{json, Map, Value};

const FROM: &str = "v1beta3";
const TO: &str = "v1beta4";
/// kubeadm's default for `timeoutForControlPlane` (constants.ControlPlaneComponentHealthCheckTimeout).
const DEFAULT_CONTROL_PLANE_TIMEOUT: &str = "4m0s";

/// Where an `extraArgs` map is, by document kind.
const ARG_MAPS: &[(&str, &[&str])] = &[
    ("ClusterConfiguration", &["apiServer", "extraArgs"]),
    ("ClusterConfiguration", &["controllerManager", "extraArgs"]),
    ("ClusterConfiguration", &["scheduler", "extraArgs"]),
    ("ClusterConfiguration", &["etcd", "local", "extraArgs"]),
    (
        "InitConfiguration",
        &["nodeRegistration", "kubeletExtraArgs"],
    ),
    (
        "JoinConfiguration",
        &["nodeRegistration", "kubeletExtraArgs"],
    ),
];

/// A migrated file and what was done beyond the mechanical changes.
#[derive(Debug)]
pub struct Migrated {
    pub text: String,
    pub notes: Vec<String>,
}

/// Why a file cannot be migrated: a message, and where in the text when one place is to blame.
pub type MigrateError = LoadError;

fn fail(node: Option<&Node>, message: impl Into<String>) -> MigrateError {
    match node {
        Some(n) => LoadError::at(n, message),
        None => LoadError::whole(message),
    }
}

/// `text` (a kubeadm configuration file) in API `to`; `None` when it is in `to` already.
pub fn migrate(text: &str, to: &str, facts: &Facts) -> Result<Option<Migrated>, MigrateError> {
    if to != TO {
        return Err(fail(
            None,
            format!("kubeharden migrates kubeadm configuration to {TO} only, not {to}"),
        ));
    }
    let docs = yaml::parse(text).map_err(LoadError::from)?;
    // What kubeadm refuses (a kind twice, a document without a kind, two API versions) is
    // refused here too; a file kubeharden does not check (a JoinConfiguration alone) is migrated.
    if let Err(e) = super::load::load(text, docs.clone(), facts) {
        if !e.unrecognized {
            return Err(e);
        }
    }
    let from = api_of(&docs)?;
    if from == format!("{GROUP}/{TO}") {
        return Ok(None);
    }
    if from != format!("{GROUP}/{FROM}") {
        return Err(fail(
            None,
            format!("{from}: kubeharden migrates {FROM} to {TO}; convert older files with an older kubeadm's `kubeadm config migrate` first (kubeadm 1.22 to 1.26 read v1beta2)"),
        ));
    }
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut plan = Plan::default();
    for d in &docs {
        plan.document(text, &d.root, nl)?;
    }
    plan.timeouts(text, &docs, nl)?;
    let migrated = apply_splices(text, plan.splices).map_err(|e| fail(None, e.to_string()))?;
    verify(&docs, &migrated, &plan.moved)?;
    // What kubeharden reads of the file (the ClusterConfiguration's API server) reads the same.
    if let Some(Ok(before)) = super::load::try_load(text, facts) {
        match super::load::try_load(&migrated, facts) {
            Some(Ok(after)) if same_apiserver(&after.model, &before.model) => {}
            Some(Err(e)) => {
                return Err(fail(
                    None,
                    format!(
                        "the migrated file does not load as {TO} ({}); nothing was written",
                        e.message
                    ),
                ))
            }
            _ => {
                return Err(fail(
                    None,
                    "the migrated file's kube-apiserver is not the original's; nothing was written",
                ))
            }
        }
    }
    Ok(Some(Migrated {
        text: migrated,
        notes: plan.notes,
    }))
}

/// The same kube-apiserver, whatever API version the files are in.
fn same_apiserver(a: &Model, b: &Model) -> bool {
    Model {
        config_api: None,
        ..a.clone()
    } == Model {
        config_api: None,
        ..b.clone()
    }
}

/// The kubeadm API version of the file's kubeadm documents (the loader refuses a file that mixes
/// two).
fn api_of(docs: &[yaml::Document]) -> Result<String, MigrateError> {
    let mut found: Option<&str> = None;
    for d in docs {
        let Some(api) = d.root.get("apiVersion").and_then(Node::as_str) else {
            continue;
        };
        if !api.starts_with(&format!("{GROUP}/")) {
            continue;
        }
        match found {
            Some(f) if f != api => {
                return Err(fail(
                    d.root.get("apiVersion"),
                    format!("the file mixes {f} and {api}; kubeadm refuses it"),
                ))
            }
            _ => found = Some(api),
        }
    }
    found
        .map(str::to_string)
        .ok_or_else(|| fail(None, "no kubeadm configuration document in the file"))
}

/// Timeouts that move to another place: (document kind, value) for each.
#[derive(Default)]
struct Moved {
    control_plane: Option<String>,
    /// The control-plane timeout went into a new InitConfiguration at the end of the file.
    new_init: bool,
    discovery: Option<String>,
}

#[derive(Default)]
struct Plan {
    splices: Vec<Splice>,
    notes: Vec<String>,
    moved: Moved,
}

impl Plan {
    /// The changes inside one document: its apiVersion and its extraArgs maps.
    fn document(&mut self, text: &str, root: &Node, nl: &str) -> Result<(), MigrateError> {
        let Some(api) = root.get("apiVersion") else {
            return Ok(());
        };
        if api.as_str() != Some(&format!("{GROUP}/{FROM}")) {
            return Ok(());
        }
        let old = &text[api.span.start..api.span.end];
        self.splices.push(Splice {
            start: api.span.start,
            end: api.span.end,
            text: old.replacen(FROM, TO, 1),
        });
        let kind = root.get("kind").and_then(Node::as_str).unwrap_or_default();
        for (k, path) in ARG_MAPS {
            if *k != kind {
                continue;
            }
            if let Some(map) = at(root, path) {
                self.arg_map(text, map, &path.join("."), nl)?;
            }
        }
        Ok(())
    }

    /// An `extraArgs` map rewritten as a list of `{name, value}`, each entry where it was.
    fn arg_map(
        &mut self,
        text: &str,
        map: &Node,
        what: &str,
        nl: &str,
    ) -> Result<(), MigrateError> {
        if map.is_null() {
            return Ok(());
        }
        if map.decorated {
            return Err(fail(
                Some(map),
                format!("{what} carries an anchor or tag; kubeharden migrates plain values only"),
            ));
        }
        let Kind::Map { entries, flow } = &map.kind else {
            return Err(fail(
                Some(map),
                format!("{what} is not a map of flag names to values, as {FROM} has it"),
            ));
        };
        for (k, v) in entries {
            string_of(k, what)?;
            string_of(v, what)?;
        }
        if *flow {
            // The parser's end of a flow mapping can lie past its `}` (a comment after it).
            let end = text[map.span.start..map.span.end]
                .rfind('}')
                .map_or(map.span.end, |i| map.span.start + i + 1);
            let one_line = !text[map.span.start..end].contains('\n');
            if !one_line {
                return Err(fail(Some(map), format!("{what} is a flow mapping over several lines; write it as a block mapping first")));
            }
            let items: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{{name: {}, value: {}}}", src(text, k), src(text, v)))
                .collect();
            self.splices.push(Splice {
                start: map.span.start,
                end,
                text: format!("[{}]", items.join(", ")),
            });
            return Ok(());
        }
        for (k, v) in entries {
            let line = yaml::line_start(text, k.span.start);
            let indent = &text[line..k.span.start];
            if !indent.chars().all(|c| c == ' ') {
                return Err(fail(
                    Some(k),
                    format!("{what}: an entry that does not start its own line"),
                ));
            }
            self.splices.push(Splice {
                start: k.span.start,
                end: v.span.end,
                text: format!(
                    "- name: {}{nl}{indent}  value: {}",
                    src(text, k),
                    src(text, v)
                ),
            });
        }
        Ok(())
    }

    /// The two timeouts v1beta4 keeps under `timeouts`.
    fn timeouts(
        &mut self,
        text: &str,
        docs: &[yaml::Document],
        nl: &str,
    ) -> Result<(), MigrateError> {
        let find = |kind: &str| {
            docs.iter()
                .map(|d| &d.root)
                .find(|r| r.get("kind").and_then(Node::as_str) == Some(kind))
        };
        let (cluster, init, join) = (
            find("ClusterConfiguration"),
            find("InitConfiguration"),
            find("JoinConfiguration"),
        );
        if let Some((parent, key, value)) =
            cluster.and_then(|c| entry_at(c, &["apiServer"], "timeoutForControlPlane"))
        {
            let v = string_of(value, "apiServer.timeoutForControlPlane")?;
            let comment = self.remove_entry(text, parent, key, value)?;
            if v == DEFAULT_CONTROL_PLANE_TIMEOUT {
                let with = if comment.is_empty() {
                    String::new()
                } else {
                    format!(", with its comment `{}`", comment.trim())
                };
                self.notes.push(format!("apiServer.timeoutForControlPlane: {v} is kubeadm's default; left out{with} (v1beta4 has it as InitConfiguration timeouts.controlPlaneComponentHealthCheck)"));
            } else {
                match init {
                    Some(i) => {
                        self.append_timeouts(
                            text,
                            i,
                            "controlPlaneComponentHealthCheck",
                            &format!("{v}{comment}"),
                            nl,
                        );
                        self.notes.push(format!("apiServer.timeoutForControlPlane {v} moved to InitConfiguration timeouts.controlPlaneComponentHealthCheck"));
                    }
                    None => {
                        let sep = if text.ends_with('\n') { "" } else { nl };
                        self.splices.push(Splice {
                            start: text.len(),
                            end: text.len(),
                            text: format!("{sep}---{nl}# apiServer.timeoutForControlPlane of {FROM}, which {TO} keeps here.{nl}apiVersion: {GROUP}/{TO}{nl}kind: InitConfiguration{nl}timeouts:{nl}  controlPlaneComponentHealthCheck: {v}{comment}{nl}"),
                        });
                        self.moved.new_init = true;
                        self.notes.push(format!("apiServer.timeoutForControlPlane {v} moved to a new InitConfiguration document at the end (timeouts.controlPlaneComponentHealthCheck)"));
                    }
                }
                self.moved.control_plane = Some(v);
            }
        }
        if let Some((parent, key, value)) =
            join.and_then(|j| entry_at(j, &["discovery"], "timeout"))
        {
            let v = string_of(value, "discovery.timeout")?;
            let comment = self.remove_entry(text, parent, key, value)?;
            if let Some(j) = join {
                self.append_timeouts(text, j, "discovery", &format!("{v}{comment}"), nl);
            }
            self.notes.push(format!(
                "JoinConfiguration discovery.timeout {v} moved to timeouts.discovery"
            ));
            self.moved.discovery = Some(v);
        }
        Ok(())
    }

    /// Removes the lines of one block-mapping entry (a flow mapping cannot lose one here).
    /// Returns the comment at the end of the entry's line, which goes with the value.
    fn remove_entry(
        &mut self,
        text: &str,
        parent: &Node,
        key: &Node,
        value: &Node,
    ) -> Result<String, MigrateError> {
        if parent.is_flow() {
            return Err(fail(
                Some(key),
                "a timeout inside a flow mapping; write it as a block mapping first",
            ));
        }
        let start = yaml::line_start(text, key.span.start);
        let end = yaml::line_end_inclusive(text, value.content_end().max(value.span.start));
        if !text[start..key.span.start].chars().all(|c| c == ' ') {
            return Err(fail(
                Some(key),
                "a timeout that does not start its own line",
            ));
        }
        self.splices.push(Splice {
            start,
            end,
            text: String::new(),
        });
        let rest = text[value.span.end..end].trim_end_matches(['\n', '\r']);
        let comment = rest.trim_start();
        Ok(if comment.starts_with('#') {
            rest.to_string()
        } else {
            String::new()
        })
    }

    /// `timeouts: {field: value}` as the last entry of a document's root mapping.
    fn append_timeouts(&mut self, text: &str, root: &Node, field: &str, value: &str, nl: &str) {
        let indent_of = |n: &Node| n.span.start - yaml::line_start(text, n.span.start);
        let col = root.entries().first().map_or(0, |(k, _)| indent_of(k));
        let pad = " ".repeat(col);
        let end = root.content_end();
        let at = yaml::line_end_inclusive(text, end.saturating_sub(1).max(root.span.start));
        let sep = if text[..at].ends_with('\n') { "" } else { nl };
        self.splices.push(Splice {
            start: at,
            end: at,
            text: format!("{sep}{pad}timeouts:{nl}{pad}  {field}: {value}{nl}"),
        });
    }
}

/// The node at `path` of a mapping.
fn at<'a>(root: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(root, |n, k| n.get(k))
}

/// The mapping at `path`, and its entry `key`.
fn entry_at<'a>(
    root: &'a Node,
    path: &[&str],
    key: &str,
) -> Option<(&'a Node, &'a Node, &'a Node)> {
    let parent = at(root, path)?;
    let (k, v) = parent.entry(key)?;
    Some((parent, k, v))
}

/// The text of a node as written (quotes included).
fn src<'t>(text: &'t str, n: &Node) -> &'t str {
    &text[n.span.start..n.span.end]
}

/// What every document of the migrated file must mean: the original's meaning with the changes
/// of [`migrate`] and nothing else.
fn verify(old: &[yaml::Document], new_text: &str, moved: &Moved) -> Result<(), MigrateError> {
    let new = yaml::parse(new_text).map_err(|e| {
        fail(
            None,
            format!("the migrated file does not parse ({e}); nothing was written"),
        )
    })?;
    let expected_len = old.len() + usize::from(moved.new_init);
    if new.len() != expected_len {
        return Err(fail(
            None,
            "the migrated file has other documents than the original; nothing was written",
        ));
    }
    for (i, d) in old.iter().enumerate() {
        let want = expected(&d.root, moved);
        let have = value_of(&new[i].root);
        if want != have {
            return Err(fail(Some(&d.root), format!("document {} of the migrated file does not mean what the original did; nothing was written", i + 1)));
        }
    }
    if moved.new_init {
        let have = value_of(&new[old.len()].root);
        let want = json!({
            "apiVersion": format!("{GROUP}/{TO}"),
            "kind": "InitConfiguration",
            "timeouts": { "controlPlaneComponentHealthCheck": moved.control_plane.clone().unwrap_or_default() },
        });
        if have != want {
            return Err(fail(None, "the InitConfiguration added for the timeout is not as planned; nothing was written"));
        }
    }
    Ok(())
}

/// The mapping `key` of `v`, if it is one.
fn object<'v>(v: &'v mut Value, key: &str) -> Option<&'v mut Map<String, Value>> {
    v.get_mut(key)?.as_object_mut()
}

/// The meaning a document must have once migrated.
fn expected(root: &Node, moved: &Moved) -> Value {
    let mut v = value_of(root);
    let kubeadm = root.get("apiVersion").and_then(Node::as_str) == Some(&format!("{GROUP}/{FROM}"));
    if !kubeadm {
        return v;
    }
    v["apiVersion"] = json!(format!("{GROUP}/{TO}"));
    let kind = root.get("kind").and_then(Node::as_str).unwrap_or_default();
    for (k, path) in ARG_MAPS {
        if *k != kind {
            continue;
        }
        let Some(map) = at(root, path).filter(|m| m.is_map()) else {
            continue;
        };
        let list: Vec<Value> = map
            .entries()
            .iter()
            .map(|(k, v)| json!({ "name": value_of(k), "value": value_of(v) }))
            .collect();
        if let Some(slot) = path.iter().try_fold(&mut v, |n, k| n.get_mut(*k)) {
            *slot = Value::Array(list);
        }
    }
    match kind {
        "ClusterConfiguration" => {
            if let Some(api) = object(&mut v, "apiServer") {
                api.remove("timeoutForControlPlane");
                if api.is_empty() {
                    v["apiServer"] = Value::String(String::new());
                }
            }
        }
        "InitConfiguration" => {
            if let (Some(t), false) = (&moved.control_plane, moved.new_init) {
                v["timeouts"] = json!({ "controlPlaneComponentHealthCheck": t });
            }
        }
        "JoinConfiguration" => {
            if let Some(t) = &moved.discovery {
                if let Some(d) = object(&mut v, "discovery") {
                    d.remove("timeout");
                    if d.is_empty() {
                        v["discovery"] = Value::String(String::new());
                    }
                }
                v["timeouts"] = json!({ "discovery": t });
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts::builtin().expect("facts")
    }

    #[test]
    fn what_cannot_be_converted_faithfully_is_refused_with_its_place() {
        let head = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n";
        for (body, says) in [
            ("  extraArgs: {a: \"1\",\n    b: \"2\"}\n", "several lines"),
            ("  extraArgs: &x\n    a: \"1\"\n", "anchor"),
            ("  extraArgs:\n    a: [x]\n", "must be a string"),
            (
                "controllerManager:\n  extraArgs:\n    a: [x]\n",
                "must be a string",
            ),
            (
                "controllerManager:\n  extraArgs:\n    a: yes\n",
                "not a string",
            ),
        ] {
            let e = migrate(&format!("{head}{body}"), "v1beta4", &facts()).expect_err(body);
            assert!(e.message.contains(says), "{body}: {}", e.message);
            assert!(e.offset.is_some() || e.line_col.is_some(), "{body}");
        }
        let e = migrate(head, "v1beta5", &facts()).expect_err("to");
        assert!(e.message.contains("v1beta4 only"));
    }

    #[test]
    fn v1beta4_needs_nothing_and_other_documents_stay() {
        let v4 = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
        assert!(migrate(v4, "v1beta4", &facts()).expect("ok").is_none());
        let text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n";
        let m = migrate(text, "v1beta4", &facts())
            .expect("ok")
            .expect("changed");
        assert_eq!(m.text, text.replacen("v1beta3", "v1beta4", 1));
    }
}
