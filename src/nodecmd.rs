//! `fix` in place and `rollback`: the commands that change a node.

use crate::app::{read_input, settings, Exit, UsageError, DEFAULT_MANIFESTS_DIR};
use crate::cli::{FixArgs, NodeArgs, RollbackArgs};
use crate::engine::Options;
use crate::fix::{self, Answer, Decide, Node, Offer, Selection};
use crate::node::{self, Lock, Root, Target, Write1};
use crate::prompt::Terminal;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The root, and whether `--root` gave it.
fn root_of(args: &NodeArgs) -> Result<(Root, bool), UsageError> {
    match &args.root {
        None => Ok((Root::system(), false)),
        Some(dir) => {
            if !dir.is_dir() {
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

/// The lock: in the state directory, except for a user other than root who names the backup
/// directory (a user's home may hold no data directory), where it sits in that directory.
fn lock_path(state: &Path, args: &NodeArgs, root_given: bool) -> PathBuf {
    match &args.backup_dir {
        Some(b) if !root_given && !rustix::process::geteuid().is_root() => b.join(".lock"),
        _ => state.join("lock"),
    }
}

/// The node's static pod directory: `--manifests-dir` or the default, under `--root` when given.
pub(crate) fn manifests_dir(
    dir: Option<&Path>,
    root: &Root,
    root_given: bool,
) -> Result<PathBuf, UsageError> {
    match dir {
        Some(d) if !root_given => Ok(d.to_path_buf()),
        Some(d) => root.resolve(&d.to_string_lossy()),
        None => root.resolve(DEFAULT_MANIFESTS_DIR),
    }
    .map_err(|e| UsageError(e.to_string()))
}

/// The default input directory for `fix --output`, which also honours `--root` and
/// `--manifests-dir`.
pub(crate) fn fix_default_dir(args: &FixArgs) -> Result<PathBuf, UsageError> {
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
fn rollback_command(id: &str, args: &NodeArgs) -> String {
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

/// `--yes`: every change; what cannot be done is said afterwards.
struct Everything {
    messages: Vec<String>,
}

impl Decide for Everything {
    fn offer(&mut self, _: &Offer) -> io::Result<Answer> {
        Ok(Answer::All)
    }
    fn tell(&mut self, message: &str) {
        self.messages.push(message.to_string());
    }
}

struct Edited {
    shown: String,
    /// The file to replace (symbolic links resolved).
    real: PathBuf,
    original: String,
    sel: Selection,
}

pub(crate) fn fix_in_place(
    args: &FixArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let (root, root_given) = root_of(&args.node)?;
    let tty = io::stdin().is_terminal() && io::stderr().is_terminal();
    if args.interactive && !tty {
        return Err(UsageError(
            "fix --interactive asks on a terminal, and standard input or standard error is not one; nothing was written".into(),
        ));
    }
    if !args.yes && !tty {
        return Err(UsageError(
            "fix edits manifests in place only after asking at a terminal, and there is none; pass --yes to make every change without asking, or --output FILE to write elsewhere; nothing was written".into(),
        ));
    }
    let pods = manifests_dir(args.manifests_dir.as_deref(), &root, root_given)?;
    // With neither paths nor --manifests-dir, the whole node: its static pods and the kubelet.
    let kubelet_config = if args.manifests_dir.is_none() && args.common.paths.is_empty() {
        let registry =
            crate::profile::Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
        let kubelet = root
            .resolve(crate::app::DEFAULT_KUBELET_CONFIG)
            .map_err(|e| UsageError(e.to_string()))?;
        let mut files = Vec::new();
        if kubelet.exists() {
            files.push(crate::app::Input::plain(kubelet, false, None));
        }
        files.extend(crate::app::referenced_configs(&pods, &registry, &|p| {
            root.resolve(p).ok()
        }));
        files
    } else {
        Vec::new()
    };
    let s = settings(&args.common, &pods, kubelet_config)?;
    let (state, backups) = state_and_backups(&root, root_given, &args.node)?;
    // The file each input really is: under --root, links are followed inside the root, never
    // out to this machine's own files.
    let real_of = |p: &Path| -> Result<PathBuf, UsageError> {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match root_given
            .then(|| root.host_path(&node::normalize(&abs)))
            .flatten()
        {
            Some(host) => root.resolve(&host).map_err(|e| UsageError(e.to_string())),
            None => Ok(node::real_path(p)),
        }
    };
    // Every input read once, up front: the directories of static pod manifests (not of kubeadm
    // configuration files) are the ones nothing else may be written into. The bytes are
    // compared again right before anything is written.
    type Read = Option<(PathBuf, Result<String, crate::engine::FileError>)>;
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
    let named: Vec<PathBuf> = texts
        .iter()
        .zip(&s.inputs)
        .filter(|(_, i)| i.error.is_none())
        .filter_map(|(t, _)| t.as_ref())
        .filter(|(_, t)| {
            !t.as_ref().is_ok_and(|t| {
                crate::app::is_kubeadm_text(t) || crate::app::is_config_text(t, &s.registry)
            })
        })
        .map(|(p, _)| p.clone())
        .collect();
    let pod_dirs = fix::pod_dirs(&pods, &named);
    for d in &pod_dirs {
        for (what, p) in [("--backup-dir", &backups), ("the state directory", &state)] {
            if node::is_within(p, d) {
                return Err(UsageError(format!(
                    "{what} {} is inside {}, a directory of static pod manifests: the kubelet runs every file there whose name does not start with a dot; keep backups elsewhere; nothing was written",
                    p.display(),
                    d.display()
                )));
            }
        }
    }
    let _lock = Lock::acquire(&lock_path(&state, &args.node, root_given))
        .map_err(|e| UsageError(e.to_string()))?;

    let node_ctx = Node {
        root: &root,
        pod_dirs: &pod_dirs,
    };
    let node_version = crate::app::node_version_of(
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
    let mut terminal = Terminal::new();
    let mut everything = Everything {
        messages: Vec::new(),
    };
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
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(stderr, "kubeharden: error: {e}");
                failed = true;
                continue;
            }
        };
        if let Some(e) = input.kind_error(&text, &s.registry) {
            let _ = writeln!(stderr, "kubeharden: error: {e}");
            failed = true;
            continue;
        }
        // A configuration file inside a static pod directory: the kubelet tries to run it as a
        // pod, and nothing but manifests is written there.
        if crate::app::is_config_text(&text, &s.registry)
            && !crate::app::is_kubeadm_text(&text)
            && pod_dirs.iter().any(|d| node::is_within(&real, d))
        {
            let _ = writeln!(
                stderr,
                "kubeharden: error: {shown}: a component's configuration file inside the static pod directory, where the kubelet tries to run every file as a pod; move it out; nothing was written"
            );
            failed = true;
            continue;
        }
        let decide: &mut dyn Decide = if args.yes {
            &mut everything
        } else {
            &mut terminal
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
        let result = fix::select(&shown, &text, opts, &node_ctx, decide, &mut answers);
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
            return Ok(Exit::Error);
        }
    }
    if reports == 0 && !failed {
        let _ = writeln!(
            stderr,
            "kubeharden: error: no control-plane manifest or kubelet configuration found among the inputs; hidden files and what .gitignore and .ignore files list are not read"
        );
        return Ok(Exit::Error);
    }

    // What will be written: supporting directories and files first, manifests last, so the
    // kubelet never starts a component whose files are missing.
    let mut writes: Vec<Write1> = Vec::new();
    let mut manifests: Vec<Write1> = Vec::new();
    let mut combined = String::new();
    let mut new_diffs = String::new();
    for e in &edited {
        let Some(text) = e.sel.edited.as_ref() else {
            continue;
        };
        for nf in &e.sel.new_files {
            if let Some(w) = writes.iter().find(|w| w.path == nf.local) {
                // Two manifests needing the same file: only when they need the same content
                // (the templates differ between versions).
                let same = match (&w.target, &nf.content) {
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
                    return Ok(Exit::Error);
                }
                continue;
            }
            if let Some((_, content)) = &nf.content {
                new_diffs.push_str(&crate::render::new_file_diff(content, &nf.host));
            }
            writes.push(Write1 {
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
        combined.push_str(&crate::render::diff_text(&e.original, text, &e.shown));
        manifests.push(Write1 {
            path: e.real.clone(),
            target: Target::Replace {
                original: e.original.clone().into_bytes(),
                new: text.clone().into_bytes(),
                perms: None,
            },
        });
    }
    // The same accepted rules in the kubeadm configuration, so `kubeadm upgrade` keeps them.
    if let (Some(kc), false) = (&args.kubeadm_config, manifests.is_empty()) {
        let mut accepted: Vec<String> = Vec::new();
        for e in &edited {
            for r in &e.sel.accepted {
                if !accepted.contains(r) {
                    accepted.push(r.clone());
                }
            }
        }
        let restricted = fix::only(&s.profile, &accepted);
        let version = edited
            .iter()
            .find(|e| e.sel.edited.is_some())
            .map(|e| e.sel.version);
        let opts = Options {
            registry: &s.registry,
            profile: &restricted,
            version: s.version.or(version),
            node_version: None,
            report_only: false,
            keep_edits: false,
            ignores: s.ignores,
        };
        let shown = kc.display().to_string();
        let result = read_input(kc).and_then(|text| crate::engine::process(&shown, &text, &opts));
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
                    combined.push_str(&crate::render::diff_text(&r.original, text, &shown));
                    manifests.push(Write1 {
                        path: node::real_path(kc),
                        target: Target::Replace {
                            original: r.original.clone().into_bytes(),
                            new: text.clone().into_bytes(),
                            perms: None,
                        },
                    });
                }
            }
            Ok(_) => {
                let _ = writeln!(
                    stderr,
                    "kubeharden: error: --kubeadm-config {shown}: not a kubeadm configuration file; nothing was written"
                );
                return Ok(Exit::Error);
            }
            Err(e) => {
                let said = if e.message.ends_with("nothing was written") {
                    ""
                } else {
                    "; nothing was written"
                };
                let _ = writeln!(stderr, "kubeharden: error: {e}{said}");
                return Ok(Exit::Error);
            }
        }
    }
    // The whole change as one patch: new supporting files, then the manifests.
    combined.insert_str(0, &new_diffs);
    // Directories before the files in them.
    writes.sort_by_key(|w| !matches!(w.target, Target::Directory));
    let supporting = writes.len();
    writes.extend(manifests);

    for e in &edited {
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
    if writes.len() == supporting {
        let nothing = if edited.iter().any(|e| !e.sel.declined.is_empty()) {
            "no change accepted; nothing was written"
        } else {
            "nothing to change; nothing was written"
        };
        let _ = writeln!(stderr, "kubeharden: {nothing}");
        return Ok(if failed { Exit::Error } else { Exit::Ok });
    }

    if !args.yes {
        let mut summary = String::from("\nkubeharden will write:\n");
        summary.push_str(&terminal.diff(&combined));
        for w in &writes[..supporting] {
            let host = crate::prompt::visible(
                &root
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
            crate::prompt::visible(&backups.display().to_string())
        ));
        terminal.print(&summary);
        let yes = terminal
            .confirm("Write these changes?")
            .map_err(|e| UsageError(format!("cannot ask: {e}; nothing was written")))?;
        if !yes {
            let _ = writeln!(stderr, "kubeharden: nothing was written");
            return Ok(if failed { Exit::Error } else { Exit::Ok });
        }
    }

    // --wait-healthy can only judge the change if the API server serves before it.
    let endpoints = if args.wait_healthy {
        let eps = endpoints(&edited, &s.registry);
        for ep in &eps {
            let seen = crate::health::probe(ep, std::time::Duration::from_secs(3));
            if !seen.serving() {
                let _ = writeln!(
                    stderr,
                    "kubeharden: error: --wait-healthy: kube-apiserver at {} does not serve before the change ({}), so kubeharden could not tell whether the change breaks it; nothing was written",
                    ep.url(),
                    describe_seen(&seen)
                );
                return Ok(Exit::Error);
            }
        }
        eps
    } else {
        Vec::new()
    };

    let info = node::RunInfo {
        command: "fix",
        profile: Some(&s.profile.name),
        restores: None,
        root: &root,
    };
    if args.yes {
        // What will be written, as one patch; if it cannot be shown, nothing is written.
        if let Err(e) = stdout
            .write_all(combined.as_bytes())
            .and_then(|()| stdout.flush())
        {
            let _ = writeln!(
                stderr,
                "kubeharden: error: cannot write to standard output ({e}); nothing was written"
            );
            return Ok(Exit::Error);
        }
    }
    let set = match node::apply(&writes, &backups, &info) {
        Ok(set) => set,
        Err(e) => {
            let _ = writeln!(stderr, "kubeharden: error: {e}");
            if let Some(id) = e.kept_set() {
                let _ = writeln!(
                    stderr,
                    "kubeharden: to put them back: {}",
                    rollback_command(id, &args.node)
                );
            }
            return Ok(Exit::Error);
        }
    };
    for w in &writes {
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
    // What restarts, and how to follow it.
    let mut pods: Vec<&str> = Vec::new();
    let mut restart: Vec<(&str, &str)> = Vec::new();
    for e in edited.iter().filter(|e| e.sel.edited.is_some()) {
        let c = e.sel.component.as_str();
        match s
            .registry
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
            crate::kubelet::COMPONENT => (
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
    if pods.contains(&crate::engine::COMPONENT) {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade` writes the manifest anew from the ClusterConfiguration (the kubeadm-config ConfigMap in kube-system): put the same flags in apiServer.extraArgs and the volumes in apiServer.extraVolumes there, or the next upgrade undoes this"
        );
    }
    let others: Vec<&str> = pods
        .iter()
        .copied()
        .filter(|c| *c != crate::engine::COMPONENT)
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade` also writes the {} manifest(s) anew: put the same flags in controllerManager.extraArgs, scheduler.extraArgs or etcd.local.extraArgs of the ClusterConfiguration (a setting etcd takes from an ETCD_* variable belongs in etcd.local.extraEnvs, v1beta4, not in extraArgs: etcd refuses both)",
            others.join(", ")
        );
    }
    if restart.iter().any(|(c, _)| *c == crate::kubelet::COMPONENT) {
        let _ = writeln!(
            stderr,
            "kubeharden: on kubeadm clusters `kubeadm upgrade node` writes /var/lib/kubelet/config.yaml anew from the kubelet-config ConfigMap in kube-system: make the same changes there"
        );
    }
    if args.wait_healthy {
        let healthy = wait_healthy(args, &endpoints, &set, &backups, &root, stderr);
        if !healthy {
            return Ok(Exit::Error);
        }
    }
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

/// `--wait-healthy`: watches each API server whose manifest was written restart and answer on
/// /readyz; when one does not come back in time, restores the backup set. True when all came
/// back.
fn wait_healthy(
    args: &FixArgs,
    endpoints: &[crate::health::Endpoint],
    set: &node::BackupSet,
    backups: &Path,
    root: &Root,
    stderr: &mut dyn Write,
) -> bool {
    use crate::health::{self, Outcome, Seen};
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
        match outcome {
            Outcome::Back(200) => {
                let _ = writeln!(stderr, "kubeharden: kube-apiserver is back and ready");
            }
            Outcome::Back(code) => {
                let _ = writeln!(
                    stderr,
                    "kubeharden: kube-apiserver is back and serving; /readyz answered {code} because anonymous requests are refused, so its readiness itself needs credentials to see (`kubectl get --raw /readyz`)"
                );
            }
            Outcome::NoRestart => {
                let _ = writeln!(
                    stderr,
                    "kubeharden: error: kube-apiserver kept answering and kubeharden did not see it restart within {} s; the kubelet may not have taken up the new manifest yet (check `crictl ps --name kube-apiserver`). Nothing was rolled back; to undo: {}",
                    window.as_secs(),
                    rollback_command(&set.record.id, &args.node)
                );
                return false;
            }
            Outcome::NotBack(last) => {
                let last = describe_seen(&last);
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
                return false;
            }
        }
    }
    true
}

pub(crate) fn rollback(
    args: &RollbackArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let (root, root_given) = root_of(&args.node)?;
    let (state, backups) = state_and_backups(&root, root_given, &args.node)?;
    let fail = |e: node::NodeError| UsageError(e.to_string());
    if args.list {
        let (sets, problems) = node::list_sets(&backups).map_err(fail)?;
        for p in &problems {
            let _ = writeln!(stderr, "kubeharden: warning: {p}");
        }
        if sets.is_empty() {
            let _ = writeln!(
                stderr,
                "kubeharden: no backup sets in {}",
                backups.display()
            );
            return Ok(Exit::Ok);
        }
        let mut out = String::new();
        for set in sets.iter().rev() {
            let r = &set.record;
            let what = match (&r.restores, &r.profile) {
                (Some(id), _) => format!("rollback of {id}"),
                (None, Some(p)) => format!("{} --profile {p}", r.command),
                (None, None) => r.command.clone(),
            };
            let incomplete = if r.incomplete {
                "  (incomplete: the run failed part-way)"
            } else {
                ""
            };
            out.push_str(&format!(
                "{}  {}  {what}  {} file(s){incomplete}\n",
                r.id,
                r.created,
                r.files.len()
            ));
            for f in &r.files {
                let how = match (f.existed, &f.written_sha256) {
                    (false, _) => "created",
                    (true, None) => "removed",
                    (true, Some(_)) => "changed",
                };
                out.push_str(&format!("    {how} {}\n", f.path));
            }
        }
        stdout
            .write_all(out.as_bytes())
            .map_err(|e| UsageError(format!("cannot write: {e}")))?;
        return Ok(Exit::Ok);
    }
    let _lock = Lock::acquire(&lock_path(&state, &args.node, root_given)).map_err(fail)?;
    let set = node::find_set(&backups, args.id.as_deref()).map_err(fail)?;
    let done = node::rollback(&set, &backups, &root).map_err(|e| {
        let again = e
            .kept_set()
            .map(|id| format!("; to put them back: {}", rollback_command(id, &args.node)))
            .unwrap_or_default();
        UsageError(format!(
            "rollback of backup set {}: {e}{again}",
            set.record.id
        ))
    })?;
    for p in &done.changed_since {
        let _ = writeln!(
            stderr,
            "kubeharden: note: {p} changed after backup set {} was made; its state before this rollback is kept too",
            set.record.id
        );
    }
    for p in &done.restored {
        let _ = writeln!(stderr, "kubeharden: restored {p}");
    }
    for p in &done.removed {
        let _ = writeln!(stderr, "kubeharden: removed {p} (the fix created it)");
    }
    let _ = writeln!(
        stderr,
        "kubeharden: backup set {} restored; the state before the rollback is in backup set {}: `{}` undoes the rollback",
        set.record.id,
        done.undo.record.id,
        rollback_command(&done.undo.record.id, &args.node)
    );
    Ok(Exit::Ok)
}

fn describe_seen(s: &crate::health::Seen) -> String {
    match s {
        crate::health::Seen::Refused(e) => format!("not answering: {e}"),
        crate::health::Seen::NoAnswer(e) => format!("no answer: {e}"),
        crate::health::Seen::Status(c) => format!("/readyz answered {c}"),
    }
}

/// Where the API servers of the manifests about to be written serve.
fn endpoints(
    edited: &[Edited],
    registry: &crate::profile::Registry,
) -> Vec<crate::health::Endpoint> {
    let mut out: Vec<crate::health::Endpoint> = Vec::new();
    for e in edited {
        let Some(text) = &e.sel.edited else { continue };
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Ok(m) = crate::manifest::load(body, crate::engine::COMPONENT, registry) {
            let ep = crate::health::Endpoint::of(&m.model);
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
