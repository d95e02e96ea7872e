//! How a command ends: its exit code, and the code a run's outcomes come to.

use crate::model::report::{Kept, UsageError};

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

/// The exit code for what a run kept of its outcomes: an error when nothing was checked or
/// anything failed, else findings when `pending`.
pub(super) fn summarise(kept: &Kept, pending: bool) -> Exit {
    // Nothing checked is no success: a CI gate must not pass on an empty or wrong directory.
    if kept.reports == 0 || !kept.errors.is_empty() {
        Exit::Error
    } else if pending {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

/// Whether a failure to write the output ends the run with an error: any but a reader that
/// stopped early (`| head`), which is not worth a message.
pub(super) fn ends_run(e: &std::io::Error) -> bool {
    e.kind() != std::io::ErrorKind::BrokenPipe
}

/// An error writing the output, unless the reader stopped early.
pub(super) fn written(res: std::io::Result<()>, what: &str) -> Result<(), UsageError> {
    match res {
        Err(e) if ends_run(&e) => Err(UsageError(format!("cannot write {what}: {e}"))),
        _ => Ok(()),
    }
}
