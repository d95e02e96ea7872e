//! Profiles and the lifecycle registry: rule data read strictly from YAML, then validated into
//! the types the checker uses. Built-in profiles are compiled into the binary.

mod build;
mod builtin;
mod compose;
mod error;
pub(crate) mod kubeadm;
mod raw;
mod registry;
mod rule;
mod template;
pub(crate) mod values;
pub mod version;

pub(crate) use builtin::BUILTIN;
pub(crate) use compose::find_builtin_rule;
pub use compose::Profile;
pub use error::ProfileError;
pub(crate) use registry::{name_hash, same_name, FlagTable};
pub use registry::{
    CisBenchmark, ComponentSpec, FlagSpec, FlagType, Gate, Lifecycle, NodeFileSpec, Registry,
};
pub use rule::{
    Applicability, Cond, NodeCheck, Op, ProbeFix, Rule, Severity, Step, SupportFile, Variant,
    Wanted, NODE_FILES,
};
pub use template::render_template;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use version::Version;

    fn reg() -> Registry {
        Registry::builtin().expect("registry parses")
    }

    /// `text` as a profile file `mine.yaml`, loaded by its path.
    fn load_file(text: &str) -> Result<Profile, ProfileError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("mine.yaml");
        std::fs::write(&p, text).expect("write");
        Profile::load(p.to_str().expect("utf8"), &reg())
    }

    /// `text` as a profile file is refused, with an error that says each of `said`.
    fn refused(text: &str, said: &[&str]) {
        let err = load_file(text).expect_err("refused").to_string();
        for s in said {
            assert!(err.contains(s), "{s}: {err}");
        }
    }

    #[test]
    fn builtin_profiles_load() {
        let r = reg();
        let b = Profile::load("baseline", &r).expect("baseline");
        let s = Profile::load("strict", &r).expect("strict");
        assert_eq!(
            s.lineage,
            vec!["baseline".to_string(), "strict".to_string()]
        );
        assert!(s.rules.len() > b.rules.len());
    }

    /// A rule looked for from a position is the rule of that id wherever it is: after the
    /// position, before it, or nowhere; for every id of strict and one it lacks, from every
    /// position.
    #[test]
    fn a_rule_looked_for_from_a_position_is_found_wherever_it_is() {
        let s = Profile::load("strict", &reg()).expect("strict");
        let mut ids: Vec<&str> = s.rules.iter().map(|r| r.id.as_str()).collect();
        ids.push("no-such-rule");
        for id in ids {
            let wanted = s.rules.iter().position(|r| r.id == id);
            for from in 0..=s.rules.len() + 1 {
                assert_eq!(s.position_from(id, from), wanted, "{id} from {from}");
            }
        }
    }

    /// What a run reads of a built-in profile is what its source builds to now: build.rs
    /// built it with this same code, from the same files.
    #[test]
    fn builtin_profiles_are_read_as_their_source_builds() {
        let r = reg();
        for (name, _) in BUILTIN {
            let read = Profile::builtin(name, &r).expect("listed").expect("reads");
            let built = Profile::builtin_from_source(name, &r)
                .expect("listed")
                .expect("builds");
            assert_eq!(format!("{read:#?}"), format!("{built:#?}"), "{name}");
        }
    }

    #[test]
    fn rule_ids_are_unique_across_builtins() {
        let r = reg();
        let s = Profile::load("strict", &r).expect("strict");
        let mut ids = BTreeSet::new();
        for rule in &s.rules {
            assert!(ids.insert(rule.id.clone()), "duplicate id {}", rule.id);
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_line_numbers() {
        refused(
            "name: mine\ndescription: x\nextends: strict\nparameters:\n  audit_log_maxage: \"60\"\nsevrity: high\n",
            &[":6:1:", "sevrity"],
        );
    }

    #[test]
    fn user_profile_extends_overrides_and_disables() {
        let prof = load_file(
            "name: mine\ndescription: x\nextends: baseline\nparameters:\n  tls_min_version: VersionTLS13\ndisable: [apiserver-profiling]\n",
        ).expect("loads");
        assert!(prof.rule("apiserver-profiling").is_none());
        let tls = prof.rule("apiserver-tls-min-version").expect("tls rule");
        assert!(tls.fix[0].steps.contains(&Step::Set {
            flag: "tls-min-version".into(),
            value: "VersionTLS13".into()
        }));
    }

    #[test]
    fn rules_setting_one_flag_two_ways_are_refused_at_load() {
        refused(
            "name: m\ndescription: x\nextends: baseline\nrules:\n- id: my-profiling\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: none\n  check: {flag: profiling, equals: \"true\"}\n  fix: [{steps: [{set: {flag: profiling, value: \"true\"}}]}]\n",
            &["apiserver-profiling", "my-profiling", "mine.yaml"],
        );
    }

    #[test]
    fn unknown_admission_plugins_in_a_rule_are_refused() {
        refused(
            "name: m\ndescription: x\nrules:\n- id: my-plugin\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: none\n  check: {flag: enable-admission-plugins, contains: [NodeRestrictoin]}\n  fix: [{steps: [{add_to_list: {flag: enable-admission-plugins, items: [NodeRestrictoin]}}]}]\n",
            &["NodeRestrictoin"],
        );
    }

    #[test]
    fn values_a_flag_does_not_accept_are_refused_at_load() {
        for (value, bad) in [
            ("TLS_FOO_BAR", "TLS_FOO_BAR"),
            (
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                " TLS_ECDHE",
            ),
        ] {
            refused(
                &format!("name: m\ndescription: x\nextends: baseline\nparameters:\n  tls_cipher_suites: \"{value}\"\n"),
                &[bad],
            );
        }
        // Known names that some versions reject are a matter for the planner.
        let r = reg();
        assert_eq!(
            r.rejected_values(
                "tls-cipher-suites",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                Some(Version::minor(22))
            ),
            vec!["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_string()]
        );
        assert!(r
            .rejected_values(
                "tls-cipher-suites",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                Some(Version::minor(23))
            )
            .is_empty());
    }

    #[test]
    fn disabling_an_unknown_rule_is_an_error() {
        refused(
            "name: m\ndescription: x\nextends: baseline\ndisable: [no-such-rule]\n",
            &["no-such-rule"],
        );
    }

    #[test]
    fn unknown_flag_in_rule_is_an_error() {
        refused(
            "name: m\ndescription: x\nrules:\n- id: my-rule\n  component: kube-apiserver\n  severity: low\n  title: t\n  rationale: r\n  risk: none\n  check: {flag: profilin, equals: \"false\"}\n  manual: no\n",
            &["--profilin"],
        );
    }

    #[test]
    fn registry_lifecycles() {
        let r = reg();
        let kh = r.flag("kube-apiserver", "kubelet-https").expect("flag");
        assert!(kh.accepted_in(Version::minor(21)));
        assert!(!kh.accepted_in(Version::minor(22)));
        let scd = &r.admission_plugins["SecurityContextDeny"];
        assert!(scd.accepted_in(Version::minor(29)));
        assert!(!scd.accepted_in(Version::minor(30)));
    }
}
