//! One file per subcommand. Each turns its arguments into settings (through [`crate::load`]),
//! runs the pipeline over the inputs ([`batch`]), renders what came out ([`crate::render`]) and,
//! for `fix` and `generate`, has [`crate::apply`] write it. Nothing here reads or writes files
//! itself.

pub mod args;
mod batch;
mod check;
mod completions;
mod diff;
mod exit;
mod explain;
mod fix;
mod generate;
mod key;
mod migrate;
mod node;
mod probe_patch;
mod profiles;
mod rollback;

use crate::render::Paint;
use args::{Cli, Command};
use std::io::Write;

pub use crate::model::report::UsageError;
pub use exit::Exit;

/// Runs a parsed command line. Output goes to `stdout` (coloured as `paint` says); messages to
/// `stderr`.
pub fn run(
    cli: Cli,
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
    paint: Paint,
) -> Result<Exit, UsageError> {
    match cli.command {
        Command::Check(args) => check::run(&args, stdout, stderr, paint),
        Command::Diff(args) => diff::run(&args, stdout, stderr),
        Command::Fix(args) => match &args.output {
            Some(output) => fix::run(&args, output, stdout, stderr),
            None => node::run(&args, stdout, stderr),
        },
        Command::Rollback(args) => rollback::run(&args, stdout, stderr),
        Command::Generate {
            what: args::GenerateWhat::Kubeadm(args),
        } => generate::run(&args, stderr),
        Command::Migrate {
            what: args::MigrateWhat::Kubeadm(args),
        } => migrate::run(&args, stdout, stderr),
        Command::Profiles { action } => profiles::run(action, stdout, stderr),
        Command::Completions { shell } => completions::completions(shell, stdout),
        Command::Man => completions::man(stdout),
        Command::Explain { rule } => explain::run(&rule, stdout),
    }
}
