#!/usr/bin/env bash
# Times the Rust YAML parsers that give each event its position in the text (what kubeharden's
# editor needs) on one manifest: the parser kubeharden uses (saphyr-parser) against others. Each
# reads the whole event stream of the file N times in one process; the script prints
# microseconds per file and megabytes per second. It builds a scratch program in a temporary
# directory, which fetches the parsers with cargo (network access to the crate registry).
#
# Usage: scripts/bench-yaml-parsers.sh [FILE] [N]
#   (default: tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml, 5000)
# Needs: Rust (cargo).
set -euo pipefail
cd "$(dirname "$0")/.."
file=$(realpath "${1:-tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml}")
n=${2:-5000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<'TOML'
[package]
name = "yaml-parsers"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
saphyr-parser = "=0.3.4"
yaml-rust2 = "=0.13.2"
rlsp-yaml-parser = "=0.11.1"
libyaml-safer = "=0.3.0"

[profile.release]
codegen-units = 1
TOML
cat >"$work/src/main.rs" <<'RUST'
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a file");
    let n: usize = args.next().expect("N").parse().expect("N is a number");
    let text = std::fs::read_to_string(path).expect("the file reads");
    println!("{} bytes, {n} times each", text.len());

    let t = Instant::now();
    let mut events = 0;
    for _ in 0..n {
        let mut p = saphyr_parser::Parser::new_from_str(&text);
        while let Some(ev) = p.next() {
            events += 1;
            if matches!(ev.expect("parses").0, saphyr_parser::Event::StreamEnd) {
                break;
            }
        }
    }
    say("saphyr-parser 0.3.4", t, events, text.len(), n);

    let t = Instant::now();
    let mut events = 0;
    for _ in 0..n {
        let mut p = yaml_rust2::parser::Parser::new_from_str(&text);
        loop {
            events += 1;
            if matches!(p.next_token().expect("parses").0, yaml_rust2::Event::StreamEnd) {
                break;
            }
        }
    }
    say("yaml-rust2 0.13.2", t, events, text.len(), n);

    let t = Instant::now();
    let mut events = 0;
    for _ in 0..n {
        for ev in rlsp_yaml_parser::parse_events(&text) {
            ev.expect("parses");
            events += 1;
        }
    }
    say("rlsp-yaml-parser 0.11.1", t, events, text.len(), n);

    let t = Instant::now();
    let mut events = 0;
    for _ in 0..n {
        let mut input = text.as_bytes();
        let mut p = libyaml_safer::Parser::new();
        p.set_input_string(&mut input);
        for ev in p {
            ev.expect("parses");
            events += 1;
        }
    }
    say("libyaml-safer 0.3.0", t, events, text.len(), n);
}

fn say(name: &str, t: Instant, events: usize, len: usize, n: usize) {
    let s = t.elapsed().as_secs_f64();
    println!(
        "{name:24} {:6.1} µs a file  {:6.1} MB/s  ({} events a file)",
        s * 1e6 / n as f64,
        (len * n) as f64 / s / 1e6,
        events / n
    );
}
RUST
cargo build --release --quiet --manifest-path "$work/Cargo.toml"
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/target/release/yaml-parsers" "$file" "$n"
