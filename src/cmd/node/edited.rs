//! What a run on a node carries from one step to the next: the files as chosen, and why it
//! stops early.

use crate::apply::select::Selection;
use crate::cmd::exit::Exit;
use crate::model::report::{FileError, UsageError};
use std::path::PathBuf;

/// Why the run stops early: with an exit code (what went wrong is said already), or with an
/// error to say.
pub(super) enum Stop {
    Exit(Exit),
    Usage(UsageError),
}

impl From<UsageError> for Stop {
    fn from(e: UsageError) -> Stop {
        Stop::Usage(e)
    }
}

/// A file the run may edit, as chosen.
pub(super) struct Edited {
    pub(super) shown: String,
    /// The file to replace (symbolic links resolved).
    pub(super) real: PathBuf,
    pub(super) original: String,
    pub(super) sel: Selection,
}

/// An input read: the file it really is and its text, or `None` for one said to be skipped.
pub(super) type Read = Option<(PathBuf, Result<String, FileError>)>;
