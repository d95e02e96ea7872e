//! Property tests for kubeadm configuration files: a ClusterConfiguration (v1beta3, whose
//! `apiServer.extraArgs` is a map, or v1beta4, whose `extraArgs` is a list of `{name, value}`
//! with names that may repeat), alone or with an InitConfiguration before it and a
//! KubeletConfiguration after it, in many styles (indentation, flush or indented lists,
//! quoting, comments, block or flow `extraArgs`, `extraVolumes` or none, CRLF, a missing final
//! newline, a leading `---`). The patch must load again, change exactly the flags the plan
//! names in the kube-apiserver kubeadm would generate (and only the planned settings of the
//! KubeletConfiguration), keep every line it does not edit, and be idempotent. What the loader
//! refuses on purpose (an unquoted `true` where kubeadm wants a string) must be a clear error.

use crate::conformance::builtins;
use crate::props::{config, names_flag, only_planned_flags_changed, planned_flags};
use kubeharden::document::kubeadm::{self, KubeadmConfig};
use kubeharden::model::change::Planned;
use kubeharden::model::Model;
use kubeharden::pipeline::{self as engine, Options};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
struct Arg {
    name: &'static str,
    value: &'static str,
    /// 0 plain where YAML reads it as a string (else double-quoted), 1 double-quoted,
    /// 2 single-quoted, 3 plain whatever the value (an error when it is not a string).
    quote: u8,
    comment: bool,
}

const FLAGS: &[(&str, &[&str])] = &[
    ("profiling", &["true", "false"]),
    ("anonymous-auth", &["true", "false"]),
    ("authorization-mode", &["Node,RBAC", "RBAC"]),
    ("enable-admission-plugins", &["NodeRestriction"]),
    ("tls-min-version", &["VersionTLS10", "VersionTLS12"]),
    ("audit-log-maxage", &["7", "30"]),
    ("request-timeout", &["60s"]),
    ("token-auth-file", &["/etc/kubernetes/tokens.csv"]),
];

fn arg() -> impl Strategy<Value = Arg> {
    (0..FLAGS.len(), 0usize..2, 0u8..20, any::<bool>()).prop_map(|(f, v, q, comment)| {
        let (name, values) = FLAGS[f];
        Arg {
            name,
            value: values[v % values.len()],
            // Rarely the plain value kubeadm would refuse.
            quote: match q {
                0..=7 => 0,
                8..=12 => 1,
                13..=18 => 2,
                _ => 3,
            },
            comment,
        }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// No `apiServer`.
    None,
    /// `apiServer:` with nothing in it.
    Null,
    /// `apiServer` with `certSANs` only.
    Sans,
    /// `extraArgs` in block style.
    Block,
    /// `extraArgs: {a: "b"}` or `extraArgs: [{name: a, value: "b"}]`.
    Flow,
}

#[derive(Clone, Debug)]
struct Style {
    v1beta4: bool,
    indent: usize,
    indented_seq: bool,
    crlf: bool,
    final_newline: bool,
    init: bool,
    /// 0 none, 1 a KubeletConfiguration that sets nothing checked, 2 one with anonymous access
    /// and the read-only port.
    kubelet: u8,
    api: Api,
    volumes: bool,
    /// `networking` after `apiServer`, so additions land inside the document.
    networking: bool,
    minor: Option<u32>,
    leading_separator: bool,
    top_comment: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        (
            any::<bool>(),
            prop_oneof![Just(2usize), Just(4)],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            0u8..3,
            prop_oneof![
                1 => Just(Api::None),
                1 => Just(Api::Null),
                1 => Just(Api::Sans),
                4 => Just(Api::Block),
                2 => Just(Api::Flow),
            ],
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                Just(None),
                Just(Some(28u32)),
                Just(Some(31)),
                Just(Some(33))
            ],
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (v1beta4, indent, indented_seq, crlf, final_newline, init),
                (kubelet, api, volumes, networking, minor, leading_separator, top_comment),
            )| {
                // kubeadm takes v1beta4 from 1.31 (profiles/kubeadm.yaml: api_versions).
                let minor = match minor {
                    Some(m) if v1beta4 && m < 31 => Some(31),
                    m => m,
                };
                Style {
                    v1beta4,
                    indent,
                    indented_seq,
                    crlf,
                    final_newline,
                    init,
                    kubelet,
                    api,
                    volumes,
                    networking,
                    minor,
                    leading_separator,
                    top_comment,
                }
            },
        )
}

/// A value as written: its quoting, and whether kubeadm would refuse it.
fn scalar(a: &Arg, flow: bool) -> (String, bool) {
    let plain_ok = kubeharden::yaml::plain_string_ok(a.value, flow);
    match a.quote {
        0 if plain_ok => (a.value.to_string(), false),
        2 => (format!("'{}'", a.value), false),
        3 if !(flow && a.value.contains(',')) => (
            a.value.to_string(),
            kubeharden::yaml::yaml11_non_string(a.value),
        ),
        _ => (format!("\"{}\"", a.value), false),
    }
}

/// The file, and the error kubeharden must give for it, if kubeadm would refuse it.
fn render(args: &[Arg], s: &Style) -> (String, Option<&'static str>) {
    let api_version = if s.v1beta4 {
        "kubeadm.k8s.io/v1beta4"
    } else {
        "kubeadm.k8s.io/v1beta3"
    };
    let i = " ".repeat(s.indent);
    let seq = if s.indented_seq { i.as_str() } else { "" };
    // v1beta3's map takes a name once (a repeated key is a YAML error).
    let mut seen = BTreeSet::new();
    let args: Vec<&Arg> = args
        .iter()
        .filter(|a| s.v1beta4 || seen.insert(a.name))
        .collect();
    let mut refused = false;
    let mut out = String::new();
    if s.top_comment {
        out.push_str("# kubeadm configuration\n");
    }
    if s.leading_separator {
        out.push_str("---\n");
    }
    if s.init {
        out.push_str(&format!(
            "apiVersion: {api_version}\nkind: InitConfiguration\nlocalAPIEndpoint:\n{i}advertiseAddress: 10.0.0.5\n{i}bindPort: 6443\n---\n"
        ));
    }
    out.push_str(&format!(
        "apiVersion: {api_version}\nkind: ClusterConfiguration\n"
    ));
    if let Some(m) = s.minor {
        out.push_str(&format!("kubernetesVersion: v1.{m}.2\n"));
    }
    let in_api = i.clone();
    match s.api {
        Api::None => {}
        Api::Null => out.push_str("apiServer:\n"),
        Api::Sans => {
            out.push_str(&format!(
                "apiServer:\n{in_api}certSANs:\n{in_api}{seq}- k8s.example.com\n"
            ));
        }
        Api::Block => {
            out.push_str("apiServer:\n");
            if args.is_empty() {
                // Empty in flow style, or nothing at all (null).
                let empty = match (s.indented_seq, s.v1beta4) {
                    (true, _) => "",
                    (false, true) => " []",
                    (false, false) => " {}",
                };
                out.push_str(&format!("{in_api}extraArgs:{empty}\n"));
            } else {
                out.push_str(&format!("{in_api}extraArgs:\n"));
            }
            let deeper = format!("{in_api}{i}");
            for a in &args {
                let (v, bad) = scalar(a, false);
                refused |= bad;
                let c = if a.comment { "  # set by hand" } else { "" };
                if s.v1beta4 {
                    let dash = format!("{in_api}{seq}");
                    out.push_str(&format!(
                        "{dash}- name: {}\n{dash}  value: {v}{c}\n",
                        a.name
                    ));
                } else {
                    out.push_str(&format!("{deeper}{}: {v}{c}\n", a.name));
                }
            }
        }
        Api::Flow => {
            let entries: Vec<String> = args
                .iter()
                .map(|a| {
                    let (v, bad) = scalar(a, true);
                    refused |= bad;
                    if s.v1beta4 {
                        format!("{{name: {}, value: {v}}}", a.name)
                    } else {
                        format!("{}: {v}", a.name)
                    }
                })
                .collect();
            let (open, close) = if s.v1beta4 { ("[", "]") } else { ("{", "}") };
            out.push_str(&format!(
                "apiServer:\n{in_api}extraArgs: {open}{}{close}\n",
                entries.join(", ")
            ));
        }
    }
    if s.volumes {
        if matches!(s.api, Api::None) {
            out.push_str("apiServer:\n");
        }
        let dash = format!("{in_api}{seq}");
        out.push_str(&format!(
            "{in_api}extraVolumes:\n{dash}- name: audit\n{dash}  hostPath: /var/log/audit\n{dash}  mountPath: /var/log/audit\n{dash}  readOnly: false\n{dash}  pathType: DirectoryOrCreate\n"
        ));
    }
    if s.networking {
        out.push_str(&format!("networking:\n{i}serviceSubnet: 10.96.0.0/12\n"));
    }
    match s.kubelet {
        1 => out.push_str(
            "---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n",
        ),
        2 => out.push_str(&format!(
            "---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n{i}anonymous:\n{i}{i}enabled: true  # set by hand\nreadOnlyPort: 10255\n"
        )),
        _ => {}
    }
    if !s.final_newline {
        out.pop();
    }
    if s.crlf {
        out = out.replace('\n', "\r\n");
    }
    // A comment alone before the first `---` is a document without apiVersion and kind to
    // kubeadm, which cuts the file at `---` lines itself
    // (k8s.io/apimachinery/pkg/util/yaml.YAMLReader).
    let error = if s.top_comment && s.leading_separator {
        Some("holds only comments")
    } else if refused {
        Some("quote it")
    } else {
        None
    };
    (out, error)
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
    engine::process("kubeadm-config.yaml", text, &opts)
}

fn load(text: &str) -> Result<KubeadmConfig, String> {
    let registry = &builtins().0;
    match kubeadm::try_load(text, &registry.kubeadm) {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(format!("{e:?}")),
        None => Err("not a kubeadm file".into()),
    }
}

/// The KubeletConfiguration's model, with what kubeadm fills in.
fn kubelet_model(text: &str, cfg: &KubeadmConfig) -> Option<Model> {
    let registry = &builtins().0;
    let docs = kubeharden::yaml::parse(text).ok()?;
    let defaults = cfg.kubelet_defaults(&registry.kubeadm);
    kubeharden::document::component::find(
        text,
        docs,
        registry,
        kubeharden::document::component::KIND,
        &defaults,
    )
    .ok()
    .flatten()
    .map(|k| k.model)
}

/// The planned changes for the kubelet's settings and for kube-apiserver's flags.
fn split_changes(changes: &[Planned]) -> (Vec<Planned>, Vec<Planned>) {
    let (_, baseline, strict) = builtins();
    changes.iter().cloned().partition(|p| {
        p.rules.iter().any(|r| {
            [baseline, strict]
                .iter()
                .filter_map(|pr| pr.rule(r))
                .any(|rule| rule.component == kubeharden::document::component::COMPONENT)
        })
    })
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn generated_kubeadm_files_are_patched_minimally_and_idempotently(
        args in proptest::collection::vec(arg(), 0..7),
        s in style(),
        strict in any::<bool>(),
    ) {
        let (text, error) = render(&args, &s);
        let profile = if strict { "strict" } else { "baseline" };
        let before = load(&text);
        if let Some(why) = error {
            // An unquoted `true` or `7` where kubeadm wants a string, a part of comments
            // alone: a clear error with its place, for the loader and the pipeline alike.
            prop_assert!(before.as_ref().is_err_and(|e| e.contains(why)), "{before:?}\n{text}");
            let e = run(&text, profile).err();
            prop_assert!(
                e.as_ref().is_some_and(|e| e.line_col.is_some() && e.message.contains(why)),
                "{e:?}\n{text}"
            );
            return Ok(());
        }
        prop_assert!(before.is_ok(), "{:?}\n{text}", before.as_ref().err());
        let before = before.map_err(TestCaseError::fail)?;
        let report = match run(&text, profile) {
            Ok(r) => r,
            Err(e) => {
                // Refused on purpose: an entry removed from a flow-style extraArgs.
                prop_assert!(
                    s.api == Api::Flow && e.message.contains("flow-style extraArgs"),
                    "{e}\n{text}"
                );
                return Ok(());
            }
        };
        prop_assert!(report.kubeadm);
        let Some(edited) = report.edited.clone() else {
            for f in &report.findings {
                prop_assert!(f.fixed || f.manual.is_some(), "{}", f.rule.id);
            }
            return Ok(());
        };
        // The result loads again, with the same documents.
        let after = load(&edited);
        prop_assert!(after.is_ok(), "{:?}\n{edited}", after.as_ref().err());
        let after = after.map_err(TestCaseError::fail)?;
        prop_assert_eq!(&after.api_version, &before.api_version);
        prop_assert_eq!(after.kubernetes_version, before.kubernetes_version);
        // Line endings and the final newline (or its absence) are kept.
        prop_assert_eq!(edited.contains("\r\n"), s.crlf);
        prop_assert!(!s.crlf || !edited.replace("\r\n", "").contains('\n'));
        prop_assert_eq!(edited.ends_with('\n'), s.final_newline, "{}", edited);
        // Exactly the planned flags change in the kube-apiserver kubeadm would generate, and
        // only the planned settings in the KubeletConfiguration.
        let (kubelet_changes, apiserver_changes) = split_changes(&report.changes);
        let only = only_planned_flags_changed(&before.model, &after.model, &planned_flags(&apiserver_changes));
        prop_assert!(only.is_ok(), "{}\n{text}\n---\n{edited}", only.err().unwrap_or_default());
        let kplanned: BTreeMap<String, _> = planned_flags(&kubelet_changes);
        match (kubelet_model(&text, &before), kubelet_model(&edited, &after)) {
            (Some(kb), Some(ka)) => {
                let names: BTreeSet<&String> = kb.flags.iter().chain(&ka.flags).map(|f| &f.name).collect();
                for n in names {
                    if kplanned.contains_key(n.as_str()) {
                        continue;
                    }
                    let occ = |m: &Model| m.flags.iter().filter(|f| &f.name == n).cloned().collect::<Vec<_>>();
                    prop_assert_eq!(occ(&kb), occ(&ka), "{} changed\n{}\n---\n{}", n, text, edited);
                }
            }
            (None, None) => prop_assert!(kubelet_changes.is_empty()),
            (b, a) => prop_assert!(false, "KubeletConfiguration {:?} before, {:?} after", b.is_some(), a.is_some()),
        }
        // Every line the edit takes away or changes names a flag or setting the plan touches
        // (in extraArgs, the `- name:` line and its `value:` line), or is a flow extraArgs, or
        // the last line of a file without a final newline; every other line stays byte for
        // byte, as often as before.
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let new_lines: Vec<&str> = edited.split_inclusive('\n').collect();
        let count = |ls: &[&str], l: &str| ls.iter().filter(|x| **x == l).count();
        let touched: Vec<String> = planned_flags(&report.changes).into_keys().collect();
        let names = |line: &str| touched.iter().any(|f| {
            let t = line.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{f}:"))
                || t.starts_with(&format!("name: {f}\r"))
                || t.starts_with(&format!("name: {f}\n"))
                || t.trim_end() == format!("name: {f}")
                || names_flag(line, f)
                || f.rsplit('.').next().is_some_and(|last| t.starts_with(&format!("{last}:")))
        });
        // A line that is there fewer times than before: as many of its occurrences must be
        // ones the plan may change.
        let mut explained: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unexplained: Vec<(usize, &str)> = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            if count(&new_lines, line) >= count(&lines, line) {
                continue;
            }
            // A v1beta4 entry's value line goes with its name line.
            let value_of_named = n > 0 && names(lines[n - 1]) && line.trim_start().starts_with("value:");
            let flow = line.contains("extraArgs: {") || line.contains("extraArgs: [");
            // `extraArgs: {}` replaced by a block.
            let empty = line.trim_end().ends_with("extraArgs: {}")
                || line.trim_end().ends_with("extraArgs: []")
                || line.trim_end().ends_with("extraArgs:")
                || line.trim_end() == "apiServer:";
            // The parents of a KubeletConfiguration setting the plan touches.
            let parent = line.trim_end().ends_with(':') && touched.iter().any(|f| f.contains('.'));
            let last_line = !line.ends_with('\n')
                && edited.contains(&format!("{line}{}", if s.crlf { "\r\n" } else { "\n" }));
            if names(line) || value_of_named || flow || empty || parent || last_line {
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
        // Idempotent: the same profile on the result changes nothing.
        let again = run(&edited, profile);
        prop_assert!(again.is_ok(), "{:?}", again.as_ref().err());
        prop_assert!(again.map(|r| r.edited.is_none()).unwrap_or(false), "second run changes\n{edited}");
    }
}

/// Regressions the properties found: an edit at the end of a kubeadm file without a final
/// newline (lines added after the last, `apiServer:` or `extraArgs:` with nothing in them
/// replaced, a ClusterConfiguration added after an InitConfiguration) gave the file one.
#[test]
fn a_kubeadm_file_without_a_final_newline_keeps_none() {
    for text in [
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\nnetworking:\n  serviceSubnet: 10.96.0.0/12",
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\napiServer:",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\napiServer:\n  extraArgs:",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\napiServer:\n  extraArgs:\n  - name: profiling\n    value: \"true\"",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.5",
    ] {
        for crlf in [false, true] {
            let text = if crlf {
                text.replace('\n', "\r\n")
            } else {
                text.to_string()
            };
            let edited = run(&text, "baseline")
                .expect("fixes")
                .edited
                .expect("changes");
            assert!(!edited.ends_with('\n'), "{edited}");
            assert!(load(&edited).is_ok(), "{edited}");
            assert!(run(&edited, "baseline").expect("again").edited.is_none());
        }
    }
}
