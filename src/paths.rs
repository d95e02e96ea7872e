//! Paths as a container sees them: clean absolute paths, their directories, and what the
//! container runtime provides itself.

/// `path` equals `dir` or lies below it.
pub(crate) fn path_within(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return path.starts_with('/');
    }
    path == dir || (path.starts_with(dir) && path[dir.len()..].starts_with('/'))
}

/// Paths the container runtime provides inside every container (`/dev/stdout`, `/proc/...`):
/// never hostPath-mounted, and nothing the node needs.
pub(crate) fn container_provided(path: &str) -> bool {
    ["/dev", "/proc", "/sys"].iter().any(|d| {
        path.strip_prefix(d)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// An absolute path without `.` or `..` components, empty components or a trailing `/`.
pub(crate) fn clean_path(path: &str) -> bool {
    path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && path.as_bytes()[1..]
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

pub(crate) fn parent_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}
