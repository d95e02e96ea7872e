#!/usr/bin/env bash
# Compares what two builds of kubeharden print for the same inputs: the build of a git revision
# (default HEAD) against the working tree's. For every YAML and JSON file under examples/ and
# tests/fixtures/, and for those directories as a whole, it runs
#   check (text, json, sarif), diff, and fix --output -
# with the baseline and strict profiles (and diff for Kubernetes 1.24), besides `profiles`,
# `explain` for every rule and `diff --kubeadm-config`, and compares standard output, standard error and the
# exit code byte for byte. It prints how many runs it compared and every one that differs, and
# exits 1 when any does.
#
#   scripts/compare-outputs.sh [REV]
#
# Used to show that a change of the code's structure changes no output.
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:-HEAD}
here=$(pwd)
work=$(mktemp -d)
cleanup() {
  git worktree remove --force "$work/src" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building $base_rev and the working tree" >&2
git worktree add --quiet --detach "$work/src" "$base_rev"
# Separate target directories, kept between runs so that only kubeharden itself is rebuilt.
(cd "$work/src" && CARGO_TARGET_DIR="$here/target/compare-base" cargo build --locked --quiet --bin kubeharden)
CARGO_TARGET_DIR="$here/target/compare-new" cargo build --locked --quiet --bin kubeharden
old="$here/target/compare-base/debug/kubeharden"
new="$here/target/compare-new/debug/kubeharden"

# One case a line: the arguments after the binary, separated by spaces (no path has one).
cases="$work/cases"
: >"$cases"
while IFS= read -r f; do
  for p in baseline strict; do
    for fmt in text json sarif; do
      echo "check --profile $p --format $fmt $f" >>"$cases"
    done
    echo "diff --profile $p $f" >>"$cases"
    echo "fix --profile $p --output - $f" >>"$cases"
  done
  echo "diff --profile strict --kubernetes-version 1.24 $f" >>"$cases"
done < <(find examples tests/fixtures -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | LC_ALL=C sort)
while IFS= read -r d; do
  for p in baseline strict; do
    for fmt in text json sarif; do
      echo "check --profile $p --format $fmt $d" >>"$cases"
    done
    echo "diff --profile $p $d" >>"$cases"
  done
done < <(find examples tests/fixtures -type d | LC_ALL=C sort)

# The commands that read no manifest: profiles, templates, rule explanations.
for p in baseline strict; do
  echo "profiles show $p" >>"$cases"
done
echo "profiles list" >>"$cases"
for t in audit-policy admission-config authentication-config kubeadm-probe-patch; do
  echo "profiles template $t --kubernetes-version 1.31" >>"$cases"
done
"$here/target/compare-base/debug/kubeharden" profiles show strict |
  grep -oE '^ *[a-z0-9]+(-[a-z0-9]+)+' | sed 's/^ *//' | LC_ALL=C sort -u |
  while IFS= read -r rule; do echo "explain $rule" >>"$cases"; done
# A kubeadm configuration file beside the manifests.
for k in tests/fixtures/kubeadm-config/*.yaml; do
  echo "diff --profile strict --kubeadm-config $k examples/kube-apiserver.yaml" >>"$cases"
done

run_one() {
  # $1: output directory, $2: binary, $3: case number, $4...: arguments
  local out=$1 bin=$2 n=$3
  shift 3
  local code=0
  NO_COLOR=1 "$bin" "$@" >"$out/$n.out" 2>"$out/$n.err" </dev/null || code=$?
  echo "$code" >"$out/$n.code"
}
export -f run_one

mkdir -p "$work/old" "$work/new"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf '%s\0%s\0%s\0%s\n' "$work/old" "$old" "$n" "$line"
  printf '%s\0%s\0%s\0%s\n' "$work/new" "$new" "$n" "$line"
done <"$cases" | tr '\n' '\0' | xargs -0 -n 4 -P "$(nproc)" bash -c 'out=$0 bin=$1 n=$2; read -ra args <<<"$3"; run_one "$out" "$bin" "$n" "${args[@]}"'

different=0
n=0
while IFS= read -r line; do
  n=$((n + 1))
  for part in out err code; do
    if ! cmp -s "$work/old/$n.$part" "$work/new/$n.$part"; then
      different=$((different + 1))
      echo "differs ($part): kubeharden $line"
      diff "$work/old/$n.$part" "$work/new/$n.$part" | head -20 || true
      break
    fi
  done
done <"$cases"
echo "compared $n runs of $base_rev and the working tree (standard output, standard error, exit code): $different differ"
[ "$different" -eq 0 ]
