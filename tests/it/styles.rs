//! Manifest quirks: each test names the quirk it covers, snapshots the diff, and checks that
//! everything outside the changed lines stays byte for byte.

use crate::cli::diff_apply_and_fix;
use crate::conformance::{run, try_run};
use kubeharden::model::report::FileReport;

fn diff_of(report: &FileReport) -> String {
    let mut out = Vec::new();
    kubeharden::render::diff(&mut out, report, &report.path).expect("diff");
    String::from_utf8(out).expect("utf8")
}

/// Lines of `a` missing from `b` (as a multiset, in order).
fn removed_lines<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let mut rest: Vec<&str> = b.split_inclusive('\n').collect();
    let mut gone = Vec::new();
    for l in a.split_inclusive('\n') {
        if let Some(i) = rest.iter().position(|x| *x == l) {
            rest.remove(i);
        } else {
            gone.push(l);
        }
    }
    gone
}

const HEAD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n";

#[test]
fn comments_between_items_stay_and_new_flags_go_above_a_commented_flag() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver   # the binary\n    - --advertise-address=10.0.0.1\n    # RBAC is what we use\n    - --authorization-mode=Node,RBAC\n    # keep profiling for the perf team\n    - --profiling=true  # see TICKET-1\n    - --secure-port=6443\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    name: kube-apiserver\n"
    );
    let r = run(&text, "baseline", None);
    let d = diff_of(&r);
    insta::assert_snapshot!("comments", d);
    let edited = r.edited.expect("changes");
    // Only the profiling line changes, in place, with its trailing comment; every comment stays.
    assert_eq!(
        removed_lines(&text, &edited),
        vec!["    - --profiling=true  # see TICKET-1\n"]
    );
    assert!(edited.contains(
        "    # keep profiling for the perf team\n    - --profiling=false  # see TICKET-1\n"
    ));
    assert!(edited.contains("    # RBAC is what we use\n    - --authorization-mode=Node,RBAC\n"));
}

#[test]
fn crlf_line_endings_and_a_missing_final_newline_are_kept() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --secure-port=6443\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    name: kube-apiserver"
    )
    .replace('\n', "\r\n");
    let r = run(&text, "baseline", None);
    let edited = r.edited.clone().expect("changes");
    assert!(
        !edited.ends_with('\n'),
        "no final newline before, none after"
    );
    assert_eq!(
        edited.matches('\n').count(),
        edited.matches("\r\n").count(),
        "every line ends in CRLF"
    );
    assert!(edited.contains("    - --profiling=false\r\n"));
    let (patched, fixed) = diff_apply_and_fix("kube-apiserver.yaml", text.as_bytes(), &[]);
    assert_eq!(patched, fixed);
}

#[test]
fn appending_after_the_last_line_without_final_newline() {
    // The flag list is the last thing in the file and unsorted: new flags go at the end.
    let text = format!("{HEAD}  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --authorization-mode=Node,RBAC");
    let r = run(&text, "baseline", None);
    let edited = r.edited.clone().expect("changes");
    assert!(
        edited.ends_with("    - --tls-min-version=VersionTLS12"),
        "{edited}"
    );
    assert!(edited.contains("--authorization-mode=Node,RBAC\n    - --enable-admission-plugins=NodeRestriction\n    - --profiling=false\n"));
    let (patched, fixed) = diff_apply_and_fix("m.yaml", text.as_bytes(), &[]);
    assert_eq!(patched, fixed);
}

#[test]
fn flow_style_command_on_one_line() {
    let text = format!(
        "{HEAD}  - command: [kube-apiserver, \"--authorization-mode=Node,RBAC\", --profiling=true, --secure-port=6443]\n    image: registry.k8s.io/kube-apiserver:v1.29.0\n    name: kube-apiserver\n"
    );
    let r = run(&text, "baseline", None);
    insta::assert_snapshot!("flow_command", diff_of(&r));
    let edited = r.edited.expect("changes");
    assert_eq!(
        edited.lines().count(),
        text.lines().count(),
        "a flow list stays on its line"
    );
}

#[test]
fn flow_style_volumes_and_probes() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    livenessProbe:\n      httpGet: {{host: 10.0.0.1, path: /livez, port: 6443, scheme: HTTPS}}\n    name: kube-apiserver\n    volumeMounts:\n    - {{mountPath: /etc/kubernetes/pki, name: k8s-certs, readOnly: true}}\n  hostNetwork: true\n  volumes:\n  - {{hostPath: {{path: /etc/kubernetes/pki, type: DirectoryOrCreate}}, name: k8s-certs}}\n"
    );
    let r = run(&text, "strict", None);
    insta::assert_snapshot!("flow_volumes_probes", diff_of(&r));
    let edited = r.edited.expect("changes");
    assert!(
        edited.contains("      tcpSocket: {host: 10.0.0.1, port: 6443}\n"),
        "{edited}"
    );
    assert!(edited.contains("    - {mountPath: /etc/kubernetes/audit, name: etc-kubernetes-audit, readOnly: true}\n"), "{edited}");
    assert!(edited.contains("  - {hostPath: {path: /var/log/kubernetes/audit, type: DirectoryOrCreate}, name: var-log-kubernetes-audit}\n"));
}

#[test]
fn quoted_items_keep_their_quoting() {
    let text = format!(
        "{HEAD}  - command:\n    - \"kube-apiserver\"\n    - \"--authorization-mode=Node,RBAC\"\n    - '--profiling=true'\n    - \"--secure-port=6443\"\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    name: kube-apiserver\n"
    );
    let r = run(&text, "baseline", None);
    let edited = r.edited.expect("changes");
    assert!(
        edited.contains("    - '--profiling=false'\n"),
        "single quotes kept: {edited}"
    );
    assert!(
        edited.contains("    - \"--tls-min-version=VersionTLS12\"\n"),
        "new items quoted like their neighbours: {edited}"
    );
}

#[test]
fn flags_in_args_with_split_values_and_a_bare_boolean() {
    let text = format!(
        "{HEAD}  - args:\n    - --audit-log-maxage\n    - \"7\"\n    - --authorization-mode=Node,RBAC\n    - --profiling\n    command: [kube-apiserver]\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    name: kube-apiserver\n"
    );
    let r = run(&text, "strict", None);
    insta::assert_snapshot!("args_split_bare", diff_of(&r));
    let edited = r.edited.expect("changes");
    assert!(
        edited.contains("    - --audit-log-maxage=30\n"),
        "split flag joined so kube-bench reads it: {edited}"
    );
    assert!(!edited.contains("\"7\""));
    assert!(edited.contains("    - --profiling=false\n"));
    assert!(
        edited.starts_with(&format!("{HEAD}  - args:\n")),
        "flags stay in args"
    );
    assert!(
        edited.contains("    command: [kube-apiserver]\n"),
        "command untouched"
    );
}

#[test]
fn repeated_flags_collapse_to_one_edited_in_place() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --enable-admission-plugins=NodeRestriction\n    - --authorization-mode=Node,RBAC\n    - --enable-admission-plugins=AlwaysAdmit\n    - --profiling=true\n    - --profiling=false\n    image: registry.k8s.io/kube-apiserver:v1.30.2\n    name: kube-apiserver\n"
    );
    let r = run(&text, "baseline", None);
    insta::assert_snapshot!("repeated", diff_of(&r));
    let edited = r.edited.expect("changes");
    assert_eq!(edited.matches("--enable-admission-plugins=").count(), 1);
    assert!(edited.contains("    - --enable-admission-plugins=NodeRestriction\n"));
    assert_eq!(edited.matches("--profiling").count(), 1, "{edited}");
}

#[test]
fn a_sidecar_before_the_apiserver_and_hyperkube() {
    let text = format!(
        "{HEAD}  - name: log-shipper\n    image: busybox\n    command: [sh, -c, \"tail -f /var/log/x\"]\n  - command:\n    - /hyperkube\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --profiling=true\n    image: registry.k8s.io/hyperkube:v1.19.4\n    name: kube-apiserver\n"
    );
    let r = run(&text, "baseline", None);
    let edited = r.edited.expect("changes");
    assert!(edited.contains("    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --enable-admission-plugins=NodeRestriction\n    - --profiling=false\n"), "{edited}");
    assert!(
        edited.contains("command: [sh, -c, \"tail -f /var/log/x\"]"),
        "the sidecar is untouched"
    );
    assert_eq!(r.version.minor, 19, "version from the hyperkube image tag");
}

#[test]
fn insecure_flags_are_removed_and_lists_fixed() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --authorization-mode=AlwaysAllow\n    - --enable-admission-plugins=AlwaysAdmit,NodeRestriction,PodSecurityPolicy\n    - --insecure-port=0\n    - --token-auth-file=/etc/kubernetes/tokens.csv\n    image: registry.k8s.io/kube-apiserver:v1.26.1\n    name: kube-apiserver\n"
    );
    let r = run(&text, "strict", None);
    insta::assert_snapshot!("insecure", diff_of(&r));
    let edited = r.edited.expect("changes");
    assert!(edited.contains("    - --authorization-mode=Node,RBAC\n"));
    assert!(
        !edited.contains("AlwaysAdmit")
            && !edited.contains("PodSecurityPolicy")
            && !edited.contains("insecure-port")
    );
    assert!(!edited.contains("token-auth-file"));
    // baseline reports the removed flag and plugin but leaves them; it will not rewrite the
    // admission list while it names a plugin 1.26 lacks, so diff and fix refuse the file.
    let b = try_run(&text, "baseline", None, true).expect("check reports");
    let ids: Vec<_> = b
        .findings
        .iter()
        .map(|f| (f.rule.id.as_str(), f.fixed))
        .collect();
    assert!(ids.contains(&("apiserver-removed-flags", false)), "{ids:?}");
    assert!(
        ids.contains(&("apiserver-removed-admission-plugins", false)),
        "{ids:?}"
    );
    assert!(
        b.notes.iter().any(|n| n.contains("PodSecurityPolicy")),
        "{:?}",
        b.notes
    );
    let err = try_run(&text, "baseline", None, false).expect_err("diff refuses");
    assert!(
        err.message.contains("would keep PodSecurityPolicy"),
        "{}",
        err.message
    );
}

#[test]
fn no_volumes_at_all_gets_new_keys_in_the_pod_style() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    image: registry.k8s.io/kube-apiserver:v1.28.3\n    name: kube-apiserver\n  hostNetwork: true\n"
    );
    let r = run(&text, "strict", None);
    insta::assert_snapshot!("no_volumes", diff_of(&r));
    let (patched, fixed) = diff_apply_and_fix("m.yaml", text.as_bytes(), &["--profile", "strict"]);
    assert_eq!(patched, fixed);
}

#[test]
fn indented_sequences_and_four_space_indentation() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n    name: kube-apiserver\nspec:\n    containers:\n        -   command:\n                - kube-apiserver\n                - --authorization-mode=Node,RBAC\n                - --secure-port=6443\n            image: registry.k8s.io/kube-apiserver:v1.33.0\n            name: kube-apiserver\n            volumeMounts:\n                -   mountPath: /etc/kubernetes/pki\n                    name: k8s-certs\n                    readOnly: true\n    volumes:\n        -   hostPath:\n                path: /etc/kubernetes/pki\n                type: DirectoryOrCreate\n            name: k8s-certs\n";
    let r = run(text, "strict", None);
    insta::assert_snapshot!("four_space", diff_of(&r));
    let (patched, fixed) = diff_apply_and_fix("m.yaml", text.as_bytes(), &["--profile", "strict"]);
    assert_eq!(patched, fixed);
}

#[test]
fn json_manifest() {
    let text = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver"},
 "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.0",
   "command": ["kube-apiserver", "--authorization-mode=Node,RBAC", "--profiling=true"]}]}}
"#;
    for profile in ["baseline", "strict"] {
        let r = run(text, profile, None);
        let edited = r.edited.expect("changes");
        let v: serde_json::Value = serde_json::from_str(&edited).expect("still JSON");
        let cmd = v["spec"]["containers"][0]["command"]
            .as_array()
            .expect("command");
        assert!(cmd.iter().any(|c| c == "--profiling=false"));
        assert!(cmd.iter().any(|c| c == "--tls-min-version=VersionTLS12"));
        if profile == "strict" {
            let mounts = v["spec"]["containers"][0]["volumeMounts"]
                .as_array()
                .expect("mounts added as JSON");
            assert!(mounts
                .iter()
                .any(|m| m["mountPath"] == "/etc/kubernetes/audit" && m["readOnly"] == true));
            assert!(v["spec"]["volumes"]
                .as_array()
                .is_some_and(|vs| vs.len() == mounts.len()));
        }
    }
}

#[test]
fn legacy_admission_control_is_left_alone_with_a_reason() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --admission-control=NamespaceLifecycle,ServiceAccount,NodeRestriction\n    - --authorization-mode=Node,RBAC\n    image: registry.k8s.io/kube-apiserver:v1.27.4\n    name: kube-apiserver\n"
    );
    let r = run(&text, "strict", None);
    let edited = r.edited.as_deref().expect("other rules still apply");
    assert!(
        !edited.contains("--enable-admission-plugins"),
        "never combined with --admission-control"
    );
    let apull = r
        .findings
        .iter()
        .find(|f| f.rule.id == "apiserver-admission-always-pull-images")
        .expect("finding");
    assert!(!apull.fixed);
    assert!(
        apull
            .manual
            .as_deref()
            .unwrap_or("")
            .contains("--admission-control"),
        "{:?}",
        apull.manual
    );
    // NodeRestriction listed in --admission-control counts as enabled.
    assert!(!r
        .findings
        .iter()
        .any(|f| f.rule.id == "apiserver-admission-node-restriction"));
}

#[test]
fn authorization_config_replaces_authorization_mode() {
    let text = format!(
        "{HEAD}  - command:\n    - kube-apiserver\n    - --authorization-config=/etc/kubernetes/pki/authz.yaml\n    - --profiling=false\n    image: registry.k8s.io/kube-apiserver:v1.31.0\n    name: kube-apiserver\n    volumeMounts:\n    - mountPath: /etc/kubernetes/pki\n      name: k8s-certs\n      readOnly: true\n  volumes:\n  - hostPath:\n      path: /etc/kubernetes/pki\n      type: DirectoryOrCreate\n    name: k8s-certs\n"
    );
    for profile in ["baseline", "strict"] {
        let r = run(&text, profile, None);
        let edited = r.edited.expect("changes");
        assert!(
            !edited.contains("--authorization-mode"),
            "{profile}: --authorization-mode next to --authorization-config stops the API server"
        );
    }
}

#[test]
fn an_authentication_config_before_1_32_does_not_restrict_anonymous_access() {
    let text =
        std::fs::read_to_string(crate::cli::styles_dir().join("authn-default-path-1.30.yaml"))
            .expect("fixture");
    let r = try_run(&text, "strict", None, true).expect("check");
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.id == "apiserver-anonymous-auth")
        .expect("before 1.32 the file cannot limit anonymous requests");
    assert!(
        !f.fixed,
        "kubeharden does not read the admin's AuthenticationConfiguration"
    );
    // Before 1.29 the flag does not exist at all, so the report does not offer it.
    let old = std::fs::read_to_string(
        crate::conformance::fixture_dir().join("v1.23/kube-apiserver.yaml"),
    )
    .expect("fixture");
    let r = try_run(&old, "strict", None, true).expect("check");
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.id == "apiserver-anonymous-auth")
        .expect("finding");
    assert!(
        !f.desired.contains("authentication-config"),
        "{}",
        f.desired
    );
}
