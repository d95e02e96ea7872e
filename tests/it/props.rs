//! Property tests: manifests generated in many styles (quoting, comments, indentation, CRLF,
//! block lists and one-line or multi-line flow lists, flags in `command` or `args`, split, bare
//! and repeated flags) go through the whole pipeline. The patch must re-parse, change exactly the
//! flags the plan names (every other flag keeps its occurrences), leave every line outside the
//! edited ones byte for byte, and be idempotent. `props_kubeadm` does the same for kubeadm
//! configuration files.
//!
//! Case counts: 2,000 here and 1,200 in `props_kubeadm` by default; `PROPTEST_CASES` overrides
//! both.

use crate::conformance::builtins;
use kubeharden::document::manifest;
use kubeharden::model::change::{Change, Planned};
use kubeharden::model::Model;
use kubeharden::pipeline::{self as engine, Options};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use std::collections::{BTreeMap, BTreeSet};

/// `cases` cases, unless the `PROPTEST_CASES` environment variable says otherwise (proptest's
/// default configuration reads it; `with_cases` alone would not).
pub fn config(cases: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(cases)
    }
}

/// One argument as written: the flag, its value, and how.
#[derive(Clone, Debug)]
struct Arg {
    name: &'static str,
    value: &'static str,
    /// 0 plain `--a=b`, 1 double-quoted, 2 single-quoted, 3 split over two items, 4 bare
    /// (`--a`, a boolean that is true).
    form: u8,
    comment: bool,
}

const FLAGS: &[(&str, &[&str])] = &[
    ("profiling", &["true", "false"]),
    ("anonymous-auth", &["true", "false"]),
    ("authorization-mode", &["Node,RBAC", "AlwaysAllow", "RBAC"]),
    (
        "enable-admission-plugins",
        &["NodeRestriction", "AlwaysAdmit,NodeRestriction"],
    ),
    ("tls-min-version", &["VersionTLS10", "VersionTLS12"]),
    ("secure-port", &["6443"]),
    ("token-auth-file", &["/etc/kubernetes/tokens.csv"]),
    ("service-account-lookup", &["false", "true"]),
    ("request-timeout", &["60s"]),
    ("audit-log-maxage", &["7", "30"]),
];

fn arg() -> impl Strategy<Value = Arg> {
    (0..FLAGS.len(), 0usize..3, 0u8..5, any::<bool>()).prop_map(|(f, v, form, comment)| {
        let (name, values) = FLAGS[f];
        let value = values[v % values.len()];
        let boolean = matches!(value, "true" | "false");
        let form = match form {
            // pflag never takes a boolean's value from the next item
            // (spf13/pflag flag.go: a bool flag has NoOptDefVal "true", so `--a b` leaves `b`
            // a positional argument).
            3 if boolean => 0,
            // A bare flag is a boolean set to true.
            4 if value != "true" => 0,
            f => f,
        };
        Arg {
            name,
            value,
            form,
            comment,
        }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Block,
    /// `command: [kube-apiserver, --a=b]`.
    FlowLine,
    /// `command: [` with one item a line and `]` on a line of its own.
    FlowLines,
}

#[derive(Clone, Debug)]
struct Style {
    indent: usize,
    /// Sequences indented under their key (`  - a`) rather than flush (`- a`).
    indented_seq: bool,
    crlf: bool,
    final_newline: bool,
    list: List,
    /// The flags in `args`, the program alone in `command`.
    in_args: bool,
    /// A hostPath volume and its mount already there.
    volumes: bool,
    /// A comma after the last item of a multi-line flow list.
    trailing_comma: bool,
    minor: u32,
}

fn style() -> impl Strategy<Value = Style> {
    (
        (
            prop_oneof![Just(2usize), Just(4)],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop_oneof![
                Just(List::Block),
                Just(List::FlowLine),
                Just(List::FlowLines)
            ],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(28u32), Just(31), Just(33)],
        ),
    )
        .prop_map(
            |(
                (indent, indented_seq, crlf, final_newline),
                (list, in_args, volumes, trailing_comma, minor),
            )| Style {
                indent,
                indented_seq,
                crlf,
                final_newline,
                list,
                in_args,
                volumes,
                trailing_comma,
                minor,
            },
        )
}

/// The items of one argument as YAML scalars.
fn items(a: &Arg, flow: bool) -> Vec<String> {
    let body = format!("--{}={}", a.name, a.value);
    // In a flow list a plain comma ends the item: such values are quoted there.
    let form = if flow && a.form == 0 && a.value.contains(',') {
        1
    } else {
        a.form
    };
    match form {
        1 => vec![format!("\"{body}\"")],
        2 => vec![format!("'{body}'")],
        3 => vec![format!("--{}", a.name), format!("\"{}\"", a.value)],
        4 => vec![format!("--{}", a.name)],
        _ => vec![body],
    }
}

/// A list under `key` (at column `col`, the first key of the container's mapping).
fn list(out: &mut String, key: &str, program: bool, args: &[Arg], s: &Style, col: usize) {
    let pad = " ".repeat(col);
    let i = " ".repeat(s.indent);
    let prog = program.then(|| "kube-apiserver".to_string());
    match s.list {
        List::Block => {
            let seq = if s.indented_seq { i.as_str() } else { "" };
            let item = format!("{pad}{seq}- ");
            if args.is_empty() && !program {
                out.push_str(&format!("{key}: []\n"));
                return;
            }
            out.push_str(&format!("{key}:\n"));
            if let Some(p) = &prog {
                out.push_str(&format!("{item}{p}\n"));
            }
            for a in args {
                let its = items(a, false);
                for (n, x) in its.iter().enumerate() {
                    let last = n + 1 == its.len();
                    if a.comment && last {
                        out.push_str(&format!("{item}{x}  # set by hand\n"));
                    } else {
                        out.push_str(&format!("{item}{x}\n"));
                    }
                }
            }
        }
        List::FlowLine => {
            let all: Vec<String> = prog
                .into_iter()
                .chain(args.iter().flat_map(|a| items(a, true)))
                .collect();
            out.push_str(&format!("{key}: [{}]\n", all.join(", ")));
        }
        List::FlowLines => {
            let all: Vec<(String, bool)> = prog
                .into_iter()
                .map(|p| (p, false))
                .chain(args.iter().flat_map(|a| {
                    let its = items(a, true);
                    let n = its.len();
                    its.into_iter()
                        .enumerate()
                        .map(move |(k, x)| (x, a.comment && k + 1 == n))
                }))
                .collect();
            if all.is_empty() {
                out.push_str(&format!("{key}: []\n"));
                return;
            }
            out.push_str(&format!("{key}: [\n"));
            let inner = " ".repeat(col + s.indent);
            for (n, (x, comment)) in all.iter().enumerate() {
                let comma = if n + 1 < all.len() || s.trailing_comma {
                    ","
                } else {
                    ""
                };
                // After the comma: before it the comma would be commented out.
                let c = if *comment { "  # set by hand" } else { "" };
                out.push_str(&format!("{inner}{x}{comma}{c}\n"));
            }
            // The YAML parser kubeharden uses refuses a `]` at the key's column when the list's
            // first item is quoted ("invalid indentation", see
            // tests/fixtures/styles/bad/flow-close-bracket-at-key-indent.yaml), which other
            // readers accept: the bracket goes deeper then.
            let close = if all[0].0.starts_with(['"', '\'']) {
                inner
            } else {
                pad
            };
            out.push_str(&format!("{close}]\n"));
        }
    }
}

fn render(args: &[Arg], s: &Style) -> String {
    let i = " ".repeat(s.indent);
    let seq = if s.indented_seq { i.as_str() } else { "" };
    // The column of the container's keys.
    let col = s.indent + seq.len() + 2;
    let key = " ".repeat(col);
    let mut out = String::new();
    out.push_str("apiVersion: v1\nkind: Pod\nmetadata:\n");
    out.push_str(&format!(
        "{i}name: kube-apiserver\n{i}namespace: kube-system\nspec:\n"
    ));
    out.push_str(&format!("{i}containers:\n{i}{seq}- "));
    if s.in_args {
        list(&mut out, "command", true, &[], s, col);
        out.push_str(&key);
        list(&mut out, "args", false, args, s, col);
    } else {
        list(&mut out, "command", true, args, s, col);
    }
    out.push_str(&format!(
        "{key}image: registry.k8s.io/kube-apiserver:v1.{}.0\n{key}name: kube-apiserver\n",
        s.minor
    ));
    if s.volumes {
        let vseq = format!("{key}{seq}");
        out.push_str(&format!(
            "{key}volumeMounts:\n{vseq}- mountPath: /etc/kubernetes/pki\n{vseq}  name: k8s-certs\n{vseq}  readOnly: true\n"
        ));
        out.push_str(&format!("{i}hostNetwork: true\n{i}volumes:\n"));
        out.push_str(&format!(
            "{i}{seq}- hostPath:\n{i}{seq}  {i}path: /etc/kubernetes/pki\n{i}{seq}  {i}type: DirectoryOrCreate\n{i}{seq}  name: k8s-certs\n"
        ));
    }
    if !s.final_newline {
        out.pop();
    }
    if s.crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

fn run(
    text: &str,
    profile: &str,
) -> Result<kubeharden::model::report::FileReport<'static>, kubeharden::model::report::FileError> {
    let (registry, baseline, strict) = builtins();
    let profile = if profile == "strict" {
        strict
    } else {
        baseline
    };
    let opts = Options::new(registry, profile);
    engine::process("kube-apiserver.yaml", text, &opts)
}

/// What the plan does to each flag it names, in order.
pub fn planned_flags(changes: &[Planned]) -> BTreeMap<String, Vec<Change>> {
    let mut out: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for p in changes {
        match &p.change {
            Change::SetFlag { flag, .. }
            | Change::RemoveFlag { flag }
            | Change::JoinFlag { flag } => {
                out.entry(flag.clone()).or_default().push(p.change.clone());
            }
            _ => {}
        }
    }
    out
}

/// The values of every occurrence of `name` on the command line, in order (`None`: bare).
fn occurrences(m: &Model, name: &str) -> Vec<Option<String>> {
    m.flags
        .iter()
        .filter(|f| f.name == name)
        .map(|f| f.value.clone())
        .collect()
}

/// The plan's flags and nothing else changed between the two models: a flag the plan does not
/// name keeps every occurrence; a flag it sets has exactly one occurrence with that value; a
/// flag it removes has none; a flag it joins keeps its values, no longer split. Every flag the
/// plan names is changed in some way (its occurrences, or how they are written). Returns the
/// first violation.
pub fn only_planned_flags_changed(
    before: &Model,
    after: &Model,
    planned: &BTreeMap<String, Vec<Change>>,
) -> Result<(), String> {
    let names: BTreeSet<&str> = before
        .flags
        .iter()
        .chain(&after.flags)
        .map(|f| f.name.as_str())
        .chain(planned.keys().map(String::as_str))
        .collect();
    for name in names {
        let (b, a) = (occurrences(before, name), occurrences(after, name));
        let Some(changes) = planned.get(name) else {
            if b != a {
                return Err(format!(
                    "--{name} is not planned but went from {b:?} to {a:?}"
                ));
            }
            continue;
        };
        // The last change that decides the flag's occurrences.
        let last = changes
            .iter()
            .rev()
            .find(|c| !matches!(c, Change::JoinFlag { .. }));
        let want: Vec<Option<String>> = match last {
            Some(Change::SetFlag { value, .. }) => vec![Some(value.clone())],
            Some(Change::RemoveFlag { .. }) => Vec::new(),
            _ => b.clone(),
        };
        if a != want {
            return Err(format!(
                "--{name}: {changes:?} should leave {want:?}, the result has {a:?} (before: {b:?})"
            ));
        }
        if after.split_flags.iter().any(|f| f == name) {
            return Err(format!("--{name} is still split over two items"));
        }
        if b == a && !before.split_flags.iter().any(|f| f == name) {
            return Err(format!(
                "--{name}: the plan names it ({changes:?}) but nothing about it changed ({b:?})"
            ));
        }
    }
    Ok(())
}

/// The two lines differ by one comma.
fn comma_apart(a: &str, b: &str) -> bool {
    let one_less = |long: &str, short: &str| {
        long.match_indices(',').any(|(i, _)| {
            long[..i].len() + long[i + 1..].len() == short.len()
                && short.starts_with(&long[..i])
                && short.ends_with(&long[i + 1..])
        })
    };
    one_less(a, b) || one_less(b, a)
}

/// `line` holds `--flag` as a whole flag name (followed by `=`, a quote, a comma, a space or
/// the end of the line).
pub fn names_flag(line: &str, flag: &str) -> bool {
    let needle = format!("--{flag}");
    line.match_indices(&needle).any(|(i, _)| {
        !line[i + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
    })
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn generated_manifests_are_patched_minimally_and_idempotently(
        args in proptest::collection::vec(arg(), 0..8),
        s in style(),
        strict in any::<bool>(),
    ) {
        let text = render(&args, &s);
        let registry = &builtins().0;
        // Every generated manifest is one kubeharden reads.
        let before = manifest::load_any(&text, registry);
        prop_assert!(before.is_ok(), "{:?}\n{text}", before.err());
        let before = before.map(|m| m.model).unwrap_or_default();
        let profile = if strict { "strict" } else { "baseline" };
        let report = match run(&text, profile) {
            Ok(r) => r,
            // The one refusal these manifests meet: an edit that makes the first item of a
            // multi-line flow list quoted, before a `]` at the key's column, which the YAML
            // parser then refuses (see `list`); the final verification catches it and nothing
            // is written. Any other refusal fails the property.
            Err(e) => {
                prop_assert!(
                    s.list == List::FlowLines
                        && e.message.contains("verification failed")
                        && e.message.contains("invalid indentation")
                        && e.message.contains("nothing was written"),
                    "refused: {e}\n{text}"
                );
                return Ok(());
            }
        };
        let Some(edited) = report.edited.clone() else {
            // Nothing to change: every finding is left with a reason.
            for f in &report.findings {
                prop_assert!(f.fixed || f.manual.is_some(), "{}", f.rule.id);
            }
            prop_assert!(report.changes.is_empty());
            return Ok(());
        };
        // The result loads again as the same component.
        let loaded = manifest::load_any(&edited, registry);
        prop_assert!(loaded.is_ok(), "{:?}\n{edited}", loaded.err());
        let after = loaded.map(|m| m.model).unwrap_or_default();
        prop_assert_eq!(&after.component, "kube-apiserver");
        // Line endings and the final newline are kept.
        prop_assert_eq!(edited.contains("\r\n"), s.crlf);
        prop_assert_eq!(edited.ends_with('\n'), s.final_newline);
        prop_assert!(!s.crlf || !edited.replace("\r\n", "").contains('\n'));
        // Exactly the planned flags change.
        let planned = planned_flags(&report.changes);
        let only = only_planned_flags_changed(&before, &after, &planned);
        prop_assert!(only.is_ok(), "{}\n{text}\n---\n{edited}", only.err().unwrap_or_default());
        // Volumes and mounts change only by a planned volume; probes only by a planned probe
        // change.
        let adds_volume = report.changes.iter().any(|c| matches!(c.change, Change::AddVolume { .. }));
        if !adds_volume {
            prop_assert_eq!(&before.volumes, &after.volumes);
            prop_assert_eq!(&before.mounts, &after.mounts);
        } else {
            // Added, never taken away or changed.
            prop_assert!(before.volumes.iter().all(|v| after.volumes.contains(v)));
            prop_assert!(before.mounts.iter().all(|m| after.mounts.contains(m)));
        }
        prop_assert_eq!(&before.probes, &after.probes);
        // Every line of the original that names no flag the plan touches (nor is the value
        // item of such a flag, nor a flow list's edge) is still there, byte for byte, line
        // ending included, as often as before; a flag appears on a new line only where the
        // plan puts one. Lines are counted rather than diffed: repeated flags make identical
        // lines, which a diff may pair differently.
        let touched: Vec<&String> = planned.keys().collect();
        let names = |line: &str| touched.iter().any(|f| names_flag(line, f));
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let new_lines: Vec<&str> = edited.split_inclusive('\n').collect();
        let count = |ls: &[&str], l: &str| ls.iter().filter(|x| **x == l).count();
        // A line that is there fewer times than before: as many of its occurrences must be
        // ones the plan may change.
        let mut explained: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unexplained: Vec<(usize, &str)> = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            if count(&new_lines, line) >= count(&lines, line) {
                continue;
            }
            let split_value = n > 0 && names(lines[n - 1]) && !line.contains("--");
            // A one-line or empty flow list is rewritten whole; the last item of a multi-line
            // flow list gains a comma when items follow it, or the item left last loses its
            // comma when the list had none after its last item.
            let flow_edge = line.contains('[')
                || lines.get(n + 1).is_some_and(|l| l.trim_start().starts_with(']'))
                || (s.list != List::Block && new_lines.iter().any(|l| comma_apart(l, line)));
            // The last line of a file without a final newline gets one when lines follow.
            let last_line = !line.ends_with('\n')
                && edited.contains(&format!("{line}{}", if s.crlf { "\r\n" } else { "\n" }));
            if names(line) || split_value || flow_edge || last_line {
                *explained.entry(line).or_default() += 1;
            } else {
                unexplained.push((n, line));
            }
        }
        for (n, line) in unexplained {
            let dropped = count(&lines, line) - count(&new_lines, line);
            prop_assert!(
                explained.get(line).copied().unwrap_or(0) >= dropped,
                "line {} changed though it names nothing the plan touches: {line:?}\n{text}\n---\n{edited}",
                n + 1
            );
        }
        for line in &new_lines {
            if !line.contains("--") || count(&new_lines, line) <= count(&lines, line) {
                continue;
            }
            let with_comma = s.list != List::Block && lines.iter().any(|l| comma_apart(l, line));
            prop_assert!(
                names(line) || with_comma,
                "added line names no planned flag: {line:?}\n{text}\n---\n{edited}"
            );
        }
        // Idempotent: the same profile on the result changes nothing.
        let again = run(&edited, profile);
        prop_assert!(again.is_ok(), "{:?}", again.err());
        prop_assert!(again.map(|r| r.edited.is_none()).unwrap_or(false), "second run changes\n{edited}");
    }
}

/// Regressions the properties found: in a flow list written one item a line, a comment after
/// the last item stayed on its line when a flag was added after it (it moved to the new
/// item), and when the last items were removed the comment of the removed item moved to the
/// item kept before it, whose own comment was lost.
#[test]
fn comments_in_multi_line_flow_lists_stay_with_their_items() {
    let head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - command: [\n      kube-apiserver,\n";
    let tail =
        "    ]\n    image: registry.k8s.io/kube-apiserver:v1.31.0\n    name: kube-apiserver\n";
    for (items, kept, gone) in [
        // Added after a last item with a comment, with and without a comma after it.
        (
            "      --secure-port=6443,  # set by hand\n",
            vec!["      --secure-port=6443,  # set by hand\n"],
            vec![],
        ),
        (
            "      --secure-port=6443  # set by hand\n",
            vec!["      --secure-port=6443,  # set by hand\n"],
            vec![],
        ),
        // The last item removed: its comment goes, the kept item's stays.
        (
            "      --secure-port=6443,  # the port\n      --token-auth-file=/etc/kubernetes/tokens.csv  # tokens\n",
            vec!["      --secure-port=6443,  # the port\n"],
            vec!["# tokens"],
        ),
        (
            "      --secure-port=6443,  # the port\n      --token-auth-file=/etc/kubernetes/tokens.csv,  # tokens\n",
            vec!["      --secure-port=6443,  # the port\n"],
            vec!["# tokens"],
        ),
    ] {
        let text = format!("{head}{items}{tail}");
        let report = run(&text, "baseline").expect("fixes");
        let edited = report.edited.expect("changes");
        for k in kept {
            assert!(edited.contains(k), "{k:?} lost:\n{edited}");
        }
        for g in gone {
            assert!(!edited.contains(g), "{g:?} kept:\n{edited}");
        }
        assert_eq!(edited.matches('#').count(), text.matches('#').count() - usize::from(text.contains("# tokens")), "{edited}");
        let registry = &builtins().0;
        assert!(manifest::load_any(&edited, registry).is_ok(), "{edited}");
        assert!(run(&edited, "baseline").expect("again").edited.is_none());
    }
}
