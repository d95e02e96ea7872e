#!/usr/bin/env bash
# Runs the criterion benchmarks (benches/pipeline.rs) and prints their medians as the Markdown
# tables of docs/performance.md: one row per file and profile, the time of loading the manifest,
# of `check` and of the patch (`diff`/`fix`), per file; then what a run costs before its first
# file (the built-in registry read, each built-in profile built).
# Usage: scripts/bench-criterion.sh [--no-run-bench]   (the latter prints the last results only)
# Needs: Rust (cargo) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--no-run-bench" ]; then
  cargo bench --locked --bench pipeline >&2
fi
echo "load average: $(uptime | sed 's/.*load average: //')  cores: $(nproc)" >&2
python3 - <<'EOF'
import json, os

root = "target/criterion"

def median_us(group, name):
    path = os.path.join(root, group, name, "new", "estimates.json")
    if not os.path.exists(path):
        return "–"
    with open(path) as f:
        ns = json.load(f)["median"]["point_estimate"]
    return f"{ns / 1000:.0f} µs"

files = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd",
         "kubelet-config", "kubeadm-config"]
print("| file | profile | load | check | patch (diff, fix) |")
print("|------|---------|-----:|------:|------------------:|")
for profile in ["baseline", "strict"]:
    for f in files:
        print(f"| {f} | {profile} | {median_us('load', f)} | "
              f"{median_us('check', f + '_' + profile)} | {median_us('patch', f + '_' + profile)} |")
print()
print("| before the first file | time |")
print("|------|-----:|")
print(f"| registry | {median_us('start', 'registry')} |")
for profile in ["baseline", "strict"]:
    print(f"| profile {profile} | {median_us('start', 'profile_' + profile)} |")
EOF
