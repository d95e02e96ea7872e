//! Conformance: `strict` output for the manifests kubeadm generates passes every scored,
//! automated kube-bench check of the matching benchmark, writes nothing the version rejects,
//! mounts every file it references, and keeps the probes working.

use crate::kube_bench::{self, Inputs, Outcome};
use kubeharden::document::manifest;
use kubeharden::model::report::FileReport;
use kubeharden::pipeline::{self as engine, Options};
use kubeharden::profile::version::Version;
use kubeharden::profile::{Profile, Registry};
use std::path::{Path, PathBuf};

/// The scored kube-bench checks that fail on a `ps`-style command line.
fn scored_failures(checks: &[kube_bench::Check], cmdline: &str) -> Vec<String> {
    kube_bench::ids_with(
        checks,
        &Inputs {
            cmdline,
            ..Inputs::default()
        },
        Outcome::Fail,
    )
}

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm")
}

/// Every kubeadm fixture: (directory name, Kubernetes minor, text).
pub fn kubeadm_fixtures() -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixture_dir())
        .expect("fixtures")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    dirs.sort_by_key(|e| e.file_name());
    for d in dirs {
        let name = d.file_name().to_string_lossy().to_string();
        let minor: u32 = name
            .trim_start_matches("v1.")
            .split('-')
            .next()
            .and_then(|m| m.parse().ok())
            .expect("fixture directories are named v1.NN[-variant]");
        let text = std::fs::read_to_string(d.path().join("kube-apiserver.yaml")).expect("fixture");
        out.push((name, minor, text));
    }
    assert!(
        out.len() >= 10,
        "expected the kubeadm fixtures for 1.19 to 1.35"
    );
    out
}

/// The registry and the built-in profiles, loaded once for every test.
pub fn builtins() -> &'static (Registry, Profile, Profile) {
    static CELL: std::sync::OnceLock<(Registry, Profile, Profile)> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let registry = Registry::builtin().expect("registry");
        let baseline = Profile::load("baseline", &registry).expect("baseline");
        let strict = Profile::load("strict", &registry).expect("strict");
        (registry, baseline, strict)
    })
}

pub fn run(text: &str, profile: &str, version: Option<&str>) -> FileReport<'static> {
    try_run(text, profile, version, false).expect("processes")
}

/// The pipeline as `check` runs it (report_only) or as `diff`/`fix` run it.
pub fn try_run(
    text: &str,
    profile: &str,
    version: Option<&str>,
    report_only: bool,
) -> Result<FileReport<'static>, kubeharden::model::report::FileError> {
    let (registry, baseline, strict) = builtins();
    let profile = match profile {
        "baseline" => baseline,
        "strict" => strict,
        other => panic!("unknown built-in profile {other}"),
    };
    let opts = Options {
        version: version.map(|v| Version::parse(v).expect("version")),
        report_only,
        ..Options::new(registry, profile)
    };
    engine::process("kube-apiserver.yaml", text, &opts)
}

#[test]
fn strict_output_passes_every_scored_kube_bench_apiserver_check() {
    for (name, minor, text) in kubeadm_fixtures() {
        let report = run(&text, "strict", None);
        let hardened = report
            .edited
            .as_deref()
            .expect("strict changes a default kubeadm manifest");
        let cmdline = kube_bench::cmdline_from_manifest(hardened);
        let bench = kube_bench::benchmark_for_minor(minor);
        let checks = kube_bench::load_own(bench, "1.2");
        let inputs = Inputs {
            cmdline: &cmdline,
            ..Inputs::default()
        };
        let failed = kube_bench::ids_with(&checks, &inputs, Outcome::Fail);
        assert!(
            failed.is_empty(),
            "{name} ({bench}): scored checks fail after strict: {failed:?}"
        );
        // The same with kube-bench's own control files, when they are next to the repository.
        if let Some(dir) = kube_bench::shared_kube_bench_dir() {
            let theirs = kube_bench::load_kube_bench(&dir.join(bench).join("master.yaml"), "1.2");
            let failed = kube_bench::ids_with(&theirs, &inputs, Outcome::Fail);
            assert!(
                failed.is_empty(),
                "{name} (kube-bench {bench}): scored checks fail: {failed:?}"
            );
        }
    }
}

#[test]
fn the_unmodified_kubeadm_manifests_fail_some_scored_checks() {
    // The oracle must be able to fail: kubeadm's defaults do not pass 1.2.15 (profiling).
    for (name, minor, text) in kubeadm_fixtures() {
        let cmdline = kube_bench::cmdline_from_manifest(&text);
        let checks = kube_bench::load_own(kube_bench::benchmark_for_minor(minor), "1.2");
        let failed = scored_failures(&checks, &cmdline);
        assert!(failed.contains(&"1.2.15".to_string()), "{name}: {failed:?}");
    }
}

#[test]
fn strict_output_is_safe_for_its_version() {
    let registry = Registry::builtin().expect("registry");
    for (name, minor, text) in kubeadm_fixtures() {
        let report = run(&text, "strict", None);
        assert_eq!(
            report.version.minor, minor,
            "{name}: version from the image tag"
        );
        let hardened = report.edited.expect("changes");
        let m = manifest::load(&hardened, "kube-apiserver", &registry)
            .expect("hardened manifest loads");
        let v = Version::minor(minor);
        // Never a flag or admission plugin the version rejects.
        for f in &m.model.flags {
            if let Some(spec) = registry.flag("kube-apiserver", &f.name) {
                assert!(
                    spec.accepted_in(v),
                    "{name}: --{} is rejected by 1.{minor}",
                    f.name
                );
            }
        }
        for flag in ["enable-admission-plugins", "disable-admission-plugins"] {
            for p in m.model.list(flag).unwrap_or_default() {
                let l = registry
                    .admission_plugins
                    .get(&p)
                    .unwrap_or_else(|| panic!("{name}: unknown plugin {p}"));
                assert!(l.accepted_in(v), "{name}: plugin {p} is not in 1.{minor}");
            }
        }
        // A volume and mount for every file a flag references.
        for f in &m.model.flags {
            let Some(spec) = registry.flag("kube-apiserver", &f.name) else {
                continue;
            };
            if spec.kind.references_file() {
                let path = f.value.as_deref().expect("file flags have values");
                let mount = m
                    .model
                    .mount_covering(path)
                    .unwrap_or_else(|| panic!("{name}: {path} is not mounted"));
                if f.name == "audit-log-path" {
                    assert!(
                        !mount.read_only,
                        "{name}: the audit log directory must be writable"
                    );
                }
            }
        }
        // Probes keep passing: no unauthenticated HTTP probe once anonymous requests are rejected,
        // and with an AuthenticationConfiguration the probe paths are the ones it allows.
        let anonymous_off = m.model.value("anonymous-auth").as_deref() == Some("false");
        for p in &m.model.probes {
            match &p.handler {
                kubeharden::model::Handler::HttpGet { path, .. } => {
                    assert!(!anonymous_off, "{name}: {} would get 401", p.kind);
                    if m.model.present("authentication-config") {
                        let path = path.as_deref().unwrap_or("/");
                        assert!(
                            ["/livez", "/readyz", "/healthz"].contains(&path),
                            "{name}: {} probes {path}",
                            p.kind
                        );
                    }
                }
                kubeharden::model::Handler::TcpSocket => {
                    assert!(anonymous_off, "{name}: probes changed needlessly")
                }
                kubeharden::model::Handler::Exec { .. } | kubeharden::model::Handler::Other => {}
            }
        }
        if minor >= 32 {
            assert!(
                m.model.present("authentication-config"),
                "{name}: 1.32+ keeps HTTP probes via AuthenticationConfiguration"
            );
            assert!(
                !m.model.present("anonymous-auth"),
                "{name}: --anonymous-auth conflicts with the anonymous section"
            );
        } else {
            assert!(
                anonymous_off,
                "{name}: before 1.32 anonymous access is switched off"
            );
        }
    }
}

#[test]
fn strict_and_baseline_are_idempotent_on_kubeadm_manifests() {
    for profile in ["baseline", "strict"] {
        for (name, _, text) in kubeadm_fixtures() {
            let first = run(&text, profile, None);
            let once = first.edited.expect("changes");
            let second = run(&once, profile, None);
            assert!(
                second.edited.is_none(),
                "{name} {profile}: a second run changes {:?}",
                second.changes
            );
            assert!(second.findings.iter().all(|f| !f.fixed), "{name} {profile}");
        }
    }
}

#[test]
fn baseline_needs_no_new_files_or_mounts() {
    for (name, _, text) in kubeadm_fixtures() {
        let report = run(&text, "baseline", None);
        assert!(
            report.required_files.is_empty(),
            "{name}: baseline needs {:?}",
            report.required_files
        );
        let edited = report.edited.expect("baseline changes kubeadm defaults");
        let registry = Registry::builtin().expect("registry");
        let before = manifest::load(&text, "kube-apiserver", &registry).expect("loads");
        let after = manifest::load(&edited, "kube-apiserver", &registry).expect("loads");
        assert_eq!(before.model.volumes, after.model.volumes, "{name}");
        assert_eq!(before.model.mounts, after.model.mounts, "{name}");
        assert_eq!(before.model.probes, after.model.probes, "{name}");
        // Only additions of flags kubeadm leaves at insecure defaults.
        for line in edited.lines().filter(|l| !text.lines().any(|t| t == *l)) {
            assert!(
                [
                    "--profiling=false",
                    "--tls-min-version=",
                    "--tls-cipher-suites="
                ]
                .iter()
                .any(|f| line.contains(f)),
                "{name}: unexpected baseline change {line}"
            );
        }
    }
}

#[test]
fn every_builtin_rule_plans_cleanly_for_every_known_version() {
    // A profile must never ask for something a version rejects: plan strict for every version
    // on the 1.30 kubeadm manifest and on a bare minimal one.
    let minimal = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    name: kube-apiserver\n";
    let kubeadm =
        std::fs::read_to_string(fixture_dir().join("v1.30/kube-apiserver.yaml")).expect("fixture");
    let registry = Registry::builtin().expect("registry");
    for minor in registry.versions.oldest..=registry.versions.newest {
        for profile in ["baseline", "strict"] {
            for text in [minimal, kubeadm.as_str()] {
                let r = run(text, profile, Some(&format!("1.{minor}")));
                if let Some(e) = &r.edited {
                    let again = run(e, profile, Some(&format!("1.{minor}")));
                    assert!(
                        again.edited.is_none(),
                        "1.{minor} {profile}: not idempotent"
                    );
                }
            }
        }
    }
}

#[test]
fn flags_split_over_two_items_are_joined_so_kube_bench_reads_them() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/styles/split-value-flags-kube-bench-1.31.yaml"),
    )
    .expect("fixture");
    // kube-bench reads `--authorization-mode Node,RBAC` as `true`: the unmodified file fails.
    let checks = kube_bench::load_own(kube_bench::benchmark_for_minor(31), "1.2");
    let before = kube_bench::cmdline_from_manifest(&text);
    let failed = scored_failures(&checks, &before);
    assert!(failed.contains(&"1.2.7".to_string()), "{failed:?}");
    for profile in ["baseline", "strict"] {
        let report = run(&text, profile, None);
        let after = report.edited.expect("changes");
        assert!(
            after.contains("- --authorization-mode=Node,RBAC"),
            "{profile}"
        );
        if profile == "strict" {
            let cmdline = kube_bench::cmdline_from_manifest(&after);
            let failed = scored_failures(&checks, &cmdline);
            assert!(failed.is_empty(), "{failed:?}");
        }
    }
}
