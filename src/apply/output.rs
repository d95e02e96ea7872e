//! Files written outside a node transaction: `fix --output`, the files of `generate kubeadm`,
//! and the report on standard output.

use super::node::atomic_write;
use crate::model::report::UsageError;
use std::io::Write;
use std::path::Path;

/// Standard output for the reports, buffered (they are written in many small pieces), and
/// whether it takes colour. Output that takes no colour is written as it is, and the report
/// leaves its colour codes out.
pub fn stdout() -> (std::io::BufWriter<Box<dyn Write + Send>>, bool) {
    let plain = anstream::AutoStream::choice(&std::io::stdout()) == anstream::ColorChoice::Never;
    let raw: Box<dyn Write + Send> = if plain {
        Box::new(std::io::stdout())
    } else {
        Box::new(anstream::stdout())
    };
    (std::io::BufWriter::with_capacity(1 << 16, raw), !plain)
}

/// Standard error for messages, written a line at a time: a message written in pieces (a
/// `writeln!` writes each piece of its format apart, nine for a note) goes out in one write when
/// its line is complete, so that a file with 50,000 notes costs 50,000 writes rather than
/// 450,000 (0.93 s of `diff`, against 0.10 s of `check`, whose report is buffered). Every
/// message is a whole line, so none waits; what a line holds when the run ends goes out when
/// the writer is dropped.
///
/// When standard error takes no colour it is written as it is: nothing kubeharden writes there
/// is coloured then (the prompt asks the same question of it), and text from the files is shown
/// with its control characters escaped ([`crate::render::visible`]); a stream that strips escape
/// codes would only look at every byte of the messages (`diff` of 10,000 manifests writes 22 MB
/// of them, and stripping them was 3% of its instructions).
pub fn stderr() -> std::io::LineWriter<Box<dyn Write + Send>> {
    let raw: Box<dyn Write + Send> =
        if anstream::AutoStream::choice(&std::io::stderr()) == anstream::ColorChoice::Never {
            Box::new(std::io::stderr())
        } else {
            Box::new(anstream::stderr())
        };
    std::io::LineWriter::new(raw)
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a manifest.
pub(crate) fn write_output(path: &Path, text: &str) -> Result<(), UsageError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| UsageError(format!("{}: cannot write: {e}", path.display()));
    // A device or a pipe (`/dev/null`, `/dev/stdout`, a FIFO) is written to, never replaced:
    // renaming a file over /dev/null would turn it into a regular file for the whole system.
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(UsageError(format!(
                "{}: is a directory; --output names a file",
                path.display()
            )))
        }
        Ok(m) if !m.is_file() => {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(fail);
        }
        _ => {}
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeharden-")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// A file to write: its name, its content and its mode.
pub(crate) struct OutFile {
    pub(crate) name: String,
    pub(crate) content: String,
    pub(crate) mode: u32,
    /// An existing file of this name is kept as it is, whatever it holds: a key file whose key
    /// may already be in use.
    pub(crate) keep: bool,
}

/// Writes `files` into `dir` (created if missing), each atomically, and says so on `stderr`.
/// Nothing is written when any file would replace different content.
pub(crate) fn write_files(
    dir: &Path,
    files: &[OutFile],
    stderr: &mut dyn Write,
) -> Result<(), UsageError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("{}: cannot create: {e}", dir.display())))?;
    let kept = |f: &OutFile| f.keep && std::fs::symlink_metadata(dir.join(&f.name)).is_ok();
    for f in files.iter().filter(|f| !kept(f)) {
        let path = dir.join(&f.name);
        if let Ok(existing) = std::fs::read(&path) {
            if existing != f.content.as_bytes() {
                return Err(UsageError(format!(
                    "{}: exists with other content; kubeharden does not overwrite it (choose another --output-dir); nothing was written",
                    path.display()
                )));
            }
        }
    }
    for f in files {
        let path = dir.join(&f.name);
        if kept(f) {
            let _ = writeln!(
                stderr,
                "kubeharden: kept {}: it exists, and its key may be in use already (remove it for a new key)",
                path.display()
            );
            continue;
        }
        atomic_write(&path, f.content.as_bytes(), f.mode, None, None)
            .map_err(|e| UsageError(e.error.to_string()))?;
        let _ = writeln!(
            stderr,
            "kubeharden: wrote {} (mode {:o})",
            path.display(),
            f.mode
        );
    }
    Ok(())
}

/// Output that waits for what comes after it (the results of a SARIF log, written before the
/// log around them; the messages `diff` says after the patches): memory up to
/// [`SPOOL_IN_MEMORY`] bytes, then an unnamed temporary file, deleted when it is dropped, so
/// that a run's memory does not grow with its output (memory still when no temporary file can
/// be made). A run of a few files makes no file at all.
pub enum Spool {
    Memory(Vec<u8>),
    File(std::io::BufWriter<std::fs::File>),
}

/// What a [`Spool`] keeps in memory before it moves to a temporary file: the size of the
/// buffer it then writes the file through.
pub const SPOOL_IN_MEMORY: usize = 1 << 16;

impl Spool {
    pub fn new() -> Spool {
        Spool::Memory(Vec::new())
    }

    /// Copies what was written to `out`.
    pub fn copy_to(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        match self {
            Spool::File(w) => {
                w.flush()?;
                let f = w.get_mut();
                f.seek(SeekFrom::Start(0))?;
                // In blocks of the spool's buffer, not `copy`'s 8 KB: standard error, written a
                // line at a time, takes each block in two writes (its whole lines, then the
                // part line it kept), the 22 MB of 10,000 files' messages in 700.
                let mut blocks = std::io::BufReader::with_capacity(SPOOL_IN_MEMORY, f);
                std::io::copy(&mut blocks, out).map(drop)
            }
            Spool::Memory(v) => out.write_all(v),
        }
    }
}

impl Default for Spool {
    fn default() -> Self {
        Spool::new()
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Spool::File(w) => w.write(buf),
            Spool::Memory(v) if v.len() + buf.len() > SPOOL_IN_MEMORY => {
                if let Ok(f) = tempfile::tempfile() {
                    let mut w = std::io::BufWriter::with_capacity(SPOOL_IN_MEMORY, f);
                    w.write_all(v)?;
                    *self = Spool::File(w);
                    return self.write(buf);
                }
                v.write(buf)
            }
            Spool::Memory(v) => v.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Spool::File(w) => w.flush(),
            Spool::Memory(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spool keeps a little in memory, moves to a temporary file past
    /// [`SPOOL_IN_MEMORY`] bytes, and gives back every byte in order either way.
    #[test]
    fn a_spool_moves_to_a_file_past_its_memory_and_keeps_every_byte() {
        let mut small = Spool::new();
        small.write_all(b"one\n").expect("write");
        small.write_all(b"two\n").expect("write");
        assert!(matches!(small, Spool::Memory(_)));
        let mut out = Vec::new();
        small.copy_to(&mut out).expect("copy");
        assert_eq!(out, b"one\ntwo\n");

        let mut large = Spool::new();
        let mut written = Vec::new();
        for i in 0..10_000 {
            let line = format!("line {i}\n");
            large.write_all(line.as_bytes()).expect("write");
            written.extend_from_slice(line.as_bytes());
        }
        assert!(written.len() > SPOOL_IN_MEMORY);
        assert!(matches!(large, Spool::File(_)), "past its memory");
        let mut out = Vec::new();
        large.copy_to(&mut out).expect("copy");
        assert_eq!(out, written);
    }
}
