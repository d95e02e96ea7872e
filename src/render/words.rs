//! Profiles and planned changes in words: `profiles show`, the fix steps of the rule
//! documentation, and the changes offered at the prompt.

use crate::check::{setting, setting_is};
use crate::model::change::{Change, Planned};
use crate::profile::Profile;
use std::io::{self, Write};

pub(crate) fn profile_show(out: &mut dyn Write, p: &Profile) -> io::Result<()> {
    match p.lineage.split_last() {
        Some((_, parents)) if !parents.is_empty() => {
            writeln!(out, "{} (extends {})", p.name, parents.join(" → "))?
        }
        _ => writeln!(out, "{}", p.name)?,
    }
    writeln!(out, "{}", p.description)?;
    writeln!(out)?;
    writeln!(out, "parameters:")?;
    for (k, v) in &p.parameters {
        writeln!(out, "  {k}: {v}")?;
    }
    writeln!(out)?;
    writeln!(out, "rules ({}):", p.rules.len())?;
    for r in &p.rules {
        let how = if r.fix.is_empty() { "report" } else { "fix" };
        writeln!(
            out,
            "  {:<48} {:<8} {:<6} {:<16} {}",
            r.id,
            r.severity.as_str(),
            how,
            r.versions.to_string(),
            r.cis.join(",")
        )?;
    }
    if !p.files.is_empty() {
        writeln!(out)?;
        writeln!(out, "supporting files:")?;
        for f in &p.files {
            writeln!(
                out,
                "  --{} → template {}: {}",
                f.flag, f.template, f.description
            )?;
        }
    }
    Ok(())
}

/// One step of a rule's fix in words, for the rule documentation.
pub(crate) fn describe_step(step: &crate::profile::Step) -> String {
    use crate::profile::{ProbeFix, Step};
    match step {
        Step::Set { flag, value } => format!("set `{}`", setting_is(flag, value)),
        Step::SetFrom { flag, from } => {
            format!(
                "set `{}` to the value of `{}`",
                setting(flag),
                setting(from)
            )
        }
        Step::MountFiles => {
            "add hostPath volumes and mounts for the files flags name that no mount makes visible"
                .to_string()
        }
        Step::JoinSplit => "write each `--flag value` pair as `--flag=value`".to_string(),
        Step::Chmod => "take away the permission bits the check does not allow".to_string(),
        Step::Chown => "give the file the owner the check wants".to_string(),
        Step::Remove { flag } => format!("remove `{}`", setting(flag)),
        Step::AddToList { flag, items } => format!(
            "add {} to `{}` (only names the version has)",
            items.join(", "),
            setting(flag)
        ),
        Step::RemoveFromList { flag, items } => {
            format!("remove {} from `{}`", items.join(", "), setting(flag))
        }
        Step::RemoveKeys { flag, keys } => {
            format!(
                "remove the {} entries from `{}`",
                keys.join(", "),
                setting(flag)
            )
        }
        Step::Probes(ProbeFix::TcpSocket) => {
            "turn HTTP GET probes into TCP socket probes on the same host and port".to_string()
        }
        Step::Dedupe => {
            "keep one occurrence of each repeated single-valued flag, with the value in effect"
                .to_string()
        }
        Step::RemoveRemoved => {
            "remove the flags, admission plugins and feature gates the version no longer accepts"
                .to_string()
        }
    }
}

/// One planned change in words, for prompts and summaries.
pub(crate) fn describe_change(p: &Planned) -> String {
    match &p.change {
        Change::SetFlag { flag, value } => match &p.before {
            Some(b) => format!("set {} (was {b})", setting_is(flag, value)),
            None => format!("set {}", setting_is(flag, value)),
        },
        Change::RemoveFlag { flag } => match &p.before {
            Some(b) if !b.is_empty() => format!("remove {} (was {b})", setting(flag)),
            _ => format!("remove {}", setting(flag)),
        },
        Change::AddVolume { volume, mount } => format!(
            "mount {} from the node at {}{} (volume {})",
            volume.host_path.as_deref().unwrap_or("?"),
            mount.mount_path,
            if mount.read_only {
                ", read-only"
            } else {
                ", writable"
            },
            volume.name
        ),
        Change::ProbeToTcp { probe } => {
            format!("turn the {probe} into a TCP socket probe on the same host and port")
        }
        Change::JoinFlag { flag } => format!("write --{flag} VALUE as --{flag}=VALUE"),
        Change::TakeOutFlag {
            flag,
            file,
            setting,
        } => {
            format!("take {flag} out of {file}, so that {setting} of this file counts")
        }
    }
}
