//! `fix --output FILE`: the hardened file written elsewhere (or to standard output); the input
//! stays untouched. `fix` in place on a node is [`super::node`].

use super::args::FixArgs;
use super::batch::process_all;
use super::exit::Exit;
use super::node::fix_default_dir;
use crate::apply::output::write_output;
use crate::load::inputs::settings;
use crate::load::node::canonical;
use crate::model::report::UsageError;
use crate::model::report::{Kept, Outcome};
use crate::render::messages;
use std::io::Write;
use std::path::Path;

pub(super) fn run(
    args: &FixArgs,
    output: &Path,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let mut s = settings(&args.common.asked(), &fix_default_dir(args)?, Vec::new())?;
    let inputs = s.inputs.list();
    if let (Some(input), Some(out)) = (inputs.first(), canonical(output)) {
        if canonical(&input.path).is_some_and(|i| i == out) {
            return Err(UsageError(format!(
                "fix --output {} is the input file; leave out --output to edit it in place (with backups)",
                output.display()
            )));
        }
    }
    if inputs.len() != 1 {
        return Err(UsageError(format!(
            "fix --output takes exactly one input manifest, got {}",
            inputs.len()
        )));
    }
    let outcomes = process_all(&s, false, false, true);
    let kept = Kept::of(&outcomes);
    messages::newer_to(stderr, kept.versions.iter().copied(), &s.registry);
    messages::errors_to(stderr, &kept);
    let Some(Outcome::Report(r)) = outcomes.first() else {
        if let Some(Outcome::Skipped { path, reason }) = outcomes.first() {
            let _ = writeln!(stderr, "kubeharden: {path}: {reason}");
        }
        return Ok(Exit::Error);
    };
    messages::notes_to(stderr, r);
    let text = r.edited.as_deref().unwrap_or(&r.original);
    if output.as_os_str() == "-" {
        stdout
            .write_all(text.as_bytes())
            .map_err(|e| UsageError(format!("cannot write to standard output: {e}")))?;
    } else {
        write_output(output, text)?;
        let n = r.changes.len();
        let _ = writeln!(
            stderr,
            "kubeharden: wrote {} ({n} change(s) to {})",
            output.display(),
            r.path
        );
    }
    probe_patch_beside(r, output, &s, stderr)?;
    messages::left_over_to(stderr, &outcomes);
    messages::risky_to(stderr, &outcomes);
    messages::required_files_to(stderr, &outcomes);
    Ok(Exit::Ok)
}

/// For a kubeadm file whose profile needs kubeadm's probes changed (extraArgs cannot do it): the
/// kubeadm patch that does it, `kube-apiserver+strategic.yaml`, written beside the output (as
/// `diff` proposes it beside the file), unless one is there; for standard output, where to put
/// it. So `diff` on the output has nothing left to propose.
fn probe_patch_beside(
    r: &crate::model::report::FileReport,
    output: &Path,
    s: &crate::load::inputs::Settings,
    stderr: &mut dyn Write,
) -> Result<(), UsageError> {
    use super::probe_patch::{self, PROBE_PATCH as NAME};
    let Some(text) = probe_patch::for_report(r, s) else {
        return Ok(());
    };
    if output.as_os_str() == "-" {
        let _ = writeln!(
            stderr,
            "kubeharden: {}: also needs the kubeadm patch that makes kube-apiserver's probes TCP probes: `kubeharden profiles template kubeadm-probe-patch --kubernetes-version {}` prints it; save it as {NAME} in kubeadm's --patches directory",
            r.path, r.version
        );
        return Ok(());
    }
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = dir.join(NAME);
    if crate::load::node::exists(&path) {
        return Ok(());
    }
    write_output(&path, &text)?;
    let _ = writeln!(
        stderr,
        "kubeharden: wrote {} beside it: the kubeadm patch that makes kube-apiserver's probes TCP probes; pass its directory to kubeadm with --patches, then anonymous requests can be rejected",
        path.display()
    );
    Ok(())
}
