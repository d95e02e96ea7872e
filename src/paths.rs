//! Paths as a container sees them: clean absolute paths, their directories, and what the
//! container runtime provides itself.

/// `path` equals `dir` or lies below it. By bytes, with one comparison of `dir`: every
/// file a flag names is held against every mount, several times for each file checked, so the
/// byte after `dir`'s length and `dir`'s last byte are looked at first, which tells most
/// directories that do not hold the path without comparing them whole.
pub(crate) fn path_within(path: &str, dir: &str) -> bool {
    let (path, mut dir) = (path.as_bytes(), dir.as_bytes());
    while let [rest @ .., b'/'] = dir {
        dir = rest;
    }
    let n = dir.len();
    if n == 0 {
        return path.first() == Some(&b'/');
    }
    path.len() >= n
        && (path.len() == n || path[n] == b'/')
        && path[n - 1] == dir[n - 1]
        && path[..n] == *dir
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_within_a_directory() {
        for (path, dir, within) in [
            ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki", true),
            ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/", true),
            ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki//", true),
            ("/etc/kubernetes/pki", "/etc/kubernetes/pki", true),
            ("/etc/kubernetes/pki", "/etc/kubernetes/pki/", true),
            (
                "/etc/kubernetes/pki-old/ca.crt",
                "/etc/kubernetes/pki",
                false,
            ),
            ("/etc/kubernetes", "/etc/kubernetes/pki", false),
            ("/etc", "/", true),
            ("/etc", "//", true),
            ("etc", "/", false),
            ("", "/", false),
            ("/a", "", true),
            ("a", "", false),
        ] {
            assert_eq!(path_within(path, dir), within, "{path} in {dir}");
        }
    }
}
