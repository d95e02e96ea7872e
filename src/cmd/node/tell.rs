//! What a run on a node tells: what it left, what it wrote, what restarts and what the operator
//! still has to do, and what `kubeadm upgrade` would undo.

use super::edited::Edited;
use super::place::{rollback_command, Place};
use crate::apply::node::{self, Target, Write1};
use crate::cmd::args::FixArgs;
use crate::document::{component, is_kubeadm_text};
use crate::model::report::COMPONENT;
use crate::profile::Registry;
use std::io::Write;

/// What the profile leaves to the user, the supporting files kept as they are, and the changes
/// declined.
pub(super) fn say_left_over(edited: &[Edited], stderr: &mut dyn Write) {
    for e in edited {
        for (id, why) in &e.sel.left_over {
            let _ = writeln!(stderr, "kubeharden: {}: not changed: {id}: {why}", e.shown);
        }
        for k in &e.sel.kept {
            let _ = writeln!(stderr, "kubeharden: {}: {k}", e.shown);
        }
        if !e.sel.declined.is_empty() {
            let _ = writeln!(
                stderr,
                "kubeharden: {}: declined: {}",
                e.shown,
                e.sel.declined.join(", ")
            );
        }
    }
}

/// What was written, and where the originals are.
pub(super) fn say_written(
    writes: &[Write1],
    edited: &[Edited],
    place: &Place,
    set: &node::BackupSet,
    stderr: &mut dyn Write,
) {
    for w in writes {
        // A file whose bytes stay got a new mode or owner: said with the rules that asked.
        if matches!(&w.target, Target::Replace { original, new, .. } if original == new)
            || matches!(w.target, Target::DirPerms { .. })
        {
            continue;
        }
        let host = place.host(&w.path);
        let what = match &w.target {
            Target::Directory { .. } => {
                format!("created the directory {host} ({})", w.target.modes())
            }
            Target::Create { .. } => format!("wrote {host} ({})", w.target.modes()),
            _ => {
                let env = edited.iter().find(|e| {
                    e.sel
                        .env_edits
                        .iter()
                        .any(|x| crate::load::node::real_path(&x.local) == w.path)
                });
                match (edited.iter().find(|e| e.real == w.path), env) {
                    (Some(e), _) => {
                        format!("wrote {} ({})", w.path.display(), e.sel.accepted.join(", "))
                    }
                    (None, Some(e)) => format!(
                        "wrote {} (the kubelet's flags that overrode {} taken out)",
                        w.path.display(),
                        e.shown
                    ),
                    (None, None) => format!(
                        "wrote {} (the same changes in the kubeadm configuration)",
                        w.path.display()
                    ),
                }
            }
        };
        let _ = writeln!(stderr, "kubeharden: {what}");
    }
    let _ = writeln!(
        stderr,
        "kubeharden: the originals are in backup set {} ({})",
        set.record.id,
        set.dir.display()
    );
}

/// What restarts for the components whose files changed, and how to follow it: the kubelet
/// restarts a static pod by itself when its manifest changes (it looks every 20 s,
/// `fileCheckFrequency`, and at once on Linux through inotify: pkg/kubelet/config/file.go);
/// a component that reads a configuration file only when it starts needs the restart the
/// registry names. `which` says whose manifest: "new", "restored".
fn say_restarts<'a>(
    registry: &'a Registry,
    components: &[&'a str],
    which: &str,
    stderr: &mut dyn Write,
) -> (Vec<&'a str>, Vec<(&'a str, &'a str)>) {
    let mut pods: Vec<&str> = Vec::new();
    let mut restart: Vec<(&str, &str)> = Vec::new();
    for &c in components {
        match registry
            .components
            .get(c)
            .and_then(|x| x.restart.as_deref())
        {
            Some(cmd) => {
                if !restart.iter().any(|(x, _)| *x == c) {
                    restart.push((c, cmd));
                }
            }
            None => {
                if !pods.contains(&c) {
                    pods.push(c);
                }
            }
        }
    }
    for c in &pods {
        let _ = writeln!(
            stderr,
            "kubeharden: next: the kubelet sees the {which} manifest and restarts {c}, usually within 20 seconds{}. Watch it with `crictl ps --name {c}` or `kubectl -n kube-system get pods -l component={c} -w`",
            match *c {
                "kube-apiserver" => "; the API server is unavailable meanwhile",
                "etcd" => "; the API server cannot read or write meanwhile",
                _ => "",
            }
        );
    }
    for (c, cmd) in &restart {
        let (what, logs) = match *c {
            component::COMPONENT if which == "new" => (
                "the kubelet reads its configuration file",
                " If it does not come back, `journalctl -u kubelet` says why, and the rollback below restores the file.",
            ),
            component::COMPONENT => (
                "the kubelet reads its configuration file",
                " If it does not come back, `journalctl -u kubelet` says why.",
            ),
            _ => (
                "kube-scheduler reads its configuration file",
                " If it does not come back, `crictl logs` of its container says why.",
            ),
        };
        let _ = writeln!(
            stderr,
            "kubeharden: next: {what} only when it starts: run `{cmd}`; the node's pods keep running.{logs}"
        );
    }
    (pods, restart)
}

/// What restarts, how to follow it, how to undo it, and what `kubeadm upgrade` would undo.
pub(super) fn next_steps(
    args: &FixArgs,
    registry: &Registry,
    edited: &[Edited],
    set: &node::BackupSet,
    stderr: &mut dyn Write,
) {
    let components: Vec<&str> = edited
        .iter()
        .filter(|e| e.sel.edited.is_some())
        .map(|e| e.sel.component.as_str())
        .collect();
    let (pods, restart) = say_restarts(registry, &components, "new", stderr);
    let _ = writeln!(
        stderr,
        "kubeharden: to undo: {}",
        rollback_command(&set.record.id, &args.node)
    );
    upgrade_notes(&pods, &restart, stderr);
}

/// What `kubeadm upgrade` writes anew, undoing this change unless it is made there too.
fn upgrade_notes(pods: &[&str], restart: &[(&str, &str)], stderr: &mut dyn Write) {
    if pods.contains(&COMPONENT) {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade` writes the manifest anew from the ClusterConfiguration (the kubeadm-config ConfigMap in kube-system): put the same flags in apiServer.extraArgs and the volumes in apiServer.extraVolumes there, or the next upgrade undoes this"
        );
    }
    let others: Vec<&str> = pods.iter().copied().filter(|c| *c != COMPONENT).collect();
    if !others.is_empty() {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade` also writes the {} manifest(s) anew: put the same flags in controllerManager.extraArgs, scheduler.extraArgs or etcd.local.extraArgs of the ClusterConfiguration (a setting etcd takes from an ETCD_* variable belongs in etcd.local.extraEnvs, v1beta4, not in extraArgs: etcd refuses both)",
            others.join(", ")
        );
    }
    if restart.iter().any(|(c, _)| *c == component::COMPONENT) {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade node` writes /var/lib/kubelet/config.yaml anew from the kubelet-config ConfigMap in kube-system: make the same changes there"
        );
    }
}

/// After a rollback: what restarts with the restored files (`restored`: their texts), and what
/// the operator still has to do.
pub(crate) fn after_restore(registry: &Registry, restored: &[String], stderr: &mut dyn Write) {
    let components: Vec<String> = restored
        .iter()
        .filter(|t| !is_kubeadm_text(t))
        .filter_map(|t| crate::document::load(t, registry).ok())
        .map(|d| d.component().to_string())
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for c in &components {
        if !names.contains(&c.as_str()) {
            names.push(c);
        }
    }
    say_restarts(registry, &names, "restored", stderr);
}
