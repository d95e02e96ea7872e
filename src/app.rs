//! The binary's glue: validated settings from arguments, inputs read, renderers called, the
//! output file written. Everything else is in the library's pure layers.

use crate::cli::{Cli, Command, Common, Format, ProfilesAction};
use crate::engine::{self, FileError, Options};
use crate::profile::{self, Profile, Registry};
use crate::render::{self, Outcome};
use crate::version::Version;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the kubelet reads static pod manifests on a kubeadm node.
pub const DEFAULT_MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";

/// Larger files are refused unread: real manifests are a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A usage or set-up error (exit 2), reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub enum Exit {
    Ok,
    Findings,
    Error,
}

impl Exit {
    pub fn code(&self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Error => 2,
        }
    }
}

pub(crate) struct Settings {
    pub registry: Registry,
    pub profile: Profile,
    pub version: Option<Version>,
    pub inputs: Vec<Input>,
    /// Read `# kubeharden: ignore[...]` comments (not with `--no-ignores`).
    pub ignores: bool,
}

pub(crate) struct Input {
    pub path: PathBuf,
    /// Found inside a directory rather than named.
    pub from_dir: bool,
    /// Not processed; this is said instead.
    pub note: Option<String>,
    /// A file a manifest names (kube-scheduler's `--config`): the kind it must be, and the
    /// Kubernetes version of the manifest that reads it.
    pub expect_kind: Option<String>,
    pub version: Option<Version>,
    /// Could not be read (a directory of a walk): an error for this path, said instead.
    pub error: Option<String>,
}

impl Input {
    pub(crate) fn plain(path: PathBuf, from_dir: bool, note: Option<String>) -> Input {
        Input {
            path,
            from_dir,
            note,
            expect_kind: None,
            version: None,
            error: None,
        }
    }

    /// The error this input stands for, if it is one.
    pub(crate) fn read_error(&self) -> Option<FileError> {
        self.error.as_ref().map(|message| FileError {
            path: self.path.display().to_string(),
            line_col: None,
            message: message.clone(),
            unrecognized: false,
        })
    }

    /// For a file a manifest names: an error unless it is of the kind the component reads.
    pub(crate) fn kind_error(&self, text: &str, registry: &Registry) -> Option<FileError> {
        let want = self.expect_kind.as_deref()?;
        let docs = crate::yaml::parse(text.trim_start_matches('\u{feff}')).ok();
        let found = docs
            .as_deref()
            .and_then(|d| crate::kubelet::config_kind(d, registry));
        (found != Some(want)).then(|| FileError {
            path: self.path.display().to_string(),
            line_col: None,
            message: format!(
                "a manifest names this file as its {want}, and it is not one; the component would not start with it"
            ),
            unrecognized: false,
        })
    }
}

/// The configuration files the static pods in `dir` read (kube-scheduler's `--config`), found
/// on this machine through `resolve` (under `--root`, say). A file that cannot be followed to the
/// node (not mounted from a hostPath, missing, relative, inside the static pod directory) comes
/// with a note saying why it is not checked.
pub(crate) fn referenced_configs(
    dir: &Path,
    registry: &Registry,
    resolve: &dyn Fn(&str) -> Option<PathBuf>,
) -> Vec<Input> {
    let mut out: Vec<Input> = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let pods = crate::node::real_path(dir);
    for f in files {
        let is_yaml = matches!(
            f.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if !is_yaml
            || f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let Ok(text) = read_input(&f) else { continue };
        let Ok(m) = crate::manifest::load_any(text.trim_start_matches('\u{feff}'), registry) else {
            continue;
        };
        let Some(spec) = registry.components.get(&m.component) else {
            continue;
        };
        let Some(flag) = spec.config_flag.as_deref() else {
            continue;
        };
        let Some(path) = m.model.value(flag).filter(|p| !p.is_empty()) else {
            continue;
        };
        let Some(kind) = spec
            .config_file
            .as_deref()
            .and_then(|c| registry.components.get(c))
            .and_then(|c| c.config_kind.as_deref())
        else {
            continue;
        };
        let who = format!("{} --{flag}={path}", m.component);
        let skip = |why: String| {
            Input::plain(
                PathBuf::from(&path),
                true,
                Some(format!("{who}: {why}; kubeharden did not check it")),
            )
        };
        if !crate::plan::clean_path(&path) {
            out.push(skip("not a clean absolute path".into()));
            continue;
        }
        // The mount that decides what the container sees there: the deepest one, of any type.
        let Some(mount) = m
            .model
            .mounts
            .iter()
            .filter(|mt| crate::model::path_within(&path, &mt.mount_path))
            .max_by_key(|mt| mt.mount_path.len())
        else {
            out.push(skip(
                "no volume mounts it into the container, so the scheduler cannot read it".into(),
            ));
            continue;
        };
        let host_volume = m
            .model
            .volumes
            .iter()
            .any(|v| v.name == mount.name && v.host_path.is_some());
        let expr = m
            .container()
            .get("volumeMounts")
            .map(|l| {
                l.items().iter().any(|i| {
                    i.get("mountPath").and_then(|p| p.as_str()) == Some(mount.mount_path.as_str())
                        && i.get("subPathExpr").is_some()
                })
            })
            .unwrap_or(false);
        if !host_volume || expr {
            out.push(skip(format!(
                "the container sees it through the volume `{}`, which is not a plain hostPath mount",
                mount.name
            )));
            continue;
        }
        let host = crate::plan::host_path(&m.model, &path);
        let Some(local) = resolve(&host).filter(|l| l.is_file()) else {
            out.push(skip(format!("{host} is not a file on the node")));
            continue;
        };
        if crate::node::is_within(&crate::node::real_path(&local), &pods) {
            out.push(skip(format!(
                "{host} is inside the static pod directory, where the kubelet tries to run every file as a pod; move it out"
            )));
            continue;
        }
        if !out.iter().any(|i| i.path == local) {
            out.push(Input {
                path: local,
                from_dir: false,
                note: None,
                expect_kind: Some(kind.to_string()),
                version: m.image.as_deref().and_then(crate::manifest::image_version),
                error: None,
            });
        }
    }
    out
}

/// For a node scan (no path given): the kubelet's configuration and the files the static pods
/// read, besides the static pod directory.
fn node_files(common: &Common) -> Result<Vec<Input>, UsageError> {
    if !common.paths.is_empty() {
        return Ok(Vec::new());
    }
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let mut files = Vec::new();
    if Path::new(DEFAULT_KUBELET_CONFIG).exists() {
        files.push(Input::plain(
            PathBuf::from(DEFAULT_KUBELET_CONFIG),
            false,
            None,
        ));
    }
    files.extend(referenced_configs(
        Path::new(DEFAULT_MANIFESTS_DIR),
        &registry,
        &|p| Some(PathBuf::from(p)),
    ));
    Ok(files)
}

/// Where kubeadm has the kubelet read its configuration (the kubelet's `--config`).
pub const DEFAULT_KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";

/// The settings shared by the commands that read manifests; when no path is given,
/// `default_dir` is read, and each of `default_files` that exists.
pub(crate) fn settings(
    common: &Common,
    default_dir: &Path,
    default_files: Vec<Input>,
) -> Result<Settings, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let profile =
        Profile::load(&common.profile, &registry).map_err(|e| UsageError(e.to_string()))?;
    let version = match &common.kubernetes_version {
        None => None,
        Some(v) => Some(Version::parse(v).ok_or_else(|| {
            UsageError(format!("--kubernetes-version: `{v}` is not a Kubernetes 1.x version (e.g. 1.30 or v1.30.4)"))
        })?),
    };
    let node_scan = common.paths.is_empty();
    let paths = if node_scan {
        vec![default_dir.to_path_buf()]
    } else {
        common.paths.clone()
    };
    // The static pod directory is read one level deep wherever it is met: the kubelet reads
    // only the files directly in it.
    let pods = crate::walk::DirId::of(default_dir);
    let mut inputs: Vec<Input> = Vec::new();
    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for p in paths {
        let found = if !p.is_dir() {
            // The same file named twice, or reached through a link, is processed once: two
            // patches for one file would not apply.
            let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if seen.insert(key) {
                inputs.push(Input::plain(p, false, None));
            }
            continue;
        } else if node_scan || (pods.is_some() && crate::walk::DirId::of(&p) == pods) {
            crate::walk::one_level(&p)
                .map_err(|e| UsageError(format!("{}: cannot read directory: {e}", p.display())))?
        } else {
            crate::walk::walk(&p, pods)
        };
        for f in found {
            match f {
                crate::walk::Found::File { path, key } => {
                    if seen.insert(key) {
                        inputs.push(Input::plain(path, true, None));
                    }
                }
                // Said once, however often the path is reached.
                crate::walk::Found::Note { path, reason } => {
                    if seen.insert(std::path::absolute(&path).unwrap_or_else(|_| path.clone())) {
                        inputs.push(Input::plain(path, true, Some(reason)));
                    }
                }
                crate::walk::Found::Error { path, message } => {
                    if seen.insert(std::path::absolute(&path).unwrap_or_else(|_| path.clone())) {
                        let mut input = Input::plain(path, true, None);
                        input.error = Some(message);
                        inputs.push(input);
                    }
                }
            }
        }
    }
    if node_scan {
        for extra in default_files {
            let key = std::fs::canonicalize(&extra.path).unwrap_or_else(|_| extra.path.clone());
            if extra.note.is_some() || seen.insert(key) {
                inputs.push(extra);
            }
        }
    }
    Ok(Settings {
        registry,
        profile,
        version,
        inputs,
        ignores: !common.no_ignores,
    })
}

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

fn process_one<'p>(input: &Input, opts: &Options<'p>) -> Outcome<'p> {
    let shown = input.path.display().to_string();
    if let Some(e) = input.read_error() {
        return Outcome::Error(e);
    }
    if let Some(note) = &input.note {
        return Outcome::Skipped {
            path: shown,
            reason: note.clone(),
        };
    }
    let with_version;
    let opts = match input.version {
        Some(v) if opts.version.is_none() => {
            with_version = Options {
                node_version: Some(v),
                ..*opts
            };
            &with_version
        }
        _ => opts,
    };
    let result =
        read_input(&input.path).and_then(|text| match input.kind_error(&text, opts.registry) {
            Some(e) => Err(e),
            None => engine::process(&shown, &text, opts),
        });
    match result {
        Ok(r) => Outcome::Report(Box::new(r)),
        Err(e) if e.unrecognized && input.from_dir => Outcome::Skipped {
            path: shown,
            reason: e.message,
        },
        Err(e) => Outcome::Error(e),
    }
}

/// Processes every input, in parallel across the available cores; the outcomes keep the
/// order of the inputs.
/// `keep_edits`: with `report_only`, still verify and keep the edited texts (SARIF fixes).
/// `keep_changes`: keep each report's planned changes (for the outputs that show them).
fn process_all(
    s: &Settings,
    report_only: bool,
    keep_edits: bool,
    keep_changes: bool,
) -> Vec<Outcome<'_>> {
    let opts = Options {
        registry: &s.registry,
        profile: &s.profile,
        version: s.version,
        node_version: None,
        report_only,
        keep_edits,
        ignores: s.ignores,
    };
    let all: Vec<&Input> = s.inputs.iter().collect();
    let mut outcomes = process_with(&all, &opts, keep_changes);
    // Files that name no Kubernetes version (a KubeletConfiguration, etcd's manifest) take the
    // node's, when the run read a kube-apiserver manifest that names one.
    if s.version.is_none() {
        if let Some(v) = node_version(&outcomes) {
            let opts = Options {
                node_version: Some(v),
                ..opts
            };
            let again: Vec<usize> = outcomes
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    matches!(o, Outcome::Report(r) if r.version_source == engine::VersionSource::Assumed)
                })
                .map(|(i, _)| i)
                .collect();
            let inputs: Vec<&Input> = again.iter().map(|&i| &s.inputs[i]).collect();
            for (i, o) in again
                .into_iter()
                .zip(process_with(&inputs, &opts, keep_changes))
            {
                outcomes[i] = o;
            }
        }
    }
    outcomes
}

/// The Kubernetes version of the kube-apiserver manifests' image tags, when they agree.
fn node_version(outcomes: &[Outcome]) -> Option<Version> {
    let mut found: Option<Version> = None;
    for o in outcomes {
        if let Outcome::Report(r) = o {
            if r.component == engine::COMPONENT
                && !r.kubeadm
                && r.version_source == engine::VersionSource::Image
            {
                match found {
                    Some(v) if v.minor != r.version.minor => return None,
                    Some(_) => {}
                    None => found = Some(r.version),
                }
            }
        }
    }
    found
}

/// The same for texts not processed yet: the image tags of the kube-apiserver manifests among
/// them, when they agree.
pub(crate) fn node_version_of<'a>(
    texts: impl Iterator<Item = &'a str>,
    registry: &Registry,
) -> Option<Version> {
    let mut found: Option<Version> = None;
    for t in texts {
        if !t.contains(engine::COMPONENT) {
            continue;
        }
        let Ok(m) = crate::manifest::load_any(t.trim_start_matches('\u{feff}'), registry) else {
            continue;
        };
        if m.component != engine::COMPONENT {
            continue;
        }
        if let Some(v) = m.image.as_deref().and_then(crate::manifest::image_version) {
            match found {
                Some(f) if f.minor != v.minor => return None,
                Some(_) => {}
                None => found = Some(v),
            }
        }
    }
    found
}

/// Processes `inputs` on every core: each worker takes the next file as soon as it is done with
/// one, so a slow file holds up no others. The outcomes keep the order of the inputs; a file
/// whose processing panics is an error of its own, and the others go on.
///
/// Without `keep_changes` (check's text output, which shows findings only), each report drops
/// its planned changes as soon as it is made: they are most of what a report holds.
fn process_with<'p>(inputs: &[&Input], opts: &Options<'p>, keep_changes: bool) -> Vec<Outcome<'p>> {
    let one = |input: &Input| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut o = process_one(input, opts);
            if let (false, Outcome::Report(r)) = (keep_changes, &mut o) {
                r.changes = Vec::new();
            }
            o
        }))
        .unwrap_or_else(|_| {
            Outcome::Error(FileError {
                path: input.path.display().to_string(),
                line_col: None,
                message: "internal error while processing this file".into(),
                unrecognized: false,
            })
        })
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len());
    if workers <= 1 {
        return inputs.iter().map(|i| one(i)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Outcome<'p>>> = Vec::with_capacity(inputs.len());
    slots.resize_with(inputs.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else { break };
                        done.push((i, one(input)));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, o) in done {
                    slots[i] = Some(o);
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(inputs)
        .map(|(o, input)| {
            o.unwrap_or_else(|| {
                Outcome::Error(FileError {
                    path: input.path.display().to_string(),
                    line_col: None,
                    message: "internal error while processing this file".into(),
                    unrecognized: false,
                })
            })
        })
        .collect()
}

fn errors_to(stderr: &mut dyn Write, outcomes: &[Outcome]) {
    if !outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Report(_) | Outcome::Error(_)))
    {
        let _ = writeln!(
            stderr,
            "kubeharden: error: no control-plane manifest or kubelet configuration found among the inputs ({} skipped); hidden files and what .gitignore and .ignore files list are not read",
            outcomes.len()
        );
    }
    for o in outcomes {
        if let Outcome::Error(e) = o {
            let _ = writeln!(stderr, "kubeharden: error: {e}");
        }
    }
}

/// For diff and fix: a file's notes and the suppression comments that silence nothing.
/// Each on one line, whatever the file's text quoted in it holds.
fn notes_to(stderr: &mut dyn Write, r: &engine::FileReport) {
    let path = engine::one_line(&r.path);
    for n in &r.notes {
        let _ = writeln!(stderr, "kubeharden: {path}: note: {}", engine::one_line(n));
    }
    for u in &r.unused_suppressions {
        let _ = writeln!(
            stderr,
            "kubeharden: {path}:{}:{}: note: {}",
            u.line,
            u.column,
            engine::one_line(&u.message)
        );
    }
}

/// `check --fail-on`: how many findings are reported without failing the check.
fn below_fail_on(
    out: &mut dyn Write,
    outcomes: &[Outcome],
    fail_on: profile::Severity,
) -> std::io::Result<()> {
    let below = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Report(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| &r.findings)
        .filter(|f| f.active() && f.rule.severity < fail_on)
        .count();
    if below > 0 {
        writeln!(
            out,
            "{below} finding(s) below --fail-on {} do not fail the check",
            fail_on.as_str()
        )?;
    }
    Ok(())
}

/// For diff and fix: the findings the change leaves for the user, with the reason.
fn left_over_to(stderr: &mut dyn Write, outcomes: &[Outcome]) {
    for o in outcomes {
        if let Outcome::Report(r) = o {
            for f in r.findings.iter().filter(|f| !f.fixed) {
                let why = f.manual.as_deref().unwrap_or("");
                let _ = writeln!(
                    stderr,
                    "kubeharden: {}: not changed: {}: {why}",
                    r.path, f.rule.id
                );
            }
        }
    }
}

fn required_files_to(stderr: &mut dyn Write, outcomes: &[Outcome]) {
    for o in outcomes {
        if let Outcome::Report(r) = o {
            for rf in &r.required_files {
                let what = if rf.directory { "directory" } else { "file" };
                let tmpl = rf
                    .template
                    .as_ref()
                    .map(|t| {
                        format!(
                            "; print it with `kubeharden profiles template {t} --kubernetes-version {}`",
                            r.version
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    stderr,
                    "kubeharden: {}: needs the {what} {} on the node (--{}{tmpl})",
                    r.path, rf.path, rf.flag
                );
            }
        }
    }
}

/// Runs a parsed command line. Output goes to `stdout`; messages to `stderr`.
pub fn run(cli: Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<Exit, UsageError> {
    match cli.command {
        Command::Check(args) => {
            let mut s = settings(
                &args.common,
                Path::new(DEFAULT_MANIFESTS_DIR),
                node_files(&args.common)?,
            )?;
            if args.skip_unrecognized {
                // A named file that is not ours is skipped as one found in a directory would be.
                for i in &mut s.inputs {
                    i.from_dir = true;
                }
            }
            // SARIF carries the fixes, so the edits are made and verified as for `fix`.
            let sarif = args.format == Format::Sarif;
            let outcomes = process_all(&s, true, sarif, sarif || args.format == Format::Json);
            let fail_on = args.fail_on.severity();
            let res = match args.format {
                Format::Text => render::text(stdout, &outcomes, &s.profile)
                    .and_then(|()| below_fail_on(stdout, &outcomes, fail_on)),
                Format::Json => render::json(stdout, &outcomes, &s.profile),
                Format::Sarif => {
                    // File URIs are relative to the directory kubeharden runs in.
                    let cwd = std::env::current_dir().unwrap_or_default();
                    let ctx = crate::sarif::Context {
                        cwd: &cwd,
                        ignores: s.ignores,
                        nothing_is_fine: args.skip_unrecognized,
                    };
                    render::sarif(stdout, &outcomes, &s.profile, &ctx)
                }
            };
            if let Err(e) = res {
                // A reader that stops early (`| head`) is not an error worth a message.
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(UsageError(format!("cannot write the report: {e}")));
                }
            }
            if args.skip_unrecognized
                && outcomes
                    .iter()
                    .all(|o| matches!(o, Outcome::Skipped { .. }))
            {
                // Nothing of ours among the files a hook passed: nothing to report.
                return Ok(Exit::Ok);
            }
            errors_to(stderr, &outcomes);
            // Suppressed findings and those below --fail-on do not fail the check.
            Ok(summarise(&outcomes, |r| {
                r.findings
                    .iter()
                    .any(|f| f.active() && f.rule.severity >= fail_on)
            }))
        }
        Command::Diff(args) => {
            let common = &args.common;
            // A kubeadm patch file the diff creates is a pending change too.
            let mut extra_files = false;
            let s = settings(
                common,
                Path::new(DEFAULT_MANIFESTS_DIR),
                node_files(common)?,
            )?;
            let outcomes = process_all(&s, false, false, true);
            let mut tally = Tally::of(&outcomes);
            for o in &outcomes {
                match o {
                    Outcome::Report(r) => {
                        // git refuses `..` in patch paths: a file above the current directory
                        // is named by its absolute path (without the leading `/`).
                        let mut header = r.path.clone();
                        if render::diff_path(&header).starts_with("..") {
                            if let Ok(abs) = std::fs::canonicalize(&r.path) {
                                header = abs.display().to_string();
                            }
                        }
                        match render::diff(stdout, r, &header)
                            .and_then(|()| probe_patch_diff(stdout, stderr, r, &header, &s))
                        {
                            Ok(true) => {
                                extra_files = true;
                                if r.edited.is_none() {
                                    tally.changed += 1;
                                }
                            }
                            Ok(false) => {}
                            Err(e) => {
                                // A reader that stops early (`| head`) is not an error worth a message.
                                if e.kind() == std::io::ErrorKind::BrokenPipe {
                                    break;
                                }
                                return Err(UsageError(format!("cannot write the diff: {e}")));
                            }
                        }
                        notes_to(stderr, r);
                    }
                    Outcome::Skipped { path, reason } => {
                        let _ = writeln!(stderr, "kubeharden: {path}: skipped: {reason}");
                    }
                    Outcome::Error(_) => {}
                }
            }
            errors_to(stderr, &outcomes);
            left_over_to(stderr, &outcomes);
            required_files_to(stderr, &outcomes);
            let mut exit = summarise(&outcomes, |r| r.edited.is_some());
            if extra_files && matches!(exit, Exit::Ok) {
                exit = Exit::Findings;
            }
            if let Some(kc) = &args.kubeadm_config {
                // The same profile on the kubeadm file, for the manifests' version.
                let version = outcomes.iter().find_map(|o| match o {
                    Outcome::Report(r) => Some(r.version),
                    _ => None,
                });
                let opts = Options {
                    registry: &s.registry,
                    profile: &s.profile,
                    version: s.version.or(version),
                    node_version: None,
                    report_only: false,
                    keep_edits: false,
                    ignores: s.ignores,
                };
                let shown = kc.display().to_string();
                let result = read_input(kc).and_then(|text| engine::process(&shown, &text, &opts));
                match result {
                    Ok(r) if r.kubeadm => {
                        let wrote = render::diff(stdout, &r, &shown)
                            .and_then(|()| probe_patch_diff(stdout, stderr, &r, &shown, &s));
                        tally.files += 1;
                        if r.edited.is_some() || wrote.as_ref().is_ok_and(|w| *w) {
                            tally.changed += 1;
                        }
                        if wrote.as_ref().is_ok_and(|w| *w) && matches!(exit, Exit::Ok) {
                            exit = Exit::Findings;
                        }
                        if let Err(e) = wrote {
                            if e.kind() != std::io::ErrorKind::BrokenPipe {
                                return Err(UsageError(format!("cannot write the diff: {e}")));
                            }
                        }
                        let one = [Outcome::Report(Box::new(r))];
                        left_over_to(stderr, &one);
                        if let (Exit::Ok, Outcome::Report(r)) = (&exit, &one[0]) {
                            if r.edited.is_some() {
                                exit = Exit::Findings;
                            }
                        }
                    }
                    Ok(_) => {
                        let _ = writeln!(
                            stderr,
                            "kubeharden: error: --kubeadm-config {shown}: not a kubeadm configuration file"
                        );
                        tally.errors += 1;
                        exit = Exit::Error;
                    }
                    Err(e) => {
                        let _ = writeln!(stderr, "kubeharden: error: {e}");
                        tally.errors += 1;
                        exit = Exit::Error;
                    }
                }
            }
            let _ = writeln!(
                stderr,
                "kubeharden: {} file(s) checked, {} with changes, {} error(s), {} skipped",
                tally.files, tally.changed, tally.errors, tally.skipped
            );
            Ok(exit)
        }
        Command::Fix(args) => {
            let Some(output) = args.output.clone() else {
                return crate::nodecmd::fix_in_place(&args, stdout, stderr);
            };
            let s = settings(
                &args.common,
                &crate::nodecmd::fix_default_dir(&args)?,
                Vec::new(),
            )?;
            if let (Some(input), Ok(out)) = (s.inputs.first(), std::fs::canonicalize(&output)) {
                if std::fs::canonicalize(&input.path).is_ok_and(|i| i == out) {
                    return Err(UsageError(format!(
                        "fix --output {} is the input file; leave out --output to edit it in place (with backups)",
                        output.display()
                    )));
                }
            }
            if s.inputs.len() != 1 {
                return Err(UsageError(format!(
                    "fix --output takes exactly one input manifest, got {}",
                    s.inputs.len()
                )));
            }
            let outcomes = process_all(&s, false, false, true);
            errors_to(stderr, &outcomes);
            let Some(Outcome::Report(r)) = outcomes.first() else {
                if let Some(Outcome::Skipped { path, reason }) = outcomes.first() {
                    let _ = writeln!(stderr, "kubeharden: {path}: {reason}");
                }
                return Ok(Exit::Error);
            };
            notes_to(stderr, r);
            let text = r.edited.as_deref().unwrap_or(&r.original);
            if output.as_os_str() == "-" {
                stdout
                    .write_all(text.as_bytes())
                    .map_err(|e| UsageError(format!("cannot write to standard output: {e}")))?;
            } else {
                write_output(&output, text)?;
                let n = r.changes.len();
                let _ = writeln!(
                    stderr,
                    "kubeharden: wrote {} ({n} change(s) to {})",
                    output.display(),
                    r.path
                );
            }
            left_over_to(stderr, &outcomes);
            required_files_to(stderr, &outcomes);
            Ok(Exit::Ok)
        }
        Command::Rollback(args) => crate::nodecmd::rollback(&args, stdout, stderr),
        Command::Generate {
            what: crate::cli::GenerateWhat::Kubeadm(args),
        } => generate_kubeadm(&args, stderr),
        Command::Profiles { action } => {
            let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
            let res = match action.unwrap_or(ProfilesAction::List) {
                ProfilesAction::List => {
                    let mut r = Ok(());
                    for (name, _) in profile::BUILTIN {
                        let p = Profile::load(name, &registry)
                            .map_err(|e| UsageError(e.to_string()))?;
                        r = r.and(writeln!(
                            stdout,
                            "{:<10} {:>3} rules  {}",
                            p.name,
                            p.rules.len(),
                            p.description
                        ));
                    }
                    r
                }
                ProfilesAction::Show { name } => {
                    let p =
                        Profile::load(&name, &registry).map_err(|e| UsageError(e.to_string()))?;
                    render::profile_show(stdout, &p)
                }
                ProfilesAction::Template {
                    name,
                    kubernetes_version,
                    profile,
                } => {
                    if name == "kubeadm-config" {
                        return Err(UsageError(
                            "kubeadm-config is written by `kubeharden generate kubeadm`, with the profile applied".into(),
                        ));
                    }
                    let p = Profile::load(&profile, &registry)
                        .map_err(|e| UsageError(e.to_string()))?;
                    let v = match kubernetes_version {
                        Some(v) => Version::parse(&v).ok_or_else(|| {
                            UsageError(format!(
                                "--kubernetes-version: `{v}` is not a Kubernetes 1.x version"
                            ))
                        })?,
                        None => {
                            let v = registry.newest();
                            let _ = writeln!(
                                stderr,
                                "kubeharden: no --kubernetes-version: rendering for {v}, the newest kubeharden knows"
                            );
                            v
                        }
                    };
                    let text = profile::render_template(&name, v, &registry, &p.parameters)
                        .map_err(UsageError)?;
                    stdout.write_all(text.as_bytes())
                }
            };
            res.map_err(|e| UsageError(format!("cannot write: {e}")))?;
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "kubeharden", stdout);
            Ok(Exit::Ok)
        }
        Command::Man => {
            crate::cli::man_page(stdout)
                .map_err(|e| UsageError(format!("cannot write the manual page: {e}")))?;
            Ok(Exit::Ok)
        }
        Command::Explain { rule } => {
            let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
            let found = profile::find_builtin_rule(&rule, &registry)
                .map_err(|e| UsageError(e.to_string()))?;
            let Some(r) = found else {
                return Err(UsageError(format!(
                    "unknown rule `{rule}`; `kubeharden profiles show strict` lists every rule"
                )));
            };
            let profiles = crate::ruledoc::builtin_profiles(&registry)
                .map_err(|e| UsageError(e.to_string()))?;
            stdout
                .write_all(crate::ruledoc::section(&r, &profiles, &registry).as_bytes())
                .map_err(|e| UsageError(format!("cannot write: {e}")))?;
            Ok(Exit::Ok)
        }
    }
}

/// `diff`'s closing line: files read, files the patch changes, errors, files skipped.
#[derive(Default)]
struct Tally {
    files: usize,
    changed: usize,
    errors: usize,
    skipped: usize,
}

impl Tally {
    fn of(outcomes: &[Outcome]) -> Tally {
        let mut t = Tally::default();
        for o in outcomes {
            match o {
                Outcome::Report(r) => {
                    t.files += 1;
                    t.changed += usize::from(r.edited.is_some());
                }
                Outcome::Error(_) => t.errors += 1,
                Outcome::Skipped { .. } => t.skipped += 1,
            }
        }
        t
    }
}

fn summarise(outcomes: &[Outcome], pending: impl Fn(&engine::FileReport) -> bool) -> Exit {
    // Nothing checked is no success: a CI gate must not pass on an empty or wrong directory.
    if !outcomes.iter().any(|o| matches!(o, Outcome::Report(_))) {
        return Exit::Error;
    }
    if outcomes.iter().any(|o| matches!(o, Outcome::Error(_))) {
        Exit::Error
    } else if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Report(r) if pending(r)))
    {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a manifest.
fn write_output(path: &Path, text: &str) -> Result<(), UsageError> {
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

/// `generate kubeadm`: the files, written atomically into the output directory. An existing
/// file with other content is not overwritten.
fn generate_kubeadm(
    args: &crate::cli::GenerateKubeadmArgs,
    stderr: &mut dyn Write,
) -> Result<Exit, UsageError> {
    let registry = Registry::builtin().map_err(|e| UsageError(e.to_string()))?;
    let profile = Profile::load(&args.profile, &registry).map_err(|e| UsageError(e.to_string()))?;
    let v = Version::parse(&args.kubernetes_version).ok_or_else(|| {
        UsageError(format!(
            "--kubernetes-version: `{}` is not a Kubernetes 1.x version (e.g. 1.31 or v1.31.2)",
            args.kubernetes_version
        ))
    })?;
    let known = &registry.versions;
    if v.minor < known.oldest || v.minor > known.newest {
        return Err(UsageError(format!(
            "--kubernetes-version {v}: kubeharden has facts for 1.{} to 1.{}",
            known.oldest, known.newest
        )));
    }
    let api = crate::generate::api_version(&registry, v, args.api_version.as_deref())
        .map_err(UsageError)?;
    let sets = args
        .set
        .iter()
        .map(|s| crate::generate::parse_set(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(UsageError)?;
    let files =
        crate::generate::kubeadm(&registry, &profile, v, &api, &sets).map_err(UsageError)?;
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("{}: cannot create: {e}", dir.display())))?;
    // Nothing is written when any file would replace different content.
    for f in &files {
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
    for f in &files {
        let path = dir.join(&f.name);
        crate::node::atomic_write(&path, f.content.as_bytes(), f.mode, None, None)
            .map_err(|e| UsageError(e.to_string()))?;
        let _ = writeln!(
            stderr,
            "kubeharden: wrote {} (mode {:o})",
            path.display(),
            f.mode
        );
    }
    let _ = writeln!(
        stderr,
        "kubeharden: {api} for Kubernetes {v}, profile {}; {} says where each file goes",
        profile.name,
        dir.join("README.md").display()
    );
    Ok(Exit::Ok)
}

/// Whether a text is a kubeadm configuration file (not a static pod manifest).
/// A component's configuration file (KubeletConfiguration, KubeSchedulerConfiguration).
pub(crate) fn is_config_text(text: &str, registry: &Registry) -> bool {
    text.contains("Configuration")
        && crate::yaml::parse(text.trim_start_matches('\u{feff}'))
            .is_ok_and(|d| crate::kubelet::config_kind(&d, registry).is_some())
}

pub(crate) fn is_kubeadm_text(text: &str) -> bool {
    text.contains(crate::kubeadm::GROUP)
        && crate::yaml::parse(text.trim_start_matches('\u{feff}'))
            .is_ok_and(|d| crate::kubeadm::is_kubeadm(&d))
}

/// For a kubeadm file whose profile needs kubeadm's probes changed (extraArgs cannot do it):
/// the kubeadm patch that does it, as a new file `kube-apiserver+strategic.yaml` beside the
/// file, in the same patch, unless that file exists already.
fn probe_patch_diff(
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    r: &engine::FileReport,
    header: &str,
    s: &Settings,
) -> std::io::Result<bool> {
    if !r.needs_probe_patch {
        return Ok(false);
    }
    let dir = Path::new(&r.path).parent().unwrap_or(Path::new(""));
    let name = "kube-apiserver+strategic.yaml";
    if dir.join(name).exists() {
        return Ok(false);
    }
    let Ok(text) = profile::render_template(
        "kubeadm-probe-patch",
        r.version,
        &s.registry,
        &s.profile.parameters,
    ) else {
        return Ok(false);
    };
    let shown = Path::new(header)
        .parent()
        .unwrap_or(Path::new(""))
        .join(name)
        .display()
        .to_string();
    stdout.write_all(render::new_file_diff(&text, &shown).as_bytes())?;
    let _ = writeln!(
        stderr,
        "kubeharden: {}: the patch creates {shown}, the kubeadm patch that makes kube-apiserver's probes TCP probes; pass its directory to kubeadm with --patches, then anonymous requests can be rejected",
        r.path
    );
    Ok(true)
}
