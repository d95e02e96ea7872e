#!/usr/bin/env bash
# Times `kubeharden check` on a directory of N copies of a kubeadm-style manifest.
# Usage: scripts/bench.sh [--nested] [N...]   (default: 1 100 2000 10000)
#   --nested  spreads the copies over a tree three directories deep, ten files to a directory,
#             and also times the walk alone: the same tree with every file named `*.txt`, which
#             kubeharden lists but does not read (that run exits 2: nothing to check).
set -euo pipefail
cd "$(dirname "$0")/.."
nested=false
if [ "${1:-}" = "--nested" ]; then
  nested=true
  shift
fi
cargo build --release --locked -q
bin=target/release/kubeharden
src=tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 100 2000 10000)
content=$(cat "$src")

# fill DIR N EXT: N files with the manifest's content under DIR, flat or nested; builtins
# only, so that 100,000 files take seconds.
fill() {
  local dir=$1 n=$2 ext=$3 i sub
  if $nested; then
    for ((i = 0; i < n; i += 10)); do
      printf '%s\n' "$dir/$((i / 1000))/$((i / 100 % 10))/$((i / 10 % 10))"
    done | xargs mkdir -p
  else
    mkdir -p "$dir"
  fi
  for ((i = 0; i < n; i++)); do
    sub=$dir
    $nested && sub="$dir/$((i / 1000))/$((i / 100 % 10))/$((i / 10 % 10))"
    printf '%s\n' "$content" >"$sub/m$i.$ext"
  done
}

# measure DIR PROFILE: "seconds cpu_seconds peak_kb" of one check (cpu: user + system, which
# other load on the machine disturbs less than the wall clock).
measure() {
  # Exit 1 means "findings", which is expected here, as is 2 for the walk alone.
  /usr/bin/time -o "$work/time" -f '%e %U %S %M' "$bin" check --profile "$2" "$1" >/dev/null 2>&1 || true
  tail -n 1 "$work/time" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }'
}

row='%8s %8s %10s %8s %8s %10s\n'
printf "$row" files layout profile seconds cpu_s peak_kb
layout=flat
$nested && layout=nested
for n in "${sizes[@]}"; do
  dir="$work/$n"
  fill "$dir" "$n" yaml
  for profile in baseline strict; do
    # shellcheck disable=SC2046
    printf "$row" "$n" "$layout" "$profile" $(measure "$dir" "$profile")
  done
  if $nested; then
    fill "$work/walk-$n" "$n" txt
    # shellcheck disable=SC2046
    printf "$row" "$n" "$layout" "walk only" $(measure "$work/walk-$n" baseline)
    rm -rf "$work/walk-$n"
  fi
  rm -rf "$dir"
done
