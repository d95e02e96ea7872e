//! One file per subcommand. Each turns its arguments into settings (through [`crate::load`]),
//! runs the pipeline over the inputs ([`batch`]), renders what came out ([`crate::render`]) and,
//! for `fix` and `generate`, has [`crate::apply`] write it. Nothing here reads or writes files
//! itself.

pub mod args;
mod batch;
mod check;
mod completions;
mod diff;
mod explain;
mod fix;
mod generate;
mod node_fix;
mod profiles;
mod rollback;

use crate::model::report::{FileReport, Outcome};
use crate::render::Paint;
use args::{Cli, Command};
use std::io::Write;

pub(crate) use crate::model::report::UsageError;

/// How a command ended, as the exit code says it.
pub enum Exit {
    Ok,
    Findings,
    Error,
}

impl Exit {
    pub fn code(&self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Error => 2,
        }
    }
}

/// Runs a parsed command line. Output goes to `stdout` (coloured as `paint` says); messages to
/// `stderr`.
pub fn run(
    cli: Cli,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    paint: Paint,
) -> Result<Exit, UsageError> {
    match cli.command {
        Command::Check(args) => check::run(&args, stdout, stderr, paint),
        Command::Diff(args) => diff::run(&args, stdout, stderr),
        Command::Fix(args) => match &args.output {
            Some(output) => fix::run(&args, output, stdout, stderr),
            None => node_fix::run(&args, stdout, stderr),
        },
        Command::Rollback(args) => rollback::run(&args, stdout, stderr),
        Command::Generate {
            what: args::GenerateWhat::Kubeadm(args),
        } => generate::run(&args, stderr),
        Command::Profiles { action } => profiles::run(action, stdout, stderr),
        Command::Completions { shell } => completions::completions(shell, stdout),
        Command::Man => completions::man(stdout),
        Command::Explain { rule } => explain::run(&rule, stdout),
    }
}

/// The exit code for a run's outcomes: an error when nothing was checked or anything failed,
/// else findings when `pending` holds for a report.
fn summarise(outcomes: &[Outcome], pending: impl Fn(&FileReport) -> bool) -> Exit {
    // Nothing checked is no success: a CI gate must not pass on an empty or wrong directory.
    if !outcomes.iter().any(|o| matches!(o, Outcome::Report(_))) {
        return Exit::Error;
    }
    if outcomes.iter().any(|o| matches!(o, Outcome::Error(_))) {
        Exit::Error
    } else if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Report(r) if pending(r)))
    {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

/// An error writing the output, unless the reader stopped early (`| head`), which is not worth
/// a message.
fn written(res: std::io::Result<()>, what: &str) -> Result<(), UsageError> {
    match res {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(UsageError(format!("cannot write {what}: {e}")))
        }
        _ => Ok(()),
    }
}
