//! The `kubeharden` binary: parse, run, map the result to an exit code.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = kubeharden::cmd::args::Cli::parse();
    let (mut stdout, color) = kubeharden::apply::output::stdout();
    let mut stderr = kubeharden::apply::output::stderr();
    let paint = kubeharden::render::Paint { color };
    let result = kubeharden::cmd::run(cli, &mut stdout, &mut stderr, paint);
    let flushed = stdout.flush();
    match (result, flushed) {
        (Err(e), _) => {
            let _ = writeln!(stderr, "kubeharden: error: {e}");
            ExitCode::from(2)
        }
        (Ok(_), Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: cannot write to standard output: {e}"
            );
            ExitCode::from(2)
        }
        (Ok(exit), _) => ExitCode::from(exit.code()),
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
