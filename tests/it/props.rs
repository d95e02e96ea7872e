//! Property tests: manifests generated in many styles (quoting, comments, indentation, CRLF,
//! flow lists, split and repeated flags) go through the whole pipeline, and the patch must
//! re-parse, change only the lines of the flags the plan names, and be idempotent.

use crate::conformance::builtins;
use kubeharden::engine::{self, Options};
use kubeharden::manifest;
use kubeharden::version::Version;
use proptest::prelude::*;

/// One argument as written: the flag, its value, and how.
#[derive(Clone, Debug)]
struct Arg {
    name: &'static str,
    value: &'static str,
    /// 0 plain `--a=b`, 1 double-quoted, 2 single-quoted, 3 split over two items.
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
];

fn arg() -> impl Strategy<Value = Arg> {
    (0..FLAGS.len(), 0usize..3, 0u8..4, any::<bool>()).prop_map(|(f, v, form, comment)| {
        let (name, values) = FLAGS[f];
        let value = values[v % values.len()];
        // pflag never takes a boolean's value from the next item.
        let form = if form == 3 && matches!(value, "true" | "false") {
            0
        } else {
            form
        };
        Arg {
            name,
            value,
            form,
            comment,
        }
    })
}

#[derive(Clone, Debug)]
struct Style {
    indent: usize,
    /// Sequences indented under their key (`  - a`) rather than flush (`- a`).
    indented_seq: bool,
    crlf: bool,
    final_newline: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop_oneof![Just(2usize), Just(4)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(indent, indented_seq, crlf, final_newline)| Style {
            indent,
            indented_seq,
            crlf,
            final_newline,
        })
}

fn render(args: &[Arg], s: &Style) -> String {
    let i = " ".repeat(s.indent);
    let seq = if s.indented_seq { i.as_str() } else { "" };
    let mut out = String::new();
    out.push_str("apiVersion: v1\nkind: Pod\nmetadata:\n");
    out.push_str(&format!(
        "{i}name: kube-apiserver\n{i}namespace: kube-system\nspec:\n"
    ));
    out.push_str(&format!("{i}containers:\n{i}{seq}- command:\n"));
    let item = format!("{i}{seq}{i}{seq}- ");
    out.push_str(&format!("{item}kube-apiserver\n"));
    for a in args {
        let body = format!("--{}={}", a.name, a.value);
        let text = match a.form {
            1 => format!("\"{body}\""),
            2 => format!("'{body}'"),
            3 => format!("--{}\n{item}\"{}\"", a.name, a.value),
            _ => body,
        };
        if a.comment {
            out.push_str(&format!("{item}{text}  # set by hand\n"));
        } else {
            out.push_str(&format!("{item}{text}\n"));
        }
    }
    out.push_str(&format!(
        "{i}{seq}{i}image: registry.k8s.io/kube-apiserver:v1.31.0\n{i}{seq}{i}name: kube-apiserver\n"
    ));
    if !s.final_newline {
        out.pop();
    }
    if s.crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

fn run(text: &str, profile: &str) -> Result<engine::FileReport<'static>, engine::FileError> {
    let (registry, baseline, strict) = builtins();
    let opts = Options {
        registry,
        profile: if profile == "strict" {
            strict
        } else {
            baseline
        },
        version: Version::parse("1.31"),
        node_version: None,
        report_only: false,
        keep_edits: false,
        ignores: true,
    };
    engine::process("kube-apiserver.yaml", text, &opts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn generated_manifests_are_patched_minimally_and_idempotently(
        args in proptest::collection::vec(arg(), 0..8),
        s in style(),
        strict in any::<bool>(),
    ) {
        let text = render(&args, &s);
        let profile = if strict { "strict" } else { "baseline" };
        let report = match run(&text, profile) {
            Ok(r) => r,
            // A refusal is allowed (a change that cannot be made safely), never a panic; it
            // must say why and name no position outside the file.
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                return Ok(());
            }
        };
        let Some(edited) = report.edited.clone() else {
            // Nothing to change: every finding is left with a reason.
            for f in &report.findings {
                prop_assert!(f.fixed || f.manual.is_some(), "{}", f.rule.id);
            }
            return Ok(());
        };
        // The result loads again as the same component.
        let registry = &builtins().0;
        let loaded = manifest::load_any(&edited, registry);
        prop_assert!(loaded.is_ok(), "{:?}\n{edited}", loaded.err());
        // Line endings and the final newline are kept.
        prop_assert_eq!(edited.contains("\r\n"), s.crlf);
        prop_assert_eq!(edited.ends_with('\n'), s.final_newline);
        prop_assert!(!s.crlf || !edited.replace("\r\n", "").contains('\n'));
        // Every line of the original that names no flag the plan touches is still there.
        let touched: Vec<String> = report
            .changes
            .iter()
            .filter_map(|c| match &c.change {
                kubeharden::plan::Change::SetFlag { flag, .. }
                | kubeharden::plan::Change::RemoveFlag { flag }
                | kubeharden::plan::Change::JoinFlag { flag } => Some(flag.clone()),
                _ => None,
            })
            .collect();
        let after: Vec<&str> = edited.lines().collect();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let names_touched = touched.iter().any(|f| line.contains(&format!("--{f}")));
            // The value item of a split flag goes with its flag.
            let split_value = n > 0
                && lines[n - 1].trim_end().ends_with(|c: char| c.is_ascii_lowercase())
                && touched.iter().any(|f| lines[n - 1].trim_end().ends_with(&format!("--{f}")));
            if !names_touched && !split_value {
                prop_assert!(after.contains(line), "line {} lost: {line:?}\n{edited}", n + 1);
            }
        }
        // Idempotent: the same profile on the result changes nothing.
        let again = run(&edited, profile);
        prop_assert!(again.is_ok(), "{:?}", again.err());
        prop_assert!(again.map(|r| r.edited.is_none()).unwrap_or(false), "second run changes\n{edited}");
    }
}
