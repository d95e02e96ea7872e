//! `fix` in place on a node: the manifests (and the kubelet's configuration) read once, each
//! change offered at a terminal or taken with `--yes`, then one transaction that backs up and
//! writes, and what to watch next. `--wait-healthy` rolls back an API server that does not come
//! back.

use super::args::{FixArgs, NodeArgs};
use super::batch::{kubeadm_options, node_version_of};
use super::exit::Exit;
use crate::apply::health::{self, Endpoint, Seen};
use crate::apply::node::{self, Lock, Target, Write1};
use crate::apply::prompt::{Everything, Terminal};
use crate::apply::select::{self, Answer, Decide, Node, Selection};
use crate::document::{component, is_config_text, is_kubeadm_text, manifest};
use crate::load::inputs::DEFAULT_MANIFESTS_DIR;
use crate::load::inputs::{referenced_configs, settings, Input, Settings, DEFAULT_KUBELET_CONFIG};
use crate::load::node::{exists, is_dir, is_within, normalize, real_path, Root};
use crate::load::read::read_input;
use crate::model::report::UsageError;
use crate::model::report::{FileError, COMPONENT};
use crate::pipeline::{self, Options};
use crate::profile::Registry;
use crate::render::{diff_text, new_file_diff, visible};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Why the run stops early: with an exit code (what went wrong is said already), or with an
/// error to say.
enum Stop {
    Exit(Exit),
    Usage(UsageError),
}

impl From<UsageError> for Stop {
    fn from(e: UsageError) -> Stop {
        Stop::Usage(e)
    }
}

/// The root, and whether `--root` gave it.
fn root_of(args: &NodeArgs) -> Result<(Root, bool), UsageError> {
    match &args.root {
        None => Ok((Root::system(), false)),
        Some(dir) => {
            if !is_dir(dir) {
                return Err(UsageError(format!(
                    "--root {}: not a directory",
                    dir.display()
                )));
            }
            let root = Root::new(dir).map_err(|e| UsageError(e.to_string()))?;
            Ok((root, true))
        }
    }
}

/// Where kubeharden keeps backups and its lock: the system location under the root (as root,
/// or with --root), else the user's own data directory.
fn state_dir(root: &Root, root_given: bool) -> Result<PathBuf, UsageError> {
    if root_given || rustix::process::geteuid().is_root() {
        return root
            .resolve(node::STATE_DIR)
            .map_err(|e| UsageError(e.to_string()));
    }
    directories::ProjectDirs::from("", "", "kubeharden")
        .map(|d| d.data_local_dir().to_path_buf())
        .ok_or_else(|| {
            UsageError(
                "no home directory to keep backups in; pass --backup-dir DIR (or run as root)"
                    .into(),
            )
        })
}

/// The state directory and the backup directory: `--backup-dir`, else `backups` in the state
/// directory. A user without a data directory who names `--backup-dir` keeps state there.
fn state_and_backups(
    root: &Root,
    root_given: bool,
    args: &NodeArgs,
) -> Result<(PathBuf, PathBuf), UsageError> {
    let state = match (state_dir(root, root_given), &args.backup_dir) {
        (Ok(s), _) => s,
        (Err(_), Some(b)) => b.clone(),
        (Err(e), None) => return Err(e),
    };
    let backups = args
        .backup_dir
        .clone()
        .unwrap_or_else(|| state.join("backups"));
    Ok((state, backups))
}

/// The root, whether `--root` gave it, the state directory and the backup directory.
pub(super) fn root_and_state(
    args: &NodeArgs,
) -> Result<(Root, bool, PathBuf, PathBuf), UsageError> {
    let (root, root_given) = root_of(args)?;
    let (state, backups) = state_and_backups(&root, root_given, args)?;
    Ok((root, root_given, state, backups))
}

/// The lock: in the state directory, except for a user other than root who names the backup
/// directory (a user's home may hold no data directory), where it sits in that directory.
pub(super) fn lock_path(state: &Path, args: &NodeArgs, root_given: bool) -> PathBuf {
    match &args.backup_dir {
        Some(b) if !root_given && !rustix::process::geteuid().is_root() => b.join(".lock"),
        _ => state.join("lock"),
    }
}

/// The node's static pod directory: `--manifests-dir` or the default, under `--root` when given.
fn manifests_dir(dir: Option<&Path>, root: &Root, root_given: bool) -> Result<PathBuf, UsageError> {
    match dir {
        Some(d) if !root_given => Ok(d.to_path_buf()),
        Some(d) => root.resolve(&d.to_string_lossy()),
        None => root.resolve(DEFAULT_MANIFESTS_DIR),
    }
    .map_err(|e| UsageError(e.to_string()))
}

/// The default input directory for `fix --output`, which also honours `--root` and
/// `--manifests-dir`.
pub(super) fn fix_default_dir(args: &FixArgs) -> Result<PathBuf, UsageError> {
    let (root, given) = root_of(&args.node)?;
    manifests_dir(args.manifests_dir.as_deref(), &root, given)
}

/// A word for a POSIX shell: as it is when that is safe, else in single quotes.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `rollback` command line that undoes backup set `id`.
pub(super) fn rollback_command(id: &str, args: &NodeArgs) -> String {
    let mut cmd = format!("kubeharden rollback {}", shell_quote(id));
    if let Some(r) = &args.root {
        cmd.push_str(&format!(
            " --root {}",
            shell_quote(&r.display().to_string())
        ));
    }
    if let Some(b) = &args.backup_dir {
        cmd.push_str(&format!(
            " --backup-dir {}",
            shell_quote(&b.display().to_string())
        ));
    }
    cmd
}

/// A file the run may edit, as chosen.
struct Edited {
    shown: String,
    /// The file to replace (symbolic links resolved).
    real: PathBuf,
    original: String,
    sel: Selection,
}

/// An input read: the file it really is and its text, or `None` for one said to be skipped.
type Read = Option<(PathBuf, Result<String, FileError>)>;

/// Where the node is, and where kubeharden keeps what it needs.
struct Place {
    root: Root,
    root_given: bool,
    state: PathBuf,
    backups: PathBuf,
    pods: PathBuf,
}

pub(super) fn run(
    args: &FixArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    match fix(args, stdout, stderr) {
        Ok(exit) | Err(Stop::Exit(exit)) => Ok(exit),
        Err(Stop::Usage(e)) => Err(e),
    }
}

fn fix(args: &FixArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<Exit, Stop> {
    let (root, root_given) = root_of(&args.node)?;
    let tty = io::stdin().is_terminal() && io::stderr().is_terminal();
    if args.interactive && !tty {
        return Err(UsageError(
            "fix --interactive asks on a terminal, and standard input or standard error is not one; nothing was written".into(),
        ).into());
    }
    if !args.yes && !tty {
        return Err(UsageError(
            "fix edits manifests in place only after asking at a terminal, and there is none; pass --yes to make every change without asking, or --output FILE to write elsewhere; nothing was written".into(),
        ).into());
    }
    let pods = manifests_dir(args.manifests_dir.as_deref(), &root, root_given)?;
    let s = settings(
        &args.common.asked(),
        &pods,
        node_configs(args, &root, &pods)?,
    )?;
    let (state, backups) = state_and_backups(&root, root_given, &args.node)?;
    let place = Place {
        root,
        root_given,
        state,
        backups,
        pods,
    };
    let texts = read_all(&s, &place)?;
    let pod_dirs = static_pod_dirs(&s, &texts, &place)?;
    let _lock = Lock::acquire(&lock_path(&place.state, &args.node, place.root_given))
        .map_err(|e| UsageError(e.to_string()))?;
    let node_ctx = Node {
        root: &place.root,
        pod_dirs: &pod_dirs,
    };
    let mut terminal = Terminal::new();
    let (edited, failed) = choose(args, &s, texts, &node_ctx, &mut terminal, stderr)?;
    let mut w = planned_writes(&edited, stderr)?;
    if let (Some(kc), false) = (&args.kubeadm_config, w.manifests.is_empty()) {
        kubeadm_too(kc, &s, &edited, &mut w, stderr)?;
    }
    let (writes, combined, supporting) = w.in_order();
    say_left_over(&edited, stderr);
    if writes.len() == supporting {
        let nothing = if edited.iter().any(|e| !e.sel.declined.is_empty()) {
            "no change accepted; nothing was written"
        } else {
            "nothing to change; nothing was written"
        };
        let _ = writeln!(stderr, "kubeharden: {nothing}");
        return Ok(if failed { Exit::Error } else { Exit::Ok });
    }
    if !args.yes && !confirmed(&mut terminal, &combined, &writes[..supporting], &place)? {
        let _ = writeln!(stderr, "kubeharden: nothing was written");
        return Ok(if failed { Exit::Error } else { Exit::Ok });
    }
    let endpoints = serving_before(args, &edited, &s.registry, stderr)?;
    let set = write(args, &s, &place, &writes, &combined, stdout, stderr)?;
    say_written(&writes, &edited, &place.root, &set, stderr);
    next_steps(args, &s.registry, &edited, &set, stderr);
    if args.wait_healthy
        && !wait_healthy(args, &endpoints, &set, &place.backups, &place.root, stderr)
    {
        return Ok(Exit::Error);
    }
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

/// With neither paths nor --manifests-dir, the whole node: its static pods and the kubelet.
fn node_configs(args: &FixArgs, root: &Root, pods: &Path) -> Result<Vec<Input>, UsageError> {
    if args.manifests_dir.is_some() || !args.common.paths.is_empty() {
        return Ok(Vec::new());
    }
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let kubelet = root
        .resolve(DEFAULT_KUBELET_CONFIG)
        .map_err(|e| UsageError(e.to_string()))?;
    let mut files = Vec::new();
    if exists(&kubelet) {
        files.push(Input::plain(kubelet, false, None));
    }
    files.extend(referenced_configs(pods, &registry, &|p| {
        root.resolve(p).ok()
    }));
    Ok(files)
}

/// Every input read once, up front; the bytes are compared again right before anything is
/// written. Under --root, links are followed inside the root, never out to this machine's own
/// files.
fn read_all(s: &Settings, place: &Place) -> Result<Vec<Read>, UsageError> {
    let real_of = |p: &Path| -> Result<PathBuf, UsageError> {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match place
            .root_given
            .then(|| place.root.host_path(&normalize(&abs)))
            .flatten()
        {
            Some(host) => place
                .root
                .resolve(&host)
                .map_err(|e| UsageError(e.to_string())),
            None => Ok(real_path(p)),
        }
    };
    let mut texts: Vec<Read> = Vec::new();
    for i in &s.inputs {
        if let Some(e) = i.read_error() {
            // A directory of a walk that could not be read: an error for that path.
            texts.push(Some((i.path.clone(), Err(e))));
            continue;
        }
        if i.note.is_some() {
            texts.push(None);
            continue;
        }
        let real = real_of(&i.path)?;
        let text = read_input(&real);
        texts.push(Some((real, text)));
    }
    Ok(texts)
}

/// The directories of static pod manifests (not of kubeadm or component configuration
/// files): nothing else may be written into them, backups and state included.
fn static_pod_dirs(
    s: &Settings,
    texts: &[Read],
    place: &Place,
) -> Result<Vec<PathBuf>, UsageError> {
    let named: Vec<PathBuf> = texts
        .iter()
        .zip(&s.inputs)
        .filter(|(_, i)| i.error.is_none())
        .filter_map(|(t, _)| t.as_ref())
        .filter(|(_, t)| {
            !t.as_ref()
                .is_ok_and(|t| is_kubeadm_text(t) || is_config_text(t, &s.registry))
        })
        .map(|(p, _)| p.clone())
        .collect();
    let pod_dirs = select::pod_dirs(&place.pods, &named);
    for d in &pod_dirs {
        for (what, p) in [
            ("--backup-dir", &place.backups),
            ("the state directory", &place.state),
        ] {
            if is_within(p, d) {
                return Err(UsageError(format!(
                    "{what} {} is inside {}, a directory of static pod manifests: the kubelet runs every file there whose name does not start with a dot; keep backups elsewhere; nothing was written",
                    p.display(),
                    d.display()
                )));
            }
        }
    }
    Ok(pod_dirs)
}

/// Offers each file's changes (or takes them all with `--yes`); the files with their choices,
/// and whether any input failed.
fn choose(
    args: &FixArgs,
    s: &Settings,
    texts: Vec<Read>,
    node_ctx: &Node,
    terminal: &mut Terminal,
    stderr: &mut dyn Write,
) -> Result<(Vec<Edited>, bool), Stop> {
    let node_version = node_version_of(
        texts
            .iter()
            .flatten()
            .filter_map(|(_, t)| t.as_ref().ok().map(String::as_str)),
        &s.registry,
    );
    let opts = Options {
        registry: &s.registry,
        profile: &s.profile,
        version: s.version,
        node_version,
        report_only: false,
        keep_edits: false,
        ignores: s.ignores,
    };
    let mut everything = Everything::default();
    let mut answers: Option<Answer> = None;
    let mut edited: Vec<Edited> = Vec::new();
    let mut failed = false;
    let mut reports = 0;
    for (input, read) in s.inputs.iter().zip(texts) {
        let shown = input.path.display().to_string();
        let Some((real, text)) = read else {
            let note = input.note.as_deref().unwrap_or("");
            let _ = writeln!(stderr, "kubeharden: {shown}: skipped: {note}");
            continue;
        };
        let text = match fixable(input, text, &real, s, node_ctx, &shown) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(stderr, "kubeharden: error: {e}");
                failed = true;
                continue;
            }
        };
        let decide: &mut dyn Decide = if args.yes {
            &mut everything
        } else {
            &mut *terminal
        };
        let with_version = Options {
            node_version: input.version.or(opts.node_version),
            ..opts
        };
        let opts = if s.version.is_none() {
            &with_version
        } else {
            &opts
        };
        let result = select::select(&shown, &text, opts, node_ctx, decide, &mut answers);
        for m in everything.messages.drain(..) {
            let _ = writeln!(stderr, "kubeharden: {m}");
        }
        match result {
            Ok(sel) => {
                reports += 1;
                for n in &sel.notes {
                    let _ = writeln!(stderr, "kubeharden: {shown}: note: {n}");
                }
                edited.push(Edited {
                    shown,
                    real,
                    original: text,
                    sel,
                });
            }
            Err(e) if e.unrecognized && input.from_dir => {
                let _ = writeln!(stderr, "kubeharden: {shown}: skipped: {}", e.message);
            }
            Err(e) => {
                let _ = writeln!(stderr, "kubeharden: error: {e}");
                failed = true;
            }
        }
        if terminal.broken {
            // An interrupted or failed question ends the run: the answers so far were for
            // a whole that will not be.
            let _ = writeln!(
                stderr,
                "kubeharden: the questions were interrupted; nothing was written"
            );
            return Err(Stop::Exit(Exit::Error));
        }
    }
    if reports == 0 && !failed {
        let _ = writeln!(
            stderr,
            "kubeharden: error: no control-plane manifest or kubelet configuration found among the inputs; hidden files and what .gitignore and .ignore files list are not read"
        );
        return Err(Stop::Exit(Exit::Error));
    }
    Ok((edited, failed))
}

/// The text of an input, unless it could not be read, is of the wrong kind, or is a
/// component's configuration file inside a static pod directory (the kubelet tries to run it as
/// a pod, and nothing but manifests is written there): then the error to say.
fn fixable(
    input: &Input,
    text: Result<String, FileError>,
    real: &Path,
    s: &Settings,
    node_ctx: &Node,
    shown: &str,
) -> Result<String, String> {
    let text = text.map_err(|e| e.to_string())?;
    if let Some(e) = input.kind_error(&text, &s.registry) {
        return Err(e.to_string());
    }
    if is_config_text(&text, &s.registry)
        && !is_kubeadm_text(&text)
        && node_ctx.pod_dirs.iter().any(|d| is_within(real, d))
    {
        return Err(format!(
            "{shown}: a component's configuration file inside the static pod directory, where the kubelet tries to run every file as a pod; move it out; nothing was written"
        ));
    }
    Ok(text)
}

/// What will be written: supporting directories and files, then the manifests, with the
/// whole change as one patch.
#[derive(Default)]
struct Writes {
    supporting: Vec<Write1>,
    manifests: Vec<Write1>,
    /// The patch of the manifests.
    combined: String,
    /// The patch that creates the supporting files.
    new_diffs: String,
}

impl Writes {
    /// Supporting directories and files first (directories before the files in them),
    /// manifests last, so the kubelet never starts a component whose files are missing; the
    /// whole patch; and how many writes are supporting ones.
    fn in_order(self) -> (Vec<Write1>, String, usize) {
        let mut writes = self.supporting;
        writes.sort_by_key(|w| !matches!(w.target, Target::Directory));
        let supporting = writes.len();
        writes.extend(self.manifests);
        (
            writes,
            format!("{}{}", self.new_diffs, self.combined),
            supporting,
        )
    }
}

/// The writes the choices come to. Two manifests may need the same supporting file only with
/// the same content (the templates differ between versions).
fn planned_writes(edited: &[Edited], stderr: &mut dyn Write) -> Result<Writes, Stop> {
    let mut w = Writes::default();
    for e in edited {
        let Some(text) = e.sel.edited.as_ref() else {
            continue;
        };
        for nf in &e.sel.new_files {
            if let Some(have) = w.supporting.iter().find(|x| x.path == nf.local) {
                let same = match (&have.target, &nf.content) {
                    (Target::Directory, None) => true,
                    (Target::Create { new, .. }, Some((_, content))) => new == content.as_bytes(),
                    _ => false,
                };
                if !same {
                    let _ = writeln!(
                        stderr,
                        "kubeharden: error: {} is needed by several manifests with different content (their Kubernetes versions differ); fix them one at a time, with a different path for the file; nothing was written",
                        nf.host
                    );
                    return Err(Stop::Exit(Exit::Error));
                }
                continue;
            }
            if let Some((_, content)) = &nf.content {
                w.new_diffs.push_str(&new_file_diff(content, &nf.host));
            }
            w.supporting.push(Write1 {
                path: nf.local.clone(),
                target: match &nf.content {
                    None => Target::Directory,
                    Some((_, content)) => Target::Create {
                        new: content.clone().into_bytes(),
                        mode: 0o600,
                        owner: None,
                    },
                },
            });
        }
        w.combined.push_str(&diff_text(&e.original, text, &e.shown));
        w.manifests.push(Write1 {
            path: e.real.clone(),
            target: Target::Replace {
                original: e.original.clone().into_bytes(),
                new: text.clone().into_bytes(),
                perms: None,
            },
        });
    }
    Ok(w)
}

/// `--kubeadm-config`: the same accepted rules in the kubeadm configuration, so `kubeadm
/// upgrade` keeps them.
fn kubeadm_too(
    kc: &Path,
    s: &Settings,
    edited: &[Edited],
    w: &mut Writes,
    stderr: &mut dyn Write,
) -> Result<(), Stop> {
    let mut accepted: Vec<String> = Vec::new();
    for e in edited {
        for r in &e.sel.accepted {
            if !accepted.contains(r) {
                accepted.push(r.clone());
            }
        }
    }
    let restricted = s.profile.only(&accepted);
    let version = edited
        .iter()
        .find(|e| e.sel.edited.is_some())
        .map(|e| e.sel.version);
    let opts = kubeadm_options(s, &restricted, version);
    let shown = kc.display().to_string();
    let result = read_input(kc).and_then(|text| pipeline::process(&shown, &text, &opts));
    match result {
        Ok(r) if r.kubeadm => {
            for f in r.findings.iter().filter(|f| !f.fixed) {
                if accepted.contains(&f.rule.id) {
                    let _ = writeln!(
                        stderr,
                        "kubeharden: {shown}: not changed: {}: {}",
                        f.rule.id,
                        f.manual.as_deref().unwrap_or("")
                    );
                }
            }
            if let Some(text) = &r.edited {
                w.combined.push_str(&diff_text(&r.original, text, &shown));
                w.manifests.push(Write1 {
                    path: real_path(kc),
                    target: Target::Replace {
                        original: r.original.clone().into_bytes(),
                        new: text.clone().into_bytes(),
                        perms: None,
                    },
                });
            }
            Ok(())
        }
        Ok(_) => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: --kubeadm-config {shown}: not a kubeadm configuration file; nothing was written"
            );
            Err(Stop::Exit(Exit::Error))
        }
        Err(e) => {
            let said = if e.message.ends_with("nothing was written") {
                ""
            } else {
                "; nothing was written"
            };
            let _ = writeln!(stderr, "kubeharden: error: {e}{said}");
            Err(Stop::Exit(Exit::Error))
        }
    }
}

/// What the profile leaves to the user, the supporting files kept as they are, and the changes
/// declined.
fn say_left_over(edited: &[Edited], stderr: &mut dyn Write) {
    for e in edited {
        for (id, why) in &e.sel.left_over {
            let _ = writeln!(stderr, "kubeharden: {}: not changed: {id}: {why}", e.shown);
        }
        for k in &e.sel.kept {
            let _ = writeln!(stderr, "kubeharden: {}: {k}", e.shown);
        }
        if !e.sel.declined.is_empty() {
            let _ = writeln!(
                stderr,
                "kubeharden: {}: declined: {}",
                e.shown,
                e.sel.declined.join(", ")
            );
        }
    }
}

/// Shows what will be written and asks once more.
fn confirmed(
    terminal: &mut Terminal,
    combined: &str,
    supporting: &[Write1],
    place: &Place,
) -> Result<bool, UsageError> {
    let mut summary = String::from("\nkubeharden will write:\n");
    summary.push_str(&terminal.diff(combined));
    for w in supporting {
        let host = visible(
            &place
                .root
                .host_path(&w.path)
                .unwrap_or_else(|| w.path.display().to_string()),
        );
        match &w.target {
            Target::Directory => {
                summary.push_str(&format!("and create the directory {host} (mode 0700)\n"))
            }
            _ => summary.push_str(&format!("and write {host} (mode 0600)\n")),
        }
    }
    summary.push_str(&format!(
        "The original bytes go to a backup set in {} first.\n",
        visible(&place.backups.display().to_string())
    ));
    terminal.print(&summary);
    terminal
        .confirm("Write these changes?")
        .map_err(|e| UsageError(format!("cannot ask: {e}; nothing was written")))
}

/// `--wait-healthy` can only judge the change if the API server serves before it: the API
/// servers of the manifests about to be written, each serving.
fn serving_before(
    args: &FixArgs,
    edited: &[Edited],
    registry: &Registry,
    stderr: &mut dyn Write,
) -> Result<Vec<Endpoint>, Stop> {
    if !args.wait_healthy {
        return Ok(Vec::new());
    }
    let eps = endpoints(edited, registry);
    for ep in &eps {
        let seen = health::probe(ep, std::time::Duration::from_secs(3));
        if !seen.serving() {
            let _ = writeln!(
                stderr,
                "kubeharden: error: --wait-healthy: kube-apiserver at {} does not serve before the change ({}), so kubeharden could not tell whether the change breaks it; nothing was written",
                ep.url(),
                describe_seen(&seen)
            );
            return Err(Stop::Exit(Exit::Error));
        }
    }
    Ok(eps)
}

/// The transaction: with `--yes`, what will be written is shown first as one patch (if it
/// cannot be shown, nothing is written); then the backups and the writes.
fn write(
    args: &FixArgs,
    s: &Settings,
    place: &Place,
    writes: &[Write1],
    combined: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<node::BackupSet, Stop> {
    let info = node::RunInfo {
        command: "fix",
        profile: Some(&s.profile.name),
        restores: None,
        root: &place.root,
    };
    if args.yes {
        if let Err(e) = stdout
            .write_all(combined.as_bytes())
            .and_then(|()| stdout.flush())
        {
            let _ = writeln!(
                stderr,
                "kubeharden: error: cannot write to standard output ({e}); nothing was written"
            );
            return Err(Stop::Exit(Exit::Error));
        }
    }
    node::apply(writes, &place.backups, &info).map_err(|e| {
        let _ = writeln!(stderr, "kubeharden: error: {e}");
        if let Some(id) = e.kept_set() {
            let _ = writeln!(
                stderr,
                "kubeharden: to put them back: {}",
                rollback_command(id, &args.node)
            );
        }
        Stop::Exit(Exit::Error)
    })
}

/// What was written, and where the originals are.
fn say_written(
    writes: &[Write1],
    edited: &[Edited],
    root: &Root,
    set: &node::BackupSet,
    stderr: &mut dyn Write,
) {
    for w in writes {
        let host = root
            .host_path(&w.path)
            .unwrap_or_else(|| w.path.display().to_string());
        let what = match &w.target {
            Target::Directory => format!("created the directory {host} (mode 0700)"),
            Target::Create { .. } => format!("wrote {host} (mode 0600)"),
            _ => match edited.iter().find(|e| e.real == w.path) {
                Some(e) => format!("wrote {} ({})", w.path.display(), e.sel.accepted.join(", ")),
                None => format!(
                    "wrote {} (the same changes in the kubeadm configuration)",
                    w.path.display()
                ),
            },
        };
        let _ = writeln!(stderr, "kubeharden: {what}");
    }
    let _ = writeln!(
        stderr,
        "kubeharden: the originals are in backup set {} ({})",
        set.record.id,
        set.dir.display()
    );
}

/// What restarts, how to follow it, how to undo it, and what `kubeadm upgrade` would undo.
fn next_steps(
    args: &FixArgs,
    registry: &Registry,
    edited: &[Edited],
    set: &node::BackupSet,
    stderr: &mut dyn Write,
) {
    let mut pods: Vec<&str> = Vec::new();
    let mut restart: Vec<(&str, &str)> = Vec::new();
    for e in edited.iter().filter(|e| e.sel.edited.is_some()) {
        let c = e.sel.component.as_str();
        match registry
            .components
            .get(c)
            .and_then(|x| x.restart.as_deref())
        {
            Some(cmd) => {
                if !restart.iter().any(|(x, _)| *x == c) {
                    restart.push((c, cmd));
                }
            }
            None => {
                if !pods.contains(&c) {
                    pods.push(c);
                }
            }
        }
    }
    for c in &pods {
        let _ = writeln!(
            stderr,
            "kubeharden: next: the kubelet sees the new manifest and restarts {c}, usually within 20 seconds{}. Watch it with `crictl ps --name {c}` or `kubectl -n kube-system get pods -l component={c} -w`",
            match *c {
                "kube-apiserver" => "; the API server is unavailable meanwhile",
                "etcd" => "; the API server cannot read or write meanwhile",
                _ => "",
            }
        );
    }
    for (c, cmd) in &restart {
        let (what, logs) = match *c {
            component::COMPONENT => (
                "the kubelet reads its configuration file",
                " If it does not come back, `journalctl -u kubelet` says why, and the rollback below restores the file.",
            ),
            _ => (
                "kube-scheduler reads its configuration file",
                " If it does not come back, `crictl logs` of its container says why.",
            ),
        };
        let _ = writeln!(
            stderr,
            "kubeharden: next: {what} only when it starts: run `{cmd}`; the node's pods keep running.{logs}"
        );
    }
    let _ = writeln!(
        stderr,
        "kubeharden: to undo: {}",
        rollback_command(&set.record.id, &args.node)
    );
    upgrade_notes(&pods, &restart, stderr);
}

/// What `kubeadm upgrade` writes anew, undoing this change unless it is made there too.
fn upgrade_notes(pods: &[&str], restart: &[(&str, &str)], stderr: &mut dyn Write) {
    if pods.contains(&COMPONENT) {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade` writes the manifest anew from the ClusterConfiguration (the kubeadm-config ConfigMap in kube-system): put the same flags in apiServer.extraArgs and the volumes in apiServer.extraVolumes there, or the next upgrade undoes this"
        );
    }
    let others: Vec<&str> = pods.iter().copied().filter(|c| *c != COMPONENT).collect();
    if !others.is_empty() {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade` also writes the {} manifest(s) anew: put the same flags in controllerManager.extraArgs, scheduler.extraArgs or etcd.local.extraArgs of the ClusterConfiguration (a setting etcd takes from an ETCD_* variable belongs in etcd.local.extraEnvs, v1beta4, not in extraArgs: etcd refuses both)",
            others.join(", ")
        );
    }
    if restart.iter().any(|(c, _)| *c == component::COMPONENT) {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade node` writes /var/lib/kubelet/config.yaml anew from the kubelet-config ConfigMap in kube-system: make the same changes there"
        );
    }
}

/// `--wait-healthy`: watches each API server whose manifest was written restart and answer on
/// /readyz; when one does not come back in time, restores the backup set. True when all came
/// back.
fn wait_healthy(
    args: &FixArgs,
    endpoints: &[Endpoint],
    set: &node::BackupSet,
    backups: &Path,
    root: &Root,
    stderr: &mut dyn Write,
) -> bool {
    use crate::apply::health::Outcome;
    use std::time::Duration;
    let total = Duration::from_secs(args.wait_timeout);
    // The kubelet notices a changed manifest within its file check period (20 s by default)
    // and stops the old container; a restart later than a minute is not this change's.
    let window = total.min(Duration::from_secs(60));
    for ep in endpoints {
        let _ = writeln!(
            stderr,
            "kubeharden: waiting up to {} s for kube-apiserver to restart and answer on {}",
            total.as_secs(),
            ep.url()
        );
        let mut say = |s: &Seen| {
            let _ = writeln!(stderr, "kubeharden: {}: {}", ep.url(), describe_seen(s));
        };
        let outcome = health::wait(
            ep,
            total,
            window,
            Duration::from_millis(500),
            Duration::from_secs(3),
            &mut say,
        );
        let back = match outcome {
            Outcome::Back(200) => {
                let _ = writeln!(stderr, "kubeharden: kube-apiserver is back and ready");
                true
            }
            Outcome::Back(code) => {
                let _ = writeln!(
                    stderr,
                    "kubeharden: kube-apiserver is back and serving; /readyz answered {code} because anonymous requests are refused, so its readiness itself needs credentials to see (`kubectl get --raw /readyz`)"
                );
                true
            }
            Outcome::NoRestart => {
                let _ = writeln!(
                    stderr,
                    "kubeharden: error: kube-apiserver kept answering and kubeharden did not see it restart within {} s; the kubelet may not have taken up the new manifest yet (check `crictl ps --name kube-apiserver`). Nothing was rolled back; to undo: {}",
                    window.as_secs(),
                    rollback_command(&set.record.id, &args.node)
                );
                false
            }
            Outcome::NotBack(last) => {
                roll_back(args, total, &last, set, backups, root, stderr);
                false
            }
        };
        if !back {
            return false;
        }
    }
    true
}

/// An API server that did not come back: the backup set restored.
fn roll_back(
    args: &FixArgs,
    total: std::time::Duration,
    last: &Seen,
    set: &node::BackupSet,
    backups: &Path,
    root: &Root,
    stderr: &mut dyn Write,
) {
    let last = describe_seen(last);
    let _ = writeln!(
        stderr,
        "kubeharden: error: kube-apiserver did not come back within {} s ({last}); rolling back backup set {}",
        total.as_secs(),
        set.record.id
    );
    match node::rollback(set, backups, root) {
        Ok(done) => {
            let _ = writeln!(
                stderr,
                "kubeharden: rolled back: the previous files are in place and the kubelet restarts kube-apiserver with them; the hardened state is kept in backup set {}",
                done.undo.record.id
            );
        }
        Err(e) => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: the rollback failed: {e}; run `{}`",
                rollback_command(&set.record.id, &args.node)
            );
        }
    }
}

fn describe_seen(s: &Seen) -> String {
    match s {
        Seen::Refused(e) => format!("not answering: {e}"),
        Seen::NoAnswer(e) => format!("no answer: {e}"),
        Seen::Status(c) => format!("/readyz answered {c}"),
    }
}

/// Where the API servers of the manifests about to be written serve.
fn endpoints(edited: &[Edited], registry: &Registry) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for e in edited {
        let Some(text) = &e.sel.edited else { continue };
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Ok(m) = manifest::load(body, COMPONENT, registry) {
            let ep = Endpoint::of(&m.model);
            if !out.contains(&ep) {
                out.push(ep);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("/tmp/node"), "/tmp/node");
        assert_eq!(shell_quote("/tmp/sp ace"), "'/tmp/sp ace'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
