//! `completions SHELL` and `man`: generated from the same definition as `--help`.

use super::args::Cli;
use super::exit::Exit;
use crate::model::report::UsageError;
use std::io::Write;

pub(super) fn completions(
    shell: clap_complete::Shell,
    stdout: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "kubeharden", stdout);
    Ok(Exit::Ok)
}

pub(super) fn man(stdout: &mut dyn Write) -> Result<Exit, UsageError> {
    man_page(stdout).map_err(|e| UsageError(format!("cannot write the manual page: {e}")))?;
    Ok(Exit::Ok)
}

/// The manual page, in roff: the top-level page clap_mangen renders, with a section per
/// command (its synopsis, description and options) instead of references to pages of their
/// own, so one file documents everything. Deterministic: no date, the version from Cargo.toml.
pub(crate) fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    fn commands(cmd: &clap::Command, page: &mut Vec<u8>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
            writeln!(page, ".SS \"{name}\"")?;
            let man = clap_mangen::Man::new(sub.clone());
            let mut parts = Vec::new();
            man.render_synopsis_section(&mut parts)?;
            man.render_description_section(&mut parts)?;
            if sub.get_arguments().any(|a| !a.is_hide_set()) {
                man.render_options_section(&mut parts)?;
            }
            if sub.get_after_help().is_some() {
                man.render_extra_section(&mut parts)?;
            }
            // Inside a command's subsection the parts' own section headings give way to
            // paragraph breaks.
            for line in String::from_utf8_lossy(&parts).lines() {
                match line.strip_prefix(".SH ") {
                    Some(_) => writeln!(page, ".PP")?,
                    None => writeln!(page, "{line}")?,
                }
            }
            commands(sub, page)?;
        }
        Ok(())
    }
    commands(&cmd, &mut page)?;
    man.render_extra_section(&mut page)?;
    man.render_version_section(&mut page)?;
    // Every rendered part starts with the same string definition; once is enough.
    let mut seen = std::collections::HashSet::new();
    for line in String::from_utf8_lossy(&page).lines() {
        let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
        if !preamble || seen.insert(line.to_string()) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
