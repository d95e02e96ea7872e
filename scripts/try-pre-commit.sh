#!/usr/bin/env bash
# Tries the hooks of .pre-commit-hooks.yaml the way a user's repository runs them: installs
# pre-commit with pip into a temporary virtual environment, snapshots this checkout (uncommitted
# changes included) as the hook repository, and runs the hooks in a sample git repository that
# holds kubeadm's kube-apiserver manifest and a YAML file of another kind:
#   1. only the other file staged: skipped, the hook passes;
#   2. the kubeadm manifest staged: baseline finds what it lacks, the hook fails;
#   3. the manifest hardened with `kubeharden fix --profile strict`: both hooks pass.
# pre-commit builds kubeharden with `cargo install` (language: rust) the first time, which
# takes a few minutes. Needs python3 with venv, git, cargo and the package registries.
# Not part of `cargo test`. Usage: scripts/try-pre-commit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PRE_COMMIT_HOME="$work/cache"
say() { printf '\n== %s\n' "$*"; }

say "pre-commit in a virtual environment"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check pre-commit
pc="$work/venv/bin/pre-commit"
"$pc" --version
"$pc" validate-manifest .pre-commit-hooks.yaml && echo ".pre-commit-hooks.yaml is valid"

say "the hook repository: this checkout as it is, committed"
hooks="$work/kubeharden"
mkdir "$hooks"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && printf '%s\0' "$f"
  done |
  tar --null -T - -cf - | tar -xf - -C "$hooks"
git -C "$hooks" init -q
git -C "$hooks" add -A
git -C "$hooks" -c user.name=try -c user.email=try@localhost commit -qm snapshot
rev=$(git -C "$hooks" rev-parse HEAD)
echo "$rev"

say "a sample repository using both hooks"
sample="$work/sample"
mkdir -p "$sample/manifests"
git -C "$sample" init -q
cat > "$sample/.pre-commit-config.yaml" <<CONFIG
repos:
  - repo: $hooks
    rev: $rev
    hooks:
      - id: kubeharden-check
      - id: kubeharden-check-strict
        stages: [manual]
CONFIG
printf 'replicaCount: 2\nimage:\n  repository: nginx\n' > "$sample/values.yaml"
cp examples/node/etc/kubernetes/manifests/kube-apiserver.yaml "$sample/manifests/"
cd "$sample"
git add .pre-commit-config.yaml values.yaml

# Runs pre-commit and checks its exit code.
expect() {
  local want=$1
  shift
  local got=0
  "$pc" "$@" || got=$?
  if [ "$got" != "$want" ]; then
    echo "try-pre-commit: \`pre-commit $*\` exited $got, expected $want" >&2
    exit 1
  fi
  echo "(exit $got, as expected)"
}

say "1. only values.yaml: not a control-plane file, skipped (the first run builds kubeharden)"
expect 0 run kubeharden-check --verbose

say "2. kubeadm's kube-apiserver.yaml staged: baseline findings, the hook fails"
git add manifests/kube-apiserver.yaml
expect 1 run kubeharden-check

say "3. hardened with the kubeharden pre-commit built, staged again: both hooks pass"
bin=$(find "$PRE_COMMIT_HOME" -path '*/bin/kubeharden' -type f | head -n 1)
"$bin" fix --profile strict manifests/kube-apiserver.yaml --output manifests/hardened.yaml 2>/dev/null
mv manifests/hardened.yaml manifests/kube-apiserver.yaml
git add manifests/kube-apiserver.yaml
expect 0 run kubeharden-check
expect 0 run --hook-stage manual kubeharden-check-strict

say "the hooks work"
