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
    #[error("--{flag}: {path} needs a {need} hostPath mount at {dir}, but the container already mounts {what} there")]
    MountConflict {
        flag: String,
        path: String,
        dir: String,
        need: &'static str,
        what: &'static str,
    },
    #[error("--{flag}={path}: kubeharden only mounts absolute paths without `.`, `..` or a trailing `/`, below a directory other than `/`")]
    BadPath { flag: String, path: String },
}
