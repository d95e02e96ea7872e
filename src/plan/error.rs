//! Why no safe plan can be made.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PlanError {
    #[error(
        "rule {rule}: its fix would write --{flag}, which Kubernetes {version} does not accept"
    )]
    RejectedFlag {
        rule: String,
        flag: String,
        version: String,
    },
    #[error("rule {rule}: rewriting --{flag} would keep {plugin}, which Kubernetes {version} does not have; remove it first (the strict profile does) or give the right --kubernetes-version")]
    RejectedPlugin {
        rule: String,
        flag: String,
        plugin: String,
        version: String,
    },
    #[error(
        "rule {rule}: --{flag} would get `{value}`, which Kubernetes {version} does not accept"
    )]
    RejectedValue {
        rule: String,
        flag: String,
        value: String,
        version: String,
    },
    #[error("rule {rule}: its fix does not satisfy the rule ({detail})")]
    Unsatisfied { rule: String, detail: String },
    #[error("rules {rules} keep undoing each other's changes; disable one of them in a profile")]
    Conflict { rules: String },
    #[error("rule {rule}: --{flag} cannot be combined with --{other}, which the manifest sets; the component would refuse to start")]
    Exclusive {
        rule: String,
        flag: String,
        other: String,
    },
    #[error("--{flag}: {path} needs a {need} hostPath mount at {dir}, but the container already mounts {what} there, which kubeharden does not replace: {}", mount_advice(flag, need))]
    MountConflict {
        flag: String,
        path: String,
        dir: String,
        need: &'static str,
        what: &'static str,
    },
    #[error("--{flag}={path}: kubeharden only mounts absolute paths without `.`, `..` or a trailing `/`, below a directory other than `/`: {}", path_advice(path))]
    BadPath { flag: String, path: String },
}

/// What to do about a path kubeharden cannot make a mount for.
fn path_advice(path: &str) -> &'static str {
    if path.is_empty() {
        "the flag names no file; give the file's path or remove the flag, then run kubeharden again"
    } else if path.contains("$(") {
        "the kubelet expands $(VAR) from the container's environment, which kubeharden does not; write the path out, then run kubeharden again"
    } else if !path.starts_with('/') {
        "a relative path is read from the container's working directory, which the manifest does not show; write the absolute path, then run kubeharden again"
    } else if path.ends_with('/') {
        "the path ends in `/`, which names a directory; give the file's path, then run kubeharden again"
    } else if path.split('/').any(|s| s == "." || s == "..") {
        "write the path without `.` and `..` (check on the node that no symbolic link on the way makes it another file), then run kubeharden again"
    } else {
        "move the file into a directory of its own (a hostPath mount of `/` would show the whole node to the container), then run kubeharden again"
    }
}

/// What to do when another volume already sits where a file needs a hostPath mount.
fn mount_advice(flag: &str, need: &str) -> String {
    if need == "writable" {
        format!("make that mount writable (readOnly: false) if its volume is the host directory meant for it, or point --{flag} at another directory; then run kubeharden again")
    } else {
        format!("put the file in that volume, or point --{flag} at a directory a hostPath volume can be mounted at; then run kubeharden again")
    }
}
