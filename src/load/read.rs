//! Reading a file kubeharden was asked to check: bounded in size, and UTF-8 or refused.

use crate::model::report::FileError;
use std::path::Path;

/// Larger files are refused unread: real manifests are a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn read_input(path: &Path) -> Result<String, FileError> {
    let err = |message: String| FileError {
        path: path.display().to_string(),
        line_col: None,
        message,
        unrecognized: false,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    let too_big = || {
        err(format!(
            "the file is larger than {MAX_FILE_BYTES} bytes, the most kubeharden reads"
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Bounded even if the file grows while it is read.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_FILE_BYTES + 1), &mut bytes)
        })
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        err(format!(
            "the file is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}
