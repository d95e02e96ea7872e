//! The `kubeharden` binary: parse, run, map the result to an exit code.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = kubeharden::cli::Cli::parse();
    // Buffered: the reports are written in many small pieces. Output that takes no colour is
    // written as it is, and the report leaves its colour codes out.
    let plain = anstream::AutoStream::choice(&std::io::stdout()) == anstream::ColorChoice::Never;
    kubeharden::render::set_plain(plain);
    let raw: Box<dyn Write> = if plain {
        Box::new(std::io::stdout())
    } else {
        Box::new(anstream::stdout())
    };
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, raw);
    let mut stderr = anstream::stderr();
    match kubeharden::app::run(cli, &mut stdout, &mut stderr) {
        Ok(exit) => match stdout.flush() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                let _ = writeln!(
                    stderr,
                    "kubeharden: error: cannot write to standard output: {e}"
                );
                ExitCode::from(2)
            }
            _ => ExitCode::from(exit.code()),
        },
        Err(e) => {
            let _ = stdout.flush();
            let _ = writeln!(stderr, "kubeharden: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
