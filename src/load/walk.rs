//! Which files a directory gives kubeharden to read.
//!
//! - A directory named on the command line is walked recursively. Hidden files and directories
//!   (names starting with `.`) are left out, and so is what `.ignore` files list, and, inside a
//!   git repository, what `.gitignore` files and `.git/info/exclude` list. Symbolic links to
//!   directories are not followed (they are mentioned); links to files are read.
//! - The node's static pod directory is read one level deep, as the kubelet reads it: only the
//!   files directly in it, wherever it is met (the default input, a named path, or a directory
//!   inside a walk).
//!
//! Only `*.yaml`, `*.yml` and `*.json` files are candidates; a file named like a copy of one
//! (`kube-apiserver.yaml.bak`) is mentioned, because in a static pod directory the kubelet runs
//! it too. The order is the paths' order, so every output is deterministic.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a directory yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// A candidate file; `key` is the file's real path, so a file reached twice is read once.
    File { path: PathBuf, key: PathBuf },
    /// Not read; the reason is said instead.
    Note { path: PathBuf, reason: String },
    /// A path that could not be read (an unreadable directory): an error for that path only.
    Error { path: PathBuf, message: String },
}

impl Found {
    fn path(&self) -> &Path {
        match self {
            Found::File { path, .. } | Found::Note { path, .. } | Found::Error { path, .. } => path,
        }
    }
}

pub(crate) const COPY_NOTE: &str = "named like a copy of a manifest; in a static pod directory the kubelet runs such a file too (it reads every file whose name does not start with a dot): move it elsewhere";

const LINK_NOTE: &str = "a symbolic link to a directory, which kubeharden does not follow; name the directory to check what is in it";

/// A directory's identity (device and inode), to recognise the static pod directory under any
/// name it is reached by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirId(u64, u64);

impl DirId {
    pub(crate) fn of(path: &Path) -> Option<DirId> {
        fs::metadata(path)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| DirId(m.dev(), m.ino()))
    }
}

enum Name {
    Candidate,
    CopyLike,
    Other,
}

fn classify(name: &OsStr) -> Name {
    let name = name.to_string_lossy();
    let ext = Path::new(name.as_ref())
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    if matches!(ext, "yaml" | "yml" | "json") {
        Name::Candidate
    } else if [".yaml.", ".yml.", ".json."]
        .iter()
        .any(|x| name.contains(x))
    {
        Name::CopyLike
    } else {
        Name::Other
    }
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The files directly in `dir`, as the kubelet reads a static pod directory: names starting
/// with a dot are left out, links to files are read, subdirectories are not entered.
pub(crate) fn one_level(dir: &Path) -> std::io::Result<Vec<Found>> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    found.sort();
    let mut out = Vec::new();
    for f in found {
        let Some(name) = f.file_name() else { continue };
        if name.to_string_lossy().starts_with('.') || !f.is_file() {
            continue;
        }
        match classify(name) {
            Name::Candidate => out.push(Found::File {
                key: canonical(&f),
                path: f,
            }),
            Name::CopyLike => out.push(Found::Note {
                path: f,
                reason: COPY_NOTE.into(),
            }),
            Name::Other => {}
        }
    }
    Ok(out)
}

/// Every candidate under `root`, recursively, in path order. `pods` is the static pod
/// directory: met inside the walk, it is read one level deep. Unreadable directories become
/// errors for their path and the walk goes on.
///
/// The walk first lists what it finds compactly (each path relative to the root, in blocks of
/// bytes, and 20 bytes besides: [`Listing`]), sorts it, and then gives out one [`Found`] at a
/// time: a directory of thousands of files costs a run little more than their names. It gives
/// each file once: a link to a file the walk also meets (or that another link already gave) is
/// left out where it comes second in path order.
pub(crate) fn walk(root: &Path, pods: Option<DirId>) -> Walk {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        // Hidden entries, `.ignore`, and in a git repository `.gitignore` (here and in the
        // parent directories up to the repository's top) and `.git/info/exclude`.
        .standard_filters(true)
        // A `.gitignore` outside a repository means nothing to git, and an audit reads rather
        // more than less.
        .require_git(true)
        // The user's global excludes would make the result depend on who runs it.
        .git_global(false)
        .follow_links(false);
    if let Some(pods) = pods {
        // Inside the static pod directory, only the files directly in it.
        builder.filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir && e.depth() > 0 && e.path().parent().and_then(DirId::of) == Some(pods))
        });
    }
    Walk {
        builder: Some(builder),
        root: root.to_path_buf(),
        // Below the root no link is followed, so a file's real path is the root's joined with
        // the rest; only links need resolving.
        real_root: canonical(root),
        listing: Listing::default(),
        links: Vec::new(),
        linked: std::collections::HashSet::new(),
        pending: std::collections::VecDeque::new(),
        at: 0,
    }
}

/// A walk (see [`walk`]): listed when first asked for an entry, then given out in order.
pub(crate) struct Walk {
    /// The walk still to make.
    builder: Option<ignore::WalkBuilder>,
    root: PathBuf,
    real_root: PathBuf,
    /// What the walk met.
    listing: Listing,
    /// The real paths of the links to files met (an [`Kind::Link`] is a place here).
    links: Vec<PathBuf>,
    /// The real paths of the links given out so far.
    linked: std::collections::HashSet<PathBuf>,
    /// Problems met (an ignore file's line that is not a pattern, an unreadable directory), in
    /// path order, each given out at its place among the entries.
    pending: std::collections::VecDeque<Found>,
    /// The place in path order of the next entry to give out.
    at: usize,
}

/// What a walk met, kept compactly: each path relative to the root, one after the other in
/// blocks of bytes, and an entry for each, in blocks too; then the entries' order by path.
/// Each block is allocated once at its full size, so the listing never copies itself to grow
/// (and holds no room a copy left behind).
#[derive(Default)]
struct Listing {
    names: Vec<Vec<u8>>,
    entries: Vec<Vec<Entry>>,
    /// The entries' numbers, in path order, once sorted.
    order: Vec<u32>,
}

impl Listing {
    const NAME_BLOCK: usize = 64 * 1024;
    const ENTRY_BLOCK: usize = 4096;

    /// Keeps the relative path `rel` of an entry of `kind`; `None` when the listing cannot
    /// number it (past four billion entries or bytes in a block).
    fn push(&mut self, rel: &[u8], kind: Kind) -> Option<()> {
        if self
            .names
            .last()
            .is_none_or(|b| b.capacity() - b.len() < rel.len())
        {
            self.names
                .push(Vec::with_capacity(Self::NAME_BLOCK.max(rel.len())));
        }
        if self
            .entries
            .last()
            .is_none_or(|b| b.len() == Self::ENTRY_BLOCK)
        {
            self.entries.push(Vec::with_capacity(Self::ENTRY_BLOCK));
        }
        let block = self.names.len() - 1;
        let names = &mut self.names[block];
        let entry = Entry {
            block: u32::try_from(block).ok()?,
            start: u32::try_from(names.len()).ok()?,
            len: u32::try_from(rel.len()).ok()?,
            kind,
        };
        // Its number, which the order of the entries holds.
        let last = self.entries.len() - 1;
        u32::try_from(last * Self::ENTRY_BLOCK + self.entries[last].len()).ok()?;
        names.extend_from_slice(rel);
        self.entries[last].push(entry);
        Some(())
    }

    fn entry(&self, n: u32) -> &Entry {
        let n = n as usize;
        &self.entries[n / Self::ENTRY_BLOCK][n % Self::ENTRY_BLOCK]
    }

    fn entry_mut(&mut self, n: u32) -> &mut Entry {
        let n = n as usize;
        &mut self.entries[n / Self::ENTRY_BLOCK][n % Self::ENTRY_BLOCK]
    }

    /// The path of entry `n`, relative to the root.
    fn path(&self, n: u32) -> &Path {
        let e = self.entry(n);
        let start = e.start as usize;
        let bytes = &self.names[e.block as usize][start..start + e.len as usize];
        Path::new(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes))
    }

    /// Puts the entries in path order: paths compare by component, the order of a walk that
    /// sorts each directory.
    fn sort(&mut self) {
        let count = self.entries.iter().map(Vec::len).sum::<usize>();
        // Every entry was numbered when it was pushed.
        let mut order: Vec<u32> = (0..count)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .collect();
        order.sort_unstable_by(|&a, &b| self.path(a).cmp(self.path(b)));
        self.order = order;
    }

    /// Gives back the room the last blocks did not fill.
    fn shrink(&mut self) {
        self.names.iter_mut().for_each(Vec::shrink_to_fit);
        self.entries.iter_mut().for_each(Vec::shrink_to_fit);
    }

    /// The entry at place `at` in path order.
    fn at(&self, at: usize) -> Option<u32> {
        self.order.get(at).copied()
    }

    /// The place in path order of the entry at the relative path `rel`.
    fn find(&self, rel: &Path) -> Option<usize> {
        self.order.binary_search_by(|&n| self.path(n).cmp(rel)).ok()
    }
}

/// An entry of a walk: where its path is among [`Listing::names`], and what it is (20 bytes: a
/// walk of many files holds one for each).
#[derive(Clone, Copy)]
struct Entry {
    block: u32,
    start: u32,
    len: u32,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A candidate file.
    File,
    /// A candidate that is a link to a file, with its place in [`Walk::links`].
    Link(u32),
    /// A candidate file a link before it in path order gave already.
    Given,
    /// Named like a copy of a manifest.
    CopyLike,
    /// A link to a directory.
    DirLink,
}

impl Iterator for Walk {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        if let Some(builder) = self.builder.take() {
            self.list(&builder);
        }
        loop {
            let ahead = self.listing.at(self.at);
            // A problem comes before an entry with the same path, as in a stable sort of
            // everything met in the order met.
            if let Some(p) = self.pending.front() {
                let l = &self.listing;
                if ahead.is_none_or(|n| p.path() <= self.root.join(l.path(n)).as_path()) {
                    return self.pending.pop_front();
                }
            }
            let n = ahead?;
            self.at += 1;
            let rel = self.listing.path(n);
            let path = self.root.join(rel);
            return Some(match self.listing.entry(n).kind {
                Kind::Given => continue,
                Kind::File => {
                    let key = self.real_root.join(rel);
                    Found::File { path, key }
                }
                Kind::Link(i) => {
                    let key = self.links[i as usize].clone();
                    if !self.gives_link_first(&key) {
                        continue;
                    }
                    Found::File { path, key }
                }
                Kind::CopyLike => Found::Note {
                    path,
                    reason: COPY_NOTE.into(),
                },
                Kind::DirLink => Found::Note {
                    path,
                    reason: LINK_NOTE.into(),
                },
            });
        }
    }
}

impl Walk {
    /// The real path of the walked directory: the walk gives no file outside it but through
    /// a link.
    pub(crate) fn real_root(&self) -> &Path {
        &self.real_root
    }

    /// Ends a walk given out to the end, kept to say which files it gave: what only walking
    /// needs is dropped, the listing gives back its unused room, and the real paths of the
    /// links it gave are handed over (the caller keeps those of every walk in one set).
    pub(crate) fn finish(&mut self) -> std::collections::HashSet<PathBuf> {
        self.builder = None;
        self.links = Vec::new();
        self.pending = std::collections::VecDeque::new();
        self.listing.shrink();
        std::mem::take(&mut self.linked)
    }

    /// Whether the walk gives (or gave) a file whose real path is `key`.
    pub(crate) fn gives(&self, key: &Path) -> bool {
        self.linked.contains(key) || self.place_of(key).is_some()
    }

    /// The place among the entries of the file the walk meets at the real path `key`, when it
    /// is a candidate that is no link.
    fn place_of(&self, key: &Path) -> Option<usize> {
        let rel = key.strip_prefix(&self.real_root).ok()?;
        let at = self.listing.find(rel)?;
        let n = self.listing.at(at)?;
        matches!(self.listing.entry(n).kind, Kind::File | Kind::Given).then_some(at)
    }

    /// Whether the link to the file at `key` that the walk meets now comes first: no link
    /// before it gave that file, and the walk does not meet the file itself before it. When
    /// the walk meets the file after it, the file is left out there.
    fn gives_link_first(&mut self, key: &Path) -> bool {
        if self.linked.contains(key) {
            return false;
        }
        if let Some(at) = self.place_of(key) {
            if at < self.at {
                return false;
            }
            if let Some(n) = self.listing.at(at) {
                self.listing.entry_mut(n).kind = Kind::Given;
            }
        }
        self.linked.insert(key.to_path_buf());
        true
    }

    /// Walks the whole tree, keeping what it meets, and sorts it by path.
    fn list(&mut self, builder: &ignore::WalkBuilder) {
        for entry in builder.build() {
            let mut problems = Vec::new();
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems_of(&e, None, &mut problems);
                    self.hold(problems);
                    continue;
                }
            };
            if let Some(e) = entry.error() {
                // A line of an ignore file that is not a pattern: what it would leave out is
                // read. (An ignore file that cannot be read at all the crate passes over in
                // silence.)
                problems_of(e, None, &mut problems);
            }
            self.hold(problems);
            if let Some(kind) = self.kind_of(&entry) {
                // Every entry below the root is the root joined with the rest.
                if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(rel.as_os_str());
                    if self.listing.push(bytes, kind).is_none() {
                        self.hold(vec![Found::Error {
                            path: entry.into_path(),
                            message: "not read: the walk met more than four billion files".into(),
                        }]);
                    }
                }
            }
        }
        self.listing.sort();
        // In path order, those with the same path in the order met (a stable sort), sorted
        // once: an ignore file of a hundred thousand lines that are not patterns is as many
        // problems, which put one by one in their places took time to the square of that.
        self.pending
            .make_contiguous()
            .sort_by(|a, b| a.path().cmp(b.path()));
    }

    /// What an entry of the walk is to kubeharden, if anything.
    fn kind_of(&mut self, entry: &ignore::DirEntry) -> Option<Kind> {
        if entry.depth() == 0 {
            return None;
        }
        let file_type = entry.file_type()?;
        let path = entry.path();
        let link = if file_type.is_file() {
            None
        } else if file_type.is_symlink() {
            match fs::metadata(path) {
                Ok(m) if m.is_file() => Some(canonical(path)),
                Ok(m) if m.is_dir() => return Some(Kind::DirLink),
                // A dangling link, or a link to a device or a pipe: nothing to read.
                _ => return None,
            }
        } else {
            return None;
        };
        match classify(path.file_name()?) {
            Name::Candidate => Some(match link {
                Some(key) => {
                    self.links.push(key);
                    Kind::Link(u32::try_from(self.links.len() - 1).ok()?)
                }
                None => Kind::File,
            }),
            Name::CopyLike => Some(Kind::CopyLike),
            Name::Other => None,
        }
    }

    /// Keeps problems met, to be given out among the entries in path order.
    fn hold(&mut self, problems: Vec<Found>) {
        self.pending.extend(problems);
    }
}

/// A walk's error: an unreadable directory is an error for its path; a problem with an ignore
/// file (a line that is not a pattern, or the file unreadable, should the crate report it) is
/// mentioned, and the walk reads what that file would have left out.
fn problems_of(err: &ignore::Error, path: Option<&Path>, out: &mut Vec<Found>) {
    use ignore::Error as E;
    match err {
        E::Partial(errs) => {
            for e in errs {
                problems_of(e, path, out);
            }
        }
        E::WithPath { path: p, err } => problems_of(err, Some(p), out),
        E::WithDepth { err, .. } => problems_of(err, path, out),
        E::WithLineNumber { line, err } => {
            let mut found = Vec::new();
            problems_of(err, path, &mut found);
            for f in found {
                out.push(match f {
                    Found::Note { path, reason }
                    | Found::Error {
                        path,
                        message: reason,
                    } => Found::Note {
                        path,
                        reason: format!("line {line}: {reason}"),
                    },
                    other => other,
                })
            }
        }
        E::Io(io) => {
            let Some(path) = path else {
                return;
            };
            // The walker's message repeats the path; the system's says what went wrong.
            let io = match os_error(io) {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(io.kind(), io.to_string()),
            };
            if is_ignore_file(path) {
                out.push(Found::Note {
                    path: path.to_path_buf(),
                    reason: format!(
                        "cannot read this ignore file ({io}); the files it lists are read"
                    ),
                });
            } else {
                out.push(Found::Error {
                    path: path.to_path_buf(),
                    message: format!("cannot read directory: {io}"),
                });
            }
        }
        E::Loop { child, .. } => out.push(Found::Error {
            path: child.clone(),
            message: "a file system loop".into(),
        }),
        other => {
            if let Some(path) = path {
                out.push(Found::Note {
                    path: path.to_path_buf(),
                    reason: format!("{other}; the files this line would leave out are read"),
                });
            }
        }
    }
}

/// The system's error code behind an error, through the errors it wraps.
fn os_error(io: &std::io::Error) -> Option<i32> {
    let mut err: Option<&(dyn std::error::Error + 'static)> = Some(io);
    while let Some(e) = err {
        if let Some(code) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Some(code);
        }
        err = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => e.source(),
        };
    }
    None
}

fn is_ignore_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == ".gitignore" || n == ".ignore")
        || path.ends_with(".git/info/exclude")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, "x").expect("write");
    }

    fn rel(root: &Path, found: &[Found]) -> Vec<String> {
        found
            .iter()
            .map(|f| {
                let tag = match f {
                    Found::File { .. } => "file",
                    Found::Note { .. } => "note",
                    Found::Error { .. } => "error",
                };
                format!(
                    "{tag} {}",
                    f.path().strip_prefix(root).expect("under root").display()
                )
            })
            .collect()
    }

    #[test]
    fn walks_in_path_order_and_keeps_candidates_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        for p in [
            "b.yaml",
            "a/z.json",
            "a-c/m.yml",
            "a/b/c/deep.yaml",
            "a/notes.txt",
            "a/kube-apiserver.yaml.bak",
            ".hidden/x.yaml",
            "a/.x.yaml",
        ] {
            touch(&r.join(p));
        }
        let got = rel(r, &walk(r, None).collect::<Vec<_>>());
        assert_eq!(
            got,
            [
                "file a/b/c/deep.yaml",
                "note a/kube-apiserver.yaml.bak",
                "file a/z.json",
                "file a-c/m.yml",
                "file b.yaml",
            ]
        );
    }

    /// More entries and more bytes of paths than one block of the listing holds.
    #[test]
    fn a_walk_of_thousands_of_files_gives_each_once_in_path_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        let mut want = Vec::new();
        for d in 0..50 {
            fs::create_dir(r.join(format!("d{d}"))).expect("mkdir");
            for f in 0..100 {
                let rel = format!("d{d}/a-rather-long-file-name-to-fill-the-blocks-{f}.yaml");
                fs::write(r.join(&rel), "x").expect("write");
                want.push(PathBuf::from(rel));
            }
        }
        want.sort();
        let got: Vec<PathBuf> = walk(r, None)
            .map(|f| f.path().strip_prefix(r).expect("under root").to_path_buf())
            .collect();
        assert_eq!(got.len(), 5000);
        assert!(got == want, "not in path order");
    }

    #[test]
    fn the_static_pod_directory_inside_a_walk_is_read_one_level_deep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        touch(&r.join("pods/kube-apiserver.yaml"));
        touch(&r.join("pods/old/kube-apiserver.yaml"));
        touch(&r.join("other/old/kube-apiserver.yaml"));
        let pods = DirId::of(&r.join("pods"));
        assert!(pods.is_some());
        assert_eq!(
            rel(r, &walk(r, pods).collect::<Vec<_>>()),
            [
                "file other/old/kube-apiserver.yaml",
                "file pods/kube-apiserver.yaml"
            ]
        );
        assert_eq!(rel(r, &walk(r, None).collect::<Vec<_>>()).len(), 3);
    }

    /// Problems of several ignore files come in path order among the entries, those of one
    /// file in the order of its lines, however many there are.
    #[test]
    fn problems_come_in_path_order_each_file_s_in_line_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        for d in ["c", "a", "b/deep", "b"] {
            touch(&r.join(d).join("m.yaml"));
        }
        fs::write(r.join("c/.ignore"), "{c1\n{c2\n").expect("write");
        fs::write(r.join("b/.ignore"), "{b1\nok.yaml\n{b3\n").expect("write");
        fs::write(r.join("b/deep/.ignore"), "{d1\n").expect("write");
        let lines: String = (0..20_000).map(|i| format!("{{a{i}\n")).collect();
        fs::write(r.join("a/.ignore"), lines).expect("write");
        let found: Vec<Found> = walk(r, None).collect();
        let mut want = vec!["note a/.ignore"; 20_000];
        want.extend([
            "file a/m.yaml",
            "note b/.ignore",
            "note b/.ignore",
            "note b/deep/.ignore",
            "file b/deep/m.yaml",
            "file b/m.yaml",
            "note c/.ignore",
            "note c/.ignore",
            "file c/m.yaml",
        ]);
        assert_eq!(rel(r, &found), want);
        let reasons: Vec<String> = found
            .iter()
            .filter_map(|f| match f {
                Found::Note { reason, .. } => reason.split(':').next().map(str::to_string),
                _ => None,
            })
            .collect();
        let mut lines: Vec<String> = (1..=20_000).map(|i| format!("line {i}")).collect();
        lines.extend(["line 1", "line 3", "line 1", "line 1", "line 2"].map(String::from));
        assert_eq!(reasons, lines);
    }

    #[test]
    fn a_line_of_an_ignore_file_that_is_not_a_pattern_is_mentioned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        touch(&r.join("sub/m.yaml"));
        fs::write(r.join("sub/.ignore"), "ok.yaml\n{a\n").expect("write");
        let found: Vec<Found> = walk(r, None).collect();
        assert_eq!(rel(r, &found), ["note sub/.ignore", "file sub/m.yaml"]);
        match &found[0] {
            Found::Note { reason, .. } => {
                assert!(
                    reason.starts_with("line 2: error parsing glob '{a'"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_real_paths_and_a_file_is_given_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = &dir.path().join("walked");
        touch(&r.join("a/m.yaml"));
        touch(&dir.path().join("out/o.yaml"));
        // Before and after the file they name in path order; and two to a file outside.
        for (link, to) in [
            ("0-first.yaml", "a/m.yaml"),
            ("link.yaml", "a/m.yaml"),
            ("x.yaml", "../out/o.yaml"),
            ("y.yaml", "../out/o.yaml"),
        ] {
            std::os::unix::fs::symlink(r.join(to), r.join(link)).expect("link");
        }
        std::os::unix::fs::symlink(r.join("a"), r.join("dirlink")).expect("link");
        let walked = walk(r, None);
        let found: Vec<Found> = walked.collect();
        assert_eq!(
            rel(r, &found),
            ["file 0-first.yaml", "note dirlink", "file x.yaml"],
        );
        let real = canonical(r);
        let keys: Vec<&PathBuf> = found
            .iter()
            .filter_map(|f| match f {
                Found::File { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        let out = canonical(&dir.path().join("out/o.yaml"));
        assert_eq!(keys, [&real.join("a/m.yaml"), &out]);
        // What it gave, for the inputs after it.
        let mut w = walk(r, None);
        w.by_ref().for_each(drop);
        assert!(w.gives(&real.join("a/m.yaml")) && w.gives(&out));
        assert!(!w.gives(&real.join("a")) && !w.gives(&r.join("a/m.yaml.bak")));
    }
}
