//! Running the pipeline over a run's inputs: every file read and processed on every core, the
//! outcomes in the order of the inputs, and the node's Kubernetes version passed on to the files
//! that name none.

use crate::load::git::Changed;
use crate::load::inputs::{Input, Settings};
use crate::load::read::read_input;
use crate::model::report::{FileError, FileReport, Outcome, UsageError, VersionSource, COMPONENT};
use crate::pipeline::{self, Options};
use crate::profile::version::Version;
use crate::profile::Registry;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard, PoisonError};

fn process_one<'p>(input: &Cow<'p, Input>, opts: &Options<'p>) -> Outcome<'p> {
    let shown = input.path.display().to_string();
    if let Some(e) = input.read_error() {
        return Outcome::Error(e);
    }
    if let Some(note) = input.note() {
        return Outcome::Skipped {
            path: shown,
            reason: note.to_string(),
        };
    }
    // An input made as the run goes is a file a walk found, which no command line overrides.
    let overrides = match input {
        Cow::Borrowed(i) => i.overrides(),
        Cow::Owned(_) => &[],
    };
    let with_version;
    let opts = match input.version() {
        Some(v) if opts.version.is_none() => {
            with_version = Options {
                node_version: Some(v),
                overrides,
                ..*opts
            };
            &with_version
        }
        _ if !overrides.is_empty() => {
            with_version = Options { overrides, ..*opts };
            &with_version
        }
        _ => opts,
    };
    let result =
        read_input(&input.path).and_then(|text| match input.kind_error(&text, opts.registry) {
            Some(e) => Err(e),
            None => pipeline::process(&shown, &text, opts),
        });
    match result {
        Ok(mut r) => {
            if let Some(changed) = input.changed() {
                only_changed(&mut r, changed, &shown, opts);
            }
            Outcome::Report(Box::new(r))
        }
        Err(e) if e.unrecognized && input.from_dir => Outcome::Skipped {
            path: shown,
            reason: e.message,
        },
        Err(e) => Outcome::Error(e),
    }
}

/// The paths a command reads: those given; with `--changed-since` and none given, the current
/// directory, where a change under review is read.
pub(super) fn read_paths<'a>(
    changed_since: Option<&str>,
    given: &'a [std::path::PathBuf],
) -> std::borrow::Cow<'a, [std::path::PathBuf]> {
    match (changed_since, given.is_empty()) {
        (Some(_), true) => std::borrow::Cow::Owned(vec![std::path::PathBuf::from(".")]),
        _ => std::borrow::Cow::Borrowed(given),
    }
}

/// `--changed-since REV`: of the inputs (found under `paths`), only the files that differ from
/// REV, each with what the change did to it. A changed file that is none of kubeharden's is
/// skipped, as in a directory: a change that touches none is nothing to fail on.
pub(super) fn changed_inputs(
    rev: &str,
    paths: &[std::path::PathBuf],
    s: &mut Settings,
) -> Result<(), UsageError> {
    let cwd = std::env::current_dir().map_err(|e| UsageError(format!("--changed-since: {e}")))?;
    let mut changes: std::collections::HashMap<_, _> =
        crate::load::git::changed_since(rev, &cwd, paths)?
            .into_iter()
            .collect();
    s.inputs.list().retain_mut(|i| {
        let changed = crate::load::node::canonical(&i.path).and_then(|p| changes.remove(&p));
        i.set_changed(changed);
        i.from_dir = true;
        i.changed().is_some()
    });
    Ok(())
}

/// Of a file a change touched (`check --changed-since`): only the findings on the lines the
/// change added or touched, and those the file did not have before it. The second catch what a
/// change takes out: a flag removed leaves a finding where the flag is missing, which may be a
/// line the change did not touch.
fn only_changed(r: &mut FileReport, changed: &Changed, shown: &str, opts: &Options) {
    if changed.lines.is_none() {
        return;
    }
    // The findings the file had at the revision, by rule (a rule may fail once per document).
    let mut before: Vec<String> = match changed.before.as_deref() {
        Some(text) => match pipeline::process(shown, text, opts) {
            Ok(b) => b.findings.into_iter().map(|f| f.rule.id.clone()).collect(),
            // It did not read then: everything it says now is new.
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    r.findings.retain(|f| {
        if changed.touches(f.line) {
            return true;
        }
        match before.iter().position(|id| *id == f.rule.id) {
            Some(i) => {
                before.swap_remove(i);
                false
            }
            None => true,
        }
    });
}

/// The Kubernetes version the `--kubeadm-config` file is judged for: `--kubernetes-version`
/// when given; else the older of the manifests' version and the file's own `kubernetesVersion`,
/// so that nothing is written that either does not accept, with a note when they differ.
pub(crate) fn kubeadm_version(
    s: &Settings,
    manifests: Option<Version>,
    text: &str,
    shown: &str,
) -> (Option<Version>, Option<String>) {
    if s.version.is_some() {
        return (s.version, None);
    }
    let own = crate::document::kubeadm::try_load(text, &s.registry.kubeadm)
        .and_then(Result::ok)
        .and_then(|c| c.kubernetes_version);
    match (manifests, own) {
        (Some(m), Some(o)) if m.minor != o.minor => {
            let older = if m.minor < o.minor { m } else { o };
            (
                Some(older),
                Some(format!(
                    "{shown}: note: its kubernetesVersion ({o}) and the manifests' version ({m}) differ; kubeharden writes only what {older}, the older, accepts"
                )),
            )
        }
        (Some(m), _) => (Some(m), None),
        (None, o) => (o, None),
    }
}

/// The options for the file `--kubeadm-config` names: edited with `profile`, for the version
/// of the manifests (when the run was not given one).
pub(crate) fn kubeadm_options<'s>(
    s: &'s Settings,
    profile: &'s crate::profile::Profile,
    version: Option<Version>,
) -> Options<'s> {
    Options {
        version: s.version.or(version),
        ignores: s.ignores,
        patches: Some(&crate::load::patches::kube_apiserver),
        ..Options::new(&s.registry, profile)
    }
}

/// Processes every input, in parallel across the available cores; the outcomes keep the
/// order of the inputs.
/// `keep_edits`: with `report_only`, still verify and keep the edited texts (SARIF fixes).
/// `keep_changes`: keep each report's planned changes (for the outputs that show them).
pub(crate) fn process_all(
    s: &Settings,
    report_only: bool,
    keep_edits: bool,
    keep_changes: bool,
) -> Vec<Outcome<'_>> {
    let mut outcomes = Vec::new();
    process_each(s, report_only, keep_edits, keep_changes, &mut |o| {
        outcomes.push(o);
        ControlFlow::Continue(())
    });
    outcomes
}

/// As [`process_all`], handing each outcome to `sink` in the inputs' order as soon as it and
/// the ones before it are done, so that a run holds only the outcomes still waiting for an
/// earlier one. A file that names no Kubernetes version (a KubeletConfiguration, etcd's
/// manifest) takes the node's, when the run reads a kube-apiserver manifest that names one: it
/// waits, with the files after it, until every file is read, and is then processed again with
/// that version. When `sink` breaks (its output failed), no more files are read and no more
/// outcomes handed over.
pub(crate) fn process_each<'p>(
    s: &'p Settings,
    report_only: bool,
    keep_edits: bool,
    keep_changes: bool,
    sink: &mut (dyn FnMut(Outcome<'p>) -> ControlFlow<()> + Send),
) {
    let opts = Options {
        version: s.version,
        report_only,
        keep_edits,
        ignores: s.ignores,
        patches: Some(&crate::load::patches::kube_apiserver),
        on_node: s.node_root.as_deref(),
        ..Options::new(&s.registry, &s.profile)
    };
    let mut node = NodeVersion::default();
    let mut held: Vec<(Cow<'p, Input>, Outcome<'p>)> = Vec::new();
    let mut flow = ControlFlow::Continue(());
    stream_with(
        &mut s.inputs.each(),
        &opts,
        keep_changes,
        &mut |input, o| {
            node.see(&o);
            if (s.version.is_none() && assumed(&o)) || !held.is_empty() {
                held.push((input, o));
            } else {
                flow = sink(o);
            }
            flow
        },
    );
    if flow.is_break() {
        return;
    }
    if let (Some(v), false) = (node.version(), held.is_empty()) {
        let again: Vec<usize> = held
            .iter()
            .enumerate()
            .filter(|(_, (_, o))| assumed(o))
            .map(|(k, _)| k)
            .collect();
        let inputs: Vec<Cow<'p, Input>> = again.iter().map(|&k| held[k].0.clone()).collect();
        let opts = Options {
            node_version: Some(v),
            ..opts
        };
        let mut redone = Vec::with_capacity(inputs.len());
        stream_with(&mut inputs.into_iter(), &opts, keep_changes, &mut |_, o| {
            redone.push(o);
            ControlFlow::Continue(())
        });
        for (k, o) in again.into_iter().zip(redone) {
            held[k].1 = o;
        }
    }
    for (_, o) in held {
        if sink(o).is_break() {
            return;
        }
    }
}

/// The file names no Kubernetes version: the one it was judged for is assumed.
fn assumed(o: &Outcome) -> bool {
    matches!(o, Outcome::Report(r) if r.version_source == VersionSource::Assumed)
}

/// The Kubernetes version of the kube-apiserver manifests' image tags seen so far, unless
/// two disagree.
#[derive(Default)]
struct NodeVersion {
    found: Option<Version>,
    disagree: bool,
}

impl NodeVersion {
    fn see(&mut self, o: &Outcome) {
        if let Outcome::Report(r) = o {
            if r.component == COMPONENT && !r.kubeadm && r.version_source == VersionSource::Image {
                match self.found {
                    Some(v) if v.minor != r.version.minor => self.disagree = true,
                    Some(_) => {}
                    None => self.found = Some(r.version),
                }
            }
        }
    }

    fn version(&self) -> Option<Version> {
        self.found.filter(|_| !self.disagree)
    }
}

/// The same for texts not processed yet: the image tags of the kube-apiserver manifests among
/// them, when they agree.
pub(crate) fn node_version_of<'a>(
    texts: impl Iterator<Item = &'a str>,
    registry: &Registry,
) -> Option<Version> {
    let mut found: Option<Version> = None;
    for t in texts {
        if !t.contains(COMPONENT) {
            continue;
        }
        let Ok(m) = crate::document::manifest::load_any(t.trim_start_matches('\u{feff}'), registry)
        else {
            continue;
        };
        if m.component != COMPONENT {
            continue;
        }
        if let Some(v) = m
            .image
            .as_deref()
            .and_then(crate::document::manifest::image_version)
        {
            match found {
                Some(f) if f.minor != v.minor => return None,
                Some(_) => {}
                None => found = Some(v),
            }
        }
    }
    found
}

/// Processes `inputs` on every core: each thread takes the next file as soon as it is done with
/// one, so a slow file holds up no others (the inputs are made as they are taken: a directory
/// is walked as the run goes). `f` gets each input with its outcome, in the inputs' order, as
/// soon as it and the ones before it are done, on the thread that hands it over (one call at
/// a time); a file whose processing panics is an error of its own, and the others go on.
///
/// Without `keep_changes` (check's text output, which shows findings only), each report drops
/// its planned changes as soon as it is made: they are most of what a report holds.
///
/// When `f` breaks (the output it writes to failed: a full disk), no input is taken after it
/// and `f` gets no more outcomes; the files being processed are finished and dropped.
fn stream_with<'p>(
    inputs: &mut (dyn Iterator<Item = Cow<'p, Input>> + Send),
    opts: &Options<'p>,
    keep_changes: bool,
    f: &mut (dyn FnMut(Cow<'p, Input>, Outcome<'p>) -> ControlFlow<()> + Send),
) {
    let one = |input: &Cow<'p, Input>| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut o = process_one(input, opts);
            if let (false, Outcome::Report(r)) = (keep_changes, &mut o) {
                r.changes = Vec::new();
            }
            o
        }))
        .unwrap_or_else(|_| internal_error(input))
    };
    // Asking how many cores there are reads the cgroup's files: not worth it for one input.
    let (first, second) = (inputs.next(), inputs.next());
    let workers = match &second {
        None => 1,
        Some(_) => std::thread::available_parallelism().map_or(1, |c| c.get()),
    };
    let mut inputs = first.into_iter().chain(second).chain(inputs);
    if workers <= 1 {
        for input in inputs {
            let o = one(&input);
            if f(input, o).is_break() {
                return;
            }
        }
        return;
    }
    let pace = Pace::new(&mut inputs, window(workers));
    let hand = Mutex::new(HandOver {
        f,
        waiting: BTreeMap::new(),
        due: 0,
        stopped: false,
    });
    let arrived = Mutex::new(Vec::new());
    // Every thread, this one too, processes inputs and hands over the outcomes that are due: a
    // thread most often hands over its own, so an outcome is written and dropped where it was
    // made. An outcome handed to another thread costs that thread its memory's trip between
    // the cores, and the allocator the return of every string to the thread that made it:
    // when this thread wrote every outcome, `check --format json` of 10,000 manifests took
    // 0.95 s of processor time on two threads against 0.77 s on one.
    let work = || {
        // However this thread leaves (a panic in `f` included), the others that wait for the
        // outcomes to catch up are told to stop, or the scope would wait for them forever.
        let _wake = Wake(&pace);
        while let Some((i, input)) = pace.take() {
            let o = one(&input);
            lock(&arrived).push((i, input, o));
            hand_over(&hand, &arrived, &pace);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(work);
        }
        work();
    });
    // Every outcome is handed over once it and the ones before it are done (or dropped after
    // `f` broke), so nothing is left; should something be, it follows in order.
    let mut h = hand.into_inner().unwrap_or_else(PoisonError::into_inner);
    if !h.stopped {
        let rest = arrived.into_inner().unwrap_or_else(PoisonError::into_inner);
        h.waiting
            .extend(rest.into_iter().map(|(i, input, o)| (i, (input, o))));
        for (input, o) in std::mem::take(&mut h.waiting).into_values() {
            if (h.f)(input, o).is_break() {
                break;
            }
        }
    }
}

/// The outcomes on their way to `f`, in the inputs' order.
struct HandOver<'f, 'p> {
    f: &'f mut (dyn FnMut(Cow<'p, Input>, Outcome<'p>) -> ControlFlow<()> + Send),
    /// Outcomes done before one of the outcomes before them, by their place.
    waiting: BTreeMap<usize, (Cow<'p, Input>, Outcome<'p>)>,
    /// The place of the next outcome `f` gets.
    due: usize,
    /// `f` broke: it gets no more outcomes.
    stopped: bool,
}

/// An outcome done, with its place and input.
type Arrived<'p> = (usize, Cow<'p, Input>, Outcome<'p>);

/// Hands the outcomes that are due to `f`, with those that arrived, unless another thread is
/// doing so: that thread takes in, before it is done, what arrived while it was at it (it
/// looks again once it has let go, so an outcome that arrives as it lets go is not left).
fn hand_over<'p>(hand: &Mutex<HandOver<'_, 'p>>, arrived: &Mutex<Vec<Arrived<'p>>>, pace: &Pace) {
    loop {
        let mut h = match hand.try_lock() {
            Ok(h) => h,
            // Another thread is handing over, or `f` panicked there (the run is stopping).
            Err(_) => return,
        };
        let came = std::mem::take(&mut *lock(arrived));
        let before = h.due;
        if !h.stopped {
            h.waiting
                .extend(came.into_iter().map(|(i, input, o)| (i, (input, o))));
            while let Some((input, o)) = {
                let due = h.due;
                h.waiting.remove(&due)
            } {
                if (h.f)(input, o).is_break() {
                    h.stopped = true;
                    h.waiting.clear();
                    break;
                }
                h.due += 1;
            }
        }
        let (due, stopped) = (h.due, h.stopped);
        drop(h);
        if due != before || stopped {
            pace.handed(due, stopped);
        }
        if lock(arrived).is_empty() {
            return;
        }
    }
}

/// The lock of `m`, whether or not a thread panicked holding it (what it guards is whole
/// between the steps that take it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The inputs of a run on several threads, taken one at a time, no further ahead of the
/// outcomes handed over than a window.
struct Pace<'i, 'p> {
    taking: Mutex<Taking<'i, 'p>>,
    /// Wakes the threads that wait for the outcomes to catch up.
    caught_up: std::sync::Condvar,
    window: usize,
}

/// What [`Pace`] keeps under its lock.
struct Taking<'i, 'p> {
    inputs: &'i mut (dyn Iterator<Item = Cow<'p, Input>> + Send),
    /// How many inputs have been taken, and how many outcomes handed over.
    taken: usize,
    handed: usize,
    /// The outcomes' writer broke: no more inputs are taken.
    stop: bool,
    /// The threads waiting for the outcomes to catch up.
    asleep: usize,
}

impl<'i, 'p> Pace<'i, 'p> {
    fn new(inputs: &'i mut (dyn Iterator<Item = Cow<'p, Input>> + Send), window: usize) -> Self {
        let taking = Taking {
            inputs,
            taken: 0,
            handed: 0,
            stop: false,
            asleep: 0,
        };
        Pace {
            taking: Mutex::new(taking),
            caught_up: std::sync::Condvar::new(),
            window,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Taking<'i, 'p>> {
        lock(&self.taking)
    }

    /// The next input with its place, once the outcomes not yet handed over leave room in the
    /// window (the outcome due is being made by a thread that does not wait, or has arrived
    /// and is being handed over, so they catch up); `None` when there are no more, or the
    /// run stops.
    fn take(&self) -> Option<(usize, Cow<'p, Input>)> {
        let mut t = self.lock();
        while !t.stop && t.taken >= t.handed + self.window {
            t.asleep += 1;
            t = self
                .caught_up
                .wait(t)
                .unwrap_or_else(PoisonError::into_inner);
            t.asleep -= 1;
        }
        if t.stop {
            return None;
        }
        t.inputs.next().map(|input| {
            t.taken += 1;
            (t.taken - 1, input)
        })
    }

    /// `handed` outcomes are handed over (and, when `stop`, no more will be): the threads that
    /// wait go on. Threads tell it in any order, so the count only grows.
    fn handed(&self, handed: usize, stop: bool) {
        let mut t = self.lock();
        t.handed = t.handed.max(handed);
        t.stop |= stop;
        if t.asleep > 0 {
            self.caught_up.notify_all();
        }
    }
}

/// Stops the workers and wakes those waiting, when dropped.
struct Wake<'a, 'i, 'p>(&'a Pace<'i, 'p>);

impl Drop for Wake<'_, '_, '_> {
    fn drop(&mut self) {
        let mut t = self.0.lock();
        t.stop = true;
        self.0.caught_up.notify_all();
    }
}

/// How many outcomes may wait to be handed over, with `workers` threads: enough that files of
/// unequal cost keep every thread busy, few enough that a slow file does not have the outcomes
/// of thousands after it pile up behind it (the memory of a run stays flat).
fn window(workers: usize) -> usize {
    128 * workers
}

fn internal_error(input: &Input) -> Outcome<'static> {
    Outcome::Error(FileError {
        path: input.path.display().to_string(),
        line_col: None,
        message: "internal error while processing this file".into(),
        unrecognized: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Once the outcomes' writer breaks, no more inputs are taken, whether one thread or two
    /// take them; without a break every input is taken and handed over, in order.
    #[test]
    fn a_writer_that_breaks_stops_the_inputs() {
        let registry = Registry::builtin().expect("registry");
        let profile = Profile::load("baseline", &registry).expect("profile");
        let opts = Options::new(&registry, &profile);
        const N: usize = 2_000;
        // Inputs with a note are not read: each is said to be skipped, at once.
        for breaks_after in [None, Some(1), Some(10)] {
            let taken = AtomicUsize::new(0);
            let mut handed = Vec::new();
            let mut inputs = counting((0..N).map(note), &taken);
            stream_with(&mut inputs, &opts, false, &mut |input, _| {
                handed.push(input.path.display().to_string());
                match breaks_after {
                    Some(n) if handed.len() == n => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            });
            let taken = taken.load(Ordering::Relaxed);
            match breaks_after {
                None => {
                    assert_eq!(taken, N);
                    let expected: Vec<String> = (0..N).map(|i| format!("f{i:05}.yaml")).collect();
                    assert_eq!(handed, expected, "every outcome, in order");
                }
                Some(n) => {
                    assert_eq!(handed.len(), n, "nothing handed over after the break");
                    // The inputs taken before the outcomes caught up: at most the window.
                    let most = n + window(workers());
                    assert!(taken <= most, "{taken} inputs taken after a break at {n}");
                }
            }
        }
    }

    /// The kube-apiserver example with `n` hostPath volumes more, written in `dir`: a file that
    /// takes a while to check (about 0.3 s for 20,000 in a debug build).
    fn volumes_manifest(dir: &std::path::Path, n: usize) -> Cow<'static, Input> {
        let example = include_str!("../../examples/kube-apiserver.yaml");
        let volumes: String = (0..n)
            .map(|i| format!("  - hostPath:\n      path: /v{i}\n    name: v{i}\n"))
            .collect();
        let path = dir.join(format!("slow{n}.yaml"));
        let text = example.replacen("  volumes:\n", &format!("  volumes:\n{volumes}"), 1);
        std::fs::write(&path, text).expect("write");
        Cow::Owned(Input::plain(path, true, None))
    }

    /// A writer that panics ends the run with its panic, also while a thread waits for the
    /// outcomes to catch up (one thread took a slow file first, another filled the window with
    /// quick ones, which wait for it): the waiting thread is woken and stops, where it used to
    /// wait forever.
    #[test]
    fn a_writer_that_panics_ends_the_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slow = volumes_manifest(dir.path(), 20_000);
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let registry = Registry::builtin().expect("registry");
            let profile = Profile::load("baseline", &registry).expect("profile");
            let opts = Options::new(&registry, &profile);
            let mut each = (0..2_000).map(|i| match i {
                0 => slow.clone(),
                i => note(i),
            });
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                stream_with(&mut each, &opts, false, &mut |_, _| {
                    panic!("the writer breaks down")
                })
            }));
            let _ = done.send(run.is_err());
        });
        let panicked = finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the run ends");
        assert!(panicked, "the writer's panic ends the run");
    }

    /// With more than one core, the outcomes are handed over by the threads that make them, not
    /// all by one: every thread calls the writer (each its own outcomes, mostly), in the
    /// inputs' order. The inputs are 200 copies of the kube-apiserver example, a few
    /// milliseconds of work each.
    #[test]
    fn each_thread_hands_over_outcomes() {
        if workers() < 2 {
            return;
        }
        let registry = Registry::builtin().expect("registry");
        let profile = Profile::load("strict", &registry).expect("profile");
        let opts = Options::new(&registry, &profile);
        let dir = tempfile::tempdir().expect("tempdir");
        let example = include_str!("../../examples/kube-apiserver.yaml");
        let inputs: Vec<Cow<Input>> = (0..200)
            .map(|i| {
                let path = dir.path().join(format!("m{i:03}.yaml"));
                std::fs::write(&path, example).expect("write");
                Cow::Owned(Input::plain(path, true, None))
            })
            .collect();
        let expected: Vec<std::path::PathBuf> = inputs.iter().map(|i| i.path.clone()).collect();
        let (mut paths, mut threads) = (Vec::new(), Vec::new());
        stream_with(&mut inputs.into_iter(), &opts, false, &mut |input, o| {
            assert!(matches!(o, Outcome::Report(_)), "{}", input.path.display());
            paths.push(input.path.clone());
            let me = std::thread::current().id();
            if !threads.contains(&me) {
                threads.push(me);
            }
            ControlFlow::Continue(())
        });
        assert_eq!(paths, expected, "every outcome, in order");
        assert!(threads.len() > 1, "one thread handed over every outcome");
    }

    /// The count of outcomes handed over only grows: threads that hand over one after the
    /// other may tell it in the other order, and the threads that wait go on only when the
    /// outcomes catch up.
    #[test]
    fn the_count_handed_over_only_grows() {
        let mut inputs = (0..10).map(note);
        let pace = Pace::new(&mut inputs, 2);
        pace.handed(5, false);
        pace.handed(3, false);
        assert_eq!(pace.lock().handed, 5);
        assert!(!pace.lock().stop);
        pace.handed(4, true);
        let t = pace.lock();
        assert_eq!((t.handed, t.stop), (5, true));
        drop(t);
        assert!(
            pace.take().is_none(),
            "no input is taken once the run stops"
        );
    }

    /// An input with a note, which is not read: said to be skipped, at once.
    fn note<'a>(i: usize) -> Cow<'a, Input> {
        let path = std::path::PathBuf::from(format!("f{i:05}.yaml"));
        Cow::Owned(Input::plain(path, true, Some("not read".into())))
    }

    /// `inputs`, counting in `taken` those taken.
    fn counting<'a, T: 'a>(
        mut inputs: impl Iterator<Item = T> + Send + 'a,
        taken: &'a AtomicUsize,
    ) -> impl Iterator<Item = T> + Send + 'a {
        std::iter::from_fn(move || {
            let next = inputs.next();
            if next.is_some() {
                taken.fetch_add(1, Ordering::Relaxed);
            }
            next
        })
    }

    fn workers() -> usize {
        std::thread::available_parallelism().map_or(1, |c| c.get())
    }

    /// While one thread processes a slow file, the others take no more inputs than the window
    /// holds: the outcomes after the slow one do not pile up (before, the writing thread went
    /// on through all 2,000 inputs after it, holding each outcome until the slow one was done).
    /// This thread takes the first input, a manifest of 20,000 volumes, at once, and another,
    /// once started, the second, one of 60,000 that takes longer: this thread is done first,
    /// and would go on. (Should the other take the first, this thread has the slower one and
    /// nothing piles up either way; with one core there is no other thread.) The outcomes come
    /// in order all the same, those made while the slow one was processed handed over by the
    /// thread that finishes it.
    #[test]
    fn a_slow_file_holds_up_no_more_inputs_than_the_window() {
        let registry = Registry::builtin().expect("registry");
        let profile = Profile::load("baseline", &registry).expect("profile");
        let opts = Options::new(&registry, &profile);
        let dir = tempfile::tempdir().expect("tempdir");
        let slow = |n| volumes_manifest(dir.path(), n);
        let (slow, slower) = (slow(20_000), slow(60_000));
        const N: usize = 2_000;
        let each = (0..N).map(|i| match i {
            0 => slow.clone(),
            1 => slower.clone(),
            i => note(i),
        });
        let taken = AtomicUsize::new(0);
        let mut inputs = counting(each, &taken);
        let (mut handed, mut ahead) = (0, 0);
        let mut paths = Vec::new();
        stream_with(&mut inputs, &opts, false, &mut |input, o| {
            if handed < 2 {
                assert!(
                    matches!(o, Outcome::Report(_)),
                    "the slow files are checked"
                );
            }
            ahead = ahead.max(taken.load(Ordering::Relaxed) - handed);
            handed += 1;
            paths.push(input.path.clone());
            ControlFlow::Continue(())
        });
        assert_eq!(handed, N);
        let expected: Vec<std::path::PathBuf> = [slow.path.clone(), slower.path.clone()]
            .into_iter()
            .chain((2..N).map(|i| note(i).path.clone()))
            .collect();
        assert_eq!(paths, expected, "every outcome, in order");
        let most = if workers() > 1 { window(workers()) } else { 1 };
        assert!(ahead <= most, "{ahead} inputs taken ahead of the outcomes");
    }
}
