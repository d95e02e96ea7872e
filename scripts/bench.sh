#!/usr/bin/env bash
# Times `kubeharden check` on a directory of N copies of a kubeadm-style manifest.
# Usage: scripts/bench.sh [N...]   (default: 1 100 2000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/kubeharden
src=tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 100 2000 10000)
printf '%8s %10s %10s %12s\n' files profile seconds peak_kb
for n in "${sizes[@]}"; do
  dir="$work/$n"
  mkdir -p "$dir"
  for i in $(seq 1 "$n"); do cp "$src" "$dir/m$i.yaml"; done
  for profile in baseline strict; do
    # Exit 1 means "findings", which is expected here.
    out=$( { /usr/bin/time -f '%e %M' "$bin" check --profile "$profile" "$dir" >/dev/null || true; } 2>&1 | tail -n 1 )
    printf '%8s %10s %10s %12s\n' "$n" "$profile" ${out}
  done
done
