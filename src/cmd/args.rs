//! Command-line arguments. clap types stay here; the commands turn them into settings.

use crate::load::inputs::Asked;
use crate::model::report::FailOn;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kubeharden",
    version,
    about = "Audit and harden Kubernetes control-plane configuration with minimal, verified edits",
    long_about = "Audit and harden Kubernetes control-plane configuration.\n\n\
kubeharden reads the static pod manifests of kube-apiserver, kube-controller-manager, \
kube-scheduler and etcd, the kubelet's and the scheduler's configuration files and kubeadm \
configuration files, checks them against a hardening profile (baseline, strict, or your own) and \
produces the edited file and a unified diff that keeps every comment and formatting choice. Every edit is re-read and verified before it is written. \
On a node, `fix` edits the manifests in place, asking about each change, after backing up the \
originals outside the static pod directory; `rollback` restores them.\n\n\
A comment `# kubeharden: ignore[RULE-ID] reason` silences a rule where it stands (docs/suppressions.md); \
--no-ignores disregards such comments.\n\n\
Exit codes: 0 compliant / nothing to change / done; 1 findings (check; see --fail-on) or pending changes \
(diff); 2 error (bad input, bad usage, I/O failure, a change that could not be made safely).",
    after_help = "Examples:\n  kubeharden check kube-apiserver.yaml --profile strict\n  kubeharden check manifests --format sarif > kubeharden.sarif\n  kubeharden diff kube-apiserver.yaml --profile strict > harden.patch\n  kubeharden fix kube-apiserver.yaml --profile strict --output hardened.yaml\n  sudo kubeharden fix --profile strict\n  sudo kubeharden rollback --list\n  kubeharden explain apiserver-anonymous-auth"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what a profile finds in manifests (exit 1 when anything is found but what is left to you, see --fail-on)
    Check(CheckArgs),
    /// Print a unified diff of the changes, for `git apply` or `patch -p1` (exit 1 when there are changes)
    Diff(DiffArgs),
    /// Harden manifests in place on a node, asking about each change, with backups (or write
    /// the result to --output)
    Fix(FixArgs),
    /// Undo a fix: restore a backup set (the newest, or the one named), or list them
    Rollback(RollbackArgs),
    /// Write hardened configuration for a new cluster
    Generate {
        #[command(subcommand)]
        what: GenerateWhat,
    },
    /// Convert a configuration file to a newer API version, keeping its comments and layout
    /// (prints a unified diff; exit 1 when the file changes, 0 when it is in that version already)
    Migrate {
        #[command(subcommand)]
        what: MigrateWhat,
    },
    /// List the built-in profiles, show one, or print a supporting-file template
    Profiles {
        #[command(subcommand)]
        action: Option<ProfilesAction>,
    },
    /// Explain a rule: what it checks, why, what it risks, and its CIS ids
    Explain {
        /// The rule id, e.g. apiserver-profiling, or a CIS id, e.g. 1.2.1 (every rule citing it)
        rule: String,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Install, e.g.:\n  kubeharden completions bash > ~/.local/share/bash-completion/completions/kubeharden\n  kubeharden completions zsh > ~/.zfunc/_kubeharden    # with fpath+=~/.zfunc before compinit\n  kubeharden completions fish > ~/.config/fish/completions/kubeharden.fish"
    )]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `kubeharden man > ~/.local/share/man/man1/kubeharden.1`
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesAction {
    /// List the built-in profiles
    List,
    /// Show a profile's parameters and rules (a built-in name or a profile file)
    Show {
        /// A built-in profile (baseline, strict) or the path of a profile file
        name: String,
    },
    /// Print a supporting file (audit-policy, admission-config, authentication-config) as the
    /// profile fills it for a Kubernetes version
    Template {
        /// The template's name, as the required-files list gives it
        name: String,
        /// Kubernetes version the file is for (1.31, v1.31.2) [default: the newest kubeharden knows]
        #[arg(long, value_name = "VERSION")]
        kubernetes_version: Option<String>,
        /// Profile whose parameters fill the template
        #[arg(long, short = 'p', default_value = "strict")]
        profile: String,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// Manifest files or directories (every *.yaml, *.yml, *.json below them, leaving out hidden
    /// files and what .gitignore and .ignore files list; the static pod directory one level
    /// deep) [default: /etc/kubernetes/manifests]
    pub(crate) paths: Vec<PathBuf>,
    /// Profile: a built-in name (baseline, strict) or a path to a profile file
    #[arg(long, short = 'p', default_value = "baseline")]
    pub profile: String,
    /// Kubernetes version the manifest is for (1.30, v1.30.4), instead of the image tag's
    #[arg(long, value_name = "VERSION")]
    pub(crate) kubernetes_version: Option<String>,
    /// Disregard `# kubeharden: ignore[RULE-ID] reason` comments: report and fix everything
    #[arg(long)]
    pub(crate) no_ignores: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Also make the same changes in this kubeadm configuration file (e.g. the ClusterConfiguration
    /// of the kubeadm-config ConfigMap), so `kubeadm upgrade` keeps them
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeadm_config: Option<PathBuf>,
    /// Output format: patch (a unified diff for `git apply`) or github-suggestions (a review
    /// for GitHub's pull request review API, each change a suggestion on the lines it replaces;
    /// docs/review.md)
    #[arg(long, value_enum, default_value_t = DiffFormat::Patch)]
    pub(crate) format: DiffFormat,
    /// Only the files that differ from git revision REV (as `check --changed-since`); with
    /// github-suggestions, a change on lines the pull request's diff does not show goes to the
    /// review's body as a patch
    #[arg(long, value_name = "REV", conflicts_with = "kubeadm_config")]
    pub(crate) changed_since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiffFormat {
    Patch,
    GithubSuggestions,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Findings silenced by `# kubeharden: ignore[RULE-ID] reason` comments are counted apart and do \
not fail the check; --format json and sarif still list them, as suppressed. Manual findings (those the \
profile leaves to you, each with its reason) are reported and do not fail the check unless --fail-on names \
`manual`. --fail-on high: only high and critical findings make the exit code 1."
)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// Output format: text, json (docs/json-output.md), sarif (SARIF 2.1.0, docs/sarif.md),
    /// github (annotations in a GitHub Actions run) or gitlab (a GitLab Code Quality report;
    /// both in docs/review.md)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Exit 1 only for findings of this severity or higher (low, medium, high, critical); with
    /// `manual` (as in `low,manual`), also for those the profile leaves to you, which otherwise
    /// are reported without failing the check
    #[arg(long, value_name = "SEVERITY[,manual]", default_value = "low", value_parser = FailOn::parse)]
    pub(crate) fail_on: FailOn,
    /// Skip files that are not control-plane manifests or configuration kubeharden reads, even
    /// when named, and exit 0 when nothing is left to check (for hooks such as pre-commit, which
    /// pass every YAML file)
    #[arg(long)]
    pub skip_unrecognized: bool,
    /// Check the node tree under DIR (a node image, a copy of a node): without PATHs, its
    /// static pods and kubelet configuration; and read the preconditions of risky changes there
    /// (its /proc/sys), as `fix` in place reads them on the node
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// Review a change: judge only the files that differ from git revision REV (committed or
    /// not, and new files git does not ignore) among the PATHs (default: the current
    /// directory), and report only the findings on lines the change added or touched, or that
    /// the file did not have at REV; the exit code follows those alone
    #[arg(long, value_name = "REV", conflicts_with = "root")]
    pub(crate) changed_since: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Without --output, fix edits the manifests in place: on a terminal it shows each change \
(rule, reason, risk, diff) and asks; --yes makes every change without asking. Without a terminal and \
without --yes it refuses. Before writing, the original bytes go to a backup set outside the static pod \
directory; `kubeharden rollback` restores them."
)]
pub struct FixArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Write the hardened manifest to FILE (`-` for standard output); the input stays untouched
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with_all = ["interactive", "yes", "backup_dir", "wait_healthy", "kubeadm_config"])]
    pub(crate) output: Option<PathBuf>,
    /// Also make the accepted changes in this kubeadm configuration file, in place and backed
    /// up with the manifests, so `kubeadm upgrade` keeps them
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeadm_config: Option<PathBuf>,
    /// Ask about every change (needs a terminal); the default on a terminal
    #[arg(long, short = 'i', conflicts_with = "yes")]
    pub(crate) interactive: bool,
    /// Make every safe change without asking (the risky ones are listed with what must hold
    /// first; see --risky)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// With --yes, make the risky changes too: those that can stop a component or lock someone
    /// out unless a precondition holds (each is said)
    #[arg(long, requires = "yes")]
    pub(crate) risky: bool,
    #[command(flatten)]
    pub(crate) node: NodeArgs,
    /// The static pod directory on the node, used when no PATH is given [default: /etc/kubernetes/manifests]
    #[arg(long, value_name = "DIR")]
    pub(crate) manifests_dir: Option<PathBuf>,
    /// After writing, wait until the API server answers on /readyz again; roll back if it does not
    #[arg(long)]
    pub(crate) wait_healthy: bool,
    /// How long --wait-healthy waits, in seconds
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 180,
        requires = "wait_healthy"
    )]
    pub(crate) wait_timeout: u64,
    /// How long the API server must then answer on /readyz without a break (and its new
    /// container not restart) before --wait-healthy counts it as back, in seconds
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 15,
        requires = "wait_healthy"
    )]
    pub(crate) wait_stable: u64,
}

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// Keep backup sets in DIR [default: /var/lib/kubeharden/backups as root, else a per-user data directory]
    #[arg(long, value_name = "DIR")]
    pub(crate) backup_dir: Option<PathBuf>,
    /// Resolve every node path (static pod directory, files flags name, supporting files,
    /// default backups, the lock) under DIR, e.g. a node image mounted for preparation
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// A kubeadm configuration (InitConfiguration, ClusterConfiguration with the profile's API
    /// server flags and volumes, a hardened KubeletConfiguration), the supporting files its
    /// flags name, and a README saying where each goes
    #[command(
        after_help = "Settings for --set: advertise-address, bind-port, control-plane-endpoint, cluster-name, cri-socket, node-name, patches-dir, pod-subnet, service-subnet.\n\nExample:\n  kubeharden generate kubeadm --kubernetes-version 1.31 --output-dir cluster --set advertise-address=10.0.0.5"
    )]
    Kubeadm(GenerateKubeadmArgs),
}

#[derive(Debug, Subcommand)]
pub enum MigrateWhat {
    /// A kubeadm configuration file from kubeadm.k8s.io/v1beta3 to v1beta4: apiVersion,
    /// extraArgs maps as name/value lists, and the timeouts v1beta4 moved; comments, order and
    /// quoting kept (`kubeadm config migrate` re-writes the file without them)
    #[command(after_help = "Examples:
  kubeharden migrate kubeadm cluster.yaml --to v1beta4                 # the diff
  kubeharden migrate kubeadm cluster.yaml --to v1beta4 -o cluster.yaml   # write it")]
    Kubeadm(MigrateKubeadmArgs),
}

#[derive(Debug, Args)]
pub struct MigrateKubeadmArgs {
    /// The kubeadm configuration file
    pub(crate) file: PathBuf,
    /// The API version to convert to
    #[arg(long, value_parser = ["v1beta4"])]
    pub(crate) to: String,
    /// Write the converted file there (`-`: standard output; the input's own path replaces it)
    /// instead of printing a diff
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateKubeadmArgs {
    /// Kubernetes version of the new cluster (1.31, v1.31.2)
    #[arg(long, value_name = "VERSION")]
    pub(crate) kubernetes_version: String,
    /// Profile: a built-in name (baseline, strict) or a path to a profile file
    #[arg(long, short = 'p', default_value = "strict")]
    pub(crate) profile: String,
    /// kubeadm configuration API [default: the newest the kubeadm version accepts]
    #[arg(long, value_parser = ["v1beta3", "v1beta4"])]
    pub(crate) api_version: Option<String>,
    /// Directory to write the files into (created if missing)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) output_dir: PathBuf,
    /// Fill a setting, e.g. advertise-address=10.0.0.5 (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The backup set to restore [default: the newest]
    pub(crate) id: Option<String>,
    /// List the backup sets (time, command, profile, files) instead of restoring one
    #[arg(long, conflicts_with = "id")]
    pub(crate) list: bool,
    #[command(flatten)]
    pub(crate) node: NodeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    Sarif,
    /// GitHub Actions workflow commands: annotations on the pull request's lines.
    Github,
    /// A GitLab Code Quality report.
    Gitlab,
}

impl Common {
    /// What the arguments ask of the inputs.
    pub(crate) fn asked(&self) -> Asked<'_> {
        Asked {
            paths: &self.paths,
            profile: &self.profile,
            kubernetes_version: self.kubernetes_version.as_deref(),
            ignores: !self.no_ignores,
        }
    }
}
