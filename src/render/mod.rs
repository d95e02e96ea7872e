//! Renderers: pure functions of reports and a writer. `check` writes [`text`], [`json`] or
//! [`sarif`]; `diff` writes [`diff`]; [`messages`] are the one-line notes and errors on standard
//! error; [`ruledoc`] writes docs/rules.md and `explain`; [`words`] says profiles and changes in
//! words.

pub(crate) mod diff;
pub mod json;
pub(crate) mod messages;
mod pretty;
pub mod review;
pub mod ruledoc;
pub mod sarif;
pub mod text;
pub mod words;

pub use diff::{diff, diff_path, diff_text, mode_diff, new_file_diff};
pub use text::{text, visible, Paint};

#[cfg(test)]
mod tests {
    use super::{diff_path, text, Paint};
    use crate::model::report::{FileReport, Outcome, VersionSource};

    #[test]
    fn a_note_quoting_the_file_stays_on_one_line() {
        let registry = crate::profile::Registry::builtin().expect("registry");
        let profile = crate::profile::Profile::load("baseline", &registry).expect("profile");
        let report = FileReport {
            path: "m.yaml".into(),
            component: "kube-apiserver".into(),
            version: registry.newest(),
            version_source: VersionSource::Assumed,
            notes: vec!["the value `a\nkubeharden: forged` is odd".into()],
            findings: Vec::new(),
            changes: Vec::new(),
            required_files: Vec::new(),
            removals: Vec::new(),
            original: String::new(),
            edited: None,
            kubeadm: false,
            needs_probe_patch: false,
            unused_suppressions: Vec::new(),
        };
        let mut out = Vec::new();
        text(
            &mut out,
            &[Outcome::Report(Box::new(report))],
            &profile,
            Paint { color: false },
        )
        .expect("rendered");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains("  note: the value `a\\nkubeharden: forged` is odd\n"),
            "{out}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("kubeharden: forged")),
            "{out}"
        );
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(
            super::visible("a\u{1b}]0;title\u{7}b\n\tc"),
            "a\\x1b]0;title\\x07b\n\tc"
        );
        assert_eq!(super::visible("plain: text"), "plain: text");
    }

    #[test]
    fn diff_paths_are_what_git_apply_takes() {
        assert_eq!(diff_path("./kube-apiserver.yaml"), "kube-apiserver.yaml");
        assert_eq!(
            diff_path("/etc/kubernetes/manifests/kube-apiserver.yaml"),
            "etc/kubernetes/manifests/kube-apiserver.yaml"
        );
        assert_eq!(diff_path("m/../m/sub/./a.yaml"), "m/sub/a.yaml");
        assert_eq!(diff_path("../x/a.yaml"), "../x/a.yaml");
    }
}
