//! `rollback`: restore a backup set (the newest, or the one named), or list them.

use super::args::RollbackArgs;
use super::exit::Exit;
use super::node_fix::{lock_path, rollback_command, root_and_state};
use crate::apply::node::{self, Lock};
use crate::model::report::NodeError;
use crate::model::report::UsageError;
use std::io::Write;
use std::path::Path;

pub(super) fn run(
    args: &RollbackArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let (root, root_given, state, backups) = root_and_state(&args.node)?;
    let fail = |e: NodeError| UsageError(e.to_string());
    if args.list {
        return list(&backups, stdout, stderr);
    }
    let _lock = Lock::acquire(&lock_path(&state, &args.node, root_given)).map_err(fail)?;
    let set = node::find_set(&backups, args.id.as_deref()).map_err(fail)?;
    let done = node::rollback(&set, &backups, &root).map_err(|e| {
        let again = e
            .kept_set()
            .map(|id| format!("; to put them back: {}", rollback_command(id, &args.node)))
            .unwrap_or_default();
        UsageError(format!(
            "rollback of backup set {}: {e}{again}",
            set.record.id
        ))
    })?;
    for p in &done.changed_since {
        let _ = writeln!(
            stderr,
            "kubeharden: note: {p} changed after backup set {} was made; its state before this rollback is kept too",
            set.record.id
        );
    }
    for p in &done.restored {
        let _ = writeln!(stderr, "kubeharden: restored {p}");
    }
    for p in &done.removed {
        let _ = writeln!(stderr, "kubeharden: removed {p} (the fix created it)");
    }
    let _ = writeln!(
        stderr,
        "kubeharden: backup set {} restored; the state before the rollback is in backup set {}: `{}` undoes the rollback",
        set.record.id,
        done.undo.record.id,
        rollback_command(&done.undo.record.id, &args.node)
    );
    Ok(Exit::Ok)
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
            "  (incomplete: the run failed part-way)"
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
