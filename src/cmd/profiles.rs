//! `profiles list`, `profiles show` and `profiles template`.

use super::args::ProfilesAction;
use super::exit::Exit;
use crate::model::report::UsageError;
use crate::profile::version::Version;
use crate::profile::{self, Profile, Registry};
use crate::render::words::profile_show;
use std::io::{self, Write};

pub(super) fn run(
    action: Option<ProfilesAction>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let res = match action.unwrap_or(ProfilesAction::List) {
        ProfilesAction::List => list(&registry, stdout)?,
        ProfilesAction::Show { name } => {
            let p = Profile::load(&name, &registry).map_err(|e| UsageError(e.to_string()))?;
            profile_show(stdout, &p)
        }
        ProfilesAction::Template {
            name,
            kubernetes_version,
            profile,
        } => template(
            &name,
            kubernetes_version.as_deref(),
            &profile,
            &registry,
            stdout,
            stderr,
        )?,
    };
    res.map_err(|e| UsageError(format!("cannot write: {e}")))?;
    Ok(Exit::Ok)
}

fn list(registry: &Registry, stdout: &mut dyn Write) -> Result<io::Result<()>, UsageError> {
    let mut r = Ok(());
    for (name, _) in profile::BUILTIN {
        let p = Profile::load(name, registry).map_err(|e| UsageError(e.to_string()))?;
        r = r.and(writeln!(
            stdout,
            "{:<10} {:>3} rules  {}",
            p.name,
            p.rules.len(),
            p.description
        ));
    }
    Ok(r)
}

/// A supporting file, filled in by the profile's parameters for a Kubernetes version.
fn template(
    name: &str,
    kubernetes_version: Option<&str>,
    profile: &str,
    registry: &Registry,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<io::Result<()>, UsageError> {
    if name == "kubeadm-config" {
        return Err(UsageError(
            "kubeadm-config is written by `kubeharden generate kubeadm`, with the profile applied"
                .into(),
        ));
    }
    let p = Profile::load(profile, registry).map_err(|e| UsageError(e.to_string()))?;
    let v = match kubernetes_version {
        Some(v) => Version::parse(v).ok_or_else(|| {
            UsageError(format!(
                "--kubernetes-version: `{v}` is not a Kubernetes 1.x version"
            ))
        })?,
        None => {
            let v = registry.newest();
            let _ = writeln!(
                stderr,
                "kubeharden: no --kubernetes-version: rendering for {v}, the newest kubeharden knows"
            );
            v
        }
    };
    let params = super::generate::with_key(&p.parameters).map_err(UsageError)?;
    let text = profile::render_template(name, v, registry, &params).map_err(UsageError)?;
    Ok(stdout.write_all(text.as_bytes()))
}
