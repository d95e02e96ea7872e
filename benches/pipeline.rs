//! What a run costs before its first file (`start`: the built-in registry read, a built-in
//! profile read as build.rs built it), and the per-file cost of the pipeline, without the
//! walk, the reading of files or the report:
//! - `load`: parsing a static pod manifest into its model (`manifest::load_any`);
//! - `check`: `pipeline::process` as `kubeharden check` runs it (report only: load, check, plan
//!   and edit, no final verification);
//! - `patch`: `pipeline::process` as `kubeharden diff` and `fix` run it (load, check, plan, edit
//!   and the verification of the edited text).
//!
//! Inputs are fixtures: the kubeadm 1.31 static pod manifests of kube-apiserver,
//! kube-controller-manager, kube-scheduler and etcd, the kubelet's KubeletConfiguration of the
//! same kubeadm run, and a kubeadm configuration (InitConfiguration and ClusterConfiguration).
//!
//! Run with `cargo bench --bench pipeline`; a name filter selects some, as in
//! `cargo bench --bench pipeline -- check/kube-apiserver`.

use criterion::{criterion_group, criterion_main, Criterion};
use kubeharden::document::manifest;
use kubeharden::pipeline::{self as engine, Options};
use kubeharden::profile::{Profile, Registry};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// (benchmark name, fixture path under tests/fixtures).
const FILES: &[(&str, &str)] = &[
    ("kube-apiserver", "kubeadm/v1.31/kube-apiserver.yaml"),
    (
        "kube-controller-manager",
        "kubeadm/v1.31/kube-controller-manager.yaml",
    ),
    ("kube-scheduler", "kubeadm/v1.31/kube-scheduler.yaml"),
    ("etcd", "kubeadm/v1.31/etcd.yaml"),
    ("kubelet-config", "kubeadm/v1.31/kubelet-config.yaml"),
    ("kubeadm-config", "kubeadm-config/v1beta3-init-cluster.yaml"),
];

/// The static pod manifests, for the loader alone.
const MANIFESTS: usize = 4;

fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&path).expect("fixture")
}

struct Builtins {
    registry: Registry,
    baseline: Profile,
    strict: Profile,
}

fn builtins() -> Builtins {
    let registry = Registry::builtin().expect("registry");
    let baseline = Profile::load("baseline", &registry).expect("baseline");
    let strict = Profile::load("strict", &registry).expect("strict");
    Builtins {
        registry,
        baseline,
        strict,
    }
}

fn options<'a>(b: &'a Builtins, profile: &'a Profile, report_only: bool) -> Options<'a> {
    Options {
        // Every fixture names its version (image tag or kubernetesVersion), except the
        // KubeletConfiguration, which `check` would give the version of the kube-apiserver
        // manifest of the same run.
        node_version: kubeharden::profile::version::Version::parse("1.31"),
        report_only,
        ..Options::new(&b.registry, profile)
    }
}

fn pipeline(c: &mut Criterion) {
    let b = builtins();

    // What every run does before its first file: the built-in data read and the profile built.
    let mut start = c.benchmark_group("start");
    start.bench_function("registry", |bench| {
        bench.iter(|| Registry::builtin().expect("registry"))
    });
    for name in ["baseline", "strict"] {
        start.bench_function(format!("profile/{name}"), |bench| {
            bench.iter(|| Profile::load(black_box(name), &b.registry).expect("profile"))
        });
    }
    start.finish();
    let files: Vec<(&str, String)> = FILES
        .iter()
        .map(|(name, rel)| (*name, fixture(rel)))
        .collect();

    let mut load = c.benchmark_group("load");
    for (name, text) in &files[..MANIFESTS] {
        manifest::load_any(text, &b.registry).expect("loads");
        load.bench_function(*name, |bench| {
            bench.iter(|| manifest::load_any(black_box(text), &b.registry).expect("loads"))
        });
    }
    load.finish();

    for (group, report_only) in [("check", true), ("patch", false)] {
        let mut g = c.benchmark_group(group);
        for (profile_name, profile) in [("baseline", &b.baseline), ("strict", &b.strict)] {
            let opts = options(&b, profile, report_only);
            for (name, text) in &files {
                // Fail here, not in the middle of a measurement, if a fixture stops processing.
                let report = engine::process(name, text, &opts).expect("processes");
                assert!(
                    report_only || report.edited.is_some() || report.changes.is_empty(),
                    "{name}: changes planned but no edited text"
                );
                g.bench_function(format!("{name}/{profile_name}"), |bench| {
                    bench.iter(|| engine::process(name, black_box(text), &opts).expect("processes"))
                });
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs: 31 benchmarks of microseconds each; the defaults (3 s warm-up, 5 s
    // measurement) would take four minutes for no better estimate.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = pipeline
}
criterion_main!(benches);
