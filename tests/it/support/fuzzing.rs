//! Entry points of the fuzz targets in `fuzz/` (see docs/fuzzing.md), kept with the tests so
//! that ordinary tests run them too (the fuzz targets include this file). Each takes arbitrary bytes and panics only when kubeharden
//! breaks one of its promises: a panic here is a bug, whatever the input.
//!
//! - [`load`]: the YAML reader and the loaders of manifests, kubeadm configuration files and
//!   component configuration files. The YAML reader gives what the full parser gives (trees or
//!   errors), spans stay inside the text on character boundaries, and errors say something, at
//!   a position inside the file.
//! - [`pipeline`]: [`engine::process`] as `check`, `check --format sarif` and `diff`/`fix` run
//!   it, with both built-in profiles and several versions, and every renderer over the result.
//!   An edit must be verified, keep the byte-order mark, the line endings and the final newline,
//!   load again, and change nothing when processed again.

use kubeharden::check::suppress::{Suppressions, Target};
use kubeharden::document::{component, kubeadm, manifest, LoadError};
use kubeharden::model::report::{FileError, FileReport, Outcome};
use kubeharden::pipeline::{self as engine, Options};
use kubeharden::profile::version::Version;
use kubeharden::profile::{Profile, Registry};
use kubeharden::render::{self, sarif, Paint};
use kubeharden::yaml::{self, Kind, Node};
use std::sync::OnceLock;

/// The name files are reported under.
const PATH: &str = "fuzz.yaml";

/// The built-in registry and the `baseline` and `strict` profiles, built once.
pub fn builtins() -> &'static (Registry, Profile, Profile) {
    static CELL: OnceLock<(Registry, Profile, Profile)> = OnceLock::new();
    CELL.get_or_init(|| {
        let registry = Registry::builtin().expect("the built-in registry loads");
        let baseline = Profile::load("baseline", &registry).expect("baseline loads");
        let strict = Profile::load("strict", &registry).expect("strict loads");
        (registry, baseline, strict)
    })
}

/// The bytes as the CLI reads a file: UTF-8 or refused (with a clear error) before any parsing.
fn as_text(data: &[u8]) -> Option<&str> {
    if data.len() as u64 > kubeharden::load::read::MAX_FILE_BYTES {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// Every node's span lies inside `text`, on character boundaries, and inside its parent's.
fn check_spans(text: &str, node: &Node, outer: (usize, usize), depth: usize) {
    let s = node.span;
    assert!(
        s.start <= s.end && s.end <= text.len(),
        "span {s:?} outside the text ({} bytes)",
        text.len()
    );
    assert!(
        text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
        "span {s:?} splits a character"
    );
    assert!(
        outer.0 <= s.start && s.end <= outer.1,
        "span {s:?} outside its parent's {outer:?}"
    );
    // The reader refuses deeper documents; recursion here stays bounded the same way.
    assert!(depth <= 200, "nesting deeper than the reader allows");
    let inner = (s.start, s.end);
    match &node.kind {
        Kind::Seq { items, .. } => {
            for n in items {
                check_spans(text, n, inner, depth + 1);
            }
        }
        Kind::Map { entries, .. } => {
            for (k, v) in entries {
                check_spans(text, k, inner, depth + 1);
                check_spans(text, v, inner, depth + 1);
            }
        }
        Kind::Scalar { .. } | Kind::Alias => {}
    }
}

/// An error message says something, and its position, when it has one, is inside `text`.
/// (It may quote the file, line breaks and all: the CLI shows it through `FileError`'s
/// one-line form, which [`check_error`] checks.)
fn check_message(text: &str, message: &str, line_col: Option<(usize, usize)>) {
    assert!(!message.is_empty(), "empty error message");
    if let Some((line, column)) = line_col {
        let lines = text.split('\n').count();
        assert!(
            line >= 1 && column >= 1 && line <= lines,
            "error position {line}:{column} outside the text ({lines} lines): {message}"
        );
    }
}

/// A loader's error: its message and position (given, or from its offset).
fn check_load_error(text: &str, e: &LoadError) {
    if let Some(o) = e.offset {
        assert!(
            o <= text.len(),
            "error offset {o} outside the text: {}",
            e.message
        );
    }
    let at = e
        .line_col
        .or_else(|| e.offset.map(|o| yaml::line_col(text, o)));
    check_message(text, &e.message, at);
}

fn check_error(text: &str, e: &FileError) {
    check_message(text, &e.message, e.line_col);
    let shown = e.to_string();
    assert!(
        !shown.contains(['\n', '\r']),
        "the error spans lines: {shown:?}"
    );
    assert!(
        shown.starts_with(&format!("{PATH}:")),
        "error does not name the file: {shown}"
    );
}

/// The YAML reader and every loader on `data`.
pub fn load(data: &[u8]) {
    let Some(text) = as_text(data) else {
        return;
    };
    let (registry, _, _) = builtins();
    let parsed = yaml::parse(text);
    // The reader of plain block YAML takes only what the full parser reads the same way.
    let full = yaml::parse_full(text);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{full:?}"),
        "the block reader and the full parser differ"
    );
    match parsed {
        Ok(docs) => {
            for d in &docs {
                check_spans(text, &d.root, (0, text.len()), 0);
            }
            let _ = kubeadm::is_kubeadm(&docs);
            let _ = component::config_kind(&docs, registry);
            for d in &docs {
                let target = Target::document(text, &d.root);
                let _ = Suppressions::read(text, true, vec![target]);
            }
            if let Err(e) = component::load(text, docs, registry) {
                check_load_error(text, &e);
            }
        }
        Err(e) => check_message(text, &e.message, Some((e.line, e.column))),
    }
    match manifest::load_any(text, registry) {
        Ok(m) => {
            check_spans(text, &m.root, (0, text.len()), 0);
            for f in &m.flags {
                assert!(
                    f.span.start <= f.span.end && f.span.end <= text.len(),
                    "flag span {:?} outside the text",
                    f.span
                );
            }
        }
        Err(e) => check_load_error(text, &e),
    }
    for component in manifest::COMPONENTS {
        if let Err(e) = manifest::load(text, component, registry) {
            check_load_error(text, &e);
        }
    }
    if let Some(Err(e)) = kubeadm::try_load(text, &registry.kubeadm) {
        check_load_error(text, &e);
    }
}

/// Whether every line break of `text` is CRLF (and there is at least one).
fn all_crlf(text: &str) -> bool {
    let n = text.matches('\n').count();
    n > 0 && n == text.matches("\r\n").count()
}

/// Every renderer over the outcome: they must not panic and must write something.
fn render_all(outcome: Outcome<'_>, profile: &Profile, sarif: bool) {
    if let Outcome::Report(r) = &outcome {
        let mut out = Vec::new();
        render::diff(&mut out, r, PATH).expect("the diff renders");
        if let Some(edited) = &r.edited {
            assert!(!out.is_empty(), "an edit renders as an empty diff");
            let _ = sarif::line_replacements(&r.original, edited);
        }
    }
    let outcomes = [outcome];
    let mut out = Vec::new();
    render::text(&mut out, &outcomes, profile, Paint { color: true })
        .expect("the text report renders");
    assert!(!out.is_empty(), "empty text report");
    out.clear();
    render::json::json(&mut out, &outcomes, profile).expect("the JSON report renders");
    serde_json::from_slice::<serde_json::Value>(&out).expect("the JSON report is JSON");
    if sarif {
        out.clear();
        let ctx = sarif::Context {
            cwd: std::path::Path::new("."),
            real: &|_| None,
            ignores: true,
            nothing_is_fine: false,
        };
        sarif::write(&mut out, &outcomes, profile, &ctx).expect("the SARIF log renders");
        serde_json::from_slice::<serde_json::Value>(&out).expect("the SARIF log is JSON");
    }
}

fn outcome(result: Result<FileReport<'_>, FileError>) -> Outcome<'_> {
    match result {
        Ok(r) => Outcome::Report(Box::new(r)),
        Err(e) => Outcome::Error(e),
    }
}

/// The invariants of an edit of `text` into `edited` made with `opts`.
fn check_edit(text: &str, edited: &str, opts: &Options<'_>) {
    assert_ne!(text, edited, "an edit that changes nothing");
    assert_eq!(
        text.starts_with('\u{feff}'),
        edited.starts_with('\u{feff}'),
        "the byte-order mark is not kept"
    );
    assert_eq!(
        text.ends_with('\n'),
        edited.ends_with('\n'),
        "the final newline is not kept"
    );
    if all_crlf(text) {
        assert!(
            all_crlf(edited),
            "CRLF line endings are not kept:\n{edited}"
        );
    }
    // The edit loads again, and processing it again changes nothing.
    let diff = Options {
        report_only: false,
        keep_edits: false,
        ..*opts
    };
    match engine::process(PATH, edited, &diff) {
        Ok(again) => assert!(
            again.edited.is_none(),
            "a second run changes the edited file again: {:?}\n--- original\n{text}\n--- edited\n{edited}\n--- again\n{}",
            again.changes,
            again.edited.as_deref().unwrap_or("")
        ),
        Err(e) => {
            panic!("the edited file is refused: {e}\n--- original\n{text}\n--- edited\n{edited}")
        }
    }
}

/// FNV-1a: a cheap, stable hash of the input, which picks the run's profile and version.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The whole pipeline on `data`, as `check`, `check --format sarif`, `diff` and `fix` run it,
/// with one of the six pairings of a built-in profile and a version (picked by a hash of the
/// input, so that each input always takes the same one and a run costs a sixth of all six).
pub fn pipeline(data: &[u8]) {
    let choice = fnv(data) % 6;
    pipeline_with(data, (choice / 3) as usize, (choice % 3) as usize);
}

/// The whole pipeline on `data` with every profile and version.
pub fn pipeline_all(data: &[u8]) {
    for profile in 0..2 {
        for version in 0..3 {
            pipeline_with(data, profile, version);
        }
    }
}

/// The pipeline with profile `profile` (0 `baseline`, 1 `strict`) and the version setting
/// `version`: 0 from the image tag or assumed, 1 a node's version for files that name none,
/// 2 the oldest kubeharden knows, given explicitly (suppression comments not read).
fn pipeline_with(data: &[u8], profile: usize, version: usize) {
    let Some(text) = as_text(data) else {
        return;
    };
    let (registry, baseline, strict) = builtins();
    let profile = if profile == 0 { baseline } else { strict };
    let (version, node_version) = match version {
        0 => (None, None),
        1 => (None, Some(Version::minor(registry.versions.oldest + 4))),
        _ => (Some(Version::minor(registry.versions.oldest)), None),
    };
    let opts = Options {
        version,
        node_version,
        report_only: true,
        ignores: version.is_none(),
        ..Options::new(registry, profile)
    };
    // check
    let checked = engine::process(PATH, text, &opts);
    if let Err(e) = &checked {
        check_error(text, e);
    }
    let check_ok = checked.is_ok();
    render_all(outcome(checked), profile, false);

    // check --format sarif: verified, the edit kept.
    let sarif_opts = Options {
        keep_edits: true,
        ..opts
    };
    let sarif = engine::process(PATH, text, &sarif_opts);
    assert_eq!(
        check_ok,
        sarif.is_ok(),
        "check and check --format sarif disagree on whether the file is read"
    );
    if let Ok(r) = &sarif {
        if let Some(edited) = &r.edited {
            check_edit(text, edited, &sarif_opts);
        }
    }
    render_all(outcome(sarif), profile, true);

    // diff and fix
    let diff_opts = Options {
        report_only: false,
        keep_edits: true,
        ..opts
    };
    let diffed = engine::process(PATH, text, &diff_opts);
    match &diffed {
        Ok(r) => {
            assert!(check_ok, "diff reads a file check refuses");
            if let Some(edited) = &r.edited {
                check_edit(text, edited, &diff_opts);
            }
        }
        Err(e) => check_error(text, e),
    }
    render_all(outcome(diffed), profile, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_take_anything() {
        for data in [
            &b""[..],
            b"\xff\xfe",
            b"kind: Pod\n",
            b"apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
            b"kind: KubeletConfiguration\n",
            b"[",
        ] {
            load(data);
            pipeline_all(data);
        }
    }

    #[test]
    fn the_example_manifest_is_fixed_and_idempotent() {
        let text = include_str!("../../../examples/kube-apiserver.yaml");
        load(text.as_bytes());
        pipeline_all(text.as_bytes());
    }
}
