//! `rollback`: restore a backup set (the newest, or the one named), or list them.

use super::args::RollbackArgs;
use super::exit::Exit;
use super::node::{after_restore, rollback_command, Place};
use crate::apply::interrupt::Interrupts;
use crate::apply::node;
use crate::model::report::{NodeError, UsageError, Verdict};
use crate::profile::Registry;
use std::io::Write;
use std::path::Path;

pub(super) fn run(
    args: &RollbackArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let place = Place::of(&args.node, None)?;
    let fail = |e: NodeError| UsageError(e.to_string());
    if args.list {
        return list(&place.backups, stdout, stderr);
    }
    place.guard()?;
    // From here on an interrupt is noted, not obeyed at once: no write is cut off.
    let interrupts = Interrupts::install();
    let _lock = place.lock(&args.node)?;
    place.clean(&[], stderr);
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let (set, finishing, done) = loop {
        let (set, finishing) = node::find_set(&place.backups, args.id.as_deref()).map_err(fail)?;
        if let Some(u) = &finishing {
            let _ = writeln!(
                stderr,
                "kubeharden: backup set {u} is a rollback of {} that stopped part-way; finishing it",
                set.record.id
            );
        }
        locks_out(&set, &place.root, &registry)?;
        let done = node::rollback(&set, &place.backups, &place.root)
            .map_err(|e| failed(&e, &set, args))?;
        // The newest set's run stopped before it changed anything: it holds nothing to undo,
        // and the change to undo is the one before it.
        let empty = done.undo.is_none() && set.record.incomplete && finishing.is_none();
        if args.id.is_none() && empty {
            node::discard(&set).map_err(fail)?;
            let _ = writeln!(
                stderr,
                "kubeharden: backup set {} is of a run that stopped before it changed anything; removed it",
                set.record.id
            );
            continue;
        }
        break (set, finishing, done);
    };
    tell(&done, &set, args, stderr);
    let warned = !done.warnings.is_empty();
    match &done.undo {
        Some(undo) => {
            let _ = writeln!(
                stderr,
                "kubeharden: backup set {} restored; the state before the rollback is in backup set {}: `{}` undoes the rollback",
                set.record.id,
                undo.record.id,
                rollback_command(&undo.record.id, &args.node)
            );
        }
        None => {
            let _ = writeln!(
                stderr,
                "kubeharden: nothing to restore: every file is as backup set {} has it; nothing was written",
                set.record.id
            );
            if let Some(u) = &finishing {
                mark_finished(&place, u, stderr);
            }
        }
    }
    let texts: Vec<String> = done
        .restored
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .collect();
    after_restore(&registry, &texts, stderr);
    if let Some(sig) = interrupts.received() {
        let _ = writeln!(
            stderr,
            "kubeharden: interrupted ({sig}) during the rollback; kubeharden finished it first"
        );
    }
    Ok(if warned { Exit::Error } else { Exit::Ok })
}

/// The rule whose precondition says what lets the administrator in: its `on_node` reads the
/// administrator's client certificate, its `safe_when` names the other ways in (profiles/).
const ADMIN_WAY_IN_RULE: &str = "apiserver-token-auth-file";

/// Refuses a rollback that would leave the administrator without the credential that works
/// now: a kube-apiserver manifest whose client CA signs an administrator kubeconfig's
/// certificate on the node, restored to one whose does not (a CA rotated since the fix, say),
/// with no other way in instead (as removing a static token file is judged).
fn locks_out(
    set: &node::BackupSet,
    root: &crate::load::node::Root,
    registry: &Registry,
) -> Result<(), UsageError> {
    let rule = crate::profile::find_builtin_rule(ADMIN_WAY_IN_RULE, registry)
        .map_err(|e| UsageError(e.to_string()))?;
    let Some((check, other_way)) = rule.as_ref().and_then(|r| {
        let a = r.applicability.as_ref()?;
        Some((a.on_node.as_ref()?, a.safe_when.as_ref()))
    }) else {
        return Ok(());
    };
    let env = crate::check::Env {
        registry,
        version: registry.newest(),
        new_cluster: false,
    };
    let pending = node::pending(set, root).map_err(|e| UsageError(e.to_string()))?;
    let apiserver = |bytes: &[u8]| {
        let text = std::str::from_utf8(bytes).ok()?;
        let doc = crate::document::load(text, registry).ok()?;
        (doc.component() == crate::model::report::COMPONENT).then(|| doc.model().clone())
    };
    for (path, now, back) in pending {
        let (Some(now), Some(back)) = (now.as_deref().and_then(apiserver), apiserver(&back)) else {
            continue;
        };
        let works = |m: &crate::model::Model| crate::load::preconditions::on_node(check, root, m);
        let Verdict::Holds(now_ok) = works(&now) else {
            continue;
        };
        let other_way = other_way.is_some_and(|c| crate::check::holds(c, &back, env));
        if let (false, Verdict::Fails(why) | Verdict::Unknown(why)) = (other_way, works(&back)) {
            return Err(UsageError(format!(
                "rollback of backup set {} refused: {path} would lock the administrator out: now {now_ok}, and with the manifest restored {why}; nothing was written. Keep the credential working first (the restored manifest's --client-ca-file must sign it), then roll back",
                set.record.id
            )));
        }
    }
    Ok(())
}

/// A rollback that failed: what the files hold now, and how to go on.
fn failed(e: &NodeError, set: &node::BackupSet, args: &RollbackArgs) -> UsageError {
    let again = e
        .kept_set()
        .map(|id| {
            format!(
                "; `kubeharden rollback` finishes the rollback (it restores backup set {} again), `{}` returns to the state before it",
                set.record.id,
                rollback_command(id, &args.node)
            )
        })
        .unwrap_or_default();
    UsageError(format!(
        "rollback of backup set {}: {e}{again}",
        set.record.id
    ))
}

/// What the rollback found and did, file by file.
fn tell(done: &node::Restored, set: &node::BackupSet, args: &RollbackArgs, stderr: &mut dyn Write) {
    for p in &done.changed_since {
        let _ = writeln!(
            stderr,
            "kubeharden: note: {p} changed after backup set {} was made; its state before this rollback is kept too",
            set.record.id
        );
    }
    for p in &done.left {
        let _ = writeln!(
            stderr,
            "kubeharden: note: {p} was left alone: the run of backup set {} stopped before it created the file, and what is there now is not what it would have written",
            set.record.id
        );
    }
    for (p, _) in &done.restored {
        let _ = writeln!(stderr, "kubeharden: restored {p}");
    }
    for p in &done.perms {
        let _ = writeln!(stderr, "kubeharden: gave {p} its mode and owner back");
    }
    for p in &done.removed {
        let _ = writeln!(stderr, "kubeharden: removed {p} (the fix created it)");
    }
    for w in &done.warnings {
        let _ = writeln!(
            stderr,
            "kubeharden: error: {w}; to undo the rollback all the same: {}",
            done.undo
                .as_ref()
                .map(|u| rollback_command(&u.record.id, &args.node))
                .unwrap_or_default()
        );
    }
}

/// An unfinished rollback found finished after all: its set is marked complete, so that the
/// next `rollback` undoes it like any other.
fn mark_finished(place: &Place, id: &str, stderr: &mut dyn Write) {
    let marked =
        node::find_set(&place.backups, Some(id)).and_then(|(mut u, _)| node::mark_complete(&mut u));
    if let Err(e) = marked {
        let _ = writeln!(
            stderr,
            "kubeharden: warning: backup set {id} could not be marked complete: {e}"
        );
    }
}

/// `rollback --list`: the backup sets, newest first, with the files each changed.
fn list(
    backups: &Path,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let fail = |e: NodeError| UsageError(e.to_string());
    let (sets, problems) = node::list_sets(backups).map_err(fail)?;
    for p in &problems {
        let _ = writeln!(stderr, "kubeharden: warning: {p}");
    }
    if sets.is_empty() {
        let _ = writeln!(
            stderr,
            "kubeharden: no backup sets in {}",
            backups.display()
        );
        return Ok(Exit::Ok);
    }
    let mut out = String::new();
    for set in sets.iter().rev() {
        let r = &set.record;
        let what = match (&r.restores, &r.profile) {
            (Some(id), _) => format!("rollback of {id}"),
            (None, Some(p)) => format!("{} --profile {p}", r.command),
            (None, None) => r.command.clone(),
        };
        let incomplete = if r.incomplete {
            "  (incomplete: its run stopped part-way; a plain `kubeharden rollback` restores or finishes it)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{}  {}  {what}  {} file(s){incomplete}\n",
            r.id,
            r.created,
            r.files.len()
        ));
        for f in &r.files {
            let how = match (f.existed, &f.written_sha256) {
                (false, _) => "created",
                (true, None) => "removed",
                (true, Some(_)) => "changed",
            };
            out.push_str(&format!("    {how} {}\n", f.path));
        }
    }
    stdout
        .write_all(out.as_bytes())
        .map_err(|e| UsageError(format!("cannot write: {e}")))?;
    Ok(Exit::Ok)
}
