//! `migrate kubeadm FILE --to v1beta4`: a kubeadm configuration file converted in place of its
//! text (`document::kubeadm::migrate`), as a diff or written out.

use super::args::MigrateKubeadmArgs;
use super::exit::Exit;
use crate::apply::output::write_output;
use crate::document::kubeadm::migrate::migrate;
use crate::load::read::read_input;
use crate::model::report::UsageError;
use crate::profile::Registry;
use crate::render::diff::{diff_path, diff_text};
use std::io::Write;

pub(super) fn run(
    args: &MigrateKubeadmArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let shown = args.file.display().to_string();
    let text = match read_input(&args.file) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(stderr, "kubeharden: error: {}: {}", e.path, e.message);
            return Ok(Exit::Error);
        }
    };
    let migrated = match migrate(&text, &args.to, &registry.kubeadm) {
        Ok(m) => m,
        Err(e) => {
            let e = crate::pipeline::load_error(&shown, &text, e);
            let _ = writeln!(stderr, "kubeharden: error: {e}");
            return Ok(Exit::Error);
        }
    };
    let Some(m) = migrated else {
        let _ = writeln!(
            stderr,
            "kubeharden: {shown}: already kubeadm.k8s.io/{}; nothing to change",
            args.to
        );
        if let Some(out) = &args.output {
            emit(out, &text, stdout)?;
        }
        return Ok(Exit::Ok);
    };
    for n in &m.notes {
        let _ = writeln!(stderr, "kubeharden: {shown}: note: {n}");
    }
    match &args.output {
        None => {
            let path = diff_path(&shown);
            stdout
                .write_all(diff_text(&text, &m.text, &path).as_bytes())
                .map_err(|e| UsageError(format!("cannot write to standard output: {e}")))?;
            Ok(Exit::Findings)
        }
        Some(out) => {
            emit(out, &m.text, stdout)?;
            if out.as_os_str() != "-" {
                let _ = writeln!(
                    stderr,
                    "kubeharden: wrote {} (kubeadm.k8s.io/{})",
                    out.display(),
                    args.to
                );
            }
            Ok(Exit::Ok)
        }
    }
}

/// The text to `out`: standard output for `-`, else the file, replaced atomically.
fn emit(out: &std::path::Path, text: &str, stdout: &mut dyn Write) -> Result<(), UsageError> {
    if out.as_os_str() == "-" {
        return stdout
            .write_all(text.as_bytes())
            .map_err(|e| UsageError(format!("cannot write to standard output: {e}")));
    }
    write_output(out, text)
}
